"""The audit trail as the SDKs see it, through LookupEvents: every call is recorded, denied
ones with their code, badly signed ones as unverified claims, never a secret; reading it is a
RAM action of its own; an account reads only its own records; bad filters are refused."""

import base64
import hashlib
import hmac
import sqlite3
import time

import pytest

from harness import (ACCOUNT_A, ACCOUNT_B, APP, ROOT_KEY_A, ROOT_KEY_B, ApiError, add_users,
                     assert_ok, build_config, policy_document, user_key)

AUDIT_ARN = f"acs:bpstudio::{ACCOUNT_A}:audit/*"

USERS = {
    # May read the trail, and nothing else.
    "auditor": (ACCOUNT_A, [("ReadTrail", "account")], True),
    # May run and read operations, but not read the trail.
    "operator": (ACCOUNT_A, [("RunOperations", "account")], True),
}

POLICIES = {
    (ACCOUNT_A, "ReadTrail"): policy_document(
        {"Effect": "Allow", "Action": "bpstudio:LookupEvents", "Resource": AUDIT_ARN}),
    (ACCOUNT_A, "RunOperations"): policy_document(
        {"Effect": "Allow", "Action": ["bpstudio:Execute*", "bpstudio:Get*",
                                       "bpstudio:List*"], "Resource": "*"}),
}

PASSWORD = "hunter2-never-stored"


@pytest.fixture(scope="module")
def server(start):
    config = build_config(second_account=True)
    add_users(config, USERS, POLICIES)
    return start(config)


def attributes(**filters) -> dict:
    """LookupAttribute.N.Key / .Value parameters for `filters`."""
    params = {}
    for n, (key, value) in enumerate(filters.items(), start=1):
        params[f"LookupAttribute.{n}.Key"] = key
        params[f"LookupAttribute.{n}.Value"] = value
    return params


def lookup(api, **params) -> dict:
    body = api.extension("LookupEvents", **params)
    assert_ok(body)
    return body["Data"]


def events_until(api, found, timeout: float = 5.0, **params) -> list[dict]:
    """The Events of a lookup, asked again until `found(events)`: records are written a
    moment after their request is answered."""
    deadline = time.monotonic() + timeout
    while True:
        events = lookup(api, **params)["Events"]
        if found(events):
            return events
        assert time.monotonic() < deadline, f"not in the trail after {timeout}s: {events}"
        time.sleep(0.05)


def refused(call) -> ApiError:
    with pytest.raises(ApiError) as err:
        call()
    return err.value


def with_request_id(request_id):
    return lambda events: any(e["RequestId"] == request_id for e in events)


def the_event(events, request_id) -> dict:
    (event,) = [e for e in events if e["RequestId"] == request_id]
    return event


def test_a_denied_call_appears_with_its_code_and_who_made_it(api, client, server):
    operator = client(server, user_key("operator"))
    e = refused(lambda: operator.extension("LookupEvents"))
    assert (e.status, e.code) == (403, "NoPermission"), e
    events = events_until(api, with_request_id(e.request_id),
                          **attributes(User="operator", ResultCode="NoPermission"))
    event = the_event(events, e.request_id)
    assert event["EventName"] == "LookupEvents"
    assert event["HttpStatus"] == 403
    assert event["ResourceName"] == AUDIT_ARN
    assert event["SourceIpAddress"] == "127.0.0.1"
    identity = event["UserIdentity"]
    assert identity == {"Type": "ram-user", "AccountId": ACCOUNT_A, "UserName": "operator",
                        "AccessKeyId": user_key("operator")[0], "Verified": True}, identity


def test_a_bad_signature_appears_as_an_unverified_claim(api, client, server):
    forger = client(server, (ROOT_KEY_A[0], "not-the-secret"))
    e = refused(forger.list_services)
    assert e.code == "SignatureDoesNotMatch", e
    events = events_until(api, with_request_id(e.request_id),
                          **attributes(EventAccessKeyId=ROOT_KEY_A[0],
                                       ResultCode="SignatureDoesNotMatch"))
    event = the_event(events, e.request_id)
    assert event["EventName"] == "ListServices"
    assert event["HttpStatus"] == 400
    assert event["UserIdentity"] == {"Type": "unverified", "AccountId": ACCOUNT_A,
                                     "AccessKeyId": ROOT_KEY_A[0], "Verified": False}


