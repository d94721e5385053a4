"""Changing an application after its creation, as the SDKs see it: ChangeResourceGroup (RAM
follows the move at once, for the application and its operations; a grant in one group
neither pushes an application out nor pulls one in; a move beside a running deploy),
GetApplicationVariables and ReConfigApplication (only before deployment, checked against the
template, back to Modified), and DeleteApplication while a deploy runs."""

import itertools
import json
import time

import pytest

from harness import (ACCOUNT_A, APP, REGION, RESOURCE_GROUP, ROOT_KEY_B, add_users, assert_ok,
                     build_config, denied, get_application as get, policy_document, refused,
                     settled, user_key)

DEV_GROUP = "rg-dev"
DEPLOY_LATENCY = 1.5  # seconds per resource: long enough to act while a deploy runs
CHANGE_ACTIONS = ["bpstudio:ChangeResourceGroup", "bpstudio:GetApplicationVariables",
                  "bpstudio:ReConfigApplication"]

# user name -> (account, [(policy, scope)], active)
USERS = {
    "prod-user": (ACCOUNT_A, [("Everything", RESOURCE_GROUP)], True),
    "dev-user": (ACCOUNT_A, [("Everything", DEV_GROUP)], True),
    "both-groups": (ACCOUNT_A, [("Everything", RESOURCE_GROUP), ("Everything", DEV_GROUP)],
                    True),
    "no-changes": (ACCOUNT_A, [("Everything", "account"), ("NoChanges", "account")], True),
}

POLICIES = {(ACCOUNT_A, name): doc for name, doc in {
    "Everything": policy_document({"Effect": "Allow", "Action": "bpstudio:*", "Resource": "*"}),
    "NoChanges": policy_document({"Effect": "Deny", "Action": CHANGE_ACTIONS,
                                  "Resource": f"acs:bpstudio::{ACCOUNT_A}:application/*"}),
}.items()}


@pytest.fixture(scope="module")
def server(start):
    config = build_config(second_account=True, emulation=[
        {"service": "bpstudio", "operation": "deployApplication",
         "latency": f"{int(DEPLOY_LATENCY * 1000)}ms"}])
    config["resource_groups"].append({"account": ACCOUNT_A, "id": DEV_GROUP})
    add_users(config, USERS, POLICIES)
    return start(config)


_names = itertools.count()


def create(api, template_id: str = "web-tier", **params) -> str:
    body = api.call("CreateApplication", name=f"chg-{next(_names)}", template_id=template_id,
                    area_id=REGION, **params)
    assert_ok(body)
    return body["Data"]


def run_step(api, action: str, app_id: str, status: str) -> dict:
    assert_ok(api.call(action, application_id=app_id))
    data = settled(api, app_id)
    assert data["Status"] == status, data
    return data


def valuated(api, **params) -> str:
    app_id = create(api, template_id="ecs-instance", **params)
    run_step(api, "ValidateApplication", app_id, "Verified_Success")
    run_step(api, "ValuateApplication", app_id, "Valuating_Success")
    return app_id


def deploying(api, **params) -> str:
    """An application whose deploy has started and is still running."""
    app_id = valuated(api, **params)
    started = time.monotonic()
    assert_ok(api.call("DeployApplication", application_id=app_id))
    assert get(api, app_id)["Status"] == "Deploying"
    assert time.monotonic() - started < DEPLOY_LATENCY / 2, "too slow to act mid-deploy"
    return app_id


def move(api, app_id: str, group: str, resource_type: str = "APPLICATION") -> dict:
    return api.call("ChangeResourceGroup", resource_id=app_id, new_resource_group_id=group,
                    resource_type=resource_type)


def variables(api, app_id: str) -> dict:
    body = api.call("GetApplicationVariables", app_id=app_id)
    assert_ok(body)
    [instance] = body["Data"]
    assert instance["InstanceId"] == app_id, body
    return {v["Variable"]: v["Value"] for v in instance["VariableList"]}


