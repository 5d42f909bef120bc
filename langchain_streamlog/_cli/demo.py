"""``streamlog demo``: a short conversation through the public API, shown step by step.

Rule: the demo uses only what a user would (`Streamlog`, its histories, `Worker`,
`SearchIndex`), and leaves a server it did not start as it found it: its cleanup is the
store's `drop_deployment()`.
"""

from __future__ import annotations

import contextlib
import secrets
import warnings
from collections.abc import Iterator

import click

from .._core.trim import LastN
from .common import describe, offset_time, short

__all__ = ["demo"]


@contextlib.contextmanager
def _server(url: str | None) -> Iterator[str]:
    """``url``, or a throwaway local server for the duration of the block."""
    if url is not None:
        yield url
        return
    from ..testing import LocalServer, default_server

    with LocalServer(default_server()) as server:
        yield server.url


@click.command()
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
            click.echo(f"   {message.type}: {short(message.content)}")

        start = events[3][0]
        click.echo(title(f"\n4. Replay: the events after offset {start}", bold=True))
        for offset, event in history.events(start="(" + start):
            click.echo(f"   {offset}  {describe(event)}")

        at = events[1][0]
        click.echo(title(f"\n5. Time travel: the whole conversation as of offset {at}", bold=True))
        for message in log.store.messages_at("alice", at, trim=LastN(1000)):
            click.echo(f"   {message.type}: {short(message.content)}")

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
            click.echo(f"   hit: session {hit.session_id!r} at {hit.offset}: {short(hit.message.content)}")

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
        # Erase what the demo wrote, through the store: only keys under its own prefix.
        log.store.drop_deployment()
        log.close()
    click.echo(
        title(
            "\nDone: the demo session was erased"
            + (", the throwaway server stops now." if embedded else "."),
            bold=True,
        )
    )
