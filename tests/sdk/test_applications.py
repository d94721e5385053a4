"""The application family as the SDKs see it: templates (built-in and configured), creating,
reading, listing and deleting applications, their lifecycle steps (validate, valuate,
deploy, release) and the Terraform provider's sequence through them, their errors,
ClientToken idempotency, RAM (by application and by resource group), tenancy, and operations
acting in applications."""

import itertools
import re

import pytest

from harness import (ACCOUNT_A, APP, RESOURCE_GROUP, ROOT_KEY_B, ApiError, add_users,
                     assert_failure, assert_ok, assert_success, build_config, denied,
                     get_application as get, policy_document, refused, settled, user_key)

DEV_GROUP = "rg-dev"
APP_ID_RE = re.compile(r"^[0-9A-Z]{16}$")
CREATE_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
WEB_ARN = f"acs:bpstudio::{ACCOUNT_A}:application/{APP}"

CUSTOM_TEMPLATE = {
    "id": "tpl-api",
    "name": "API servers",
    "description": "Instances of a chosen size.",
    "variables": [
        {"name": "size", "type": "string", "description": "The instance type."},
        {"name": "count", "type": "number", "default": 2},
    ],
    "nodes": [
        {"name": "api", "service": "ecs",
         "properties": {"instance_name": "api", "instance_type": "${size}"}},
    ],
}

# user name -> (account, [(policy, scope)], active)
USERS = {
    "app-admin": (ACCOUNT_A, [("Everything", "account")], True),
    "not-on-web": (ACCOUNT_A, [("Everything", "account"), ("NoGetOnWeb", "account")], True),
    "prod-denied": (ACCOUNT_A, [("Everything", "account"), ("DenyAll", RESOURCE_GROUP)], True),
    "prod-operator": (ACCOUNT_A, [("Everything", RESOURCE_GROUP)], True),
    "no-steps": (ACCOUNT_A, [("Everything", "account"), ("NoSteps", "account")], True),
}

POLICIES = {(ACCOUNT_A, name): doc for name, doc in {
    "Everything": policy_document({"Effect": "Allow", "Action": "bpstudio:*", "Resource": "*"}),
    "NoGetOnWeb": policy_document({"Effect": "Deny", "Action": "bpstudio:GetApplication",
                                   "Resource": WEB_ARN}),
    "DenyAll": policy_document({"Effect": "Deny", "Action": "bpstudio:*", "Resource": "*"}),
    "NoSteps": policy_document({"Effect": "Deny",
                                "Action": ["bpstudio:ValidateApplication",
                                           "bpstudio:ValuateApplication",
                                           "bpstudio:DeployApplication",
                                           "bpstudio:ReleaseApplication"],
                                "Resource": f"acs:bpstudio::{ACCOUNT_A}:application/*"}),
}.items()}


@pytest.fixture(scope="module")
def server(start):
    config = build_config(second_account=True)
    config["resource_groups"].append({"account": ACCOUNT_A, "id": DEV_GROUP})
    config["templates"] = [CUSTOM_TEMPLATE]
    config["pricing"] = {"ecs": {"ecs.configured": 3.25}}
    add_users(config, USERS, POLICIES)
    return start(config)


_names = itertools.count()


def unique(prefix: str = "app") -> str:
    """An application name no other test on this server uses."""
    return f"{prefix}-{next(_names)}"


def create(api, name: str | None = None, template_id: str = "web-tier", **params) -> str:
    body = api.call("CreateApplication", name=name or unique(), template_id=template_id,
                    **params)
    assert_ok(body)
    app_id = body["Data"]
    assert isinstance(app_id, str) and APP_ID_RE.match(app_id), body
    return app_id


def listed(api, **params) -> tuple[list[str], dict]:
    body = api.call("ListApplication", **params)
    assert_ok(body)
    return [item["ApplicationId"] for item in body.get("Data") or []], body


# -- templates ---------------------------------------------------------------------------

