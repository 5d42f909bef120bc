"""Security notes, tested: a least-privilege ACL user, key isolation, TLS, no code from stored data.

``COMMANDS`` is the ACL command list that docs/security.md quotes; a test reads the doc, so
the two cannot drift. ACL tests run on private servers this module starts (one per binary
found), so creating users and flushing the script cache never touches a shared server.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import pickle
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from langchain_core.messages import AIMessage, HumanMessage
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from langchain_streamlog import (
    AsyncStreamStore,
    DecodeError,
    LastN,
    NotReplicated,
    RedisStreamChatMessageHistory,
    StoreError,
    StoreUnavailable,
    Streamlog,
    StreamStore,
)
from langchain_streamlog._core import scripts as _scripts
from langchain_streamlog._core.groups import dead_letters
from langchain_streamlog._workers.runtime import Worker
from langchain_streamlog.langgraph._core import scripts as _checkpoint_scripts  # noqa: F401 (loads them)
from langchain_streamlog.testing import HOST, LocalServer
from tests.conftest import BINARIES, MISSING, _unavailable, real_server_names
from tests.langgraph.test_savers import every_checkpoint_command
from tests.store.test_cluster import every_kind_of_command

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
PACKAGE = ROOT / "langchain_streamlog"
PASSWORD = "s3cret-for-tests"

#: Every command streamlog sends, from the client or from inside its Lua scripts (Redis checks
#: ACLs for script commands too). Each is needed: ``test_each_command_is_needed``.
COMMANDS = (
    # scripts: EVALSHA, then EVAL once after NOSCRIPT
    "evalsha", "eval",
    # streams: session logs, partition feeds, dead letters
    "xadd", "xrange", "xrevrange", "xread", "xtrim", "xdel", "xlen",
    # consumer groups (workers)
    "xgroup|create", "xgroup|delconsumer", "xreadgroup", "xack", "xautoclaim", "xpending", "xinfo|groups",
    "xinfo|consumers",
    # hashes: config, snapshots, idempotency keys
    "hget", "hmget", "hset", "hsetnx", "hlen", "hdel",
    # sorted sets: session index, worker membership
    "zadd", "zrem", "zrange", "zremrangebyscore", "zscore", "zrangebyscore",
    # keys: existence, deletion, idempotency rotation, TTLs
    "exists", "del", "rename", "pexpire", "persist", "pttl",
    # server clock (retention by age, worker leases, idempotency windows), the eviction policy
    "time", "info",
)  # fmt: skip
#: Only for durable appends (``wait_replicas`` > 0).
DURABLE = ("wait",)
#: A Redis Cluster client's topology discovery (redis-py: ``CLUSTER SLOTS``, and ``COMMAND`` to
#: find the keys of a command), granted on every node.
CLUSTER = ("cluster|slots", "command")
#: redis-py's connection handshake (it ignores a refusal, but the server logs one per connection).
#: Redis 7.2+ and Valkey have the command; Redis 7.0 refuses the rule (no such subcommand).
CONNECT = ("client|setinfo",)

# How a refusal reads: redis-py's NoPermissionError, or a script's error (which differs by server).
REFUSED = re.compile(r"no permissions|can't run this command|ACL failure|NOPERM", re.IGNORECASE)


# -- private servers ------------------------------------------------------------------


@pytest.fixture(scope="module", params=real_server_names())
def acl_server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    """A private server of each binary found, for this module only."""
    if request.param in MISSING:
        _unavailable(MISSING[request.param])
    binary = next(b for b in BINARIES if b.name == request.param)
    server = LocalServer(binary)
    try:
        server.start()
    except RuntimeError as exc:
        _unavailable(f"private server {binary.name} did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture
def admin(acl_server: LocalServer) -> Iterator[redis.Redis]:
    with acl_server.client() as client:
        yield client


def unique(kind: str) -> str:
    return f"{kind}{uuid.uuid4().hex[:10]}"


def set_user(admin: redis.Redis, name: str, commands: tuple[str, ...], prefixes: tuple[str, ...]) -> None:
    """``ACL SETUSER name on >pw resetkeys ~<prefix>:* ... resetchannels -@all +<command> ...``."""
    patterns = [f"~{prefix}:*" for prefix in prefixes]
    rules = ["reset", "on", f">{PASSWORD}", "resetkeys", *patterns, "resetchannels", "-@all"]
    admin.execute_command("ACL", "SETUSER", name, *rules, *(f"+{c}" for c in commands))


def has_setinfo(admin: redis.Redis) -> bool:
    """Whether the server has ``CLIENT SETINFO`` (Redis 7.2+, Valkey), which redis-py sends on connect."""
    try:
        admin.execute_command("CLIENT", "SETINFO", "LIB-NAME", "streamlog-tests")
    except redis.ResponseError:
        return False
    return True


def quiet(admin: redis.Redis) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Extra grants and client settings with which the server refuses nothing on connect.

    A server with ``CLIENT SETINFO`` (Redis 7.2+, Valkey): grant it. Otherwise the rule is
    unknown (Redis 7.0) or does not stop the refusals (Redis 6.2 checks ACLs before it finds
    a subcommand unknown, so it also logs redis-py 8's ``CLIENT MAINT_NOTIFICATIONS`` on
    RESP3): tell redis-py to send neither.
    """
    return (CONNECT, {}) if has_setinfo(admin) else ((), {"driver_info": None, "protocol": 2})


