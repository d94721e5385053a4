"""The emulated ecs operations: results, run-time rules, and what is refused at submit."""

import pytest

from harness import (APP, OPERATION_ID_RE, REGION, RESOURCE_GROUP, ApiError, assert_failure,
                     assert_ok, assert_success, check_result_data, strings_in)


def stop(api, iid):
    data = api.run("ecs", "modifyInstanceType",
                   {"instanceId": iid, "change_type": "modify_status", "status": "Stopped"})
    assert_success(data)


def test_rename(api, server):
    iid = server.fresh_instance()
    state, arguments = assert_success(
        api.run("ecs", "rename", {"instanceId": iid, "instance_name": "web-renamed"}))
    assert "web-renamed" in strings_in(state), state
    assert arguments == {}


def test_rename_non_ascii_name(api, server):
    # tea sends raw UTF-8 JSON; classic sends json.dumps output with \uXXXX escapes.
    name = '测试实例 web-01 *~/+= "quoted" back\\slash'
    iid = server.fresh_instance()
    state, _ = assert_success(api.run("ecs", "rename", {"instanceId": iid, "instance_name": name}))
    assert name in strings_in(state), state


def test_rename_with_region_app_and_resource_group(api, server):
    iid = server.fresh_instance()
    op_id = api.submit("ecs", "rename",
                       {"appId": APP, "regionId": REGION, "instanceId": iid,
                        "instance_name": "web-in-group"},
                       resource_group_id=RESOURCE_GROUP)
    data, _ = api.wait(op_id)
    assert_success(data)
    body = api.get_result(op_id, resource_group_id=RESOURCE_GROUP)
    assert_ok(body)
    assert body["Data"] == data


def test_rename_without_application_id(api, server):
    iid = server.fresh_instance()
    data = api.run("ecs", "rename", {"instanceId": iid, "instance_name": "no-app"},
                   application_id=None)
    assert_success(data)


def test_execute_sync_returns_final_result(api, server):
    iid = server.fresh_instance()
    body = api.execute_sync("ecs", "rename", {"instanceId": iid, "instance_name": "synced"},
                            application_id=APP)
    assert_ok(body)
    data = body["Data"]
    assert OPERATION_ID_RE.match(data["OperationId"]), body
    check_result_data(data, data["OperationId"])
    state, arguments = assert_success(data)
    assert "synced" in strings_in(state)
    assert arguments == {}
    again = api.get_result(data["OperationId"])
    assert_ok(again)
    assert again["Data"] == data


def test_modify_instance_type_rules(api, server):
    iid = server.fresh_instance()

    def change(**attrs):
        return api.run("ecs", "modifyInstanceType", {"instanceId": iid, **attrs})

    # A type change needs a Stopped instance.
    assert_failure(change(change_type="modify_instance_type", instance_type="ecs.g7.xlarge"),
                   "IncorrectInstanceStatus")
    # Running -> Running is a no-op success.
    assert_success(change(change_type="modify_status", status="Running"))
    state, _ = assert_success(change(change_type="modify_status", status="Stopped"))
    assert "Stopped" in strings_in(state), state
    assert_success(change(change_type="modify_status", status="Stopped"))
    # Restart needs a Running instance.
    assert_failure(change(change_type="modify_status", status="Restart"),
                   "IncorrectInstanceStatus")
    state, arguments = assert_success(
        change(change_type="modify_instance_type", instance_type="ecs.g7.xlarge"))
    assert "ecs.g7.xlarge" in strings_in(state), state
    assert arguments == {}
    state, _ = assert_success(change(change_type="modify_status", status="Running"))
    assert "Running" in strings_in(state) and "ecs.g7.xlarge" in strings_in(state), state
    state, _ = assert_success(change(change_type="modify_status", status="Restart"))
    assert "Running" in strings_in(state), state