def test_secrets_are_never_stored(api, server, mode):
    try:
        body = api.execute_async(
            "ecs", "rename", {"instanceId": server.fresh_instance(),
                              "instance_name": "audited", "password": PASSWORD},
            application_id=APP)
        request_id = body["RequestId"]
    except ApiError as e:  # an attribute the schema does not know is refused, and recorded
        request_id = e.request_id
    events = events_until(api, with_request_id(request_id),
                          **attributes(EventName="ExecuteOperationASync"))
    parameters = the_event(events, request_id)["RequestParameters"]
    assert parameters["Attributes"]["password"] == "******", parameters
    assert parameters["Attributes"]["instance_name"] == "audited", parameters
    if mode != "acs3":  # the RPC signature travels as a parameter
        assert parameters["Signature"] == "******", parameters

    # The whole stored trail, every column of every row, holds no secret.
    signatures = []
    if mode == "classic":
        string_to_sign = api.classic_string_to_sign()
        mac = hmac.new(f"{ROOT_KEY_A[1]}&".encode(), string_to_sign.encode(), hashlib.sha1)
        signatures.append(base64.b64encode(mac.digest()).decode())
    # `bpops serve --data` (as the harness starts it) keeps the database there.
    db = sqlite3.connect(f"file:{server.workdir / 'data' / 'bpops.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT * FROM audit_events").fetchall()
    finally:
        db.close()
    trail = "\n".join(repr(row) for row in rows)
    assert request_id in trail
    for secret in [PASSWORD, ROOT_KEY_A[1], ROOT_KEY_B[1], user_key("operator")[1],
                   *signatures]:
        assert secret not in trail, f"{secret!r} is in the stored trail"


def test_a_reader_of_the_trail_can_read_it_but_run_nothing(client, server):
    auditor = client(server, user_key("auditor"))
    data = lookup(auditor, MaxResults="5")
    assert len(data["Events"]) <= 5 and data["MaxResults"] == 5
    e = refused(lambda: auditor.execute_async(
        "ecs", "rename", {"instanceId": server.fresh_instance(), "instance_name": "no"},
        application_id=APP))
    assert (e.status, e.code) == (403, "NoPermission"), e


def test_another_accounts_records_are_invisible(api, client, server):
    other = client(server, ROOT_KEY_B)
    request_id = other.list_services()["RequestId"]
    mine = events_until(other, with_request_id(request_id),
                        **attributes(EventAccessKeyId=ROOT_KEY_B[0]))
    assert all(e["UserIdentity"]["AccountId"] == ACCOUNT_B for e in mine), mine
    # Account A, asking for B's key, sees nothing of it, whatever it asks.
    assert lookup(api, **attributes(EventAccessKeyId=ROOT_KEY_B[0]))["Events"] == []
    assert lookup(other, **attributes(User="operator"))["Events"] == []


def test_pages_run_newest_first_without_repeats(api, client, server):
    auditor = client(server, user_key("auditor"))
    ids = [auditor.extension("LookupEvents", MaxResults="1")["RequestId"] for _ in range(3)]
    events_until(api, with_request_id(ids[-1]),
                 **attributes(EventAccessKeyId=user_key("auditor")[0]))
    seen, token = [], None
    while True:
        data = lookup(api, MaxResults="2", NextToken=token,
                      **attributes(EventAccessKeyId=user_key("auditor")[0]))
        assert len(data["Events"]) <= 2
        seen += data["Events"]
        token = data.get("NextToken")
        if not token:
            break
    request_ids = [e["RequestId"] for e in seen]
    assert len(request_ids) == len(set(request_ids)), request_ids
    positions = [request_ids.index(i) for i in ids]
    assert positions == sorted(positions, reverse=True), (ids, request_ids)
    times = [e["EventTime"] for e in seen]
    assert times == sorted(times, reverse=True), times


@pytest.mark.parametrize("params", [
    {"MaxResults": "0"},
    {"MaxResults": "51"},
    {"StartTime": "yesterday"},
    {"StartTime": "2026-11-28T08:00:00Z", "EndTime": "2026-11-28T07:00:00Z"},
    {"NextToken": "not-a-token"},
    attributes(Password="x"),
    {"LookupAttribute.1.Key": "User"},
    {"LookupAttribute.9.Key": "User", "LookupAttribute.9.Value": "root"},
    attributes(User="x" * 129),
], ids=["max0", "max51", "start", "end-before-start", "token", "key", "no-value", "n9",
        "too-long"])
def test_bad_filters_are_refused(api, params):
    e = refused(lambda: api.extension("LookupEvents", **params))
    assert (e.status, e.code) == (400, "InvalidParameter"), e


def test_the_time_range_bounds_what_is_found(api):
    request_id = api.list_services()["RequestId"]
    events_until(api, with_request_id(request_id), StartTime="2020-01-01T00:00:00Z")
    assert lookup(api, EndTime="2020-01-01T00:00:00Z")["Events"] == []
    assert lookup(api, StartTime="2099-01-01T00:00:00Z")["Events"] == []


def test_the_application_family_names_its_application_and_resource(api):
    """GetApplicationVariables names the application `AppId`, and is checked with a
    permission of its own: both show in its record."""
    body = api.call("GetApplicationVariables", app_id=APP)
    assert_ok(body)
    request_id = body["RequestId"]
    events = events_until(api, with_request_id(request_id),
                          **attributes(EventName="GetApplicationVariables"))
    event = the_event(events, request_id)
    assert event["ApplicationId"] == APP, event
    assert event["ResourceName"] == f"acs:bpstudio::{ACCOUNT_A}:application/{APP}", event
