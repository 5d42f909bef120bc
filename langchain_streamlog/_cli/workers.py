"""Workers and what they keep: ``worker``, ``groups``, ``dlq list``/``requeue``, ``search``.

Rule: commands only parse arguments, call the public API, and print; a command
never builds a key or a Redis command itself.
"""

from __future__ import annotations

from typing import Any

import click

from .common import deployment, offset_time, open_store, short

__all__ = ["dlq", "groups", "search", "worker"]


def _handler(name: str, index: str, archive: str) -> Any:
    """The handler ``--handler`` names: a built-in, or ``module:function``.

    The package's one dynamic import: the operator names it on the command line; it is
    never read from Redis.
    """
    if name == "indexer":
        from .._workers.indexer import SearchIndex

        return SearchIndex(index).handle
    if name == "archiver":
        from .._workers.archiver import Archiver

        return Archiver(archive).handle
    module, sep, function = name.partition(":")
    if not sep:
        raise click.BadParameter("indexer, archiver, or module:function", param_hint="--handler")
    import importlib

    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {name}: {exc}", param_hint="--handler") from exc


@click.command()
@deployment
@click.option("--group", required=True, help="the consumer group; workers of a group share the events")
@click.option("--handler", "handler_name", required=True, help="indexer | archiver | module:function")
@click.option(
    "--index", default="streamlog-index.sqlite3", show_default=True, help="the indexer's SQLite file"
)
@click.option(
    "--archive", default="streamlog-archive", show_default=True, help="the archiver's target (fsspec URL)"
)
@click.option("--max-deliveries", default=5, show_default=True)
@click.option("--min-idle", default=30.0, show_default=True, help="seconds before a pending event is claimed")
@click.option("--burst", is_flag=True, help="drain the group once and exit")
@click.option("--progress", default=10.0, show_default=True, help="seconds between progress lines (0: none)")
def worker(
    url: str, prefix: str, partitions: int, group: str, handler_name: str, index: str, archive: str,
    max_deliveries: int, min_idle: float, burst: bool, progress: float,
) -> None:  # fmt: skip
    """Run a worker: every event of the feeds, through a handler, at least once."""
    import threading

    from .._core.groups import group_stats
    from .._workers.runtime import Worker

    handler = _handler(handler_name, index, archive)
    handled = [0]

    def counted(delivery: Any) -> None:
        handler(delivery)
        handled[0] += 1

    with open_store(url, prefix, partitions) as store:
        runner = Worker(store, group, counted, max_deliveries=max_deliveries, min_idle=min_idle)
        if burst:
            click.echo(f"handled {runner.run_check()} events")
            return
        click.echo(f"worker {runner.reader.consumer} of group {group!r}: running, Ctrl-C stops it", err=True)
        done = threading.Event()

        def report() -> None:  # live progress: handled so far, and the group's pending events
            while not done.wait(progress):
                rows = [r for r in store.run(group_stats(store.keyspace)) if r["group"] == group]
                click.echo(f"handled {handled[0]} events; pending {sum(r['pending'] for r in rows)}")

        if progress > 0:
            threading.Thread(target=report, daemon=True).start()
        try:
            runner.run()
        finally:
            done.set()
            click.echo(f"stopped: handled {handled[0]} events", err=True)


@click.command()
@deployment
def groups(url: str, prefix: str, partitions: int) -> None:
    """Each consumer group's pending events and position, per partition feed."""
    from .._core.groups import group_stats

    with open_store(url, prefix, partitions) as store:
        rows = store.run(group_stats(store.keyspace))
    click.echo(f"{'partition':>9}  {'group':<20} {'pending':>7}  {'feed':>6}  last delivered")
    for r in rows:
        click.echo(
            f"{r['partition']:>9}  {r['group']:<20} {r['pending']:>7}  {r['feed_length']:>6}  {r['last_delivered']}"
        )


@click.group()
def dlq() -> None:
    """Dead letters: events whose handler failed max-deliveries times."""


@dlq.command("list")
@deployment
@click.option("--limit", default=100, show_default=True, help="at most this many per partition")
def dlq_list(url: str, prefix: str, partitions: int, limit: int) -> None:
    """List dead letters: group, session, offset, error."""
    from .._core.groups import dead_letters

    with open_store(url, prefix, partitions) as store:
        for row in store.run(dead_letters(store.keyspace, limit)):
            click.echo(f"{row['g']}  {row['s']!r}  {row['o']}  {row['err']}")


@dlq.command("requeue")
@deployment
@click.option("--group", default=None, help="only this group's dead letters")
def dlq_requeue(url: str, prefix: str, partitions: int, group: str | None) -> None:
    """Put dead letters back on their feeds, to be delivered again."""
    from .._core.groups import requeue

    with open_store(url, prefix, partitions) as store:
        click.echo(f"requeued {store.run(requeue(store.keyspace, group))}")


@click.command()
@click.argument("query")
@click.option(
    "--index", default="streamlog-index.sqlite3", show_default=True, help="the indexer's SQLite file"
)
@click.option("--session", default=None, help="only this session")
@click.option("--limit", default=10, show_default=True)
def search(query: str, index: str, session: str | None, limit: int) -> None:
    """Search the index a worker keeps (an FTS5 query)."""
    import os
    import sqlite3

    from .._workers.indexer import SearchIndex

    if not os.path.exists(index):
        raise click.ClickException(f"no index at {index}: run `streamlog worker --handler indexer` first")
    try:
        hits = SearchIndex(index).search(query, session_id=session, limit=limit)
    except sqlite3.OperationalError as exc:
        raise click.ClickException(f"bad query {query!r}: {exc}") from exc
    for hit in hits:
        click.echo(
            f"{hit.session_id!r}  {hit.offset}  {offset_time(hit.offset)}  {hit.message.type}: {short(hit.message.content)}"
        )