def test_queued_operations_run_in_submission_order(api, server):
    # Whether the instance is Stopped is decided when each operation runs, so a type change
    # submitted right behind a stop succeeds.
    iid = server.fresh_instance()
    ids = [
        api.submit("ecs", "modifyInstanceType",
                   {"instanceId": iid, "change_type": "modify_status", "status": "Stopped"}),
        api.submit("ecs", "modifyInstanceType",
                   {"instanceId": iid, "change_type": "modify_instance_type",
                    "instance_type": "ecs.c7.2xlarge"}),
        api.submit("ecs", "modifyInstanceType",
                   {"instanceId": iid, "change_type": "modify_status", "status": "Running"}),
        api.submit("ecs", "ecsDelete", {"instanceId": iid, "force": True}),
        api.submit("ecs", "rename", {"instanceId": iid, "instance_name": "too-late"}),
    ]
    assert len(set(ids)) == len(ids)
    results = [api.wait(op_id)[0] for op_id in ids]
    for data in results[:4]:
        assert_success(data)
    state, _ = assert_success(results[2])
    assert {"ecs.c7.2xlarge", "Running"} <= strings_in(state), state
    assert_failure(results[4], "InstanceNotFound")


def test_add_tags(api, server):
    iid = server.fresh_instance()
    data = api.run("ecs", "addTags", {"instanceId": iid, "tags": {"env": "prod", "team": "web"}})
    _, arguments = assert_success(data)
    assert arguments == {"tagMap": {"env": [iid], "team": [iid]}}


def test_add_tags_limit_is_checked_at_run_time(api, server):
    iid = server.fresh_instance()
    twenty = {f"k{i:02d}": f"v{i}" for i in range(20)}
    assert_success(api.run("ecs", "addTags", {"instanceId": iid, "tags": twenty}))
    # Valid on its own, but the instance would then carry 21 tags.
    assert_failure(api.run("ecs", "addTags", {"instanceId": iid, "tags": {"one-more": "x"}}))


def test_ecs_delete_needs_stopped_without_force(api, server):
    iid = server.fresh_instance()
    assert_failure(api.run("ecs", "ecsDelete", {"instanceId": iid}), "IncorrectInstanceStatus")
    assert_failure(api.run("ecs", "ecsDelete", {"instanceId": iid, "force": False}),
                   "IncorrectInstanceStatus")
    # Still there.
    assert_success(api.run("ecs", "rename", {"instanceId": iid, "instance_name": "survivor"}))
    stop(api, iid)
    _, arguments = assert_success(api.run("ecs", "ecsDelete", {"instanceId": iid}))
    assert arguments == {}


def test_ecs_delete_force_then_gone(api, server):
    iid = server.fresh_instance()
    assert_success(api.run("ecs", "ecsDelete", {"instanceId": iid, "force": True}))
    assert_failure(api.run("ecs", "rename", {"instanceId": iid, "instance_name": "ghost"}),
                   "InstanceNotFound")
    assert_failure(api.run("ecs", "ecsDelete", {"instanceId": iid, "force": True}),
                   "InstanceNotFound")


def test_modify_pay_type(api, server):
    iid = server.fresh_instance()
    for pay_type in ("PrePaid", "PostPaid"):
        state, arguments = assert_success(
            api.run("ecs", "modifyPayType", {"instanceId": iid, "pay_type": pay_type}))
        assert pay_type in strings_in(state), state
        assert arguments == {}


@pytest.mark.parametrize("attributes,field", [
    ({"regionId": "cn-beijing"}, "regionId"),
    ({"appId": "APP-OTHER"}, "appId"),
])
def test_region_and_app_attributes_must_match(api, server, attributes, field):
    # Refused at submit (naming the attribute) or ended as FAILURE with a code; never applied.
    iid = server.fresh_instance()
    attrs = {"instanceId": iid, "instance_name": "mismatch", **attributes}
    try:
        data = api.run("ecs", "rename", attrs)
    except ApiError as err:
        assert err.code == "InvalidParameter" and err.status == 400, err
        assert field in err.message, err
    else:
        assert_failure(data)
    state, _ = assert_success(api.run("ecs", "modifyPayType",
                                      {"instanceId": iid, "pay_type": "PrePaid"}))
    assert "mismatch" not in strings_in(state), state


@pytest.mark.parametrize("operation,attributes", [
    ("rename", {"instance_name": "nobody"}),
    ("modifyPayType", {"pay_type": "PrePaid"}),
    ("modifyInstanceType", {"change_type": "modify_status", "status": "Stopped"}),
])
def test_unknown_instance_fails_at_run_time(api, operation, attributes):
    # Existence is decided when the operation runs, not at submit.
    data = api.run("ecs", operation, {"instanceId": "i-doesnotexist", **attributes})
    assert_failure(data, "InstanceNotFound")


