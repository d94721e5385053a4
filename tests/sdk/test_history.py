"""ListExecuteOperationEvents, the bpops extension action that shows an operation's history,
through the official SDKs (tea's generic call_api, the classic CommonRequest): who submitted
it, each claim by which node, who asked to cancel it, and how it ended; paged; with the RAM
rules and tenancy of GetExecuteOperationResult under its own RAM action."""

import re
import time

import pytest

from harness import (ACCOUNT_A, ACCOUNT_B, APP, RESOURCE_GROUP, ROOT_KEY_A, ROOT_KEY_B,
                     ApiError, add_users, assert_ok, build_config, policy_document,
                     random_operation_id, user_key)

ACTION = "ListExecuteOperationEvents"
NODE = "sdk-node"
DEV_GROUP = "rg-dev"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def allow(action: str) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": "*"}


USERS = {
    "operator": (ACCOUNT_A, [("Everything", "account")], True),
    "results-only": (ACCOUNT_A, [("ReadResults", "account")], True),
    "history-reader": (ACCOUNT_A, [("ReadHistory", "account")], True),
    "dev-history": (ACCOUNT_A, [("ReadHistory", DEV_GROUP)], True),
    "prod-history": (ACCOUNT_A, [("ReadHistory", RESOURCE_GROUP)], True),
}

POLICIES = {
    (ACCOUNT_A, "Everything"): policy_document(allow("bpstudio:*")),
    (ACCOUNT_A, "ReadResults"): policy_document(allow("bpstudio:GetExecuteOperationResult")),
    (ACCOUNT_A, "ReadHistory"): policy_document(allow(f"bpstudio:{ACTION}")),
}


@pytest.fixture(scope="module")
def server(start):
    # addTags is slow, so that it can be cancelled while it runs.
    config = build_config(second_account=True,
                          emulation=[{"service": "ecs", "operation": "addTags",
                                      "latency": "3s"}])
    config["node"] = {"name": NODE}
    config["resource_groups"].append({"account": ACCOUNT_A, "id": DEV_GROUP})
    add_users(config, USERS, POLICIES)
    return start(config)


@pytest.fixture
def as_user(client, server):
    return lambda name: client(server, user_key(name))


def events(api, op_id: str, **params) -> dict:
    body = api.extension(ACTION, OperationId=op_id, **params)
    assert_ok(body)
    data = body["Data"]
    assert data["OperationId"] == op_id, data
    for event in data["Events"]:
        assert TIME_RE.match(event["Time"]), event
    return data


def refused(call, status: int, code: str) -> ApiError:
    with pytest.raises(ApiError) as err:
        call()
    assert (err.value.status, err.value.code) == (status, code), err.value
    return err.value


def rename(api, server, token=None) -> tuple[str, str]:
    """Submits a rename (decided as it is stored); returns its id and the RequestId."""
    body = api.execute_async("ecs", "rename",
                             {"instanceId": server.fresh_instance(), "instance_name": "history"},
                             application_id=APP, client_token=token)
    assert_ok(body)
    return body["Data"], body["RequestId"]


def test_a_submission_records_who_submitted_it_and_how_it_ended(api, server, mode):
    token = f"history-{mode}-{time.monotonic_ns()}"
    op_id, request_id = rename(api, server, token)
    data = events(api, op_id)
    submitted, finished = data["Events"]
    assert submitted == {
        "Sequence": 1, "Time": submitted["Time"], "Type": "Submitted",
        "AccountId": ACCOUNT_A, "AccessKeyId": ROOT_KEY_A[0], "SourceIp": "127.0.0.1",
        "RequestId": request_id, "ClientToken": token, "TraceId": submitted["TraceId"],
    }, "a root key has no UserName"
    assert re.match(r"^[0-9a-f]{32}$", submitted["TraceId"]), submitted
    assert finished == {"Sequence": 2, "Time": finished["Time"], "Type": "Finished",
                        "Status": "SUCCESS", "Message": finished["Message"]}
    assert finished["Message"] == api.get_result(op_id)["Data"]["Message"]
    assert "NextToken" not in data and data["MaxResults"] == 20, data


