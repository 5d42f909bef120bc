"""langchain_streamlog.testing as users see it: what it exports, and that its example runs."""

from __future__ import annotations

import doctest
import socket

from langchain_streamlog import testing


def test_exported_members():
    # As tests/core/test_layers.py for the package: __all__ is sorted (isort-style:
    # CONSTANTS, Classes, functions) and names exactly the public members.
    style = lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)  # noqa: E731
    assert testing.__all__ == sorted(testing.__all__, key=style)
    public = {n for n in dir(testing) if not n.startswith("_")}
    assert set(testing.__all__) == public
    homes = {getattr(testing, n).__module__ for n in public if callable(getattr(testing, n))}
    assert homes == {f"langchain_streamlog.testing.{m}" for m in ("_binaries", "_cluster", "_sentinel", "_server")}


def test_the_docstrings_example_runs_and_stops_its_server():
    assert testing.__doc__ is not None
    example = doctest.DocTestParser().get_doctest(testing.__doc__, {}, "testing", None, 0)
    assert [e.want for e in example.examples if e.want] == ["True\n", "False\n"]  # PING by url; stopped
    runner = doctest.DocTestRunner(optionflags=doctest.REPORT_NDIFF)
    runner.run(example, clear_globs=False)
    assert runner.summarize(verbose=False).failed == 0
    server = example.globs["server"]  # as the example left it
    assert isinstance(server, testing.LocalServer)
    assert server.process is not None and server.process.returncode is not None
    assert server.dir == ""  # its temporary directory is gone
    with socket.socket() as sock:
        assert sock.connect_ex((testing.HOST, server.port)) != 0
