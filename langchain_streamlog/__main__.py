"""The ``streamlog`` console script; the commands live in ``_cli`` (extra ``cli``)."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from ._cli import cli
    except ImportError as exc:  # click is an optional extra, as httpx does with its CLI
        if getattr(exc, "name", None) != "click":
            raise
        sys.stderr.write("The streamlog command needs its extra: pip install 'langchain-streamlog[cli]'\n")
        raise SystemExit(1) from None
    cli()


if __name__ == "__main__":
    main()
