from __future__ import annotations

import fakeredis
import pytest

from streamlog import Streamlog
from tests.conftest import real_server_names


@pytest.fixture(params=["fakeredis", *real_server_names()])
def deployment(request):
    """A Streamlog with a private key prefix, on fakeredis or a real server (sync + async clients)."""
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
    else:
        server = request.getfixturevalue("real_server_by_name")(request.param)
        log = Streamlog.from_url(server.url, key_prefix=prefix)
        log.url = server.url
    log.prefix = prefix
    yield log
    log.store.client.close()