def refusals(admin: redis.Redis, user: str) -> list[tuple[str, str]]:
    """``(reason, object)`` of every ACL LOG entry of ``user``."""
    out = []
    for entry in admin.execute_command("ACL", "LOG", "128"):
        values = entry if isinstance(entry, dict) else dict(zip(entry[::2], entry[1::2], strict=True))
        get = {(k.decode() if isinstance(k, bytes) else k): v for k, v in values.items()}
        if get["username"] in (user, user.encode()):
            out.append((get["reason"].decode(), get["object"].decode()))
    return out


def as_user(server: LocalServer, user: str, **kwargs: Any) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port, username=user, password=PASSWORD, **kwargs)


def drive_everything(client: redis.Redis, prefix: str) -> None:
    """Every operation of the store, the workers and the chat-history class, sync and asyncio.

    Uses keys under ``prefix`` and ``prefix + "s"`` (``every_kind_of_command`` adds the latter).
    """
    every_kind_of_command(StreamStore(client, key_prefix=prefix))
    every_checkpoint_command(client, prefix)  # the LangGraph checkpointer, on the same keys
    # An idempotency memory that fills up is rotated by the append script (RENAME).
    small = StreamStore(client, key_prefix=prefix, idempotency_memory=1, idempotency_window=0)
    assert small.append("idem", [HumanMessage("1")], idempotency_key="a")
    assert small.append("idem", [HumanMessage("2")], idempotency_key="b")
    history = RedisStreamChatMessageHistory("chat", key_prefix=prefix, redis_client=client)
    history.add_messages([HumanMessage("hi"), AIMessage("hello")])
    assert [m.content for m in history.messages] == ["hi", "hello"]

    async def go() -> list[Any]:
        # The asyncio twin of the given client: it must carry the same credentials.
        try:
            await history.aadd_messages([HumanMessage("again")])
            return [m.content for m in await history.aget_messages()]
        finally:
            await history.streamlog.aclose()

    assert asyncio.run(go()) == ["hi", "hello", "again"]
    history.clear()
    assert history.messages == []
    assert history.delete()


# -- (b) the least-privilege user -----------------------------------------------------