TAGS_21 = {f"k{i}": "v" for i in range(21)}


@pytest.mark.parametrize("operation,attributes,field", [
    ("rename", {"instance_name": "x"}, "instance_name"),
    ("rename", {"instance_name": "x" * 129}, "instance_name"),
    ("rename", {"instance_name": 42}, "instance_name"),
    ("rename", {}, "instance_name"),
    ("rename", {"instanceId": None, "instance_name": "no-id"}, "instanceId"),
    ("modifyInstanceType", {"change_type": "explode"}, "change_type"),
    ("modifyInstanceType", {"change_type": "modify_status", "status": "Paused"}, "status"),
    ("modifyInstanceType", {"change_type": "modify_instance_type", "instance_type": "g7large"},
     "instance_type"),
    ("modifyInstanceType", {"change_type": "modify_instance_type"}, "instance_type"),
    ("addTags", {"tags": {}}, "tags"),
    ("addTags", {"tags": TAGS_21}, "tags"),
    ("addTags", {"tags": {"aliyun-owner": "me"}}, "tags"),
    ("addTags", {"tags": {"acs:owner": "me"}}, "tags"),
    ("addTags", {"tags": {"": "empty-key"}}, "tags"),
    ("addTags", {"tags": {"k" * 129: "long-key"}}, "tags"),
    ("addTags", {"tags": {"count": 5}}, "tags"),
    ("addTags", {"tags": "env=prod"}, "tags"),
    ("ecsDelete", {"force": "yes"}, "force"),
    ("modifyPayType", {"pay_type": "Free"}, "pay_type"),
    ("modifyPayType", {}, "pay_type"),
])
def test_schema_violation_is_refused_at_submit(api, operation, attributes, field):
    attrs = {"instanceId": "i-web1", **attributes}
    if attrs["instanceId"] is None:
        del attrs["instanceId"]
    for call in (api.execute_async, api.execute_sync):
        with pytest.raises(ApiError) as err:
            call("ecs", operation, attrs, application_id=APP)
        assert err.value.code == "InvalidParameter", err.value
        assert err.value.status == 400, err.value
        assert field in err.value.message, err.value


@pytest.mark.parametrize("service,operation,code", [
    ("rds", "rename", "InvalidServiceType.NotFound"),
    ("ecs", "teleport", "InvalidOperation.NotFound"),
    ("ecs", "modifyListenerAttribute", "InvalidOperation.NotFound"),
])
def test_unknown_service_or_operation_is_refused(api, service, operation, code):
    for call in (api.execute_async, api.execute_sync):
        with pytest.raises(ApiError) as err:
            call(service, operation, {"instanceId": "i-web1", "instance_name": "x-y"},
                 application_id=APP)
        assert err.value.code == code, err.value
        assert 400 <= err.value.status < 500


def test_unknown_application_is_refused(api):
    for call in (api.execute_async, api.execute_sync):
        with pytest.raises(ApiError) as err:
            call("ecs", "rename", {"instanceId": "i-web1", "instance_name": "x-y"},
                 application_id="APP-NOPE")
        assert err.value.code == "InvalidApplicationId.NotFound", err.value
        assert 400 <= err.value.status < 500


def test_missing_service_type(api):
    with pytest.raises(ApiError) as err:
        api.execute_async(None, "rename", {"instanceId": "i-web1", "instance_name": "x-y"},
                          application_id=APP)
    assert err.value.code == "MissingParameter", err.value
    assert err.value.status == 400
    assert "ServiceType" in err.value.message, err.value


def test_attributes_that_are_not_a_json_object(api, mode):
    if mode == "classic":
        # classic hands Attributes over as an opaque string
        for raw in ("{not json", "[1, 2]", '"text"'):
            with pytest.raises(ApiError) as err:
                api.execute_async("ecs", "rename", raw_attributes=raw, application_id=APP)
            assert err.value.code == "InvalidParameter", (raw, err.value)
            assert err.value.status == 400
            assert "Attributes" in err.value.message, err.value
    else:
        # tea, given a string where it wants a dict, sends Attributes=null
        with pytest.raises(ApiError) as err:
            api.execute_async("ecs", "rename", raw_attributes='{"instanceId": "i-web1"}',
                              application_id=APP)
        assert err.value.code == "InvalidParameter", err.value
        assert err.value.status == 400
