"""A hypothesis state machine against a real server, checked against a pure in-memory model.

Random appends (with removals inside batches), retries with an idempotency key, expected-
offset appends, clears, deletes, full reads, windows, time travel and event listings, from
several stores over the same data: one with a cache, one without, one that snapshots every
few events, and an asyncio store. After every step the
stores must show exactly what the model says.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis
import redis.asyncio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage

from langchain_streamlog import AsyncStreamStore, ConflictError, LastN, StreamStore
from tests.conftest import real_server_names
from tests.store.conftest import Blocking

SESSIONS = ["a", "b", "{b}", "ü:*"]
IDS = ["m1", "m2", "m3"]

message = st.one_of(
    st.builds(lambda c, i: HumanMessage(c, id=i), st.text("xyz", max_size=3), st.sampled_from([None, *IDS])),
    st.builds(lambda c, i: AIMessage(c, id=i), st.text("xyz", max_size=3), st.sampled_from([None, *IDS])),
    st.builds(lambda i: RemoveMessage(id=i), st.sampled_from(IDS)),
)


class Model:
    """What one session should show: visible (id, type, content) triples and each offset's state."""

    def __init__(self) -> None:
        self.visible: list[tuple[Any, str, str]] = []
        self.at: dict[str, list[tuple[Any, str, str]]] = {}
        self.events = 0
        self.keys: dict[str, list[str]] = {}

    def apply(self, offsets: list[str], batch: list[Any]) -> None:
        for offset, m in zip(offsets, batch, strict=True):
            if isinstance(m, RemoveMessage):
                self.visible = [v for v in self.visible if v[0] != m.id]
            else:
                self.visible = [*self.visible, (m.id, m.type, m.content)]
            self.at[offset] = self.visible
            self.events += 1

    def clear(self, offset: str) -> None:
        self.visible = []
        self.at[offset] = []
        self.events += 1


def shown(messages: list[Any]) -> list[tuple[Any, str, str]]:
    return [(m.id, m.type, m.content) for m in messages]


class Sessions(RuleBasedStateMachine):
    url = ""

    def __init__(self) -> None:
        super().__init__()
        prefix = f"sm{uuid.uuid4().hex[:10]}"
        self.client = redis.Redis.from_url(self.url)
        self.loop = asyncio.new_event_loop()
        self.aclient = redis.asyncio.Redis.from_url(self.url)
        self.stores = [
            StreamStore(self.client, key_prefix=prefix),
            StreamStore(self.client, key_prefix=prefix, cache_size=0),
            StreamStore(self.client, key_prefix=prefix, cache_size=0, snapshot_every=3),
            Blocking(AsyncStreamStore(self.aclient, key_prefix=prefix), self.loop),
        ]
        self.model = {sid: Model() for sid in SESSIONS}

    def teardown(self) -> None:
        self.client.close()
        self.loop.run_until_complete(self.aclient.aclose())
        self.loop.close()

    @rule(
        writer=st.integers(0, 3),
        sid=st.sampled_from(SESSIONS),
        batch=st.lists(message, min_size=1, max_size=4),
        key=st.sampled_from([None, "k1", "k2", "k3"]),
    )
    def append(self, writer: int, sid: str, batch: list[Any], key: str | None) -> None:
        model = self.model[sid]
        offsets = self.stores[writer].append(sid, batch, idempotency_key=key)
        if key is not None and key in model.keys:  # a retry: the first offsets, nothing written
            assert offsets == model.keys[key]
            return
        model.apply(offsets, batch)
        if key is not None:
            model.keys[key] = offsets

    @rule(writer=st.integers(0, 3), sid=st.sampled_from(SESSIONS), stale=st.booleans())
    def conditional_append(self, writer: int, sid: str, stale: bool) -> None:
        store, model = self.stores[writer], self.model[sid]
        last = store.last_offset(sid)
        if last is None:
            return
        if stale and len(model.at) > 1:
            expected = sorted(model.at, key=lambda o: tuple(map(int, o.split("-"))))[0]
            with pytest.raises(ConflictError):
                store.append(sid, [HumanMessage("late")], expected_offset=expected)
            return
        batch = [HumanMessage("next")]
        model.apply(store.append(sid, batch, expected_offset=last), batch)

    @rule(writer=st.integers(0, 3), sid=st.sampled_from(SESSIONS))
    def clear(self, writer: int, sid: str) -> None:
        self.model[sid].clear(self.stores[writer].clear(sid))

    @rule(writer=st.integers(0, 3), sid=st.sampled_from(SESSIONS))
    def delete(self, writer: int, sid: str) -> None:
        existed = self.stores[writer].delete(sid)
        assert existed == (self.model[sid].events > 0)
        self.model[sid] = Model()

    @rule(reader=st.integers(0, 3), sid=st.sampled_from(SESSIONS), n=st.integers(0, 5))
    def window(self, reader: int, sid: str, n: int) -> None:
        visible = self.model[sid].visible
        assert shown(self.stores[reader].messages(sid, trim=LastN(n))) == (visible[-n:] if n else [])

    @precondition(lambda self: any(m.at for m in self.model.values()))
    @rule(reader=st.integers(0, 3), data=st.data())
    def time_travel(self, reader: int, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from([s for s in SESSIONS if self.model[s].at]))
        offset = data.draw(st.sampled_from(sorted(self.model[sid].at)))
        assert shown(self.stores[reader].messages_at(sid, offset)) == self.model[sid].at[offset]

    @invariant()
    def every_store_shows_the_model(self) -> None:
        for sid, model in self.model.items():
            for store in self.stores:
                assert shown(store.messages(sid)) == model.visible, sid
            assert len(self.stores[1].events(sid)) == model.events


@pytest.mark.parametrize("name", real_server_names()[:1])
def test_sessions_behave_like_the_model(real_server_by_name, name):
    Sessions.url = real_server_by_name(name).url
    run_state_machine_as_test(
        Sessions,
        settings=settings(
            max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