def test_a_claim_and_a_users_cancel_are_recorded(as_user, server):
    operator = as_user("operator")
    op_id = operator.submit("ecs", "addTags",
                            {"instanceId": server.fresh_instance(), "tags": {"k": "v"}})
    deadline = time.monotonic() + 10
    while operator.get_result(op_id)["Data"]["Status"] != "RUNNING":
        assert time.monotonic() < deadline, "never claimed"
        time.sleep(0.02)
    body = operator.extension("CancelExecuteOperation", OperationId=op_id)
    assert_ok(body)
    data, _ = operator.wait(op_id)
    assert data["Status"] == "FAILURE", data

    history = events(operator, op_id)["Events"]
    assert [e["Type"] for e in history] == ["Submitted", "Claimed", "CancelRequested",
                                            "Finished"], history
    assert [e["Sequence"] for e in history] == [1, 2, 3, 4]
    submitted, claimed, cancel, finished = history
    for by in (submitted, cancel):
        assert (by["UserName"], by["AccessKeyId"], by["AccountId"]) == \
            ("operator", user_key("operator")[0], ACCOUNT_A), by
    assert cancel["RequestId"] == body["RequestId"]
    assert (claimed["Node"], claimed["Attempt"]) == (NODE, 1), claimed
    assert (finished["Status"], finished["Message"]) == (data["Status"], data["Message"])
    assert history == sorted(history, key=lambda e: e["Time"]), "in time order"


def test_events_page_oldest_first_without_repeats(api, server, mode):
    op_id, _ = rename(api, server, token=f"paged-{mode}-{time.monotonic_ns()}")
    whole = events(api, op_id)["Events"]
    paged, token = [], None
    while True:
        page = events(api, op_id, MaxResults="1", NextToken=token)
        assert len(page["Events"]) == 1 and page["MaxResults"] == 1, page
        paged += page["Events"]
        token = page.get("NextToken")
        if token is None:
            break
    assert paged == whole and len(whole) == 2


def test_bad_or_oversized_parameters_are_refused(api, server):
    op_id, _ = rename(api, server)
    for params in ({"MaxResults": "0"}, {"MaxResults": "101"}, {"NextToken": "not-ours"}):
        refused(lambda: api.extension(ACTION, OperationId=op_id, **params),
                400, "InvalidParameter")
    refused(lambda: api.extension(ACTION, OperationId="op_" + "x" * 200),
            400, "InvalidParameter")
    refused(lambda: api.extension(ACTION), 400, "MissingParameter")


def test_an_unknown_or_malformed_operation_is_not_found(api):
    for op_id in (random_operation_id(), "not-an-operation-id"):
        refused(lambda: api.extension(ACTION, OperationId=op_id),
                404, "InvalidOperationId.NotFound")


def test_another_accounts_operation_is_not_found(api, client, server):
    op_id, _ = rename(api, server)
    other = client(server, ROOT_KEY_B)
    refused(lambda: other.extension(ACTION, OperationId=op_id),
            404, "InvalidOperationId.NotFound")
    b_op = other.submit("ecs", "rename", {"instanceId": "i-b1", "instance_name": "b-one"},
                        application_id="APP-B")
    refused(lambda: api.extension(ACTION, OperationId=b_op), 404, "InvalidOperationId.NotFound")
    assert events(other, b_op)["Events"][0]["AccountId"] == ACCOUNT_B


def test_its_own_ram_action_is_needed(api, as_user, server, mode):
    op_id, _ = rename(api, server)
    results_only = as_user("results-only")
    assert_ok(results_only.get_result(op_id))
    e = refused(lambda: results_only.extension(ACTION, OperationId=op_id), 403, "NoPermission")
    if mode != "classic":
        assert e.access_denied_detail["AuthAction"] == f"bpstudio:{ACTION}", e.raw
    assert len(events(as_user("history-reader"), op_id)["Events"]) == 2
    refused(lambda: as_user("history-reader").get_result(op_id), 403, "NoPermission")


def test_a_grant_scoped_to_a_group_reaches_only_its_operations(api, as_user, server):
    """A scoped Allow counts when the request names its group, as for every action."""
    op_id, _ = rename(api, server)  # in APP-WEB, in rg-prod
    prod = as_user("prod-history")
    assert len(events(prod, op_id, ResourceGroupId=RESOURCE_GROUP)["Events"]) == 2
    refused(lambda: prod.extension(ACTION, OperationId=op_id), 403, "NoPermission")
    dev = as_user("dev-history")
    refused(lambda: dev.extension(ACTION, OperationId=op_id), 403, "NoPermission")
    refused(lambda: dev.extension(ACTION, OperationId=op_id, ResourceGroupId=DEV_GROUP),
            404, "InvalidOperationId.NotFound")
    refused(lambda: api.extension(ACTION, OperationId=op_id, ResourceGroupId="rg-none"),
            400, "InvalidParameter")
