"""Operation status over time: INIT/RUNNING -> SUCCESS/FAILURE under emulated latency and
failure injection, and how ExecuteOperationSync answers for an operation still running."""

import json
import time

import pytest

from harness import (APP, OPERATION_ID_RE, assert_failure, assert_ok, assert_success,
                     build_config, check_result_data)

EMULATION = [
    {"service": "ecs", "operation": "rename", "latency": "1500ms"},
    {"service": "ecs", "operation": "addTags", "latency": "3s"},
    {"service": "ecs", "operation": "modifyPayType", "failure_rate": 1.0},
    {"service": "ecs", "operation": "modifyInstanceType", "latency": "400ms"},
]


@pytest.fixture(scope="module")
def server(start):
    return start(build_config(sync_wait="1s", emulation=EMULATION))


@pytest.fixture(scope="module")
def patient_server(start):
    return start(build_config(sync_wait="5s", emulation=[
        {"service": "ecs", "operation": "rename", "latency": "700ms"}]), name="patient")


def test_status_progresses_to_success(api, server):
    iid = server.fresh_instance()
    started = time.monotonic()
    op_id = api.submit("ecs", "rename", {"instanceId": iid, "instance_name": "slow-rename"})
    assert time.monotonic() - started < 1.0, "ExecuteOperationASync waited for the operation"
    first = api.get_result(op_id)
    assert_ok(first)
    check_result_data(first["Data"], op_id)
    assert first["Data"]["Status"] in ("INIT", "RUNNING"), first
    data, seen = api.wait(op_id)
    elapsed = time.monotonic() - started
    assert_success(data)
    assert elapsed >= 1.4, f"1500ms of emulated latency finished after {elapsed:.2f}s"
    assert seen[0] in ("INIT", "RUNNING"), seen
    # A final status never changes.
    for _ in range(2):
        again = api.get_result(op_id)
        assert_ok(again)
        assert again["Data"] == data


def test_injected_failure(api, server):
    iid = server.fresh_instance()
    data = api.run("ecs", "modifyPayType", {"instanceId": iid, "pay_type": "PrePaid"})
    message = assert_failure(data, "InjectedFailure")
    assert len(message) > len("InjectedFailure: "), data
    assert json.loads(data["Arguments"]) == {}, data
    again = api.get_result(data["OperationId"])
    assert again["Data"] == data


def test_sync_reports_a_failure(api, server):
    iid = server.fresh_instance()
    body = api.execute_sync("ecs", "modifyPayType", {"instanceId": iid, "pay_type": "PostPaid"},
                            application_id=APP)
    assert_ok(body)
    check_result_data(body["Data"], body["Data"]["OperationId"])
    assert_failure(body["Data"], "InjectedFailure")


def test_run_time_rule_failure(api, server):
    iid = server.fresh_instance()
    data = api.run("ecs", "modifyInstanceType",
                   {"instanceId": iid, "change_type": "modify_instance_type",
                    "instance_type": "ecs.g7.xlarge"})
    assert_failure(data, "IncorrectInstanceStatus")
    assert json.loads(data["Arguments"]) == {}, data


def test_operations_on_one_resource_run_one_at_a_time(api, server):
    iid = server.fresh_instance()
    first = api.submit("ecs", "modifyInstanceType",
                       {"instanceId": iid, "change_type": "modify_status", "status": "Stopped"})
    second = api.submit("ecs", "modifyInstanceType",
                        {"instanceId": iid, "change_type": "modify_instance_type",
                         "instance_type": "ecs.g7.xlarge"})
    deadline = time.monotonic() + 10
    second_started = False
    while True:
        # Poll the second before the first: if the second has started, the first must already
        # be final when polled right after.
        later = api.get_result(second)["Data"]
        earlier = api.get_result(first)["Data"]
        if later["Status"] != "INIT":
            second_started = True
            assert earlier["Status"] in ("SUCCESS", "FAILURE"), (earlier, later)
        if later["Status"] in ("SUCCESS", "FAILURE"):
            break
        assert time.monotonic() < deadline, (earlier, later)
        time.sleep(0.02)
    assert second_started
    assert_success(earlier)
    # It ran after the stop, so the instance was Stopped by then.
    assert_success(later)


def test_sync_answers_with_current_status_after_sync_wait(api, server):
    # sync_wait is 1s and addTags takes 3s: the answer comes after about 1s, still running.
    iid = server.fresh_instance()
    started = time.monotonic()
    body = api.execute_sync("ecs", "addTags", {"instanceId": iid, "tags": {"slow": "yes"}},
                            application_id=APP)
    elapsed = time.monotonic() - started
    assert_ok(body)
    data = body["Data"]
    assert OPERATION_ID_RE.match(data["OperationId"]), body
    check_result_data(data, data["OperationId"])
    assert data["Status"] in ("INIT", "RUNNING"), body
    assert 0.8 <= elapsed < 2.0, f"ExecuteOperationSync answered after {elapsed:.2f}s"
    later = api.get_result(data["OperationId"])
    assert_ok(later)
    assert later["Data"]["Status"] in ("INIT", "RUNNING"), later


def test_sync_waits_for_a_result_within_sync_wait(client, patient_server):
    api = client(patient_server)
    iid = patient_server.fresh_instance()
    started = time.monotonic()
    body = api.execute_sync("ecs", "rename", {"instanceId": iid, "instance_name": "patient"},
                            application_id=APP)
    elapsed = time.monotonic() - started
    assert_ok(body)
    assert_success(body["Data"])
    assert 0.65 <= elapsed < 5.0, f"ExecuteOperationSync answered after {elapsed:.2f}s"
