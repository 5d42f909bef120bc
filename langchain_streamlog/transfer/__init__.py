"""Moving histories in bulk: JSON Lines export and import, and migration from the peer libraries.

Use it to copy what langchain-community's ``RedisChatMessageHistory``,
langchain-google-memorystore-redis or langchain-redis stored into a streamlog deployment
(`migrate`; one peer's reader alone: `read_community`, `read_memorystore`,
`read_langchain_redis`), and to move sessions between deployments or keep them as a file
(`export_events`, `dump_jsonl`, `import_events`; `iter_sessions` lists a deployment's
sessions). The command line's ``streamlog migrate``, ``export`` and ``import`` (extra
``cli``) call these. See docs/migrating.md.

    import redis
    from langchain_streamlog import StreamStore
    from langchain_streamlog.transfer import dump_jsonl, import_events, migrate

    store = StreamStore.from_url("redis://new-host:6379/0")
    migrate(store, redis.Redis.from_url("redis://old-host:6379/0"), "community")
    with open("sessions.jsonl", "wb") as out:
        dump_jsonl(store, out)  # every session, as JSON Lines
    with open("sessions.jsonl", "rb") as lines:
        import_events(StreamStore.from_url("redis://other-host:6379/0"), lines)

Rule: everything that moves a session into or out of a deployment in bulk lives here,
and every write goes through the store's own atomic append with an idempotency key
derived from the source, so any of it can be run again (after a failure, or twice by
mistake) without writing anything twice.

- **Export** enumerates sessions through each partition's session index (never ``KEYS``
  or ``SCAN``), reads each log a page at a time, and yields one JSON-ready line per event:
  memory does not grow with the deployment or with a session's log.
- **Import** appends a session's events in batches, one atomic append each. A batch's
  key is ``"import:" + the source offset of its first event``; before writing, the chain
  of batches an earlier run wrote is followed (each recorded key says how many events
  it covered), so a repeated or resumed import skips exactly what is already there.
- **Migration** reads the peers' own layouts with ``SCAN`` limited to their key prefix (a
  one-off migration may scan the source; streamlog itself never does), compares each
  peer session with what the target's log already holds, and appends only the rest.

Idempotency keys are remembered per session for the most recent ``idempotency_memory``
keyed appends (see the design page); an import's batches are sized so one session's
batches never exceed half of that. A repeated import is recognised while those keys are
still remembered; a repeated migration always is (it compares content).
"""

from ._export import dump_jsonl, export_events, iter_sessions
from ._import import ImportResult, import_events
from ._migrate import MigrateResult, Peer, migrate, read_community, read_langchain_redis, read_memorystore

__all__ = [
    "ImportResult",
    "MigrateResult",
    "Peer",
    "dump_jsonl",
    "export_events",
    "import_events",
    "iter_sessions",
    "migrate",
    "read_community",
    "read_langchain_redis",
    "read_memorystore",
]
