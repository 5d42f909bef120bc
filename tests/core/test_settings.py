"""StoreSettings: every store setting validated once, where the user gives it."""

from __future__ import annotations

import inspect
import re

import pytest

from langchain_streamlog import ConfigError, KeepLast, LastN, StreamStore, TokenBudget
from langchain_streamlog._core.settings import StoreSettings
from langchain_streamlog._history import RedisStreamChatMessageHistory, Streamlog

BAD = [
    ("ttl", 0), ("ttl", -1), ("ttl", True), ("ttl", "60"),
    ("trim", 20), ("trim", "last 20"), ("trim", [LastN(2)]),
    ("partitions", 0), ("key_prefix", "a{b}"),
    ("max_message_bytes", 0), ("idempotency_memory", 0), ("cache_size", -1),
    ("snapshot_every", 0), ("retention", 5), ("refresh_ttl_on_read", "yes"),
    ("feed_max_len", -1), ("feed_max_age", -1), ("feed_trim_every", 1.5),
    ("wait_replicas", -1), ("wait_replicas", True), ("wait_timeout", 0),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_value_is_a_config_error_naming_the_setting(name: str, value: object) -> None:
    with pytest.raises(ConfigError):
        StoreSettings.of({name: value})


def test_trim_must_be_a_policy_and_says_so() -> None:
    with pytest.raises(ConfigError, match=r"trim is a trimming policy such as LastN\(20\)"):
        Streamlog.from_url("redis://127.0.0.1:1/0", trim=20)  # refused before any connection


def test_an_unknown_setting_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown store setting\(s\) 'max_conections'.*max_message_bytes"):
        StoreSettings.of({"max_conections": 5})
    with pytest.raises(ConfigError, match="unknown"):
        Streamlog.from_url("redis://127.0.0.1:1/0", tll=5)


def test_good_values_are_kept_and_derived_values_computed() -> None:
    s = StoreSettings(key_prefix="chat:", ttl=2.5, trim=TokenBudget(100), retention=KeepLast(3), wait_replicas=1)
    assert (s.ttl_ms, s.wait, s.keyspace.config()) == (2500, (1, 1000), b"chat:config")
    assert s.replace(ttl=None).ttl_ms == 0 and s.ttl == 2.5  # frozen: replace makes a copy
    with pytest.raises(ConfigError):
        s.replace(ttl=-1)


def test_every_setting_is_documented_on_the_store() -> None:
    doc = inspect.getdoc(StreamStore) or ""
    documented = set(re.findall(r"^ {4}(\w+)(?:, (\w+))?:", doc, re.MULTILINE))
    names = {n for pair in documented for n in pair if n}
    assert set(StoreSettings.names()) <= names | {"key_prefix", "partitions"}, set(StoreSettings.names()) - names


def test_the_history_class_and_the_deployment_share_one_settings_object() -> None:
    history = RedisStreamChatMessageHistory("s", "redis://127.0.0.1:1/0", key_prefix="chat:", ttl=9, trim=LastN(4))
    settings = history.streamlog.settings
    assert (settings.key_prefix, settings.ttl, settings.trim) == ("chat:", 9, LastN(4))
    assert history.streamlog.store.settings is settings
