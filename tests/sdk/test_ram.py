"""RAM users as the SDKs see them: what attached policies allow and deny, resource-group
scoped grants, explicit Deny, inactive keys, and RAM users of two accounts kept apart.

Every denial is HTTP 403 NoPermission; the tea SDK also exposes AccessDeniedDetail, which is
checked in the two tea modes (the classic SDK does not read it)."""


import pytest

from harness import (ACCOUNT_A, ACCOUNT_B, APP, REGION, RESOURCE_GROUP, ApiError, add_users,
                     assert_ok, assert_success, build_config, policy_document,
                     random_operation_id, user_key)

DEV_GROUP = "rg-dev"
DEV_APP = "APP-DEV"
DEV_INSTANCE = "i-dev1"
BETA_GROUP = "rg-beta"
BETA_APP = "APP-BETA"
BETA_INSTANCES = [f"i-beta{n}" for n in range(1, 5)]
BETA_ARN = f"acs:bpstudio::{ACCOUNT_A}:application/{BETA_APP}"


def allow(action, resource="*", **condition) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def deny(action, resource="*") -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


# user name -> (account, [(policy, scope)], whether its key is active)
USERS = {
    "reader": (ACCOUNT_A, [("ReadResults", "account")], True),
    "tagger": (ACCOUNT_A, [("EcsAddTagsOnly", "account")], True),
    "prod-operator": (ACCOUNT_A, [("Everything", RESOURCE_GROUP)], True),
    "denied-executor": (ACCOUNT_A, [("Everything", "account"), ("NoExecute", "account")], True),
    "disabled": (ACCOUNT_A, [("Everything", "account")], False),
    "b-admin": (ACCOUNT_B, [("EverythingB", "account")], True),
    "beta-denied": (ACCOUNT_A, [("Everything", "account"), ("NoExecuteOnBeta", "account")],
                    True),
    "not-beta": (ACCOUNT_A, [("ExecuteButNotOnBeta", "account")], True),
    "beta-group-denied": (ACCOUNT_A, [("Everything", "account"), ("DenyAll", BETA_GROUP)],
                          True),
}

POLICIES = {
    (ACCOUNT_A, "ReadResults"): policy_document(allow("bpstudio:GetExecuteOperationResult")),
    # Allows running exactly ecs:addTags, and nothing else (not even reading results).
    (ACCOUNT_A, "EcsAddTagsOnly"): policy_document(allow(
        ["bpstudio:ExecuteOperationASync", "bpstudio:ExecuteOperationSync"],
        StringEquals={"bpstudio:ServiceType": "ecs", "bpstudio:Operation": "addTags"})),
    (ACCOUNT_A, "Everything"): policy_document(allow("bpstudio:*")),
    (ACCOUNT_A, "NoExecute"): policy_document(deny("bpstudio:Execute*")),
    (ACCOUNT_B, "EverythingB"): policy_document(allow("*")),
    (ACCOUNT_A, "NoExecuteOnBeta"): policy_document(deny("bpstudio:Execute*", BETA_ARN)),
    (ACCOUNT_A, "ExecuteButNotOnBeta"): policy_document(
        {"Effect": "Allow", "Action": "bpstudio:Execute*", "NotResource": BETA_ARN}),
    (ACCOUNT_A, "DenyAll"): policy_document(deny("bpstudio:*")),
}


@pytest.fixture(scope="module")
def server(start):
    config = build_config(second_account=True)
    config["resource_groups"].append({"account": ACCOUNT_A, "id": DEV_GROUP})
    config["applications"].append(
        {"account": ACCOUNT_A, "id": DEV_APP, "resource_group": DEV_GROUP})
    config["resources"].append(
        {"application": DEV_APP, "service": "ecs", "id": DEV_INSTANCE,
         "properties": {"instance_name": "dev-1", "instance_type": "ecs.g7.large",
                        "status": "Running", "region_id": REGION}})
    config["resource_groups"].append({"account": ACCOUNT_A, "id": BETA_GROUP})
    config["applications"].append(
        {"account": ACCOUNT_A, "id": BETA_APP, "resource_group": BETA_GROUP})
    config["resources"] += [
        {"application": BETA_APP, "service": "ecs", "id": iid,
         "properties": {"instance_name": iid, "instance_type": "ecs.g7.large",
                        "status": "Running", "region_id": REGION}}
        for iid in BETA_INSTANCES]
    add_users(config, USERS, POLICIES)
    return start(config)