def test_the_docs_quote_the_command_list():
    doc = DOC.read_text()
    setuser = next(block for block in re.findall(r"```[a-z]*\n(.*?)```", doc, re.S) if "ACL SETUSER" in block)
    granted = re.findall(r"\+([a-z]+(?:\|[a-z]+)?)", setuser)
    assert sorted(granted) == sorted(COMMANDS), "docs/security.md's ACL SETUSER is not COMMANDS"
    for command in (*COMMANDS, *DURABLE, *CONNECT, *CLUSTER):
        assert f"`{command.upper()}`" in doc or f"+{command}" in doc, command
    # Every test the doc cites exists, and the file it names is this one.
    assert "[`tests/reliability/test_security.py`]" in doc
    cited = set(re.findall(r"\[`(test_\w+)`\]", doc))
    assert cited and cited <= set(globals()), cited - set(globals())


def test_least_privilege_acl_user_runs_everything(acl_server, admin):
    prefix, user = unique("sec"), unique("streamlog")
    grants, settings = quiet(admin)
    set_user(admin, user, COMMANDS + grants, (prefix, prefix + "s"))
    admin.script_flush()  # so the scripts go through EVALSHA, NOSCRIPT, then EVAL
    with as_user(acl_server, user, **settings) as client:
        drive_everything(client, prefix)
        # Every script was sent, and the server refused nothing at all: not a command inside
        # a script, not a key, not the connection handshake.
        shas = {s.sha for s in _scripts.LOADED}
        assert all(admin.script_exists(*shas))
    assert refusals(admin, user) == []


def test_the_connection_handshake_needs_no_grant(acl_server, admin):
    """Without ``CONNECT`` rules, and over RESP3 (``HELLO 3 AUTH``), the user still works."""
    prefix, user = unique("sec"), unique("bare")
    set_user(admin, user, COMMANDS, (prefix,))
    for protocol in (2, 3):
        with as_user(acl_server, user, protocol=protocol) as client:
            store = StreamStore(client, key_prefix=prefix, cache_size=0)
            store.append(f"s{protocol}", [HumanMessage("hi")])
            assert [m.content for m in store.messages(f"s{protocol}", trim=LastN(5))] == ["hi"]
    # Only the handshake's CLIENT calls can have been refused (SETINFO, MAINT_NOTIFICATIONS).
    assert {obj for _, obj in refusals(admin, user)} <= {"client", "client|setinfo"}


def test_durable_appends_need_wait(acl_server, admin):
    prefix, user = unique("sec"), unique("durable")
    for granted, refused in ((COMMANDS + DURABLE, False), (COMMANDS, True)):
        set_user(admin, user, granted, (prefix,))
        with as_user(acl_server, user) as client:
            store = StreamStore(client, key_prefix=prefix, wait_replicas=1, wait_timeout=0.01)
            # No replica exists: with WAIT granted the append is written and NotReplicated says so.
            with pytest.raises(StoreError) as caught:
                store.append("s", [HumanMessage("hi")])
            assert isinstance(caught.value, NotReplicated) != refused
            assert bool(REFUSED.search(str(caught.value))) == refused
            # Either way the append itself was written before WAIT ran.
            assert store.last_offset("s") is not None


@pytest.mark.parametrize("missing", COMMANDS)
def test_each_command_is_needed(acl_server, admin, missing):
    """A user without any one command of the list fails, with a StoreError that says so."""
    prefix, user = unique("sec"), unique("less")
    rest = tuple(c for c in COMMANDS if c != missing)
    set_user(admin, user, rest, (prefix, prefix + "s"))
    admin.script_flush()  # else EVAL is never needed: the scripts would be cached already
    if missing == "info":  # the eviction-policy check: refused, it is skipped, and the server logs it
        with as_user(acl_server, user) as client:
            drive_everything(client, prefix)
        assert ("command", "info") in refusals(admin, user), refusals(admin, user)
        return
    with as_user(acl_server, user) as client, pytest.raises(StoreError) as caught:
        drive_everything(client, prefix)
    assert REFUSED.search(str(caught.value)), caught.value
    # The server's ACL LOG names the command it refused (older servers log "xgroup" for
    # "xgroup|create").
    assert (("command", missing) in refusals(admin, user)) or (
        ("command", missing.split("|")[0]) in refusals(admin, user)
    ), refusals(admin, user)