def reconfig(api, app_id: str, values, raw: bool = False) -> dict:
    return api.call("ReConfigApplication", app_id=app_id,
                    variables=values if raw else json.dumps(values))


# -- ChangeResourceGroup -------------------------------------------------------------------

def test_a_move_takes_ram_scoping_with_it_at_once(api, client, server):
    app_id = create(api, resource_group_id=RESOURCE_GROUP)
    op_id = api.call("ValidateApplication", application_id=app_id)["Data"]
    settled(api, app_id)
    prod = client(server, user_key("prod-user"))
    dev = client(server, user_key("dev-user"))
    assert get(prod, app_id, resource_group_id=RESOURCE_GROUP)["ApplicationId"] == app_id
    assert prod.get_result(op_id, RESOURCE_GROUP)["Data"]["OperationId"] == op_id
    denied(lambda: get(dev, app_id, resource_group_id=RESOURCE_GROUP), "GetApplication")
    denied(lambda: dev.get_result(op_id, RESOURCE_GROUP), "GetExecuteOperationResult")

    body = move(client(server, user_key("both-groups")), app_id, DEV_GROUP)
    assert_ok(body)
    assert body.get("Data") == "", body

    assert get(api, app_id)["ResourceGroupId"] == DEV_GROUP
    # The old group's user lost it: outside the group it names, unknown; naming the new
    # group, denied. Its operations went with it.
    refused(lambda: get(prod, app_id, resource_group_id=RESOURCE_GROUP),
            404, "InvalidApplicationId.NotFound")
    denied(lambda: get(prod, app_id, resource_group_id=DEV_GROUP), "GetApplication")
    assert "Data" not in prod.get_result(op_id, RESOURCE_GROUP)
    denied(lambda: prod.get_result(op_id, DEV_GROUP), "GetExecuteOperationResult")
    # The new group's user gained it.
    assert get(dev, app_id, resource_group_id=DEV_GROUP)["ResourceGroupId"] == DEV_GROUP
    assert dev.get_result(op_id, DEV_GROUP)["Data"]["Status"] == "SUCCESS"
    listed = api.call("ListApplication", resource_group_id=DEV_GROUP, max_results=50)["Data"]
    assert app_id in [item["ApplicationId"] for item in listed]


def test_a_grant_in_one_group_neither_pushes_nor_pulls(api, client, server):
    in_prod = create(api, resource_group_id=RESOURCE_GROUP)
    in_dev = create(api, resource_group_id=DEV_GROUP)
    prod = client(server, user_key("prod-user"))
    denied(lambda: move(prod, in_prod, DEV_GROUP), "ChangeResourceGroup")
    denied(lambda: move(prod, in_dev, RESOURCE_GROUP), "ChangeResourceGroup")
    assert get(api, in_prod)["ResourceGroupId"] == RESOURCE_GROUP
    assert get(api, in_dev)["ResourceGroupId"] == DEV_GROUP
    # Within its own group it may: naming the application names its group.
    assert_ok(move(prod, in_prod, RESOURCE_GROUP))


def test_a_move_is_refused_by_an_explicit_deny(api, client, server):
    app_id = create(api, resource_group_id=RESOURCE_GROUP)
    user = client(server, user_key("no-changes"))
    denied(lambda: move(user, app_id, DEV_GROUP), "ChangeResourceGroup", "ExplicitDeny")
    assert get(api, app_id)["ResourceGroupId"] == RESOURCE_GROUP


@pytest.mark.parametrize("group", ["rg-nowhere", "rg-b"])
def test_a_move_to_a_group_of_no_account_of_the_caller_is_refused(api, group):
    app_id = create(api, resource_group_id=RESOURCE_GROUP)
    e = refused(lambda: move(api, app_id, group), 404, "InvalidResourceGroupId.NotFound")
    assert group in e.message
    assert get(api, app_id)["ResourceGroupId"] == RESOURCE_GROUP