@pytest.fixture
def as_user(client, server):
    return lambda name: client(server, user_key(name))


def denied(mode, call, action: str, kind: str = "ImplicitDeny") -> ApiError:
    with pytest.raises(ApiError) as err:
        call()
    e = err.value
    assert (e.status, e.code) == (403, "NoPermission"), e
    if mode != "classic":
        detail = e.access_denied_detail
        assert isinstance(detail, dict), e.raw
        assert detail.get("AuthAction") == f"bpstudio:{action}", detail
        assert detail.get("AuthPrincipalType") == "SubUser", detail
        assert detail.get("NoPermissionType") == kind, detail
    return e


def rename(api, iid, name, **kw):
    return api.execute_async("ecs", "rename", {"instanceId": iid, "instance_name": name},
                             application_id=kw.pop("application_id", APP), **kw)


def test_a_reader_can_read_results_but_not_execute(api, as_user, server, mode):
    reader = as_user("reader")
    op_id = api.submit("ecs", "rename",
                       {"instanceId": server.fresh_instance(), "instance_name": "read-me"})
    data, _ = api.wait(op_id)
    assert reader.get_result(op_id)["Data"] == data

    e = denied(mode, lambda: rename(reader, server.fresh_instance(), "nope"),
               "ExecuteOperationASync")
    if mode != "classic":
        assert e.access_denied_detail.get("AuthPrincipalDisplayName") == "reader"
        assert "PolicyType" not in e.access_denied_detail
    denied(mode, reader.list_services, "ListServices")


def test_an_add_tags_only_user_can_tag_and_nothing_else(api, as_user, server, mode):
    tagger = as_user("tagger")
    iid = server.fresh_instance()
    body = tagger.execute_async("ecs", "addTags",
                                {"instanceId": iid, "tags": {"team": "ram"}},
                                application_id=APP)
    assert_ok(body)
    data, _ = api.wait(body["Data"])
    _, arguments = assert_success(data)
    assert arguments == {"tagMap": {"team": [iid]}}

    body = tagger.execute_sync("ecs", "addTags", {"instanceId": iid, "tags": {"sync": "ok"}},
                               application_id=APP)
    assert_ok(body)
    assert_success(body["Data"])

    denied(mode, lambda: rename(tagger, iid, "renamed"), "ExecuteOperationASync")
    denied(mode, lambda: tagger.execute_sync("slb", "modifyListenerAttribute",
                                             {"loadBalancerId": "lb-web", "listenerPort": 80},
                                             application_id=APP),
           "ExecuteOperationSync")
    denied(mode, lambda: tagger.get_result(body["Data"]["OperationId"]),
           "GetExecuteOperationResult")
    denied(mode, tagger.list_services, "ListServices")
    denied(mode, lambda: tagger.get_operation_params("ecs", "addTags"), "GetOperationParams")