def test_list_template_shows_built_in_and_configured_templates(api):
    body = api.call("ListTemplate", max_results=50)
    assert_ok(body)
    ids = [t["TemplateId"] for t in body["Data"]]
    assert {"ecs-instance", "web-tier", "tpl-api"} <= set(ids), body
    assert body["TotalCount"] == len(ids)
    assert "NextToken" not in body or body["NextToken"] is None, body

    first = api.call("ListTemplate", max_results=1)
    assert len(first["Data"]) == 1 and first["NextToken"] == 2, first
    second = api.call("ListTemplate", max_results=1, next_token=2)
    assert second["Data"][0]["TemplateId"] == ids[1], second


def test_get_template_shows_its_variables(api):
    body = api.call("GetTemplate", template_id="tpl-api")
    assert_ok(body)
    data = body["Data"]
    assert (data["TemplateId"], data["Name"]) == ("tpl-api", "API servers"), data
    variables = {v["Variable"]: v for v in data["Variables"]}
    assert variables["size"]["DataType"] == "string"
    assert variables["size"]["Attribute"] == "The instance type."
    assert variables["size"].get("DefaultValue") is None
    assert (variables["count"]["DataType"], variables["count"]["DefaultValue"]) == \
        ("number", "2")


def test_get_template_of_an_unknown_id_is_not_found(api):
    refused(lambda: api.call("GetTemplate", template_id="no-such-template"),
            404, "InvalidTemplateId.NotFound")


# -- create and get ----------------------------------------------------------------------

def test_a_created_application_is_modified_with_every_field(api):
    name = unique("web")
    app_id = create(api, name, resource_group_id=DEV_GROUP, area_id="cn-hangzhou",
                    variables={"listener_port": 8080}, configuration={"enableMonitor": "1"})
    data = get(api, app_id)
    assert data["ApplicationId"] == app_id
    assert (data["Name"], data["Status"], data["TemplateId"]) == (name, "Modified", "web-tier")
    assert data["ResourceGroupId"] == DEV_GROUP
    assert CREATE_TIME_RE.match(data["CreateTime"]), data
    assert data["DeployPercent"] == 0
    assert data["Error"] == ""
    assert (data["Checklist"], data["PriceList"], data["ResourceList"]) == ([], [], [])


@pytest.mark.parametrize("name", ["a", "1abc", "-abc", "http://app", "https://app",
                                  "web tier", "x" * 129])
def test_create_refuses_a_name_against_the_rules(api, name):
    e = refused(lambda: create(api, name), 400, "InvalidParameter")
    assert "Name" in e.message


def test_create_refuses_a_name_in_use(api):
    name = unique("dup")
    create(api, name)
    refused(lambda: create(api, name), 409, "InvalidApplicationName.Duplicate")
    refused(lambda: create(api, APP), 409, "InvalidApplicationName.Duplicate")


def test_create_refuses_an_unknown_template(api):
    refused(lambda: create(api, template_id="no-such-template"),
            404, "InvalidTemplateId.NotFound")


@pytest.mark.parametrize("template_id, variables, field", [
    ("web-tier", {"nope": 1}, "Variables.nope"),
    ("web-tier", {"listener_port": "80"}, "Variables.listener_port"),
    ("tpl-api", {}, "Variables.size"),
])
def test_create_checks_variables_against_the_template(api, template_id, variables, field):
    e = refused(lambda: create(api, template_id=template_id, variables=variables),
                400, "InvalidParameter")
    assert field in e.message, e.message


def test_create_takes_the_defaults_of_variables_left_out(api):
    app_id = create(api, template_id="tpl-api", variables={"size": "ecs.g7.xlarge"})
    assert get(api, app_id)["Status"] == "Modified"


def test_create_refuses_a_resource_group_of_no_account_of_the_caller(api):
    e = refused(lambda: create(api, resource_group_id="rg-b"), 400, "InvalidParameter")
    assert "ResourceGroupId" in e.message


def test_client_token_returns_the_first_application_or_refuses_other_parameters(api):
    token = unique("token")
    name = unique("idem")
    first = create(api, name, client_token=token)
    assert create(api, name, client_token=token) == first
    refused(lambda: create(api, name, client_token=token, variables={"listener_port": 81}),
            400, "IdempotentParameterMismatch")
    ids, _ = listed(api, keyword=name, max_results=50)
    assert ids == [first]


# -- delete ------------------------------------------------------------------------------

