"""The public API's types, as a user's type checker sees them (msgspec's typing tests)."""

from __future__ import annotations

import re
import textwrap

import pytest

mypy_api = pytest.importorskip("mypy.api")

SNIPPET = textwrap.dedent(
    """
    from langchain_streamlog import AsyncStreamStore, RedisStreamChatMessageHistory, StreamStore

    def check(s: StreamStore, a: AsyncStreamStore, h: RedisStreamChatMessageHistory) -> None:
        reveal_type(s.append("x", []))
        reveal_type(a.append("x", []))  # type: ignore[unused-coroutine]
        reveal_type(s.messages("x"))
        reveal_type(s.last_offset("x"))
        reveal_type(s.tail("x"))
        reveal_type(a.tail("x"))
        reveal_type(h.events())
        reveal_type(h.messages)
    """
)


def test_sync_and_async_shells_are_typed(tmp_path):
    path = tmp_path / "snippet.py"
    path.write_text(SNIPPET)
    out, err, _ = mypy_api.run(
        [str(path), "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "c")]
    )
    revealed = re.findall(r'Revealed type is "(.*)"', out)
    assert len(revealed) == 8, out + err
    sync_append, async_append, messages, last, tail, atail, events, history_messages = revealed
    assert sync_append == "list[str]"
    assert async_append == "typing.Coroutine[Any, Any, list[str]]"
    assert messages == "list[langchain_core.messages.base.BaseMessage]"
    assert last == "str | None"
    assert tail.startswith("typing.Iterator[tuple[str,") and atail.startswith("typing.AsyncIterator[")
    assert "Awaitable" not in sync_append + messages + last + tail
    assert events.startswith("list[tuple[str, langchain_streamlog._core.events.MessagesAppended |")
    assert history_messages == messages
    assert "error:" not in out, out


def test_the_package_passes_mypy_strict():
    root = __import__("pathlib").Path(__file__).parents[2]
    out, err, status = mypy_api.run(["--config-file", str(root / "pyproject.toml"), str(root / "langchain_streamlog")])
    assert status == 0, out + err
