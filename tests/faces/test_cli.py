"""`streamlog demo`, run as a user runs it: a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from tests.conftest import real_server_names

SECTIONS = ["1. Four turns", "2. The stored events: 8", "3. The trimmed window", "4. Replay", "5. Time travel",
            "6. A retried append", "7. A worker", "events handled: 9", "hit: session 'alice'",
            "8. clear() is an event", "search hits now 0"]  # fmt: skip


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("STREAMLOG_URL", None)
    return subprocess.run([sys.executable, "-m", "streamlog", "demo", *args], capture_output=True, text=True,
                          timeout=120, env=env, check=False)  # fmt: skip


@pytest.mark.parametrize("name", real_server_names()[:1])
def test_demo_on_a_given_server_touches_only_its_own_prefix(real_server_by_name, name):
    server = real_server_by_name(name)
    with redis.Redis(port=server.port) as client:
        client.set("someone:else", "keep me")
        before = set(client.scan_iter())
        result = demo("--url", server.url)
        assert result.returncode == 0, result.stderr
        assert all(section in result.stdout for section in SECTIONS)
        assert "first: ['" in result.stdout and "retry: ['" in result.stdout
        assert set(client.scan_iter()) == before  # it erased what it wrote, and nothing else
        assert client.get("someone:else") == b"keep me"


def test_demo_without_url_runs_on_a_throwaway_server():
    result = demo()
    assert result.returncode == 0, result.stderr
    assert "throwaway server" in result.stdout and all(section in result.stdout for section in SECTIONS)


def test_unknown_command_is_a_usage_error():
    result = subprocess.run(
        [sys.executable, "-m", "streamlog", "nope"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "No such command" in result.stderr
