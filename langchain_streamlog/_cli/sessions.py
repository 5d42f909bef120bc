"""Looking at conversations: ``sessions``, ``show``, ``tail``, ``checkpoints``, ``stats``.

Rule: commands only parse arguments, call the public API, and print; a command
never builds a key or a Redis command itself.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click

from .common import deployment, describe, offset_datetime, open_store, short

__all__ = ["checkpoints", "sessions", "show", "stats", "tail"]


def _since(value: str | None) -> int:
    """``--since``: seconds ago (``90``, ``15m``, ``2h``, ``7d``) or an ISO time; as epoch ms."""
    if value is None:
        return 0
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (value[:-1], value[-1]) if value[-1:] in units else (value, "s")
    try:
        return int((datetime.now(timezone.utc).timestamp() - float(number) * units[unit]) * 1000)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "seconds ago (90, 15m, 2h, 7d) or an ISO time", param_hint="--since"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _bytes(n: int) -> str:
    """A byte count for people: ``512 B``, ``9.3 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@click.command()
@deployment
@click.option("--limit", default=20, show_default=True, help="at most this many sessions")
@click.option(
    "--since", default=None, help="only sessions active since: seconds ago (90, 15m, 2h, 7d) or an ISO time"
)
def sessions(url: str, prefix: str, partitions: int, limit: int, since: str | None) -> None:
    """Sessions by last activity, newest first (from the session index, without scanning keys)."""
    from .._core.admin import recent_sessions

    since_ms = _since(since)
    with open_store(url, prefix, partitions) as store:
        rows = store.run(recent_sessions(store.keyspace, limit, since_ms))
    click.echo(f"{'last active (UTC)':<23}  {'events':>7}  {'last offset':<17}  session")
    for row in rows:
        active = offset_datetime(str(row.last_active_ms))
        click.echo(f"{active:<23}  {row.events:>7}  {row.last_offset or '-':<17}  {row.session_id!r}")


@click.command()
@deployment
@click.argument("session")
@click.option("--at", default=None, help="time travel: the conversation as it was right after this offset")
@click.option("--events", "raw", is_flag=True, help="the event log instead of the conversation")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def show(
    url: str, prefix: str, partitions: int, session: str, at: str | None, raw: bool, as_json: bool
) -> None:
    """A session's conversation (role, time, content), as it is now or --at an offset."""
    import json

    import msgspec
    from langchain_core.messages import message_to_dict

    with open_store(url, prefix, partitions) as store:
        if raw:
            shown = 0
            for offset, event in store.iter_events(session, at or "-"):
                shown += 1
                if as_json:
                    click.echo(
                        json.dumps({"offset": offset, "event": msgspec.to_builtins(event)}, default=str)
                    )
                else:
                    click.echo(f"{offset:<17}  {offset_datetime(offset)}  {describe(event)}")
            if not shown:
                raise click.ClickException(f"session {session!r} has no events")
            return
        projection = store.run(store.core.read_at(session, at) if at else store.core.read(session))
        if projection.last_offset == "0-0":
            raise click.ClickException(f"session {session!r} has no events")
        for entry in projection.entries:
            message = entry.message
            if as_json:
                line = {
                    "offset": entry.offset,
                    "time": offset_datetime(entry.offset),
                    "message": message_to_dict(message),
                }
                click.echo(json.dumps(line, default=str))
            else:
                click.echo(f"{offset_datetime(entry.offset)}  {message.type:>6}: {message.content}")


@click.command()
@deployment
@click.argument("session")
@click.option(
    "--from",
    "start",
    default="$",
    show_default=True,
    help="'$': new events only; '0': the log first; or an offset",
)
def tail(url: str, prefix: str, partitions: int, session: str, start: str) -> None:
    """Follow a session live, like tail -f; Ctrl-C stops."""
    import signal
    import threading

    with open_store(url, prefix, partitions) as store:
        if start == "$":  # pinned now, so nothing appended after the line below is missed
            start = store.last_offset(session) or "0-0"
        # Ctrl-C sets a flag checked between blocking reads (at most 0.5 s each) instead of
        # raising KeyboardInterrupt inside redis-py: an interrupt landing in hiredis's
        # command packing crashed the process (SIGSEGV) about one time in eight.
        stopping = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopping.set())
        click.echo(f"following {session!r} after {start}; Ctrl-C stops", err=True)
        for offset, event in store.tail(session, after=start, block=0.5, stop=stopping):
            click.echo(f"{offset:<17}  {offset_datetime(offset)}  {describe(event)}")
        click.echo("stopped", err=True)