def test_a_deleted_application_is_not_found_by_any_action(api):
    name = unique("gone")
    app_id = create(api, name)
    body = api.call("DeleteApplication", application_id=app_id)
    assert_ok(body)
    refused(lambda: get(api, app_id), 404, "InvalidApplicationId.NotFound")
    refused(lambda: api.call("DeleteApplication", application_id=app_id),
            404, "InvalidApplicationId.NotFound")
    assert app_id not in listed(api, keyword=name)[0]
    # Its name is free again.
    create(api, name)


def test_a_deployed_application_cannot_be_deleted(api):
    e = refused(lambda: api.call("DeleteApplication", application_id=APP),
                409, "IncorrectApplicationStatus")
    assert "Deployed_Success" in e.message
    assert get(api, APP)["Status"] == "Deployed_Success"


def test_an_unknown_application_is_not_found(api):
    for action in ("GetApplication", "DeleteApplication"):
        refused(lambda: api.call(action, application_id="NOSUCHAPP0000000"),
                404, "InvalidApplicationId.NotFound")


# -- seeded applications and operations ----------------------------------------------------

def test_a_seeded_application_is_deployed_and_lists_its_resources_as_operations_left_them(
        api, server):
    instance = server.fresh_instance()
    data = api.run("ecs", "rename", {"instanceId": instance, "instance_name": f"renamed-{instance}"})
    assert_success(data)
    app = get(api, APP)
    assert (app["Status"], app["ResourceGroupId"]) == ("Deployed_Success", RESOURCE_GROUP)
    resources = {r["ResourceId"]: r for r in app["ResourceList"]}
    assert resources["i-web1"]["ResourceType"] == "ecs"
    assert resources["i-web1"]["Status"] == "Running"
    assert resources[instance]["ResourceName"] == f"renamed-{instance}"
    assert resources["lb-web"]["ResourceType"] == "slb"


def test_an_application_created_through_the_api_is_usable_at_once(api):
    app_id = create(api)
    # Its id is accepted where an application is named (the target does not exist, so the
    # operation is stored in it and fails when it runs).
    data = api.run("ecs", "addTags", {"instanceId": "i-nowhere", "tags": {"a": "b"}},
                   application_id=app_id)
    assert_failure(data, "InstanceNotFound")
    refused(lambda: api.submit("ecs", "addTags", {"instanceId": "i-nowhere",
                                                  "tags": {"a": "b"}},
                               application_id="NOSUCHAPP0000000"),
            404, "InvalidApplicationId.NotFound")


# -- list --------------------------------------------------------------------------------

def test_list_application_filters_and_pages_by_number(api):
    prefix = unique("page")
    created = [create(api, f"{prefix}-{n}", resource_group_id=DEV_GROUP) for n in range(3)]
    other = create(api, f"{prefix}-api", template_id="tpl-api", variables={"size": "s"})

    ids, body = listed(api, keyword=prefix, template_id="web-tier", max_results=2,
                       order_type=2)
    assert ids == created[::-1][:2], body
    assert (body["TotalCount"], body["NextToken"]) == (3, 2), body
    ids, body = listed(api, keyword=prefix, template_id="web-tier", max_results=2,
                       next_token=2, order_type=2)
    assert ids == created[:1], body
    assert body["TotalCount"] == 3 and body.get("NextToken") is None, body
    item = body["Data"][0]
    assert (item["Name"], item["Status"], item["ResourceGroupId"]) == \
        (f"{prefix}-0", "Modified", DEV_GROUP)
    assert CREATE_TIME_RE.match(item["CreateTime"]), item

    assert listed(api, keyword=prefix, template_id="tpl-api")[0] == [other]
    assert listed(api, keyword=prefix, status="Modified", max_results=50)[1]["TotalCount"] == 4
    assert listed(api, keyword=prefix, status="success")[0] == []
    assert APP in listed(api, status="success", max_results=50)[0]
    assert listed(api, resource_id="i-web1")[0] == [APP]
    assert set(listed(api, keyword=prefix, resource_group_id=DEV_GROUP)[0]) == set(created)


@pytest.mark.parametrize("params", [{"max_results": 51}, {"max_results": 0},
                                    {"next_token": 0}, {"order_type": 3},
                                    {"status": "Nonsense"}])
