"""ClientToken: the same token with the same parameters returns the original OperationId; with
different parameters it is refused with IdempotentParameterMismatch."""

import uuid

import pytest

from harness import APP, OPERATION_ID_RE, ApiError, assert_ok, assert_success


def token() -> str:
    return str(uuid.uuid4())


def test_same_token_same_parameters_same_operation(api, server):
    iid = server.fresh_instance()
    tok = token()
    attrs = {"instanceId": iid, "instance_name": "idempotent"}
    first = api.submit("ecs", "rename", attrs, client_token=tok)
    second = api.submit("ecs", "rename", dict(attrs), client_token=tok)
    assert first == second
    data, _ = api.wait(first)
    assert_success(data)
    # After completion too.
    assert api.submit("ecs", "rename", attrs, client_token=tok) == first


def test_attributes_compare_as_json_not_as_text(api, server):
    # Same object, other key order (and, for classic, other whitespace): same parameters.
    iid = server.fresh_instance()
    tok = token()
    first = api.submit("ecs", "modifyInstanceType",
                       {"instanceId": iid, "change_type": "modify_status", "status": "Stopped"},
                       client_token=tok)
    second = api.submit("ecs", "modifyInstanceType",
                        {"status": "Stopped", "change_type": "modify_status", "instanceId": iid},
                        client_token=tok)
    assert first == second


@pytest.mark.parametrize("change", ["attributes", "operation", "application"])
def test_same_token_different_parameters_is_refused(api, server, change):
    iid = server.fresh_instance()
    tok = token()
    original = api.submit("ecs", "rename", {"instanceId": iid, "instance_name": "first-name"},
                          client_token=tok)
    operation, attrs, app = "rename", {"instanceId": iid, "instance_name": "first-name"}, APP
    if change == "attributes":
        attrs = {"instanceId": iid, "instance_name": "other-name"}
    elif change == "operation":
        operation, attrs = "modifyPayType", {"instanceId": iid, "pay_type": "PrePaid"}
    else:
        app = None
    for call in (api.execute_async, api.execute_sync):
        with pytest.raises(ApiError) as err:
            call("ecs", operation, attrs, application_id=app, client_token=tok)
        assert err.value.code == "IdempotentParameterMismatch", err.value
        assert err.value.status == 400, err.value
    # The original stands.
    data, _ = api.wait(original)
    assert_success(data)


def test_different_tokens_different_operations(api, server):
    iid = server.fresh_instance()
    attrs = {"instanceId": iid, "pay_type": "PostPaid"}
    ids = {api.submit("ecs", "modifyPayType", attrs, client_token=token()) for _ in range(3)}
    ids.add(api.submit("ecs", "modifyPayType", attrs))
    ids.add(api.submit("ecs", "modifyPayType", attrs))
    assert len(ids) == 5


def test_sync_with_same_token_returns_same_operation(api, server):
    iid = server.fresh_instance()
    tok = token()
    attrs = {"instanceId": iid, "instance_name": "sync-idem"}
    bodies = [api.execute_sync("ecs", "rename", attrs, application_id=APP, client_token=tok)
              for _ in range(2)]
    for body in bodies:
        assert_ok(body)
        assert OPERATION_ID_RE.match(body["Data"]["OperationId"]), body
    assert bodies[0]["Data"]["OperationId"] == bodies[1]["Data"]["OperationId"]
    assert_success(bodies[1]["Data"])
