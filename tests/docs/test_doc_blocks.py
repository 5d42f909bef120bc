"""Every python block of docs/*.md runs, page by page, against servers the suite started.

README.md and docs/quickstart.md run in test_readme.py. A page's blocks run in order in one
namespace, in a temporary working directory, each compiled under the page's path and line
numbers (a traceback points into the page). Every address a block names (``redis://host:port``,
``host="...", port=...``, ``redis.Redis()``) is pointed at a private server started for the page,
so nothing a page writes is seen by another test or outlives it; docs/cluster.md's at the
suite's cluster (it only reads there), docs/security.md's at a TLS server with the user the
page logs in as (its CA and key files: the test's), docs/servers.md starts its own. An s3://
archive goes to a local folder, and a worker's ``.run()`` (until a signal) runs as
``.run_check()`` (drain once). Then the page's own check runs, and every store, ``Streamlog``
and history a block made is probed with a read and closed.

A block that cannot run here has ``<!-- not run: reason -->`` on the line before its fence;
``NOT_RUN`` lists them exactly, and the signature blocks among them are checked against
``inspect.signature`` instead.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import re
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_streamlog import (
    Archiver,
    RedisStreamChatMessageHistory,
    Streamlog,
    StreamStore,
    Worker,
    transfer,
)
from langchain_streamlog.transfer import ImportResult
from tests.reliability.test_security import tls_server  # noqa: F401 (a fixture: docs/security.md's server)
from tests.transfer.test_transfer import community_history

DOCS = Path(__file__).parents[2] / "docs"
FENCE = re.compile(r"^(?:<!-- not run: (?P<why>.+?) -->\n)?```python\n(?P<code>.*?)^```$", re.S | re.M)
SIGNATURES = "signatures (tests/docs/test_doc_blocks.py checks them against the functions)"
NOT_RUN = [
    ("migrating.md", "langchain-google-memorystore-redis cannot be installed beside streamlog (it pins langchain-core<1, redis<6)"),
    ("migrating.md", "langchain-redis needs the RedisJSON and RediSearch modules, which no server here has"),
    ("migrating.md", SIGNATURES),
    ("migrating.md", SIGNATURES),
]  # fmt: skip


def blocks(page: str) -> list[tuple[int, str | None, str]]:
    """``(line of its first line of code, why it is not run or None, code)`` of each python block."""
    text = (DOCS / page).read_text()
    return [(text.count("\n", 0, m.start("code")) + 1, m["why"], m["code"]) for m in FENCE.finditer(text)]


PAGES = sorted(
    p.name for p in DOCS.glob("*.md") if p.name != "quickstart.md" and "```python" in p.read_text()
)


def test_every_block_runs_or_says_why_not():
    for page in PAGES:
        text = (DOCS / page).read_text()
        assert len(blocks(page)) == text.count("```python"), f"{page}: a python fence the test does not see"
        assert text.count("<!-- not run:") == sum(why is not None for _, why, _ in blocks(page)), page
    assert [(page, why) for page in PAGES for _, why, _ in blocks(page) if why] == NOT_RUN


def test_the_signature_blocks_match_the_functions():
    def call(text: str) -> ast.Call | None:  # a line's `name(...)`, or its comment's `-> Result(...)`
        try:
            body = ast.parse(text.strip().removeprefix("-> ")).body
        except SyntaxError:
            return None
        node = body[0].value if body and isinstance(body[0], ast.Expr) else None
        return node if isinstance(node, ast.Call) else None

    code = "".join(code for page in PAGES for _, why, code in blocks(page) if why == SIGNATURES)
    calls = [c for line in code.splitlines() for part in line.split("#", 1) if (c := call(part))]
    assert [c.func.id for c in calls] == [
        "migrate", "MigrateResult", "export_events", "dump_jsonl", "import_events", "ImportResult", "iter_sessions",
    ]  # fmt: skip
    for c in calls:
        parameters = inspect.signature(getattr(transfer, c.func.id)).parameters.values()
        assert [a.id for a in c.args] == [p.name for p in parameters if p.default is p.empty], c.func.id
        defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
        assert {k.arg: ast.literal_eval(k.value) for k in c.keywords} == defaults, c.func.id


def localize(code: str, port: int | None, paths: dict[str, str]) -> str:
    """Every address the code names, pointed at 127.0.0.1:port; the named files at their stand-ins."""
    for old, new in paths.items():
        code = code.replace(old, new)
    if port is not None:
        code = re.sub(r"(rediss?://(?:[^@/\s\"]*@)?)[\w.-]+:\d+", rf"\g<1>127.0.0.1:{port}", code)
        code = re.sub(r'host="[\w.-]+", port=\d+', f'host="127.0.0.1", port={port}', code)
        code = code.replace("Redis()", f'Redis(host="127.0.0.1", port={port})')
    return code.replace(".run()", ".run_check()")  # a worker works until a signal: drain once instead


def where(page: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[int | None, dict[str, str]]:
    """The port the page's addresses go to, and stand-ins for the files and buckets it names."""
    if page == "servers.md":
        return None, {}  # it starts its own
    if page == "cluster.md":
        return request.getfixturevalue("redis_cluster").port, {}
    if page == "sentinel.md":
        deployment = request.getfixturevalue("redis_sentinel")
        hosts = ",".join(f"{h}:{p}" for h, p in deployment.sentinels)
        listed = ", ".join(f'("{h}", {p})' for h, p in deployment.sentinels)
        return deployment.master.port, {
            "10.0.0.5:26379,10.0.0.6:26379,10.0.0.7:26379": hosts,
            '("10.0.0.5", 26379), ("10.0.0.6", 26379), ("10.0.0.7", 26379)': listed,
        }
    if page == "security.md":
        server, port, ca = request.getfixturevalue("tls_server")
        with server.client() as admin:
            admin.acl_setuser(
                "streamlog", enabled=True, passwords=["+PASSWORD"], keys=["*"], commands=["+@all"]
            )
        certificate, key = ca.with_name("server.crt"), ca.with_name("server.key")  # a pair the CA signed
        return port, {
            "/etc/ssl/redis-ca.pem": str(ca),
            "/etc/ssl/app.crt": str(certificate),
            "/etc/ssl/app.key": str(key),
        }
    server = request.getfixturevalue("fresh_server")
    if page == "migrating.md":  # the histories the page copies: one, as langchain-community wrote it
        old = community_history("user_123", server.url, "message_store:")
        old.add_messages([HumanMessage("What is 2+2?"), AIMessage("4")])
        old.redis_client.close()
    return server.port, {"s3://bucket/chat-archive": str(tmp_path / "archive")}