def test_a_group_scoped_user_needs_its_resource_group_id(api, as_user, server, mode):
    operator = as_user("prod-operator")
    body = rename(operator, server.fresh_instance(), "in-prod",
                  resource_group_id=RESOURCE_GROUP)
    assert_ok(body)
    op_id = body["Data"]
    data, _ = api.wait(op_id)
    assert operator.get_result(op_id, resource_group_id=RESOURCE_GROUP)["Data"] == data

    # Without the group, or naming another one, the scoped grant does not apply.
    denied(mode, lambda: rename(operator, server.fresh_instance(), "no-group"),
           "ExecuteOperationASync")
    denied(mode, lambda: rename(operator, server.fresh_instance(), "other-group",
                                resource_group_id=DEV_GROUP), "ExecuteOperationASync")
    denied(mode, lambda: operator.get_result(op_id), "GetExecuteOperationResult")
    denied(mode, lambda: operator.get_result(op_id, resource_group_id=DEV_GROUP),
           "GetExecuteOperationResult")
    # Naming its group for an application outside it does not help either.
    denied(mode, lambda: rename(operator, DEV_INSTANCE, "dev", application_id=DEV_APP,
                                resource_group_id=RESOURCE_GROUP), "ExecuteOperationASync")


def test_an_operation_outside_the_named_group_reads_as_unknown(api, as_user, mode):
    dev_op = api.submit("ecs", "modifyPayType", {"instanceId": DEV_INSTANCE,
                                                 "pay_type": "PrePaid"},
                        application_id=DEV_APP)
    api.wait(dev_op)
    unknown = random_operation_id()
    for caller in (as_user("prod-operator"), api):
        outside = caller.get_result(dev_op, resource_group_id=RESOURCE_GROUP)
        assert_ok(outside)
        assert "Data" not in outside, outside
        never = caller.get_result(unknown, resource_group_id=RESOURCE_GROUP)
        assert outside["Message"].replace(dev_op, "<id>") == \
            never["Message"].replace(unknown, "<id>")
    assert "Data" in api.get_result(dev_op, resource_group_id=DEV_GROUP)


def test_a_resource_group_that_does_not_exist_is_invalid(as_user, mode):
    operator = as_user("prod-operator")
    with pytest.raises(ApiError) as err:
        operator.get_result(random_operation_id(), resource_group_id="rg-nowhere")
    assert (err.value.status, err.value.code) == (400, "InvalidParameter"), err.value


def test_an_explicit_deny_wins_over_an_allow(api, as_user, server, mode):
    user = as_user("denied-executor")
    e = denied(mode, lambda: rename(user, server.fresh_instance(), "denied"),
               "ExecuteOperationASync", kind="ExplicitDeny")
    if mode != "classic":
        assert e.access_denied_detail.get("PolicyType") == "AccountLevelIdentityBasedPolicy"
    # What the Deny does not cover, the Allow still grants.
    assert_ok(user.list_services())
    op_id = api.submit("ecs", "rename",
                       {"instanceId": server.fresh_instance(), "instance_name": "visible"})
    assert_ok(user.get_result(op_id))


def test_an_inactive_ram_key_is_refused(as_user):
    with pytest.raises(ApiError) as err:
        as_user("disabled").list_services()
    assert err.value.code == "InvalidAccessKeyId.Inactive", err.value
    assert 400 <= err.value.status < 500, err.value


def test_ram_users_of_two_accounts_never_see_each_other(api, as_user, server, mode):
    b_admin = as_user("b-admin")
    a_op = api.submit("ecs", "rename",
                      {"instanceId": server.fresh_instance(), "instance_name": "a-private"})
    api.wait(a_op)
    foreign = b_admin.get_result(a_op)
    assert_ok(foreign)
    assert "Data" not in foreign, foreign

    with pytest.raises(ApiError) as err:
        rename(b_admin, "i-web1", "intruder", application_id=APP)
    assert err.value.code == "InvalidApplicationId.NotFound", err.value
    # Without an application, account A's instance simply does not exist for B.
    body = b_admin.execute_sync("ecs", "rename", {"instanceId": "i-web1",
                                                  "instance_name": "intruder"})
    assert body["Data"]["Status"] == "FAILURE", body
    assert body["Data"]["Message"].startswith("InstanceNotFound: "), body

    b_op = b_admin.submit("ecs", "rename", {"instanceId": "i-b1", "instance_name": "b-own"},
                          application_id="APP-B")
    assert_success(b_admin.wait(b_op)[0])
    for reader in (api, as_user("reader")):
        body = reader.get_result(b_op)
        assert_ok(body)
        assert "Data" not in body, body


