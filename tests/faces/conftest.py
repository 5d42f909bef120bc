from __future__ import annotations

import fakeredis
import pytest

from streamlog import Streamlog
from tests.conftest import real_server_names


@pytest.fixture(params=["fakeredis", *real_server_names(), "cluster"])
def deployment(request):
    """A Streamlog with a private key prefix: fakeredis, each real server, or the test cluster.

    On the cluster the clients are ``redis.cluster.RedisCluster`` and its asyncio twin.
    """
    import uuid

    prefix = f"f{uuid.uuid4().hex[:10]}"
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()
        log = Streamlog(
            fakeredis.FakeRedis(server=server),
            async_client=fakeredis.FakeAsyncRedis(server=server),
            key_prefix=prefix,
        )
        log.url = None
    elif request.param == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        log = Streamlog.from_url(cluster.url, cluster=True, key_prefix=prefix)
        log.url = cluster.url
    else:
        server = request.getfixturevalue("real_server_by_name")(request.param)
        log = Streamlog.from_url(server.url, key_prefix=prefix)
        log.url = server.url
    log.prefix = prefix
    yield log
    log.store.client.close()