def test_list_application_refuses_out_of_range_parameters(api, params):
    refused(lambda: api.call("ListApplication", **params), 400, "InvalidParameter")


# -- tenancy and RAM ---------------------------------------------------------------------

def test_another_accounts_applications_are_not_found(api, client, server):
    app_id = create(api)
    other = client(server, ROOT_KEY_B)
    refused(lambda: get(other, app_id), 404, "InvalidApplicationId.NotFound")
    refused(lambda: other.call("DeleteApplication", application_id=app_id),
            404, "InvalidApplicationId.NotFound")
    ids, _ = listed(other, max_results=50)
    assert ids == ["APP-B"]
    assert get(api, app_id)["ApplicationId"] == app_id


def test_a_deny_on_one_application_denies_it_only(client, server, api):
    user = client(server, user_key("not-on-web"))
    denied(lambda: get(user, APP), "GetApplication", "ExplicitDeny")
    app_id = create(user)
    assert get(user, app_id)["ApplicationId"] == app_id


def test_a_deny_scoped_to_a_group_applies_whether_it_is_named_or_not(client, server):
    user = client(server, user_key("prod-denied"))
    denied(lambda: get(user, APP), "GetApplication", "ExplicitDeny")
    denied(lambda: get(user, APP, resource_group_id=RESOURCE_GROUP), "GetApplication",
           "ExplicitDeny")
    # A listing naming no group may show the group's applications.
    denied(lambda: user.call("ListApplication"), "ListApplication", "ExplicitDeny")
    denied(lambda: create(user, resource_group_id=RESOURCE_GROUP), "CreateApplication",
           "ExplicitDeny")
    app_id = create(user, resource_group_id=DEV_GROUP)
    assert get(user, app_id)["ResourceGroupId"] == DEV_GROUP
    assert app_id in listed(user, resource_group_id=DEV_GROUP, max_results=50)[0]


def test_a_grant_scoped_to_a_group_counts_when_the_group_is_named(client, server):
    user = client(server, user_key("prod-operator"))
    assert get(user, APP, resource_group_id=RESOURCE_GROUP)["ApplicationId"] == APP
    denied(lambda: get(user, APP), "GetApplication")
    assert APP in listed(user, resource_group_id=RESOURCE_GROUP, max_results=50)[0]
    denied(lambda: user.call("ListApplication"), "ListApplication")
    denied(lambda: create(user), "CreateApplication")
    app_id = create(user, resource_group_id=RESOURCE_GROUP)
    assert get(user, app_id, resource_group_id=RESOURCE_GROUP)["Status"] == "Modified"
    assert app_id in listed(user, resource_group_id=RESOURCE_GROUP, max_results=50)[0]
    # Templates are in no group: a grant scoped to one does not reach them.
    denied(lambda: user.call("ListTemplate", resource_group_id=RESOURCE_GROUP), "ListTemplate")


def test_an_application_outside_the_named_group_answers_as_unknown(api):
    app_id = create(api, resource_group_id=DEV_GROUP)
    refused(lambda: get(api, app_id, resource_group_id=RESOURCE_GROUP),
            404, "InvalidApplicationId.NotFound")
    refused(lambda: api.call("DeleteApplication", application_id=app_id,
                             resource_group_id=RESOURCE_GROUP),
            404, "InvalidApplicationId.NotFound")


# -- lifecycle steps ---------------------------------------------------------------------

REGION = "cn-hangzhou"


def step(api, action: str, app_id: str, **params):
    body = api.call(action, application_id=app_id, **params)
    assert_ok(body)
    return body["Data"]


def validated(api, **params) -> str:
    app_id = create(api, area_id=REGION, **params)
    step(api, "ValidateApplication", app_id)
    assert settled(api, app_id)["Status"] == "Verified_Success"
    return app_id


