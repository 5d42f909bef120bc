"""The ``streamlog`` command line.

Rule: commands only parse arguments, call the public API, and print; a command
never builds a key or a Redis command itself.
"""

from __future__ import annotations

import contextlib
import secrets
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import click

from .._core.events import AnyEvent, HistoryCleared, MessagesAppended, MessagesRemoved, SessionDeleted
from .._core.trim import LastN

__all__ = ["cli"]


def offset_datetime(offset: str) -> str:
    """The date and time (UTC, ms) an offset was assigned: its milliseconds part."""
    ms = int(offset.partition("-")[0])
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def offset_time(offset: str) -> str:
    """The wall-clock time (UTC, ms) an offset was assigned."""
    return offset_datetime(offset)[11:]


def describe(event: AnyEvent) -> str:
    """One line for an event."""
    if isinstance(event, MessagesAppended):
        return "; ".join(f"{r.get('type')}: {_short(r.get('content', ''))}" for r in event.messages)
    if isinstance(event, MessagesRemoved):
        return "removed ids " + ", ".join(event.ids)
    if isinstance(event, HistoryCleared):
        return "history cleared"
    if isinstance(event, SessionDeleted):
        return "session deleted"
    return repr(event)


def _short(content: Any, width: int = 60) -> str:
    text = content if isinstance(content, str) else repr(content)
    return text if len(text) <= width else text[: width - 1] + "…"


@contextlib.contextmanager
def _server(url: str | None) -> Iterator[str]:
    """``url``, or a throwaway local server for the duration of the block."""
    if url is not None:
        yield url
        return
    from ..testing import LocalServer, default_server

    with LocalServer(default_server()) as server:
        yield server.url


@click.group()
def cli() -> None:
    """streamlog: chat history as an event log on Redis Streams."""


def deployment(command: Any) -> Any:
    """The options every operator command takes: where, and which deployment."""
    command = click.option(
        "--partitions", default=16, show_default=True, help="the deployment's partition count"
    )(command)
    command = click.option(
        "--prefix", default="streamlog", show_default=True, help="the deployment's key prefix"
    )(command)
    command = click.option(
        "--cluster",
        is_flag=True,
        envvar="STREAMLOG_CLUSTER",
        expose_value=False,
        callback=lambda ctx, _, value: ctx.meta.__setitem__("streamlog.cluster", value),
        help="--url names a node of a Redis Cluster (or STREAMLOG_CLUSTER=1)",
    )(command)
    return click.option("--url", envvar="STREAMLOG_URL", required=True, help="Redis URL (or STREAMLOG_URL)")(
        command
    )


@contextlib.contextmanager
def _store(url: str, prefix: str, partitions: int) -> Iterator[Any]:
    from .._core.errors import StreamlogError
    from .._store import StreamStore

    try:
        cluster = bool(click.get_current_context().meta.get("streamlog.cluster"))
        with StreamStore.from_url(url, cluster=cluster, key_prefix=prefix, partitions=partitions) as store:
            yield store
    except StreamlogError as exc:  # a user error: one line, exit 1
        raise click.ClickException(str(exc)) from exc


def _handler(name: str, index: str, archive: str) -> Any:
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


@cli.command()
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

    with _store(url, prefix, partitions) as store:
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


@cli.command()
@deployment
def groups(url: str, prefix: str, partitions: int) -> None:
    """Each consumer group's pending events and position, per partition feed."""
    from .._core.groups import group_stats

    with _store(url, prefix, partitions) as store:
        rows = store.run(group_stats(store.keyspace))
    click.echo(f"{'partition':>9}  {'group':<20} {'pending':>7}  {'feed':>6}  last delivered")
    for r in rows:
        click.echo(
            f"{r['partition']:>9}  {r['group']:<20} {r['pending']:>7}  {r['feed_length']:>6}  {r['last_delivered']}"
        )


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


@cli.command()
@deployment
@click.option("--limit", default=20, show_default=True, help="at most this many sessions")
@click.option(
    "--since", default=None, help="only sessions active since: seconds ago (90, 15m, 2h, 7d) or an ISO time"
)
def sessions(url: str, prefix: str, partitions: int, limit: int, since: str | None) -> None:
    """Sessions by last activity, newest first (from the session index, without scanning keys)."""
    from .._core.admin import recent_sessions

    since_ms = _since(since)
    with _store(url, prefix, partitions) as store:
        rows = store.run(recent_sessions(store.keyspace, limit, since_ms))
    click.echo(f"{'last active (UTC)':<23}  {'events':>7}  {'last offset':<17}  session")
    for row in rows:
        active = offset_datetime(str(row.last_active_ms))
        click.echo(f"{active:<23}  {row.events:>7}  {row.last_offset or '-':<17}  {row.session_id!r}")