def test_keys_outside_the_prefix_are_refused(acl_server, admin):
    """A user granted ``~<prefix>:*`` cannot read, write or delete another deployment's keys."""
    mine, other, user = unique("mine"), unique("other"), unique("iso")
    theirs = StreamStore(admin, key_prefix=other, cache_size=0)
    theirs.append("alice", [HumanMessage("private")])
    Worker(theirs, "g", lambda d: None).run_check()
    before = {k: admin.dump(k) for k in admin.scan_iter(f"{other}:*")}
    grants, settings = quiet(admin)
    set_user(admin, user, COMMANDS + grants, (mine,))
    with as_user(acl_server, user, **settings) as client:
        StreamStore(client, key_prefix=mine).append("alice", [HumanMessage("mine")])  # its own: fine
        store = StreamStore(client, key_prefix=other, cache_size=0)
        first_use: list[Callable[[], Any]] = [
            lambda: store.messages("alice"),
            lambda: store.append("alice", [HumanMessage("forged")]),
            lambda: store.delete("alice"),
            lambda: store.events("alice"),
            store.trim_feeds,
            lambda: Worker(store, "g", lambda d: None).run_check(),
        ]
        for attempt in first_use:  # refused at the first-use check (the config key)
            with pytest.raises(StoreError, match=REFUSED):
                attempt()
        store.core.ready = True  # past the first-use check: straight at the session's keys
        for attempt in [
            *first_use,
            lambda: store.last_offset("alice"),  # a plain XREVRANGE
            lambda: store.messages("alice", trim=LastN(1)),
            lambda: next(store.tail("alice", after="0-0", block=0.01)),  # XREAD
            lambda: Worker(store, "g", lambda d: None, partitions=[0], min_idle=0).run_check(),
        ]:
            with pytest.raises(StoreError, match=REFUSED):
                attempt()
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.xrange(theirs.keyspace.session("alice").log)
    assert {k: admin.dump(k) for k in admin.scan_iter(f"{other}:*")} == before
    assert {reason for reason, _ in refusals(admin, user)} == {"key"}


def test_a_cluster_client_needs_topology_commands_too(fresh_cluster):
    cluster = fresh_cluster(masters=3)
    prefix = unique("cl")
    nodes = [node.client() for node in cluster.nodes]
    try:
        for admin in nodes:  # ACL users are per node: a cluster does not share them
            set_user(admin, "bare", COMMANDS, (prefix, prefix + "s"))
            set_user(admin, "clustered", COMMANDS + CLUSTER, (prefix, prefix + "s"))
        node = {"host": cluster.host, "port": cluster.port, "password": PASSWORD}
        with pytest.raises(redis.exceptions.RedisClusterException):  # it says "Cluster mode is not enabled"
            RedisCluster(username="bare", **node)
        with RedisCluster(username="clustered", **node) as client:
            every_kind_of_command(StreamStore(client, key_prefix=prefix))

        async def go() -> list[Any]:
            async with AsyncRedisCluster(username="clustered", **node) as client:
                store = AsyncStreamStore(client, key_prefix=prefix)
                await store.append("a", [HumanMessage("async")])
                return [m.content for m in await store.messages("a")]

        assert asyncio.run(go()) == ["async"]
        assert [refusals(admin, "clustered") for admin in nodes] == [[]] * len(nodes)
    finally:
        for admin in nodes:
            admin.close()


# -- (c) no code from stored data -------------------------------------------------------