def probe(made: dict[int, Any]) -> None:
    """Read once through every store, ``Streamlog`` and history the page made (a fresh session id), then close it."""
    sid = f"probe-{uuid.uuid4().hex[:8]}"
    for value in made.values():
        if isinstance(value, RedisStreamChatMessageHistory):
            assert isinstance(value.messages, list)
            value.streamlog.close()
        else:
            store = value.store if isinstance(value, Streamlog) else value
            assert store.messages(sid) == []
            value.close()


def contents(store: StreamStore, sid: str) -> list[Any]:
    return [m.content for m in store.messages(sid, trim=None)]


def check_connections(ns: dict[str, Any], printed: list[str], tmp_path: Path) -> None:
    pools = [ns["log"].store.client.connection_pool, ns["history"].streamlog.store.client.connection_pool]
    assert [pool.max_connections for pool in pools] == [200, 50]
    assert ns["store"].client.connection_pool.connection_kwargs["socket_connect_timeout"] == 2


def check_langgraph(ns: dict[str, Any], printed: list[str], tmp_path: Path) -> None:
    assert printed[0] == "['hi', '1 so far', 'hi again', '3 so far']\n"
    assert contents(ns["log"].store, "user-42") == [
        "weather in Oslo?", "", "4°C and rain in Oslo", "Cold and wet in Oslo.",
        "and tomorrow?", "Rain again tomorrow.", "hi", "Hello!", "hi", "Hello again!",
    ]  # fmt: skip


def check_migrating(ns: dict[str, Any], printed: list[str], tmp_path: Path) -> None:
    assert printed[3] == "1 2 0 ()\n"  # sessions, messages, skipped_sessions, diverged
    assert ns["result"] == ImportResult(sessions=1, events=2, skipped=0)  # an event per message
    for store in (ns["target"], ns["target_store"]):
        assert contents(store, "user_123") == ["What is 2+2?", "4"]


def check_workers(ns: dict[str, Any], printed: list[str], tmp_path: Path) -> None:
    [hit] = ns["index"].search("custard tarts", session_id=None, limit=10)
    assert hit.session_id == "user_123" and hit.message.content == "Any custard tarts left?"
    assert Worker(ns["store"], "handler", ns["handle"]).run_check() == 1
    assert [line["message"]["content"] for line in Archiver(str(tmp_path / "archive")).read("user_123")] == [
        hit.message.content
    ]


CHECKS: dict[str, Callable[[dict[str, Any], list[str], Path], None]] = {
    "connections.md": check_connections,
    "langgraph.md": check_langgraph,
    "migrating.md": check_migrating,
    "workers.md": check_workers,
}


@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page, request, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # pages write files (a search index, an export) to the working directory
    port, paths = where(page, request, tmp_path)
    namespace: dict[str, Any] = {"__name__": "__doc__"}
    printed, made = [], {}
    for line, why, code in blocks(page):
        if why is not None:
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # RunnableWithMessageHistory
            exec(
                compile("\n" * (line - 1) + localize(code, port, paths), str(DOCS / page), "exec"), namespace
            )
        printed.append(out.getvalue())
        kinds = (Streamlog, StreamStore, RedisStreamChatMessageHistory)
        made |= {id(v): v for v in namespace.values() if isinstance(v, kinds)}
    CHECKS.get(page, lambda *_: None)(namespace, printed, tmp_path)
    if port is not None:
        probe(made)