@pytest.mark.parametrize("resource_type", ["TEMPLATE", "application", "INSTANCE"])
def test_a_move_of_anything_but_an_application_is_refused(api, resource_type):
    app_id = create(api, resource_group_id=RESOURCE_GROUP)
    e = refused(lambda: move(api, app_id, DEV_GROUP, resource_type), 400, "InvalidParameter")
    assert "ResourceType" in e.message
    assert get(api, app_id)["ResourceGroupId"] == RESOURCE_GROUP


def test_a_move_needs_every_parameter_within_bounds(api):
    app_id = create(api)
    refused(lambda: api.call("ChangeResourceGroup", resource_id=app_id,
                             resource_type="APPLICATION"), 400, "MissingParameter")
    refused(lambda: api.call("ChangeResourceGroup", new_resource_group_id=DEV_GROUP,
                             resource_type="APPLICATION"), 400, "MissingParameter")
    refused(lambda: api.call("ChangeResourceGroup", resource_id=app_id,
                             new_resource_group_id=DEV_GROUP), 400, "MissingParameter")
    e = refused(lambda: move(api, "A" * 129, DEV_GROUP), 400, "InvalidParameter")
    assert "ResourceId" in e.message


def test_another_accounts_or_an_unknown_application_is_not_found(api, client, server):
    app_id = create(api, resource_group_id=RESOURCE_GROUP)
    other = client(server, ROOT_KEY_B)
    refused(lambda: move(other, app_id, "rg-b"), 404, "InvalidApplicationId.NotFound")
    refused(lambda: move(api, "NOSUCHAPP0000000", DEV_GROUP),
            404, "InvalidApplicationId.NotFound")
    assert get(api, app_id)["ResourceGroupId"] == RESOURCE_GROUP


def test_a_move_beside_a_running_deploy_keeps_both(api):
    app_id = deploying(api, resource_group_id=RESOURCE_GROUP)
    assert_ok(move(api, app_id, DEV_GROUP))
    assert get(api, app_id)["Status"] == "Deploying"
    data = settled(api, app_id)
    assert (data["Status"], data["ResourceGroupId"]) == ("Deployed_Success", DEV_GROUP), data
    [instance] = data["ResourceList"]
    # The deployed instance is reached in its application's new group.
    body = api.execute_async("ecs", "rename", {"instanceId": instance["ResourceId"],
                                               "instance_name": "moved"},
                             application_id=app_id, resource_group_id=DEV_GROUP)
    assert_ok(body)


# -- GetApplicationVariables ---------------------------------------------------------------

def test_get_application_variables_shows_every_value(api):
    app_id = create(api, variables={"listener_port": 8080})
    assert variables(api, app_id) == {"${instance_type}": "ecs.g7.large",
                                      "${listener_port}": "8080"}
    # An application the configuration declared has no variables.
    assert variables(api, APP) == {}


def test_get_application_variables_refusals(api, client, server):
    app_id = create(api, resource_group_id=RESOURCE_GROUP)
    refused(lambda: variables(api, "NOSUCHAPP0000000"), 404, "InvalidApplicationId.NotFound")
    refused(lambda: variables(client(server, ROOT_KEY_B), app_id),
            404, "InvalidApplicationId.NotFound")
    refused(lambda: api.call("GetApplicationVariables"), 400, "MissingParameter")
    denied(lambda: variables(client(server, user_key("no-changes")), app_id),
           "GetApplicationVariables", "ExplicitDeny")
    denied(lambda: variables(client(server, user_key("dev-user")), app_id),
           "GetApplicationVariables")
    assert variables(client(server, user_key("prod-user")), app_id)["${listener_port}"] == "80"


# -- ReConfigApplication -------------------------------------------------------------------

def test_reconfig_changes_variables_and_returns_to_modified(api):
    app_id = create(api)
    before = run_step(api, "ValidateApplication", app_id, "Verified_Success")
    assert before["Checklist"][0]["Specification"] == "ecs.g7.large"
    body = reconfig(api, app_id, {"${instance_type}": "ecs.c7.large"})
    assert_ok(body)
    data = get(api, app_id)
    assert (data["Status"], data["Checklist"], data["Error"]) == ("Modified", [], ""), data
    assert variables(api, app_id) == {"${instance_type}": "ecs.c7.large",
                                      "${listener_port}": "80"}
    # Plain names as CreateApplication takes them work too.
    assert_ok(reconfig(api, app_id, {"listener_port": 8443}))
    assert variables(api, app_id)["${listener_port}"] == "8443"
    after = run_step(api, "ValidateApplication", app_id, "Verified_Success")
    assert after["Checklist"][0]["Specification"] == "ecs.c7.large"