def test_validate_checks_every_node_and_runs_as_an_operation(api):
    app_id = create(api, area_id=REGION)
    op_id = step(api, "ValidateApplication", app_id)
    assert isinstance(op_id, str) and op_id.startswith("op_"), op_id
    data = settled(api, app_id)
    assert data["Status"] == "Verified_Success", data
    assert [c["ResourceName"] for c in data["Checklist"]] == ["web-1", "web-2", "lb"]
    assert {c["Result"] for c in data["Checklist"]} == {"Success"}
    assert data["Checklist"][0]["Specification"] == "ecs.g7.large"
    assert data["Checklist"][2]["ResourceCode"] == "slb"
    assert all(c["Region"] == REGION for c in data["Checklist"])
    result, _ = api.wait(op_id)
    assert result["Status"] == "SUCCESS", result


def test_validate_fails_an_application_without_a_known_region(api):
    app_id = create(api)
    step(api, "ValidateApplication", app_id)
    data = settled(api, app_id)
    assert data["Status"] == "Verified_Failure", data
    assert "AreaId" in data["Error"], data
    assert {c["Result"] for c in data["Checklist"]} == {"Failure"}
    # A failed validation may be repeated, but not valuated.
    refused(lambda: api.call("ValuateApplication", application_id=app_id),
            409, "IncorrectApplicationStatus")
    step(api, "ValidateApplication", app_id)
    assert settled(api, app_id)["Status"] == "Verified_Failure"


def test_valuate_prices_every_node(api):
    app_id = validated(api)
    assert step(api, "ValuateApplication", app_id) == 1
    data = settled(api, app_id)
    assert data["Status"] == "Valuating_Success", data
    prices = data["PriceList"]
    assert [p["InstanceName"] for p in prices] == ["web-1", "web-2", "lb"]
    assert prices[0]["Specification"] == "ecs.g7.large" and prices[0]["Price"] > 0
    assert prices[2]["ResourceCode"] == "slb" and prices[2]["Price"] > 0
    # The checklist stays as validation left it.
    assert len(data["Checklist"]) == 3


def test_valuate_reads_the_configured_prices(api):
    app_id = validated(api, template_id="tpl-api", variables={"size": "ecs.configured"})
    step(api, "ValuateApplication", app_id)
    data = settled(api, app_id)
    assert data["Status"] == "Valuating_Success", data
    [price] = data["PriceList"]
    assert (price["Specification"], price["Price"]) == ("ecs.configured", 3.25), price


def test_valuate_fails_a_node_without_a_price(api):
    app_id = validated(api, template_id="tpl-api", variables={"size": "ecs.unpriced"})
    step(api, "ValuateApplication", app_id)
    data = settled(api, app_id)
    assert data["Status"] == "Valuating_Failure", data
    assert "ecs.unpriced" in data["Error"], data


def test_a_step_in_the_wrong_status_is_refused_and_changes_nothing(api):
    app_id = create(api, area_id=REGION)
    e = refused(lambda: api.call("ValuateApplication", application_id=app_id),
                409, "IncorrectApplicationStatus")
    assert "Modified" in e.message
    assert get(api, app_id)["Status"] == "Modified"
    for action in ("DeployApplication", "ReleaseApplication"):
        refused(lambda: api.call(action, application_id=app_id),
                409, "IncorrectApplicationStatus")
    assert get(api, app_id)["Status"] == "Modified"
    for action in ("ValidateApplication", "DeployApplication"):
        refused(lambda: api.call(action, application_id=APP),
                409, "IncorrectApplicationStatus")
    assert get(api, APP)["Status"] == "Deployed_Success"


def test_client_token_returns_the_first_step_or_refuses_another(api):
    app_id = create(api, area_id=REGION)
    token = f"validate-{app_id}"
    first = step(api, "ValidateApplication", app_id, client_token=token)
    assert step(api, "ValidateApplication", app_id, client_token=token) == first
    settled(api, app_id)
    assert step(api, "ValidateApplication", app_id, client_token=token) == first
    refused(lambda: api.call("ValuateApplication", application_id=app_id,
                             client_token=token),
            400, "IdempotentParameterMismatch")
    assert get(api, app_id)["Status"] == "Verified_Success"


def test_steps_are_authorized_on_the_application(client, server, api):
    user = client(server, user_key("no-steps"))
    app_id = create(user, area_id=REGION)
    denied(lambda: user.call("ValidateApplication", application_id=app_id),
           "ValidateApplication", "ExplicitDeny")
    for action in ("ValuateApplication", "DeployApplication", "ReleaseApplication"):
        denied(lambda: user.call(action, application_id=app_id), action, "ExplicitDeny")
    assert get(api, app_id)["Status"] == "Modified"