def delete_beta(caller, iid: str = BETA_INSTANCES[0], **kw) -> dict:
    attributes = {"instanceId": iid, "force": True, **kw.pop("attributes", {})}
    return caller.execute_sync("ecs", "ecsDelete", attributes, **kw)


def assert_still_there(api, iid: str) -> None:
    body = api.execute_sync("ecs", "modifyPayType", {"instanceId": iid, "pay_type": "PostPaid"},
                            application_id=BETA_APP)
    assert_success(body["Data"])


def test_a_deny_on_an_application_holds_however_the_request_names_it(api, as_user, mode):
    # Issue 11 item 1: the request is authorized against the application the instance is in.
    user = as_user("beta-denied")
    for spelling in ({"application_id": BETA_APP}, {},
                     {"attributes": {"appId": BETA_APP}},
                     {"application_id": APP}):
        e = denied(mode, lambda: delete_beta(user, **spelling), "ExecuteOperationSync",
                   kind="ExplicitDeny")
        assert BETA_ARN in e.message, (spelling, e)
    assert_still_there(api, BETA_INSTANCES[0])
    # What the Deny does not cover is still allowed, with or without ApplicationId.
    assert_success(user.execute_sync("ecs", "modifyPayType",
                                     {"instanceId": "i-web1", "pay_type": "PostPaid"})["Data"])


def test_a_not_resource_allow_holds_however_the_request_names_it(api, as_user, mode):
    user = as_user("not-beta")
    for spelling in ({"application_id": BETA_APP}, {}, {"attributes": {"appId": BETA_APP}}):
        denied(mode, lambda: delete_beta(user, BETA_INSTANCES[1], **spelling),
               "ExecuteOperationSync")
    assert_still_there(api, BETA_INSTANCES[1])
    assert_success(user.execute_sync("ecs", "modifyPayType",
                                     {"instanceId": "i-web1", "pay_type": "PostPaid"})["Data"])


def test_an_application_other_than_the_target_is_invalid(api, mode):
    for spelling, field in (({"application_id": APP}, "ApplicationId"),
                            ({"attributes": {"appId": APP}}, "appId")):
        with pytest.raises(ApiError) as err:
            delete_beta(api, BETA_INSTANCES[2], **spelling)
        assert (err.value.status, err.value.code) == (400, "InvalidParameter"), err.value
        assert field in err.value.message, err.value
    assert_still_there(api, BETA_INSTANCES[2])


def test_a_group_scoped_deny_applies_whether_or_not_the_group_is_named(api, as_user, server,
                                                                        mode):
    # Issue 11 item 2.
    user = as_user("beta-group-denied")
    for group in ({}, {"resource_group_id": BETA_GROUP}):
        for named in ({"application_id": BETA_APP}, {}):
            e = denied(mode, lambda: delete_beta(user, BETA_INSTANCES[3], **group, **named),
                       "ExecuteOperationSync", kind="ExplicitDeny")
            if mode != "classic":
                assert e.access_denied_detail.get("PolicyType") == \
                    "ResourceGroupLevelIdentityBasedPolicy", e.access_denied_detail
    assert_still_there(api, BETA_INSTANCES[3])
    beta_op = api.submit("ecs", "modifyPayType",
                         {"instanceId": BETA_INSTANCES[3], "pay_type": "PrePaid"},
                         application_id=BETA_APP)
    denied(mode, lambda: user.get_result(beta_op), "GetExecuteOperationResult",
           kind="ExplicitDeny")
    # Outside the group, the account-wide Allow still grants.
    own = user.submit("ecs", "rename", {"instanceId": server.fresh_instance(),
                                        "instance_name": "outside-beta"})
    assert_success(user.wait(own)[0])