@cli.command()
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

    with _store(url, prefix, partitions) as store:
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


@cli.command()
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

    with _store(url, prefix, partitions) as store:
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


@cli.command()
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
            f"needs the langgraph extra: pip install 'streamlog[langgraph]' ({exc})"
        ) from exc
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}
    with _store(url, prefix, partitions) as store:
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
            last = f"  last message {messages[-1].type}: {_short(messages[-1].content)}" if messages else ""
            click.echo(
                f"{offset:<17}  {offset_datetime(offset) if offset != '?' else '?':<23}  step {meta.get('step', '?'):>3}  "
                f"{meta.get('source', '?'):<6}  {t.config['configurable']['checkpoint_id']}{last}"
            )


@cli.command()
@deployment
def stats(url: str, prefix: str, partitions: int) -> None:
    """Sessions, events and bytes of the logs, the feeds, dead letters, and each group's backlog."""
    from .._core.admin import stats as collect

    with _store(url, prefix, partitions) as store:
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


@cli.command("export")
@deployment
@click.option("--session", "sessions", multiple=True, help="only this session (repeatable); default: all")
@click.option(
    "--output", "-o", type=click.File("wb"), default="-", show_default=True, help="a file, or - for stdout"
)
def export_(url: str, prefix: str, partitions: int, sessions: tuple[str, ...], output: Any) -> None:
    """Write sessions' events as JSON Lines (streaming: constant memory for any size)."""
    from ..transfer import dump_jsonl

    progress = _Progress("exported events")
    with _store(url, prefix, partitions) as store:
        count = dump_jsonl(store, output, list(sessions) or None, progress=progress)
    progress.done()
    click.echo(f"exported {count} events", err=True)


@cli.command("import")
@deployment
@click.argument("source", type=click.File("rb"), default="-")
def import_(url: str, prefix: str, partitions: int, source: Any) -> None:
    """Append the events of a JSON Lines export; running it twice changes nothing."""
    from ..transfer import import_events

    progress = _Progress("imported events")
    with _store(url, prefix, partitions) as store:
        result = import_events(store, source, progress=progress)
    progress.done()
    click.echo(
        f"imported {result.events} events into {result.sessions} sessions; {result.skipped} already there"
    )


@cli.command()
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
    with _store(url, prefix, partitions) as store, redis.Redis.from_url(source_url) as source:
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


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@cli.group()
def dlq() -> None:
    """Dead letters: events whose handler failed max-deliveries times."""


@dlq.command("list")
@deployment
@click.option("--limit", default=100, show_default=True, help="at most this many per partition")
def dlq_list(url: str, prefix: str, partitions: int, limit: int) -> None:
    """List dead letters: group, session, offset, error."""
    from .._core.groups import dead_letters

    with _store(url, prefix, partitions) as store:
        for row in store.run(dead_letters(store.keyspace, limit)):
            click.echo(f"{row['g']}  {row['s']!r}  {row['o']}  {row['err']}")


@dlq.command("requeue")
@deployment
@click.option("--group", default=None, help="only this group's dead letters")
def dlq_requeue(url: str, prefix: str, partitions: int, group: str | None) -> None:
    """Put dead letters back on their feeds, to be delivered again."""
    from .._core.groups import requeue

    with _store(url, prefix, partitions) as store:
        click.echo(f"requeued {store.run(requeue(store.keyspace, group))}")


@cli.command()
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
            f"{hit.session_id!r}  {hit.offset}  {offset_time(hit.offset)}  {hit.message.type}: {_short(hit.message.content)}"
        )


@cli.command()
@click.option(
    "--url",
    envvar="STREAMLOG_URL",
    default=None,
    help="Redis URL to use; without it a throwaway local server is started and removed.",
)
def demo(url: str | None) -> None:
    """Store a short conversation, then show its events, window, replay and time travel."""
    with _server(url) as server_url:
        _demo(server_url, embedded=url is None)


