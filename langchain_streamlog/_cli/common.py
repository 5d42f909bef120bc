"""What the commands share: the deployment options, the store they open, and line formatting.

Rule: nothing here talks to Redis except through `open_store`, which opens the public
`StreamStore`; a command never builds a key or a Redis command itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import click

from .._core.events import AnyEvent, HistoryCleared, MessagesAppended, MessagesRemoved, SessionDeleted

__all__ = ["deployment", "describe", "offset_datetime", "offset_time", "open_store", "short"]


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
        return "; ".join(f"{r.get('type')}: {short(r.get('content', ''))}" for r in event.messages)
    if isinstance(event, MessagesRemoved):
        return "removed ids " + ", ".join(event.ids)
    if isinstance(event, HistoryCleared):
        return "history cleared"
    if isinstance(event, SessionDeleted):
        return "session deleted"
    return repr(event)


def short(content: Any, width: int = 60) -> str:
    """``content`` as text, cut to ``width`` characters (the last one an ellipsis)."""
    text = content if isinstance(content, str) else repr(content)
    return text if len(text) <= width else text[: width - 1] + "…"


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
def open_store(url: str, prefix: str, partitions: int, **settings: Any) -> Iterator[Any]:
    """The deployment's `StreamStore` for the block; a streamlog error becomes one line and exit 1."""
    from .._core.errors import StreamlogError
    from .._store import StreamStore

    try:
        cluster = bool(click.get_current_context().meta.get("streamlog.cluster"))
        with StreamStore.from_url(
            url, cluster=cluster, key_prefix=prefix, partitions=partitions, **settings
        ) as store:
            yield store
    except StreamlogError as exc:  # a user error: one line, exit 1
        raise click.ClickException(str(exc)) from exc
