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


PUBLIC_MODULES = ["langchain_streamlog", "langchain_streamlog.langgraph", "langchain_streamlog.agents",
                  "langchain_streamlog.transfer", "langchain_streamlog.testing"]  # fmt: skip
LAZY = ["AsyncStreamlogSaver", "StreamlogMemory", "StreamlogSaver"]


def public_names(module: str) -> list[str]:
    names = list(__import__("importlib").import_module(module).__all__)
    return names + LAZY if module == "langchain_streamlog" else names


def test_every_public_name_lazy_ones_included_is_typed_for_a_user(tmp_path):
    """A user snippet imports every public name of every public module; none is Any or object."""
    lines, checks = [], []
    for module in PUBLIC_MODULES:
        names = public_names(module)
        assert names, module
        alias = {n: f"{module.replace('.', '_')}__{n}" for n in names}
        lines.append(f"from {module} import " + ", ".join(f"{n} as {alias[n]}" for n in names))
        checks += [(module, n, alias[n]) for n in names]
    lines += [f"reveal_type({a})" for _, _, a in checks]
    path = tmp_path / "every_name.py"
    path.write_text("\n".join(lines) + "\n")
    out, err, _ = mypy_api.run([str(path), "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "c")])
    revealed = re.findall(r'Revealed type is "(.*)"', out)
    assert len(revealed) == len(checks), out + err
    assert not re.search(r"\.py:\d+: error:", out), out
    for (module, name, _), kind in zip(checks, revealed, strict=True):
        assert kind not in ("Any", "builtins.object"), (module, name, kind)
    lazy = {name: kind for (module, name, _), kind in zip(checks, revealed, strict=True)
            if module == "langchain_streamlog" and name in LAZY}  # fmt: skip
    assert "langchain_streamlog.langgraph._savers.StreamlogSaver" in lazy["StreamlogSaver"]
    assert "langchain_streamlog.langgraph._savers.AsyncStreamlogSaver" in lazy["AsyncStreamlogSaver"]
    assert "langchain_streamlog.agents.StreamlogMemory" in lazy["StreamlogMemory"]


def test_trim_is_typed_as_a_policy_everywhere(tmp_path):
    path = tmp_path / "trim.py"
    path.write_text(textwrap.dedent(
        """
        from langchain_streamlog import LastN, StreamStore, Streamlog, StoreSettings

        def check(s: StreamStore) -> None:
            s.messages("x", trim=LastN(3))
            s.messages("x", trim=20)
            Streamlog.from_url("redis://localhost", trim=LastN(3))
            StoreSettings(trim=20)
            reveal_type(StoreSettings().trim)
        """
    ))  # fmt: skip
    out, err, _ = mypy_api.run([str(path), "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "c")])
    errors = [line for line in out.splitlines() if re.search(r"\.py:\d+: error:", line)]
    assert len(errors) == 2 and all('"int"' in e for e in errors), out + err  # the two trim=20
    assert 'Revealed type is "langchain_streamlog._core.trim.TrimPolicy | None"' in out, out
