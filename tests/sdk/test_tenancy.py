"""Two accounts on one server: nothing of one is visible to or usable by the other, and the
answers do not even reveal that it exists."""

import uuid

import pytest

from harness import (APP, ROOT_KEY_B, ApiError, assert_failure, assert_ok, assert_success,
                     build_config, random_operation_id)


@pytest.fixture(scope="module")
def server(start):
    return start(build_config(second_account=True))


@pytest.fixture
def api_b(client, server):
    return client(server, ROOT_KEY_B)


def test_other_account_cannot_read_an_operation(api, api_b, server):
    op_id = api.submit("ecs", "rename",
                       {"instanceId": server.fresh_instance(), "instance_name": "a-only"})
    data, _ = api.wait(op_id)
    assert_success(data)

    foreign = api_b.get_result(op_id)
    assert_ok(foreign)
    assert "Data" not in foreign, foreign
    unknown = random_operation_id()
    never = api_b.get_result(unknown)
    assert_ok(never)
    assert "Data" not in never, never
    assert foreign["Message"].replace(op_id, "<id>") == never["Message"].replace(unknown, "<id>")

    # Still the owner's.
    assert api.get_result(op_id)["Data"] == data


def test_own_operations_are_private_both_ways(api, api_b):
    op_id = api_b.submit("ecs", "rename", {"instanceId": "i-b1", "instance_name": "b-renamed"},
                         application_id="APP-B")
    data, _ = api_b.wait(op_id)
    assert_success(data)
    body = api.get_result(op_id)
    assert_ok(body)
    assert "Data" not in body, body


@pytest.mark.parametrize("who,app", [("b", APP), ("a", "APP-B")])
def test_other_account_application_is_not_found(api, api_b, who, app):
    caller = api_b if who == "b" else api
    iid = "i-web1" if who == "b" else "i-b1"
    for call in (caller.execute_async, caller.execute_sync):
        with pytest.raises(ApiError) as err:
            call("ecs", "rename", {"instanceId": iid, "instance_name": "intruder"},
                 application_id=app)
        assert err.value.code == "InvalidApplicationId.NotFound", err.value
        assert 400 <= err.value.status < 500


@pytest.mark.parametrize("application_id", ["APP-B", None])
def test_other_account_instance_is_not_found(api, api_b, server, application_id):
    iid = server.fresh_instance()
    data = api_b.run("ecs", "ecsDelete", {"instanceId": iid, "force": True},
                     application_id=application_id)
    assert_failure(data, "InstanceNotFound")
    assert_failure(api_b.run("ecs", "rename", {"instanceId": "i-web1", "instance_name": "mine"},
                             application_id=application_id), "InstanceNotFound")
    # The owner's instance is untouched.
    assert_success(api.run("ecs", "rename", {"instanceId": iid, "instance_name": "still-here"}))


def test_client_tokens_are_per_account(api, api_b, server):
    token = str(uuid.uuid4())
    a_id = api.submit("ecs", "rename",
                      {"instanceId": server.fresh_instance(), "instance_name": "a-token"},
                      client_token=token)
    # Other parameters, same token, other account: a new operation, no mismatch.
    b_id = api_b.submit("ecs", "modifyPayType", {"instanceId": "i-b1", "pay_type": "PrePaid"},
                        application_id="APP-B", client_token=token)
    assert b_id != a_id
    assert_success(api_b.wait(b_id)[0])
    assert_success(api.wait(a_id)[0])
