"""The core is IO-free, and the public API is what __all__ says."""

import subprocess
import sys

import streamlog

CORE = [
    "_admin", "_cache", "_codec", "_errors", "_events", "_fold", "_keys", "_ops", "_plans", "_reads", "_records",
    "_indexer", "_retention", "_scripts", "_trim", "_work",
]  # fmt: skip

# Import the core modules in a fresh interpreter with `redis` made unimportable and
# without running the package's __init__ (which imports the shells on purpose).
PROBE = """
import importlib.util, sys, types
sys.modules["redis"] = None
spec = importlib.util.find_spec("streamlog")
pkg = types.ModuleType("streamlog")
pkg.__path__ = list(spec.submodule_search_locations)
sys.modules["streamlog"] = pkg
for name in {core!r}:
    importlib.import_module("streamlog." + name)
loaded = sorted(n for n in sys.modules if n.startswith("streamlog."))
print(",".join(loaded))
"""


def test_core_imports_no_redis():
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(core=CORE)], check=True, capture_output=True, text=True
    ).stdout
    assert set(out.strip().split(",")) == {f"streamlog.{m}" for m in CORE}


def test_shells_do_import_redis_so_the_probe_can_fail():
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(core=["_store"])], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "redis" in result.stderr


def test_exported_members():
    # httpx's test: __all__ is sorted (isort-style: CONSTANTS, Classes, functions)
    # and names exactly the public members.
    style = lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)  # noqa: E731
    assert streamlog.__all__ == sorted(streamlog.__all__, key=style)
    public = {n for n in dir(streamlog) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(streamlog, n)).__name__ == "module"}
    assert set(streamlog.__all__) == public - modules


def test_import_streamlog_needs_no_langgraph_or_langchain_agents():
    probe = (
        "import sys, streamlog\n"
        "assert not {'langgraph', 'langchain'} & set(sys.modules), sorted(sys.modules)\n"
        "from streamlog import StreamlogSaver, StreamlogMemory\n"
        "assert 'langgraph' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
