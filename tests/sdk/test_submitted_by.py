"""Who submitted each operation, as ListExecuteOperations shows it through the official SDKs
(tea's generic call_api, the classic CommonRequest): `SubmittedBy` with the account, the RAM
user (none for a root key) and the AccessKeyId, and the `TraceId` of the submitting request,
which its history's Submitted event repeats. GetExecuteOperationResult keeps the SDK
model's four fields."""

import re

import pytest

from harness import (ACCOUNT_A, APP, ROOT_KEY_A, add_users, assert_ok, build_config,
                     policy_document, user_key)

TRACE_ID_RE = re.compile(r"^[0-9a-f]{32}$")

USERS = {"submitter": (ACCOUNT_A, [("Everything", "account")], True)}
POLICIES = {(ACCOUNT_A, "Everything"): policy_document(
    {"Effect": "Allow", "Action": "bpstudio:*", "Resource": "*"})}


@pytest.fixture(scope="module")
def server(start):
    config = build_config()
    add_users(config, USERS, POLICIES)
    return start(config)


def listed(api, op_id: str) -> dict:
    body = api.extension("ListExecuteOperations", MaxResults="100")
    assert_ok(body)
    items = [op for op in body["Data"]["Operations"] if op["OperationId"] == op_id]
    assert len(items) == 1, body
    return items[0]


def rename(api, server) -> str:
    return api.submit("ecs", "rename",
                      {"instanceId": server.fresh_instance(), "instance_name": "who"},
                      application_id=APP)


def test_a_root_key_submission_names_the_account_and_key(api, server):
    op_id = rename(api, server)
    item = listed(api, op_id)
    assert item["SubmittedBy"] == {"AccountId": ACCOUNT_A, "AccessKeyId": ROOT_KEY_A[0]}, \
        "a root key has no UserName"
    assert TRACE_ID_RE.match(item["TraceId"]), item
    submitted = api.extension("ListExecuteOperationEvents", OperationId=op_id)["Data"]["Events"][0]
    assert submitted["Type"] == "Submitted" and submitted["TraceId"] == item["TraceId"], submitted
    result = api.get_result(op_id)["Data"]
    assert set(result) == {"OperationId", "Status", "Message", "Arguments"}, result


def test_a_ram_user_submission_names_the_user(client, server):
    user = client(server, user_key("submitter"))
    op_id = rename(user, server)
    expected = {"AccountId": ACCOUNT_A, "UserName": "submitter",
                "AccessKeyId": user_key("submitter")[0]}
    assert listed(user, op_id)["SubmittedBy"] == expected
    # The account's root key sees the same, about the user.
    assert listed(client(server, ROOT_KEY_A), op_id)["SubmittedBy"] == expected


def test_each_request_starts_its_own_trace(api, server):
    first, second = rename(api, server), rename(api, server)
    assert listed(api, first)["TraceId"] != listed(api, second)["TraceId"]
