"""Moving histories in and out: ``export``, ``import``, ``migrate``.

Rule: commands only parse arguments, call the public API (`langchain_streamlog.transfer`),
and print; a command never builds a key or a Redis command itself.
"""

from __future__ import annotations

from typing import Any

import click

from .common import deployment, open_store

__all__ = ["export_", "import_", "migrate"]


class _Progress:
    """A live count on stderr when it is a terminal (``label 12,345``), silent otherwise."""

    def __init__(self, label: str) -> None:
        import sys
        import time

        self.label, self._clock = label, time.monotonic
        self.live = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, n: int) -> None:
        if self.live and self._clock() - self._last >= 0.1:
            self._last = self._clock()
            click.echo(f"\r{self.label} {n:,}", err=True, nl=False)

    def done(self) -> None:
        if self.live:
            click.echo("", err=True)


@click.command("export")
@deployment
@click.option("--session", "sessions", multiple=True, help="only this session (repeatable); default: all")
@click.option(
    "--output", "-o", type=click.File("wb"), default="-", show_default=True, help="a file, or - for stdout"
)
def export_(url: str, prefix: str, partitions: int, sessions: tuple[str, ...], output: Any) -> None:
    """Write sessions' events as JSON Lines (streaming: constant memory for any size)."""
    from ..transfer import dump_jsonl

    progress = _Progress("exported events")
    with open_store(url, prefix, partitions) as store:
        count = dump_jsonl(store, output, list(sessions) or None, progress=progress)
    progress.done()
    click.echo(f"exported {count} events", err=True)


@click.command("import")
@deployment
@click.argument("source", type=click.File("rb"), default="-")
def import_(url: str, prefix: str, partitions: int, source: Any) -> None:
    """Append the events of a JSON Lines export; running it twice changes nothing."""
    from ..transfer import import_events

    progress = _Progress("imported events")
    with open_store(url, prefix, partitions) as store:
        result = import_events(store, source, progress=progress)
    progress.done()
    click.echo(
        f"imported {result.events} events into {result.sessions} sessions; {result.skipped} already there"
    )


@click.command()
@deployment
@click.option(
    "--from", "peer", required=True, type=click.Choice(["community", "memorystore", "langchain-redis"]),
    help="the library that wrote the histories",
)  # fmt: skip
@click.option("--source-url", required=True, help="the Redis the peer wrote to (may be the same as --url)")
@click.option(
    "--source-prefix",
    default=None,
    help="the peer's key prefix (community: message_store:, langchain-redis: chat:)",
)
@click.option("--session", "sessions", multiple=True, help="only this session (repeatable)")
@click.option("--dry-run", is_flag=True, help="read and count, write nothing")
def migrate(
    url: str, prefix: str, partitions: int, peer: str, source_url: str, source_prefix: str | None,
    sessions: tuple[str, ...], dry_run: bool,
) -> None:  # fmt: skip
    """Copy histories a peer library stored into streamlog sessions (idempotent)."""
    import redis

    from .._core.errors import StreamlogError
    from ..transfer import migrate as run_migration

    progress = _Progress("sessions")
    with open_store(url, prefix, partitions) as store, redis.Redis.from_url(source_url) as source:
        try:
            result = run_migration(
                store, source, peer, key_prefix=source_prefix, sessions=list(sessions) or None,  # type: ignore[arg-type]
                dry_run=dry_run, progress=progress,
            )  # fmt: skip
        except (StreamlogError, redis.RedisError) as exc:
            raise click.ClickException(str(exc)) from exc
    progress.done()
    verb = "would copy" if dry_run else "copied"
    click.echo(
        f"{verb} {result.messages} messages of {result.sessions} sessions; "
        f"{result.skipped_sessions} already there"
        + (
            f"; {len(result.diverged)} differ and were left alone: {', '.join(map(repr, result.diverged))}"
            if result.diverged
            else ""
        )
    )
