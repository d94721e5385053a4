"""The catalog actions (ListServices, ListOperations, GetOperationParams) and the envelope every
response carries."""

import pytest

from harness import REQUEST_ID_RE, ApiError, assert_ok

ECS_OPERATIONS = {"rename", "modifyInstanceType", "addTags", "ecsDelete", "modifyPayType"}
SLB_OPERATIONS = {"modifyListenerAttribute"}

# Attributes each operation's schema must describe (product.md, "The emulated operations'
# attributes"), and those it must require.
SCHEMA_FIELDS = {
    ("ecs", "rename"): ({"instanceId", "regionId", "appId", "instance_name"}, {"instanceId"}),
    ("ecs", "modifyInstanceType"): (
        {"instanceId", "regionId", "appId", "change_type", "instance_type", "status"},
        {"instanceId"}),
    ("ecs", "addTags"): ({"instanceId", "regionId", "appId", "tags"}, {"instanceId"}),
    ("ecs", "ecsDelete"): ({"instanceId", "regionId", "appId", "force"}, {"instanceId"}),
    ("ecs", "modifyPayType"): ({"instanceId", "regionId", "appId", "pay_type"}, {"instanceId"}),
    ("slb", "modifyListenerAttribute"): (
        {"loadBalancerId", "listenerPort", "healthCheck", "scheduler"},
        {"loadBalancerId", "listenerPort"}),
}


def test_list_services(api):
    body = api.list_services()
    assert_ok(body)
    assert api.last_status == 200
    assert sorted(body["Data"]) == ["ecs", "slb"], body


@pytest.mark.parametrize("service,expected", [("ecs", ECS_OPERATIONS), ("slb", SLB_OPERATIONS)])
def test_list_operations(api, service, expected):
    body = api.list_operations(service)
    assert_ok(body)
    data = body["Data"]
    assert isinstance(data, list), body
    assert {item["Operation"] for item in data} == expected, data
    for item in data:
        assert item["Service"] == service, item
        assert isinstance(item.get("DisplayName"), str) and item["DisplayName"], item


@pytest.mark.parametrize("service,operation", sorted(SCHEMA_FIELDS))
def test_get_operation_params(api, service, operation):
    body = api.get_operation_params(service, operation)
    assert_ok(body)
    data = body["Data"]
    assert data["Service"] == service and data["Operation"] == operation, data
    schema = data["Attributes"]
    assert isinstance(schema, dict) and schema.get("type") == "object", schema
    described, required = SCHEMA_FIELDS[(service, operation)]
    assert described <= set(schema.get("properties", {})), schema
    assert required <= set(schema.get("required", [])), schema
    assert isinstance(data.get("Properties"), dict), data
    assert isinstance(data.get("Outputs"), dict), data


def test_list_operations_with_service_type_in_the_body(classic_api):
    # tea puts ListOperations' ServiceType in the query; a server reads query and body alike.
    body = classic_api.classic_common("ListOperations", body={"ServiceType": "slb"})
    assert_ok(body)
    assert [item["Operation"] for item in body["Data"]] == ["modifyListenerAttribute"], body


def test_list_operations_unknown_service(api):
    with pytest.raises(ApiError) as err:
        api.list_operations("rds")
    assert err.value.code == "InvalidServiceType.NotFound", err.value
    assert 400 <= err.value.status < 500


@pytest.mark.parametrize("service,operation,code", [
    ("rds", "rename", "InvalidServiceType.NotFound"),
    ("ecs", "renameEverything", "InvalidOperation.NotFound"),
    ("slb", "rename", "InvalidOperation.NotFound"),
])
def test_get_operation_params_unknown(api, service, operation, code):
    with pytest.raises(ApiError) as err:
        api.get_operation_params(service, operation)
    assert err.value.code == code, err.value
    assert 400 <= err.value.status < 500


def test_request_ids_are_fresh_uppercase_uuids(api):
    ids = [api.list_services()["RequestId"] for _ in range(3)]
    with pytest.raises(ApiError) as err:
        api.list_operations("rds")
    ids.append(err.value.request_id)
    for request_id in ids:
        assert request_id and REQUEST_ID_RE.match(request_id), ids
    assert len(set(ids)) == len(ids), ids
