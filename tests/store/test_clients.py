"""Clients streamlog makes from the user's: the other flavour keeps every setting, retry included."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from langchain_core.messages import HumanMessage
from redis.backoff import ExponentialBackoff

from langchain_streamlog import ConfigError, Streamlog
from tests.conftest import real_server_names


@pytest.fixture
def url(real_server_by_name: Any) -> str:
    return real_server_by_name(real_server_names()[0]).url


def retry_of(client: Any) -> Any:
    return client.connection_pool.connection_kwargs["retry"]


def test_a_sync_clients_retry_policy_is_carried_to_its_asyncio_twin(url: str) -> None:
    backoff = ExponentialBackoff(cap=0.2, base=0.01)
    given = redis.retry.Retry(backoff, 7, (redis.ConnectionError, redis.TimeoutError, OSError))
    client = redis.Redis.from_url(url, retry=given, socket_timeout=3.5)
    log = Streamlog(client, key_prefix="twin-retry")

    async def go() -> Any:
        store = log.astore
        await store.append("s", [HumanMessage("hi")])  # no redis-py warning (warnings are errors here)
        assert [m.content for m in await store.messages("s")] == ["hi"]
        twin = store.client
        await log.aclose()
        return twin

    twin = asyncio.run(go())
    retry = retry_of(twin)
    assert type(retry) is redis.asyncio.retry.Retry
    assert (retry._backoff is backoff or vars(retry._backoff) == vars(backoff)) and retry._retries == 7
    assert set(retry._supported_errors) >= {redis.ConnectionError, redis.TimeoutError, OSError}
    assert twin.connection_pool.connection_kwargs["socket_timeout"] == 3.5
    log.store.delete("s")
    client.close()


def test_an_asyncio_clients_retry_policy_is_carried_to_its_sync_twin(url: str) -> None:
    backoff = ExponentialBackoff(cap=0.1, base=0.01)
    given = redis.asyncio.retry.Retry(backoff, 4)
    log = Streamlog(async_client=redis.asyncio.Redis.from_url(url, retry=given), key_prefix="twin-retry")
    retry = retry_of(log.store.client)
    assert type(retry) is redis.retry.Retry and retry._retries == 4
    assert retry._backoff is backoff or vars(retry._backoff) == vars(backoff)
    log.store.append("a", [HumanMessage("x")])
    assert log.store.delete("a")
    log.close()


class LoggingRetry(redis.retry.Retry):
    def call_with_retry(self, do: Any, fail: Any, *args: Any, **kwargs: Any) -> Any:
        return super().call_with_retry(do, fail, *args, **kwargs)


def test_a_custom_retry_class_is_refused_up_front_instead_of_silently_dropped(url: str) -> None:
    client = redis.Redis.from_url(url, retry=LoggingRetry(ExponentialBackoff(), 2))
    with pytest.raises(ConfigError, match=r"LoggingRetry.*async_client="):
        Streamlog(client)
    # Given both clients, nothing is converted, so the custom policy is fine.
    both = Streamlog(client, async_client=redis.asyncio.Redis.from_url(url))
    both.store.append("c", [HumanMessage("x")])
    assert both.store.delete("c")
    client.close()