FORBIDDEN_MODULES = {
    "pickle", "_pickle", "cPickle", "cloudpickle", "dill", "jsonpickle", "joblib", "marshal", "shelve",
    "yaml", "langchain_core.load", "langchain.load",
}  # fmt: skip
#: Built-in calls that run or import code given as data.
FORBIDDEN_BUILTINS = {"eval", "exec", "compile", "__import__"}
#: The one dynamic import: the CLI's ``--handler module:function``, named by the operator on the
#: command line, never read from Redis.
DYNAMIC_IMPORTS_ALLOWED = {("langchain_streamlog/_cli/workers.py", "import_module")}


def test_no_pickle_or_eval_in_the_package():
    """No import of a deserializer that can run code, no eval/exec/compile, no untyped decoder."""
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    problems = []
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
            where = f"{relative}:{getattr(node, 'lineno', '?')}"
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in FORBIDDEN_BUILTINS:
                    problems.append(f"{where}: {func.id}()")
                attr = func.attr if isinstance(func, ast.Attribute) else ""
                if attr == "import_module" and (relative, attr) not in DYNAMIC_IMPORTS_ALLOWED:
                    problems.append(f"{where}: import_module()")
                if attr == "Decoder" and not (node.args or node.keywords):
                    problems.append(f"{where}: an untyped msgspec Decoder")
            for name in names:
                if any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES):
                    problems.append(f"{where}: import of {name}")
    assert problems == []


def test_the_lua_scripts_are_constants_that_load_no_code():
    scripts = _scripts.LOADED
    lua_files = [p for p in Path(_scripts.__file__).parents[1].rglob("*.lua") if "lib" not in p.parts and p.name != "lib.lua"]
    assert len(scripts) == len(lua_files) == len({s.sha for s in scripts})  # every file, loaded once
    for script in scripts:
        assert script.sha == hashlib.sha1(script.source.encode()).hexdigest()
        assert not re.search(r"\b(loadstring|load|dofile|loadfile|cjson|cmsgpack|struct)\b", script.source)


