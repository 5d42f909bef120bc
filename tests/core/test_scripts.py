"""The Lua scripts as files: each opens with its contract, includes resolve, every file is loaded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from langchain_streamlog._core import scripts
from langchain_streamlog._core.scripts import Script, load
from langchain_streamlog.langgraph._core import scripts as checkpoint_scripts

ROOT = Path(scripts.__file__).parents[1]
FILES = sorted(p for p in ROOT.rglob("*.lua") if "lib" not in p.parts and p.name != "lib.lua")


def header(path: Path) -> str:
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("--") or line.startswith("--! include"):
            break
        lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_script_file_opens_with_its_keys_argv_reply_contract(path: Path) -> None:
    text = header(path)
    assert all(word in text for word in ("KEYS:", "ARGV:", "Reply:")), text


def test_every_file_is_loaded_once_and_no_include_is_left_unresolved() -> None:
    loaded = {s.sha: s for s in scripts.LOADED}
    assert len(loaded) == len(scripts.LOADED) == len(FILES) > 20
    assert checkpoint_scripts.CKPT_PUT in scripts.LOADED and scripts.APPEND in scripts.LOADED
    for script in scripts.LOADED:
        assert "--! include" not in script.source
    assert "local function touch" in scripts.READ.source and "local function older" in scripts.SNAPSHOT.source


def test_the_sha_is_computed_locally_from_the_source() -> None:
    import hashlib

    script = Script("x", "return 1")
    assert script.sha == hashlib.sha1(b"return 1").hexdigest() == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"


def test_an_include_cycle_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "fakepkg"
    (package / "lua").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "lua" / "a.lua").write_text("--! include b.lua\nreturn 1\n")
    (package / "lua" / "b.lua").write_text("--! include a.lua\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = len(scripts.LOADED)
    with pytest.raises(ValueError, match=re.escape("a.lua -> b.lua -> a.lua")):
        load("fakepkg", "a.lua")
    assert len(scripts.LOADED) == before
