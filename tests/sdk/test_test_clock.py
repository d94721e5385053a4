"""The test clock through the official SDKs: a client's test of "the result is gone after an
hour" advances the server's clock with AdvanceClock (an extension, sent through each SDK's
generic call) instead of waiting, while the SDK keeps signing with the real time."""

from __future__ import annotations

import time

import pytest

from harness import ApiError, assert_ok, build_config, instance_id

SLOW = {"service": "ecs", "operation": "rename", "latency": "1h"}


@pytest.fixture(scope="module")
def server(start):
    config = build_config(emulation=[SLOW])
    config["testing"] = {"clock": "manual"}
    return start(config)


@pytest.fixture(scope="module")
def system_clock_server(start):
    return start(build_config(), name="system-clock")


def test_an_hour_of_latency_and_of_retention_pass_in_two_calls(api, mode):
    started = time.monotonic()
    instance = instance_id({"acs3": 0, "v2": 1, "classic": 2}[mode])
    op_id = api.submit("ecs", "rename", {"instanceId": instance, "instance_name": f"renamed-{mode}"})
    # Advanced once the operation runs: its latency is counted from when it was claimed.
    deadline = time.monotonic() + 5
    while api.get_result(op_id)["Data"]["Status"] != "RUNNING":
        assert time.monotonic() < deadline, "never claimed"
        time.sleep(0.01)

    body = api.extension("AdvanceClock", Duration="1h")
    assert_ok(body)
    assert set(body["Data"]) == {"Now", "Advanced"}
    data, _ = api.wait(op_id)
    assert data["Status"] == "SUCCESS", data

    assert_ok(api.extension("AdvanceClock", Duration="1h"))
    gone = api.get_result(op_id)
    assert_ok(gone)
    assert "Data" not in gone, gone
    assert time.monotonic() - started < 10, "two hours took real time"


def test_a_bad_duration_is_refused(api):
    with pytest.raises(ApiError) as refused:
        api.extension("AdvanceClock", Duration="an hour")
    assert (refused.value.status, refused.value.code) == (400, "InvalidParameter")


def test_without_the_test_clock_advance_clock_is_refused(client, system_clock_server):
    api = client(system_clock_server)
    with pytest.raises(ApiError) as refused:
        api.extension("AdvanceClock", Duration="1h")
    assert (refused.value.status, refused.value.code) == (403, "TestClock.Disabled")