class _Armed:
    """Unpickling this calls ``open(path, "w")``: it creates the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_stored_pickle_is_refused_and_never_run(real_server_by_name, tmp_path, protocol):
    """A pickle put where streamlog keeps payloads is a DecodeError on every read path."""
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Armed(control), protocol=protocol)).close()  # the payload is live
    assert control.exists()
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Armed(marker), protocol=protocol)

    server = real_server_by_name(real_server_names()[0])
    with server.client() as client:
        store = StreamStore(client, key_prefix=unique("pk"), cache_size=0)
        keys = store.keyspace.session("s")
        good = store.append("s", [HumanMessage("fine")])[0]
        client.xadd(keys.log, {b"e": payload})
        reads: list[Callable[[], Any]] = [
            lambda: store.messages("s"),  # the read script
            lambda: store.messages("s", trim=LastN(1)),  # a plain XREVRANGE
            lambda: store.events("s"),
            lambda: next(store.tail("s", after=good, block=0.01)),  # XREAD
            lambda: store.read("s"),
        ]
        for read in reads:
            with pytest.raises(DecodeError):
                read()
        # A snapshot that is a pickle.
        client.delete(keys.log)
        good = store.append("s", [HumanMessage("fine")])[0]
        client.hset(keys.snap, mapping={b"o": good, b"s": payload})
        for read in (lambda: store.messages("s"), lambda: store.messages_at("s", good)):
            with pytest.raises(DecodeError):
                read()
        # A feed entry that is a pickle: the handler never sees it, it ends in the dead letters.
        client.xadd(keys.feed, {b"s": b"s", b"e": payload})
        seen = []
        Worker(store, "g", seen.append, max_deliveries=1).run_check()
        assert all(d.event is not None for d in seen)
        dead = store.run(dead_letters(store.keyspace))
        assert [(row["s"], row["g"]) for row in dead] == [("s", "g")]
        assert re.search(r"(corrupt|invalid) event payload", dead[0]["err"]), dead
    assert not marker.exists()


def test_a_stored_record_only_names_a_message_class(real_server_by_name):
    """A record's ``type`` is looked up among langchain-core's message classes, never imported."""
    server = real_server_by_name(real_server_names()[0])
    with server.client() as client:
        store = StreamStore(client, key_prefix=unique("rec"), cache_size=0)
        keys = store.keyspace.session("s")
        for tag in ("os.system", "builtins.eval", "langchain_core.load.load", "__main__._Armed"):
            client.delete(keys.log)
            event = {"kind": "append", "messages": [{"type": tag, "content": "echo owned"}]}
            client.xadd(keys.log, {b"e": msgspec.msgpack.encode(event)})
            with pytest.raises(DecodeError, match="unknown message type"):
                store.messages("s")


# -- (a) TLS ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _certificates(folder: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl CLI to make test certificates")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    steps = [
        ["req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test CA"],
        ["req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.crt", "-days", "2", "-extfile", "san.ext"],
    ]  # fmt: skip
    for step in steps:
        subprocess.run([openssl, *step], cwd=folder, check=True, capture_output=True, timeout=60)
    return {"ca": folder / "ca.crt", "cert": folder / "server.crt", "key": folder / "server.key"}


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, int, Path]]:
    """A private server with a TLS port (and its plain port, which only the harness uses)."""
    files = _certificates(tmp_path_factory.mktemp("tls"))
    for binary in BINARIES:  # the first binary built with TLS
        port = _free_port()
        server = LocalServer(
            binary,
            extra_args=[
                "--tls-port", str(port), "--tls-cert-file", str(files["cert"]),
                "--tls-key-file", str(files["key"]), "--tls-ca-cert-file", str(files["ca"]),
                "--tls-auth-clients", "no",
            ],
        )  # fmt: skip
        try:
            server.start()
        except RuntimeError:
            continue
        yield server, port, files["ca"]
        server.stop()
        return
    pytest.skip(f"no server binary here is built with TLS: {[b.name for b in BINARIES]}")


def test_tls_and_an_acl_user_through_every_entry_point(tls_server):
    server, port, ca = tls_server
    prefix, user = unique("tls"), unique("tls")
    with server.client() as admin:
        set_user(admin, user, COMMANDS + quiet(admin)[0], (prefix,))
    url = f"rediss://{user}:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={ca}"

    with StreamStore.from_url(url, key_prefix=prefix) as store:
        store.append("a", [HumanMessage("over tls")])
        assert [m.content for m in store.messages("a")] == ["over tls"]
        assert store.client.connection_pool.connection_class is redis.SSLConnection

    history = RedisStreamChatMessageHistory("b", redis_url=url, key_prefix=prefix)
    history.add_messages([HumanMessage("hi")])
    assert [m.content for m in history.messages] == ["hi"]

    async def go(log: Streamlog, sid: str) -> list[Any]:
        try:
            await log.astore.append(sid, [HumanMessage("async")])
            return [m.content for m in await log.astore.messages(sid)]
        finally:
            await log.aclose()

    assert asyncio.run(go(Streamlog.from_url(url, key_prefix=prefix), "c")) == ["async"]
    # A client made with keyword arguments; its asyncio twin keeps TLS and the credentials.
    client = redis.Redis(
        host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(ca), username=user, password=PASSWORD
    )
    log = Streamlog(client, key_prefix=prefix)
    assert asyncio.run(go(log, "d")) == ["async"]
    assert [m.content for m in log.store.messages("d")] == ["async"]
    client.close()
    history.streamlog.close()

    # The certificate is verified: without the CA, or in plain text, nothing connects.
    for scheme in ("rediss", "redis"):
        bad = f"{scheme}://{user}:{PASSWORD}@127.0.0.1:{port}/0"
        quick = {"socket_timeout": 2, "socket_connect_timeout": 2, "retry": Retry(NoBackoff(), 0)}
        with redis.Redis.from_url(bad, **quick) as client, pytest.raises(StoreUnavailable):
            StreamStore(client, key_prefix=prefix).messages("a")