def test_another_accounts_application_cannot_be_stepped(api, client, server):
    app_id = create(api, area_id=REGION)
    other = client(server, ROOT_KEY_B)
    for action in ("ValidateApplication", "ValuateApplication", "DeployApplication",
                   "ReleaseApplication"):
        refused(lambda: other.call(action, application_id=app_id),
                404, "InvalidApplicationId.NotFound")
    assert get(api, app_id)["Status"] == "Modified"


def test_steps_cannot_be_submitted_as_operations(api):
    app_id = create(api, area_id=REGION)
    with pytest.raises(ApiError) as err:
        api.execute_async("bpstudio", "validateApplication", {}, application_id=app_id)
    assert (err.value.status, err.value.code) == (400, "InvalidParameter"), err.value


def valuated(api) -> str:
    app_id = validated(api)
    step(api, "ValuateApplication", app_id)
    assert settled(api, app_id)["Status"] == "Valuating_Success"
    return app_id


def test_deploy_creates_every_node_and_release_deletes_them(api):
    app_id = valuated(api)
    token = f"deploy-{app_id}"
    assert step(api, "DeployApplication", app_id, client_token=token) == 1
    assert step(api, "DeployApplication", app_id, client_token=token) == 1
    data = settled(api, app_id)
    assert data["Status"] == "Deployed_Success", data
    assert data["DeployPercent"] == 100
    resources = data["ResourceList"]
    assert sorted(r["ResourceName"] for r in resources if r["ResourceCode"] == "ecs") == [
        "web-1", "web-2"]
    assert [r["ResourceCode"] for r in resources].count("slb") == 1, resources
    for r in resources:
        assert re.match(r"^(i|lb)-[0-9a-z]{20}$", r["ResourceId"]), r
    # The same token on another step is another request.
    refused(lambda: api.call("ReleaseApplication", application_id=app_id,
                             client_token=token),
            400, "IdempotentParameterMismatch")
    refused(lambda: api.call("DeleteApplication", application_id=app_id),
            409, "IncorrectApplicationStatus")

    assert step(api, "ReleaseApplication", app_id) == 1
    data = settled(api, app_id)
    assert data["Status"] == "Destroyed_Success", data
    assert data.get("ResourceList") in (None, []), data
    instance = next(r["ResourceId"] for r in resources if r["ResourceCode"] == "ecs")
    result = api.run("ecs", "rename", {"instanceId": instance, "instance_name": "gone"},
                     application_id=app_id)
    assert_failure(result, "InstanceNotFound")
    body = api.call("DeleteApplication", application_id=app_id)
    assert_ok(body)


def test_the_terraform_providers_sequence(api):
    """alicloud_bp_studio_application: create, then each step polled through GetApplication
    until its status, an operation on a deployed instance, then release and delete."""
    body = api.call("CreateApplication", name=unique("tf"), template_id="ecs-instance",
                    area_id=REGION, variables={"instance_name": "tf-web"})
    assert_ok(body)
    app_id = body["Data"]
    assert settled(api, app_id)["Status"] == "Modified"
    for action, status in (("ValidateApplication", "Verified_Success"),
                           ("ValuateApplication", "Valuating_Success"),
                           ("DeployApplication", "Deployed_Success")):
        step(api, action, app_id)
        assert settled(api, app_id)["Status"] == status, action
    data = get(api, app_id)
    [instance] = data["ResourceList"]
    assert (instance["ResourceName"], instance["Status"]) == ("tf-web", "Running"), instance
    assert_success(api.run("ecs", "rename",
                           {"instanceId": instance["ResourceId"], "instance_name": "tf-api"},
                           application_id=app_id))
    [renamed] = get(api, app_id)["ResourceList"]
    assert renamed["ResourceName"] == "tf-api", renamed
    step(api, "ReleaseApplication", app_id)
    assert settled(api, app_id)["Status"] == "Destroyed_Success"
    assert_ok(api.call("DeleteApplication", application_id=app_id))
    refused(lambda: get(api, app_id), 404, "InvalidApplicationId.NotFound")
