"""The ``streamlog`` command line: the click group and its commands' registration.

The commands live beside this file: ``sessions`` (looking at conversations), ``workers``
(workers, dead letters, search), ``transfer`` (export, import, migrate) and ``demo``;
``common`` holds the options and helpers they share.

Rule: commands only parse arguments, call the public API, and print; a command
never builds a key or a Redis command itself.
"""

from __future__ import annotations

import click

from . import demo, sessions, transfer, workers

__all__ = ["cli"]


@click.group()
def cli() -> None:
    """streamlog: chat history as an event log on Redis Streams."""


for _command in (
    sessions.sessions, sessions.show, sessions.tail, sessions.checkpoints, sessions.stats,
    sessions.delete, sessions.sweep,
    workers.worker, workers.groups, workers.dlq, workers.search,
    transfer.export_, transfer.import_, transfer.migrate,
    demo.demo,
):  # fmt: skip
    cli.add_command(_command)
