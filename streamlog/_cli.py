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

from ._events import AnyEvent, HistoryCleared, MessagesAppended, MessagesRemoved, SessionDeleted
from ._trim import LastN

__all__ = ["cli"]


def offset_time(offset: str) -> str:
    """The wall-clock time an offset was assigned (its milliseconds part), UTC."""
    ms = int(offset.partition("-")[0])
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3]


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
    from ._server import LocalServer, default_server

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
    from ._errors import StreamlogError
    from ._store import StreamStore

    try:
        cluster = bool(click.get_current_context().meta.get("streamlog.cluster"))
        with StreamStore.from_url(url, cluster=cluster, key_prefix=prefix, partitions=partitions) as store:
            yield store
    except StreamlogError as exc:  # a user error: one line, exit 1
        raise click.ClickException(str(exc)) from exc


def _handler(name: str, index: str, archive: str) -> Any:
    if name == "indexer":
        from ._indexer import SearchIndex

        return SearchIndex(index).handle
    if name == "archiver":
        from ._archiver import Archiver

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

    from ._work import group_stats
    from ._worker import Worker

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
                rows = [r for r in store._drive(group_stats(store.keyspace)) if r["group"] == group]
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
    from ._work import group_stats

    with _store(url, prefix, partitions) as store:
        rows = store._drive(group_stats(store.keyspace))
    click.echo(f"{'partition':>9}  {'group':<20} {'pending':>7}  {'feed':>6}  last delivered")
    for r in rows:
        click.echo(
            f"{r['partition']:>9}  {r['group']:<20} {r['pending']:>7}  {r['feed_length']:>6}  {r['last_delivered']}"
        )


@cli.group()
def dlq() -> None:
    """Dead letters: events whose handler failed max-deliveries times."""


@dlq.command("list")
@deployment
@click.option("--limit", default=100, show_default=True, help="at most this many per partition")
def dlq_list(url: str, prefix: str, partitions: int, limit: int) -> None:
    """List dead letters: group, session, offset, error."""
    from ._work import dead_letters

    with _store(url, prefix, partitions) as store:
        for row in store._drive(dead_letters(store.keyspace, limit)):
            click.echo(f"{row['g']}  {row['s']!r}  {row['o']}  {row['err']}")


@dlq.command("requeue")
@deployment
@click.option("--group", default=None, help="only this group's dead letters")
def dlq_requeue(url: str, prefix: str, partitions: int, group: str | None) -> None:
    """Put dead letters back on their feeds, to be delivered again."""
    from ._work import requeue

    with _store(url, prefix, partitions) as store:
        click.echo(f"requeued {store._drive(requeue(store.keyspace, group))}")


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

    from ._indexer import SearchIndex

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

    from ._history import Streamlog
    from ._indexer import SearchIndex
    from ._worker import Worker

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
