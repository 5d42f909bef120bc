"""Trimming policies: which suffix of the visible messages a reader is given.

Rule: a policy only *selects*; it never changes a message and never touches the
log (the log keeps everything; trimming is a view). Two invariants hold for every
policy here, because a chat model rejects a conversation that breaks them:

- a window never starts with a ``ToolMessage`` whose AI tool call fell outside it
  (an orphan result);
- a window never separates an AI message's tool calls from their results (a window
  is a suffix, so once the AI message is in, its later results are too).

The token budget delegates to ``langchain_core.messages.trim_messages`` rather than
re-implementing token counting and boundary rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from .errors import ConfigError
from .fold import Entry

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["LastN", "TokenBudget", "TrimPolicy", "WindowedPolicy", "drop_orphans"]


@runtime_checkable
class TrimPolicy(Protocol):
    """Anything with ``select(entries) -> entries``, a suffix of its input.

    Every ``trim=`` takes one (or None: every visible message). A policy that is only
    a `TrimPolicy` is served by a full read (snapshot or cache, then the tail).
    """

    def select(self, entries: Sequence[Entry]) -> list[Entry]: ...


@runtime_checkable
class WindowedPolicy(TrimPolicy, Protocol):
    """A policy that can be served by a windowed read, from the end of the log.

    While ``windowed`` is true, the store reads the session backwards, ``page_size()``
    entries first, doubling, until ``enough(entries)`` says the entries read (a suffix
    of the visible messages, in order) contain the whole window; then ``select`` over
    that suffix equals ``select`` over everything. `LastN` and `TokenBudget` are both.
    """

    @property
    def windowed(self) -> bool: ...

    def page_size(self) -> int: ...

    def enough(self, entries: Sequence[Entry]) -> bool: ...


_TOOL = ("tool", "ToolMessageChunk")
_LEADING = ("system", "SystemMessageChunk", *_TOOL)


def drop_orphans(window: list[Entry]) -> list[Entry]:
    """Drop the tool results that come before the window's first human/AI message.

    Their tool call fell outside the window; system messages there are kept.
    """
    first = 0
    while first < len(window) and window[first].type in _LEADING:
        first += 1
    if not any(e.type in _TOOL for e in window[:first]):
        return window
    return [e for e in window[:first] if e.type not in _TOOL] + window[first:]


@dataclass(frozen=True)
class LastN:
    """The last ``n`` visible messages, minus any orphan tool results at the start.

    So a window may hold fewer than ``n`` messages, never more.
    """

    n: int

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise ConfigError(f"LastN needs a non-negative int, not {self.n!r}")

    windowed = True

    def select(self, entries: Sequence[Entry]) -> list[Entry]:
        if self.n == 0:
            return []
        return drop_orphans(list(entries[-self.n :]))

    def page_size(self) -> int:
        return self.n + 2  # a little more, for a removal in the window

    def enough(self, entries: Sequence[Entry]) -> bool:
        return len(entries) >= self.n


def _approximate(messages: Sequence[BaseMessage]) -> int:
    from langchain_core.messages.utils import count_tokens_approximately

    return count_tokens_approximately(messages)


@dataclass(frozen=True)
class TokenBudget:
    """The longest suffix that fits ``max_tokens``, by ``trim_messages(strategy="last")``.

    Args:
        max_tokens: the budget.
        token_counter: what ``trim_messages`` accepts: a function of a message list,
            or a chat model. Defaults to ``count_tokens_approximately``.
        include_system: keep a leading system message (``trim_messages`` semantics).
        start_on: a message type the window must start on, e.g. ``"human"``.
    """

    max_tokens: int
    token_counter: Callable[[list[BaseMessage]], int] | Any = _approximate
    include_system: bool = False
    start_on: Literal["human", "ai", "system", "tool"] | None = None

    @property
    def windowed(self) -> bool:
        # Keeping the first system message needs the first message of the whole
        # session, which a read from the end does not see: such budgets read it all.
        return not self.include_system

    def page_size(self) -> int:
        return 64

    def enough(self, entries: Sequence[Entry]) -> bool:
        # Once the suffix read costs more than the budget, a longer one cannot fit,
        # so trim_messages picks the same messages from it as from the whole session.
        counter = self.token_counter
        messages = [e.message for e in entries]
        if hasattr(counter, "get_num_tokens_from_messages"):
            return bool(counter.get_num_tokens_from_messages(messages) > self.max_tokens)
        return bool(counter(messages) > self.max_tokens)

    def select(self, entries: Sequence[Entry]) -> list[Entry]:
        from langchain_core.messages import trim_messages

        messages = [e.message for e in entries]
        kept = trim_messages(
            messages,
            max_tokens=self.max_tokens,
            token_counter=self.token_counter,
            strategy="last",
            allow_partial=False,
            include_system=self.include_system,
            start_on=self.start_on,
        )
        # Without partial messages trim_messages returns a subsequence of the very
        # objects it was given, so identity maps them back to their entries.
        chosen = {id(m) for m in kept}
        return drop_orphans([e for e in entries if id(e.message) in chosen])
