"""The store shells: they move bytes between the core's plans and redis-py.

Rule: a shell builds no command and interprets no reply; every public method is one
flow of the core, run with the shell's public `run` (which faces use too).
"""

from .aio import AsyncStreamStore
from .shared import accepted_kwargs, is_cluster_client, map_exceptions
from .sync import StreamStore

__all__ = ["AsyncStreamStore", "StreamStore", "accepted_kwargs", "is_cluster_client", "map_exceptions"]
