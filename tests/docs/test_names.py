"""The package's name everywhere: no import of the old ``streamlog`` package, and every install
line names the distribution ``langchain-streamlog`` (PyPI's ``streamlog`` is someone else's)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[2]
OLD_IMPORT = re.compile(r"^\s*(import streamlog\b|from streamlog\b)", re.MULTILINE)
INSTALL = re.compile(r"pip install\s+(?:-U\s+|-e\s+|--upgrade\s+)*(['\"]?)([^\s'\"]+)\1")


def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.splitlines() if (ROOT / line).is_file()]


def test_nothing_imports_the_old_package_name() -> None:
    files = tracked("*.py", "*.md", "*.toml", "*.cfg", "dev", ".ci/*")
    assert len(files) > 50
    offenders = [str(p.relative_to(ROOT)) for p in files if OLD_IMPORT.search(p.read_text(errors="replace"))]
    assert offenders == []


def test_every_install_line_names_langchain_streamlog() -> None:
    seen = []
    for path in tracked("*.md", "*.py", "*.toml", "dev", ".ci/*"):
        if path.relative_to(ROOT).parts[0] == "tests":
            continue
        for match in INSTALL.finditer(path.read_text(errors="replace")):
            target = match.group(2)
            if "streamlog" in target:
                seen.append((path.name, target))
                assert target.startswith(("langchain-streamlog", ".[", "-e")) or target in (".",), (path, target)
    assert any(t.startswith("langchain-streamlog[") for _, t in seen)  # the README's, at least


def test_the_distribution_and_import_names() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^name = "langchain-streamlog"$', text, re.MULTILINE)
    assert 'streamlog = "langchain_streamlog.__main__:main"' in text
    assert (ROOT / "langchain_streamlog" / "py.typed").is_file() and not (ROOT / "streamlog").exists()
