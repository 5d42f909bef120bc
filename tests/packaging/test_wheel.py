"""The package as users get it: built, checked, installed from the wheel (not editable), run.

``python -m build`` makes the sdist and then the wheel from that sdist; both must hold every
file of the package folder (the ``.lua`` scripts, read with importlib.resources, and
``py.typed`` included) and pass ``twine check --strict``. The wheel is then installed with the
extras ``agents,cli,langgraph,server`` into a fresh virtual environment, where every public
module imports, every Lua script loads and ``streamlog demo`` runs on the embedded server
that the ``server`` extra installs, from outside the source tree so nothing can come from it.

Runs in ``./dev test`` (so in CI). It needs pip to reach the package index (or its cache):
about 5 s to build, 25 s to install with a warm pip cache, 5 s for the smoke test and demo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
PACKAGE = "langchain_streamlog"
EXTRAS = "agents,cli,langgraph,server"
PUBLIC = [
    PACKAGE,
    f"{PACKAGE}.langgraph",
    f"{PACKAGE}.agents",
    f"{PACKAGE}.transfer",
    f"{PACKAGE}.testing",
    f"{PACKAGE}._core.scripts",
    f"{PACKAGE}.langgraph._core.scripts",
]

pytestmark = pytest.mark.slow


def run(*command: str | Path, timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``command``; on failure, fail with everything it printed."""
    done = subprocess.run(
        [str(c) for c in command],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, command))} exited {done.returncode}\n"
            f"--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}",
            pytrace=False,
        )
    return done


def source_files() -> set[str]:
    """Every file of the package folder in the source tree (bytecode aside), as archive paths."""
    return {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / PACKAGE).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def lua_files() -> set[str]:
    return {f for f in source_files() if f.endswith(".lua")}


def included_lua_files() -> set[str]:
    """The shared-function files: those other scripts pull in with ``--! include PATH``.

    PATH is relative to the ``lua`` folder that holds the including file (see _core/scripts.py).
    """
    included = set()
    for name in lua_files():
        parts = name.split("/")
        root = "/".join(parts[: len(parts) - 1 - parts[::-1].index("lua")])
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            if line.startswith("--! include "):
                included.add(f"{root}/lua/{line.split()[2]}")
    return included


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, timeout=900)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_the_source_tree_has_lua_scripts_and_py_typed() -> None:
    # Guards the checks below against passing on nothing.
    assert len(lua_files()) >= 20, sorted(lua_files())
    assert f"{PACKAGE}/py.typed" in source_files()


def test_the_wheel_holds_every_file_of_the_package(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
    shipped = {n for n in names if n.startswith(f"{PACKAGE}/")}
    assert {n for n in shipped if n.endswith(".lua")} == lua_files()
    assert f"{PACKAGE}/py.typed" in shipped
    assert shipped == source_files()
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        assert "streamlog = langchain_streamlog.__main__:main" in wheel.read(entry_points).decode()


def test_the_sdist_holds_every_file_of_the_package_and_what_builds_and_tests_it(
    dist: dict[str, Path],
) -> None:
    with tarfile.open(dist["sdist"]) as sdist:
        members = [m.name for m in sdist.getmembers() if m.isfile()]
    top = {m.split("/", 1)[0] for m in members}
    assert len(top) == 1, top
    names = {m.split("/", 1)[1] for m in members}
    shipped = {n for n in names if n.startswith(f"{PACKAGE}/")}
    assert {n for n in shipped if n.endswith(".lua")} == lua_files()
    assert f"{PACKAGE}/py.typed" in shipped
    assert shipped == source_files()
    assert {"pyproject.toml", "README.md", "PKG-INFO", "tests/conftest.py"} <= names
    assert not [n for n in names if n.startswith((".venv", ".git/"))]


def test_twine_check_passes(dist: dict[str, Path]) -> None:
    done = run(sys.executable, "-m", "twine", "check", "--strict", dist["wheel"], dist["sdist"], timeout=120)
    assert done.stdout.count("PASSED") == 2, done.stdout


SMOKE = """
import importlib, json, sys
from importlib import resources
modules = json.loads(sys.argv[1])
for name in modules:
    importlib.import_module(name)
import langchain_streamlog
from langchain_streamlog._core import scripts
def lua(folder, prefix):
    for item in folder.iterdir():
        if item.is_dir():
            yield from lua(item, f"{prefix}{item.name}/")
        elif item.name.endswith(".lua"):
            yield prefix + item.name
print(json.dumps({
    "file": langchain_streamlog.__file__,
    "version": langchain_streamlog.__version__,
    "loaded": [s.name for s in scripts.LOADED if s.source.strip() and len(s.sha) == 40],
    "lua": sorted(lua(resources.files("langchain_streamlog"), "langchain_streamlog/")),
}))
"""


def test_the_wheel_installs_imports_loads_every_script_and_runs_the_demo(
    dist: dict[str, Path], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    pip: list[str | Path] = [python, "-m", "pip"]
    if subprocess.run([sys.executable, "-m", "venv", venv], check=False, capture_output=True).returncode:
        # No ensurepip (Debian without python3-venv, as ./dev allows): this pip installs there.
        run(sys.executable, "-m", "venv", "--clear", "--without-pip", venv, timeout=300)
        pip = [sys.executable, "-m", "pip", "--python", python]
    run(*pip, "install", "-q", "--disable-pip-version-check", f"{dist['wheel']}[{EXTRAS}]", timeout=900)

    # Outside the source tree, isolated (-I: no cwd, no PYTHONPATH), so only the wheel can answer.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "STREAMLOG_REDIS_SERVER", "STREAMLOG_URL")
    }
    smoke = run(python, "-I", "-c", SMOKE, json.dumps(PUBLIC), cwd=tmp_path, env=env, timeout=300)
    found = json.loads(smoke.stdout.strip().splitlines()[-1])
    assert Path(found["file"]).is_relative_to(venv), found["file"]
    assert found["loaded"], "langchain_streamlog._core.scripts.LOADED is empty"
    assert set(found["lua"]) == lua_files()
    # Every script file was loaded (by its name, the file's stem), shared-function files aside.
    scripts = sorted(Path(f).stem for f in lua_files() - included_lua_files())
    assert sorted(found["loaded"]) == scripts

    # The demo starts its own server from the `server` extra's wheels: PATH holds only the
    # venv, so no redis-server of the machine's can stand in for them.
    demo = run(bin_dir / "streamlog", "demo", cwd=tmp_path, env={**env, "PATH": str(bin_dir)}, timeout=300)
    assert "Done" in demo.stdout, demo.stdout
