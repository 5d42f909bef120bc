"""Servers that cannot run streamlog fail at first use with UnsupportedServer, and nothing is written.

No Redis older than 6.2 is installed here, so the test takes what 6.2 added away from a
real server (``rename-command XAUTOCLAIM ""``), which is how such a server answers the
first-use probe; and it takes Lua away (``EVAL``/``EVALSHA`` renamed), as some managed
services do.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from langchain_streamlog import RedisStreamChatMessageHistory, StreamStore, UnsupportedServer
from langchain_streamlog.testing import LocalServer
from tests.conftest import _first_binary


@pytest.mark.parametrize(
    ("missing", "renamed"),
    [("Redis 6.2's XAUTOCLAIM", ["XAUTOCLAIM"]), ("Lua scripting", ["EVAL", "EVALSHA"])],
)
def test_a_server_without_what_streamlog_needs_is_refused_before_writing(missing, renamed):
    args = [arg for command in renamed for arg in ("--rename-command", command, "")]
    with LocalServer(_first_binary(), extra_args=args) as server, server.client() as client:
        with pytest.raises(UnsupportedServer, match=r"6\.2|Lua"):
            StreamStore(client).append("s", [HumanMessage("hi")])
        history = RedisStreamChatMessageHistory("s", redis_client=client)
        with pytest.raises(UnsupportedServer):
            history.add_messages([HumanMessage("hi")])
        assert client.dbsize() == 0, missing  # nothing was written
