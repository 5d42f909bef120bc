"""The checkpointer's Lua scripts (``lua/*.lua`` here; ``lua/lib.lua`` holds their shared functions).

Names of a checkpoint's parts and the keys each script takes are described in ``lua/lib.lua``;
see ``langchain_streamlog._core.scripts`` for how scripts are loaded and sent.
"""

from __future__ import annotations

from ..._core.scripts import load

__all__ = [
    "CKPT_DELETE",
    "CKPT_DUMP",
    "CKPT_GET",
    "CKPT_LIST",
    "CKPT_LOAD",
    "CKPT_PUT",
    "CKPT_RUN_THREADS",
    "CKPT_SWEEP",
    "CKPT_WRITES",
]

CKPT_PUT = load(__package__, "put.lua")
CKPT_WRITES = load(__package__, "writes.lua")
CKPT_GET = load(__package__, "get.lua")
CKPT_LIST = load(__package__, "list.lua")
CKPT_DELETE = load(__package__, "delete.lua")
CKPT_SWEEP = load(__package__, "sweep.lua")
CKPT_RUN_THREADS = load(__package__, "run_threads.lua")
CKPT_DUMP = load(__package__, "dump.lua")
CKPT_LOAD = load(__package__, "load.lua")
