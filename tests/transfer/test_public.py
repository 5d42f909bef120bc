"""langchain_streamlog.transfer as users see it: what it exports, and what docs/migrating.md imports."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

from langchain_streamlog import transfer

PUBLIC = {
    "ImportResult",
    "MigrateResult",
    "Peer",
    "dump_jsonl",
    "export_events",
    "import_events",
    "iter_sessions",
    "migrate",
    "read_community",
    "read_langchain_redis",
    "read_memorystore",
}
MIGRATING = (Path(__file__).parents[2] / "docs" / "migrating.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", MIGRATING, re.S)


def test_exported_members():
    # As tests/core/test_layers.py for the package: __all__ is sorted (isort-style:
    # CONSTANTS, Classes, functions) and names exactly the public members.
    style = lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)  # noqa: E731
    assert transfer.__all__ == sorted(transfer.__all__, key=style)
    public = {n for n in dir(transfer) if not n.startswith("_")}
    assert set(transfer.__all__) == public == PUBLIC
    defined = [getattr(transfer, n) for n in public if inspect.isclass(getattr(transfer, n))]
    defined += [getattr(transfer, n) for n in public if inspect.isfunction(getattr(transfer, n))]
    homes = {member.__module__ for member in defined}
    assert homes == {f"langchain_streamlog.transfer.{m}" for m in ("_export", "_import", "_migrate")}


def test_the_docstrings_example_compiles():
    assert transfer.__doc__ is not None
    example = re.search(r"\n\n(    import redis\n.*?)\n\n", transfer.__doc__, re.S)
    assert example is not None
    names = _transfer_imports(ast.parse(textwrap.dedent(example.group(1))))
    assert names == {"dump_jsonl", "import_events", "migrate"}


def _transfer_imports(tree: ast.AST) -> set[str]:
    """The names a block imports from langchain_streamlog.transfer (and it names no private module)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module is not None
            modules.append(node.module)
            if node.module == "langchain_streamlog.transfer":
                names |= {a.name for a in node.names}
        for module in modules:
            assert not any(part.startswith("_") for part in module.split(".")), module
    return names


def test_docs_import_only_public_names_of_transfer():
    # Every python block of docs/migrating.md is valid Python, imports no private module, and
    # every name it imports from langchain_streamlog.transfer is one of the public members.
    imported = set().union(*(_transfer_imports(ast.parse(block)) for block in BLOCKS))
    assert imported == {"dump_jsonl", "import_events", "migrate"}
    assert imported <= set(transfer.__all__)
    for name in transfer.__all__:  # the page's list of what the module holds
        assert f"`{name}`" in MIGRATING, name


def test_docs_pip_install_lines_name_the_distribution():
    lines = [line for line in MIGRATING.splitlines() if "pip install" in line]
    assert lines
    for line in lines:
        assert re.search(r"pip install '?langchain-streamlog(\[[a-z,]+\])?'?(\s|$)", line), line
    assert any("langchain-streamlog[cli]" in line for line in lines)  # the page documents the commands