@pytest.mark.parametrize("values, raw, code, field", [
    ({"nope": "x"}, False, "InvalidParameter", "Variables.nope"),
    ({"listener_port": "80"}, False, "InvalidParameter", "Variables.listener_port"),
    ({"${instance_type}": 7}, False, "InvalidParameter", "Variables.instance_type"),
    ({"listener_port": 1, "${listener_port}": 2}, False, "InvalidParameter", "Variables"),
    ("[1, 2]", True, "InvalidParameter", "Variables"),
    ("{not json", True, "InvalidParameter", "Variables"),
    ({"instance_type": "x" * (64 * 1024)}, False, "InvalidParameter", "Variables"),
    ({}, False, "MissingParameter", "Variables"),
])
def test_reconfig_refuses_bad_variables_and_changes_nothing(api, values, raw, code, field):
    app_id = create(api)
    run_step(api, "ValidateApplication", app_id, "Verified_Success")
    e = refused(lambda: reconfig(api, app_id, values, raw), 400, code)
    assert field in e.message, e.message
    assert get(api, app_id)["Status"] == "Verified_Success"
    assert variables(api, app_id)["${instance_type}"] == "ecs.g7.large"


def test_reconfig_refusals_by_application_and_ram(api, client, server):
    app_id = create(api, resource_group_id=RESOURCE_GROUP)
    change = {"listener_port": 81}
    refused(lambda: reconfig(api, "NOSUCHAPP0000000", change),
            404, "InvalidApplicationId.NotFound")
    refused(lambda: reconfig(client(server, ROOT_KEY_B), app_id, change),
            404, "InvalidApplicationId.NotFound")
    refused(lambda: api.call("ReConfigApplication", variables=json.dumps(change)),
            400, "MissingParameter")
    denied(lambda: reconfig(client(server, user_key("no-changes")), app_id, change),
           "ReConfigApplication", "ExplicitDeny")
    denied(lambda: reconfig(client(server, user_key("dev-user")), app_id, change),
           "ReConfigApplication")
    assert variables(api, app_id)["${listener_port}"] == "80"
    assert_ok(reconfig(client(server, user_key("prod-user")), app_id, change))
    assert variables(api, app_id)["${listener_port}"] == "81"


def test_reconfig_is_refused_once_deployment_starts(api):
    e = refused(lambda: reconfig(api, APP, {"instance_type": "ecs.c7.large"}),
                409, "IncorrectApplicationStatus")
    assert "Deployed_Success" in e.message
    app_id = deploying(api)
    e = refused(lambda: reconfig(api, app_id, {"instance_type": "ecs.c7.large"}),
                409, "IncorrectApplicationStatus")
    assert "Deploying" in e.message
    assert settled(api, app_id)["Status"] == "Deployed_Success"
    refused(lambda: reconfig(api, app_id, {"instance_type": "ecs.c7.large"}),
            409, "IncorrectApplicationStatus")
    assert variables(api, app_id)["${instance_type}"] == "ecs.g7.large"


# -- DeleteApplication while a step runs ---------------------------------------------------

def test_delete_while_a_deploy_runs_is_refused_and_the_deploy_completes(api):
    app_id = deploying(api)
    e = refused(lambda: api.call("DeleteApplication", application_id=app_id),
                409, "IncorrectApplicationStatus")
    assert "Deploying" in e.message
    assert get(api, app_id)["Status"] == "Deploying"
    data = settled(api, app_id)
    assert (data["Status"], data["DeployPercent"]) == ("Deployed_Success", 100), data
    [instance] = data["ResourceList"]
    assert instance["Status"] == "Running", instance
