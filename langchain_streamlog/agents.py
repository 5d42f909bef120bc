"""Agent memory for ``langchain.agents.create_agent``: each conversation is a streamlog session.

Rule: a face. It decides which of the agent's messages are new and which window the
model sees, and calls the stores; it builds no key and sends no command itself.

How it works, per agent run:

- before each model call, the messages of the agent's state that are not yet in the
  session (the user's input, the previous model reply, tool results) are appended to it,
  in order, in one atomic append; after the run, the last reply is appended the same way;
- the model is given the session's window (the middleware's ``trim``, e.g. ``LastN(20)``
  or a ``TokenBudget``) instead of the state's messages, so it remembers earlier runs of
  the same session without a checkpointer, and long sessions stay cheap;
- the state records how many of its messages are stored (``streamlog_saved``), so with
  or without a checkpointer each message is stored once.

Everything the agent says is then an event in the log: workers, search, the archive,
replay and erasure see agent conversations like any other session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest
from langchain.agents.middleware.types import ModelResponse, OmitFromSchema
from langchain_core.messages import BaseMessage
from typing_extensions import NotRequired

from ._core.errors import ConfigError
from ._history import Streamlog

__all__ = ["StreamlogMemory"]


class _MemoryState(AgentState[Any]):
    streamlog_saved: NotRequired[Annotated[int, OmitFromSchema(input=True, output=True)]]


def _session_from_config() -> str | None:
    from langgraph.config import get_config

    try:
        configurable = get_config().get("configurable", {})
    except RuntimeError:  # outside a graph run
        return None
    value = configurable.get("session_id") or configurable.get("thread_id")
    return str(value) if value is not None else None


class StreamlogMemory(AgentMiddleware[_MemoryState, Any]):
    """Keep an agent's conversation as a streamlog session and give the model its window.

    Args:
        store: the deployment (a :class:`Streamlog`).
        trim: the window the model sees (``LastN``, ``TokenBudget``; default: the store's ``trim``).
        session_id: the session of a run: a callable ``(runtime) -> str``; by default
            ``config["configurable"]["session_id"]`` or, failing that, ``thread_id``.
    """

    state_schema = _MemoryState

    def __init__(
        self, store: Streamlog, *, trim: Any = None, session_id: Callable[[Any], str] | None = None
    ) -> None:
        super().__init__()
        self.store = store
        self.trim = trim
        self._session_id = session_id

    def _session(self, runtime: Any) -> str:
        sid = self._session_id(runtime) if self._session_id is not None else _session_from_config()
        if not sid:
            raise ConfigError(
                "StreamlogMemory needs a session: pass config={'configurable': {'session_id': ...}} "
                "(or thread_id), or session_id=callable"
            )
        return sid

    def _unsaved(self, state: Any) -> tuple[list[BaseMessage], int]:
        messages: Sequence[BaseMessage] = state["messages"]
        saved = min(int(state.get("streamlog_saved", 0)), len(messages))
        return list(messages[saved:]), len(messages)

    @staticmethod
    def _key(session_id: str, new: Sequence[BaseMessage]) -> str:
        # Derived from the messages themselves (their ids are set by the agent's state),
        # so a retried run stores them once.
        digest = hashlib.blake2b(digest_size=12)
        for m in new:
            digest.update(f"{m.id}|{m.type}\0".encode())
        return "agent:" + digest.hexdigest()

    # -- sync -----------------------------------------------------------------

    def _save(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        new, total = self._unsaved(state)
        if not new:
            return None
        sid = self._session(runtime)
        self.store.store.append(sid, new, idempotency_key=self._key(sid, new))
        return {"streamlog_saved": total}

    def before_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        return self._save(state, runtime)

    def after_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        return self._save(state, runtime)

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> Any:
        sid = self._session(request.runtime)
        window = self.store.store.messages(sid, trim=self.trim)
        return handler(request.override(messages=window))  # type: ignore[arg-type]

    # -- async ----------------------------------------------------------------

    async def _asave(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        new, total = self._unsaved(state)
        if not new:
            return None
        sid = self._session(runtime)
        await self.store.astore.append(sid, new, idempotency_key=self._key(sid, new))
        return {"streamlog_saved": total}

    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        return await self._asave(state, runtime)

    async def aafter_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        return await self._asave(state, runtime)

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> Any:
        sid = self._session(request.runtime)
        window = await self.store.astore.messages(sid, trim=self.trim)
        return await handler(request.override(messages=window))  # type: ignore[arg-type]
