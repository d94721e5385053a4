"""Fixtures of the SDK conformance suite.

Each test module gets its own real `bpops serve` (module scope) started from its own config;
modules that need special settings override the `server` fixture. Tests are parametrized over
the three client modes through the `mode` fixture.
"""

from __future__ import annotations

import pytest

from harness import MODES, ROOT_KEY_A, Api, Server, build_config, start_server


@pytest.fixture(scope="module")
def start(tmp_path_factory, request):
    """Starts servers for the current module and stops them at its end:
    `start(config_dict, name="server")` returns a harness.Server."""
    started: list[Server] = []

    def _start(config: dict, name: str = "server") -> Server:
        workdir = tmp_path_factory.mktemp(f"{request.module.__name__}-{name}")
        server = start_server(workdir, config)
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(start) -> Server:
    """The default server: build_config() defaults (retention 1h, sync_wait 5s)."""
    return start(build_config())


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


@pytest.fixture
def api(server, mode) -> Api:
    """A root-key client of account A, in the test's mode, against the module's server."""
    return Api(mode, server.endpoint, *ROOT_KEY_A)


@pytest.fixture
def classic_api(server) -> Api:
    """For the few checks only the classic SDK can make (it sends parameters as given)."""
    return Api("classic", server.endpoint, *ROOT_KEY_A)


@pytest.fixture
def client(mode):
    """`client(server, key=ROOT_KEY_A)`: another client in the test's mode."""
    def _client(server: Server, key: tuple[str, str] = ROOT_KEY_A) -> Api:
        return Api(mode, server.endpoint, *key)
    return _client


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, Server):
                report.sections.append(
                    (f"bpops stderr ({name}, last 4000 chars)", value.stderr()[-4000:]))
