"""The README's code runs as written, against a server the suite started."""

from __future__ import annotations

import contextlib
import io
import re
import uuid
import warnings
from pathlib import Path

import pytest
import redis

from tests.conftest import real_server_names

README = (Path(__file__).parents[2] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def run(code: str, url: str, **namespace: object) -> str:
    code = code.replace("redis://localhost:6379/0", url).replace('"chat"', f'"readme{uuid.uuid4().hex[:6]}"')
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # RunnableWithMessageHistory
        exec(compile(code, "README.md", "exec"), dict(namespace))
    return out.getvalue()


@pytest.mark.parametrize("name", real_server_names()[:1])
def test_quick_start_runs(real_server_by_name, name):
    printed = run(BLOCKS[0], real_server_by_name(name).url).splitlines()
    assert "Ada" in printed[0] and "You said your name is Ada." in printed[0]
    assert len([line for line in printed if "MessagesAppended" in line]) == 4
    assert "I am Ada." in printed[-1] and "Who am I" not in printed[-1]


@pytest.mark.parametrize("name", real_server_names()[:1])
def test_switching_snippet_runs(real_server_by_name, name):
    server = real_server_by_name(name)
    code = BLOCKS[1].replace("redis.Redis()", f"redis.Redis(port={server.port})")
    with redis.Redis(port=server.port, decode_responses=True) as client:
        run(code, server.url, redis=redis, client=client)


QUICKSTART = (Path(__file__).parents[2] / "docs" / "quickstart.md").read_text()


@pytest.mark.parametrize("block", range(len(re.findall(r"```python\n", QUICKSTART))))
def test_quickstart_blocks_run(real_server_by_name, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example writes its search index to the working directory
    code = re.findall(r"```python\n(.*?)```", QUICKSTART, re.S)[block]
    printed = run(code, real_server_by_name(real_server_names()[0]).url)
    assert printed or block == 0