def _demo(url: str, *, embedded: bool) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import HumanMessage
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
    from langchain_core.runnables import RunnableConfig
    from langchain_core.runnables.history import RunnableWithMessageHistory

    from .._history import Streamlog
    from .._workers.indexer import SearchIndex
    from .._workers.runtime import Worker

    prefix = f"streamlog-demo-{secrets.token_hex(4)}"
    log = Streamlog.from_url(url, key_prefix=prefix, ttl=3600, trim=LastN(4))
    title = click.style
    click.echo(
        title(
            f"streamlog demo on {url} ({'throwaway server' if embedded else 'your server'}), "
            f"key prefix {prefix!r}",
            bold=True,
        )
    )
    try:
        prompt = ChatPromptTemplate.from_messages(
            [
                ("system", "You are a terse travel agent."),
                MessagesPlaceholder("history"),
                ("human", "{question}"),
            ]
        )
        model = FakeListChatModel(
            responses=[
                "Lisbon in May: warm, not yet crowded.",
                "Take the 28 tram early, before 9.",
                "Pastéis de Belém, near the monastery.",
                "Sintra is 40 minutes by train from Rossio.",
            ]
        )
        with warnings.catch_warnings():  # RunnableWithMessageHistory is deprecated in langchain-core 1.6.4+
            warnings.simplefilter("ignore", DeprecationWarning)
            chain = RunnableWithMessageHistory(
                prompt | model, log.history, input_messages_key="question", history_messages_key="history"
            )
        config: RunnableConfig = {"configurable": {"session_id": "alice"}}
        click.echo(title("\n1. Four turns through RunnableWithMessageHistory (session 'alice')", bold=True))
        for question in [
            "Where should I go in spring?",
            "How do I get around?",
            "Where do I get custard tarts?",
            "A day trip?",
        ]:
            answer = chain.invoke({"question": question}, config=config)
            click.echo(f"   human: {question}\n   ai:    {answer.content}")

        history = log.history("alice")
        events = history.events()
        click.echo(title(f"\n2. The stored events: {len(events)}, one offset each", bold=True))
        for offset, event in events:
            click.echo(f"   {offset}  {offset_time(offset)}  {describe(event)}")

        click.echo(title("\n3. The trimmed window (trim=LastN(4)) that the model is given", bold=True))
        for message in history.messages:
            click.echo(f"   {message.type}: {_short(message.content)}")

        start = events[3][0]
        click.echo(title(f"\n4. Replay: the events after offset {start}", bold=True))
        for offset, event in history.events(start="(" + start):
            click.echo(f"   {offset}  {describe(event)}")

        at = events[1][0]
        click.echo(title(f"\n5. Time travel: the whole conversation as of offset {at}", bold=True))
        for message in log.store.messages_at("alice", at, trim=LastN(1000)):
            click.echo(f"   {message.type}: {_short(message.content)}")

        key = "retry-42"
        first = history.append([HumanMessage("Thanks!")], idempotency_key=key)
        again = history.append([HumanMessage("Thanks!")], idempotency_key=key)
        click.echo(title("\n6. A retried append with the same idempotency key writes nothing", bold=True))
        click.echo(f"   first: {first}   retry: {again}   events now: {len(history.events())}")

        index = SearchIndex()
        handled = Worker(log.store, "demo-indexer", index.handle).run_check()
        click.echo(
            title("\n7. A worker (consumer group on the feed) indexes every event; a search", bold=True)
        )
        click.echo(f"   events handled: {handled}")
        for hit in index.search("tram OR tarts"):
            click.echo(f"   hit: session {hit.session_id!r} at {hit.offset}: {_short(hit.message.content)}")

        history.clear()
        Worker(log.store, "demo-indexer", index.handle).run_check()
        click.echo(
            title("\n8. clear() is an event: the window is empty, the log keeps everything", bold=True)
        )
        click.echo(
            f"   messages: {history.messages}   events: {len(history.events())}, "
            f"last: {describe(history.events()[-1][1])} at {history.last_offset}"
        )
        click.echo(f"   the index saw the clear too: search hits now {len(index.search('tram OR tarts'))}")
    finally:
        # Erase what the demo wrote; only keys under its own prefix are touched.
        log.store.delete("alice")
        space = log.store.keyspace
        for p in range(space.partitions):
            log.store.client.delete(space.feed(p), space.sessions(p), space.dead(p))
        log.store.client.delete(space.config())
        log.close()
    click.echo(
        title(
            "\nDone: the demo session was erased"
            + (", the throwaway server stops now." if embedded else "."),
            bold=True,
        )
    )
