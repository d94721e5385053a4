"""Retention: a result is readable while its operation is pending or running and for the
retention window after it was created or finished, whichever is later; afterwards
GetExecuteOperationResult answers Code "200" without Data, exactly as for an unknown id."""

import time

import pytest

from harness import (assert_ok, assert_success, build_config, check_result_data,
                     random_operation_id)

RETENTION = 1.0   # seconds; the slow operation below outlives it while still running
LATENCY = 1.5


@pytest.fixture(scope="module")
def server(start):
    return start(build_config(
        retention=f"{RETENTION:g}s",
        emulation=[{"service": "ecs", "operation": "rename", "latency": f"{LATENCY * 1000:g}ms"}],
    ))


def assert_absent(body: dict) -> None:
    """The "does not exist or has expired" answer: a success envelope without Data."""
    assert_ok(body)
    assert "Data" not in body, body
    assert body["Message"], body


def test_unknown_operation_id(api):
    assert_absent(api.get_result(random_operation_id()))


def test_results_expire_after_retention(api, server):
    fast_started = time.monotonic()
    fast = api.submit("ecs", "modifyPayType",
                      {"instanceId": server.fresh_instance(), "pay_type": "PrePaid"})
    slow_started = time.monotonic()
    slow = api.submit("ecs", "rename",
                      {"instanceId": server.fresh_instance(), "instance_name": "outlives-it"})

    gone: dict[str, tuple[float, dict]] = {}
    last: dict[str, dict] = {}
    running_past_retention = False
    deadline = slow_started + LATENCY + RETENTION + 5.0
    while len(gone) < 2:
        for op_id in (fast, slow):
            if op_id in gone:
                continue
            before = time.monotonic()
            body = api.get_result(op_id)
            after = time.monotonic()
            assert_ok(body)
            if "Data" not in body:
                gone[op_id] = (after, body)
                continue
            data = body["Data"]
            check_result_data(data, op_id)
            if op_id == slow and data["Status"] in ("INIT", "RUNNING") \
                    and before >= slow_started + RETENTION + 0.1:
                running_past_retention = True
            last[op_id] = data
        assert time.monotonic() < deadline, f"not expired in time: gone={list(gone)} {last}"
        time.sleep(0.02)

    # Both finished, and were readable as finished before they expired.
    assert_success(last[fast])
    assert_success(last[slow])
    # A pending or running operation stays readable beyond the window counted from creation...
    assert running_past_retention, "the running operation was not readable past retention"
    # ...and each result stays readable for the retention window after it finished.
    assert gone[fast][0] >= fast_started + RETENTION, (gone[fast][0] - fast_started)
    assert gone[slow][0] >= slow_started + LATENCY + RETENTION, (gone[slow][0] - slow_started)

    # An expired id is answered exactly like an id that never existed.
    unknown = random_operation_id()
    never = api.get_result(unknown)
    assert_absent(never)
    for op_id, (_, body) in gone.items():
        assert_absent(body)
        assert body["Code"] == never["Code"]
        assert body["Message"].replace(op_id, "<id>") == never["Message"].replace(unknown, "<id>")
        assert body["RequestId"] != never["RequestId"]
