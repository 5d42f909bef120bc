"""The layers: every module under a ``_core`` folder (or named ``_core``) is IO-free, and the
public API is what ``__all__`` says.

The core's modules are found by walking the package, so there is no list to keep in step.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import langchain_streamlog

PACKAGE = Path(langchain_streamlog.__file__).parent


def core_modules() -> list[str]:
    """Dotted names of every module under a ``_core`` folder or in a ``_core.py`` file."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "_core" in parts:
            names.append(".".join(p for p in parts if p != "__init__"))
    return names


CORE = core_modules()

# Import the core modules in a fresh interpreter with `redis` made unimportable and
# without running any package __init__ (the top one imports the shells on purpose).
PROBE = """
import importlib.util, sys, types
sys.modules["redis"] = None
root = {root!r}
for name in {packages!r}:
    pkg = types.ModuleType(name)
    pkg.__path__ = [root + "/" + "/".join(name.split(".")[1:])]
    sys.modules[name] = pkg
for name in {core!r}:
    importlib.import_module(name)
print(",".join(sorted(n for n in sys.modules if n.startswith("langchain_streamlog."))))
"""


def probe(modules: list[str]) -> subprocess.CompletedProcess[str]:
    packages = ["langchain_streamlog", "langchain_streamlog.langgraph"]
    code = PROBE.format(root=str(PACKAGE), packages=packages, core=modules)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


def test_the_core_is_found_by_walking_the_package():
    assert "langchain_streamlog._core.codec" in CORE and "langchain_streamlog._core.plans" in CORE
    assert "langchain_streamlog.langgraph._core" in CORE
    assert len(CORE) >= 15


def test_core_imports_no_redis():
    result = probe(CORE)
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.strip().split(",")) - {"langchain_streamlog.langgraph"}
    assert loaded == set(CORE)  # and nothing outside the core came along


def test_no_core_module_mentions_redis_py_even_lazily():
    for name in CORE:
        path = PACKAGE.parent.joinpath(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "redis" for a in node.names), name
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert (node.module or "").split(".")[0] != "redis", name


def test_shells_do_import_redis_so_the_probe_can_fail():
    result = probe(["langchain_streamlog._store"])
    assert result.returncode != 0 and "redis" in result.stderr


def test_exported_members():
    # httpx's test: __all__ is sorted (isort-style: CONSTANTS, Classes, functions)
    # and names exactly the public members.
    style = lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)  # noqa: E731
    assert langchain_streamlog.__all__ == sorted(langchain_streamlog.__all__, key=style)
    public = {n for n in dir(langchain_streamlog) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(langchain_streamlog, n)).__name__ == "module"}
    assert set(langchain_streamlog.__all__) == public - modules


def test_import_needs_no_langgraph_or_langchain_agents():
    check = (
        "import sys, langchain_streamlog\n"
        "assert not {'langgraph', 'langchain'} & set(sys.modules), sorted(sys.modules)\n"
        "from langchain_streamlog import StreamlogSaver, StreamlogMemory\n"
        "assert 'langgraph' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", check], check=True)
