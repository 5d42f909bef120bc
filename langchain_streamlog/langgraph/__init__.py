"""LangGraph checkpointers on streamlog's engine (extra ``langgraph``).

``StreamlogSaver`` (sync) and ``AsyncStreamlogSaver`` (asyncio) implement LangGraph's
``BaseCheckpointSaver`` on any Redis >= 6.2, Valkey or Redis Cluster, without modules.
See docs/langgraph.md.
"""

from ._savers import AsyncStreamlogSaver, StreamlogSaver

__all__ = ["AsyncStreamlogSaver", "StreamlogSaver"]