@click.command()
@deployment
@click.argument("thread")
@click.option(
    "--at", default=None, help="the thread as of this offset (any stream id, e.g. a chat session's)"
)
@click.option("--ns", default="", help="the checkpoint namespace (default: the root graph)")
@click.option("--limit", default=20, show_default=True, help="at most this many checkpoints, newest first")
def checkpoints(
    url: str, prefix: str, partitions: int, thread: str, at: str | None, ns: str, limit: int
) -> None:
    """A LangGraph thread's checkpoints (StreamlogSaver), newest first, with their offsets."""
    try:
        from ..langgraph._savers import StreamlogSaver
    except ImportError as exc:
        raise click.ClickException(
            f"needs the langgraph extra: pip install 'langchain-streamlog[langgraph]' ({exc})"
        ) from exc
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}
    with open_store(url, prefix, partitions) as store:
        saver = StreamlogSaver(store)
        if at is not None:
            found = saver.get_tuple_at(config, at)
            tuples = [found] if found is not None else []
        else:
            tuples = list(saver.list(config, limit=limit))
        if not tuples:
            raise click.ClickException(
                f"thread {thread!r} has no checkpoints" + (f" at or before {at}" if at else "")
            )
        for t in tuples:
            offset = saver.offset_of(t.config) or "?"
            meta = t.metadata or {}
            values = t.checkpoint.get("channel_values", {})
            messages = values.get("messages") or []
            last = f"  last message {messages[-1].type}: {short(messages[-1].content)}" if messages else ""
            click.echo(
                f"{offset:<17}  {offset_datetime(offset) if offset != '?' else '?':<23}  step {meta.get('step', '?'):>3}  "
                f"{meta.get('source', '?'):<6}  {t.config['configurable']['checkpoint_id']}{last}"
            )


@click.command()
@deployment
def stats(url: str, prefix: str, partitions: int) -> None:
    """Sessions, events and bytes of the logs, the feeds, dead letters, and each group's backlog."""
    from .._core.admin import stats as collect

    with open_store(url, prefix, partitions) as store:
        s = store.run(collect(store.keyspace))
    click.echo(f"sessions      {s.sessions}")
    click.echo(f"events        {s.events}  ({_bytes(s.log_bytes)} in the session logs)")
    click.echo(f"feeds         {s.feed_events} events  ({_bytes(s.feed_bytes)})")
    click.echo(f"dead letters  {s.dead_letters}")
    for group in sorted({g["group"] for g in s.groups}):
        rows = [g for g in s.groups if g["group"] == group]
        lags = [g.get("lag") for g in rows]
        lag = "?" if any(x is None for x in lags) else str(sum(lags))
        click.echo(f"group {group!r}: pending {sum(g['pending'] for g in rows)}, not yet delivered {lag}")


@click.command()
@click.argument("session")
@deployment
def delete(url: str, prefix: str, partitions: int, session: str) -> None:
    """Erase SESSION: its log, its events' copies in the feed and dead letters, its index entry.

    A tombstone tells workers (search index, archive) to forget it too. Irreversible.
    """
    with open_store(url, prefix, partitions) as store:
        existed = store.delete(session)
    click.echo(f"erased {session!r}" if existed else f"no session {session!r}: nothing to erase (tombstone written)")


@click.command()
@deployment
@click.option("--ttl", type=float, required=True, help="the deployment's session TTL, in seconds")
@click.option("--limit", default=1000, show_default=True, help="sessions examined per partition and round")
def sweep(url: str, prefix: str, partitions: int, ttl: float, limit: int) -> None:
    """Erase every session whose TTL lapsed (expiry is an erasure), as running workers do.

    Runs rounds of at most --limit sessions per partition until a round finds no candidate
    (a live candidate is moved out of the way, so every round makes progress).
    """
    total = 0
    with open_store(url, prefix, partitions, ttl=ttl) as store:
        while True:
            erased, examined = store.run(store.core.sweep_round(limit=limit))
            total += erased
            if not examined:
                break
    click.echo(f"erased {total} expired session{'' if total == 1 else 's'}")
