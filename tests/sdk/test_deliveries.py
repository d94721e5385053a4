"""ListNotificationDeliveries, the bpops extension action that shows the webhook deliveries
of the caller's operations and applications, through the official SDKs (tea's generic
call_api, the classic CommonRequest): each event delivered to a receiver that checks its
signature, with its attempts; an application's changes in order; filtered and paged; under
its own RAM action and the tenancy of GetExecuteOperationResult."""

import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import (ACCOUNT_A, APP, REGION, RESOURCE_GROUP, ROOT_KEY_B, ApiError, add_users,
                     assert_ok, build_config, policy_document, random_operation_id, user_key)

ACTION = "ListNotificationDeliveries"
SECRET = "sdk-webhook-secret"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

USERS = {
    "results-only": (ACCOUNT_A, [("ReadResults", "account")], True),
    "deliveries-reader": (ACCOUNT_A, [("ReadDeliveries", "account")], True),
}
POLICIES = {
    (ACCOUNT_A, "ReadResults"): policy_document(
        {"Effect": "Allow", "Action": "bpstudio:GetExecuteOperationResult", "Resource": "*"}),
    (ACCOUNT_A, "ReadDeliveries"): policy_document(
        {"Effect": "Allow", "Action": f"bpstudio:{ACTION}", "Resource": "*"}),
}


class Receiver(BaseHTTPRequestHandler):
    """Accepts every delivery whose signature checks out, and records it."""
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers["X-Bpops-Timestamp"]
        expected = "sha256=" + hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body,
                                        hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(expected, self.headers["X-Bpops-Signature"])
        Receiver.received.append({"signed": signed, "key": self.headers["Idempotency-Key"],
                                  "body": json.loads(body)})
        self.send_response(204 if signed else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/events"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(start, receiver):
    config = build_config(second_account=True)
    config["notifications"] = [{"name": "audit-hook", "url": receiver, "secret": SECRET}]
    add_users(config, USERS, POLICIES)
    return start(config)


def rename(api, server) -> str:
    body = api.execute_async("ecs", "rename",
                             {"instanceId": server.fresh_instance(), "instance_name": "hooked"},
                             application_id=APP)
    assert_ok(body)
    return body["Data"]


def delivered(api, op_id: str) -> list[dict]:
    """The operation's deliveries, once both its events are delivered."""
    deadline = time.monotonic() + 10
    while True:
        body = api.extension(ACTION, OperationId=op_id)
        assert_ok(body)
        found = body["Data"]["Deliveries"]
        if len(found) == 2 and all(d["Status"] == "delivered" for d in found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def refused(call, status: int, code: str) -> ApiError:
    with pytest.raises(ApiError) as err:
        call()
    assert (err.value.status, err.value.code) == (status, code), err.value
    return err.value


def test_each_event_is_delivered_signed_and_shown_with_its_attempt(api, server):
    op_id = rename(api, server)
    submitted, finished = delivered(api, op_id)
    assert [submitted["Event"], finished["Event"]] == ["submitted", "finished"]
    for d in (submitted, finished):
        assert (d["NotificationName"], d["OperationId"], d["ApplicationId"], d["Attempts"]) \
            == ("audit-hook", op_id, APP, 1), d
        assert TIME_RE.match(d["CreateTime"]) and TIME_RE.match(d["FinishTime"]), d
        assert "NextAttemptTime" not in d, d
        [attempt] = d["AttemptLog"]
        assert (attempt["Attempt"], attempt["HttpStatus"]) == (1, 204), attempt
        assert "Error" not in attempt, attempt
    got = [r for r in Receiver.received if r["body"].get("operation_id") == op_id]
    assert all(r["signed"] for r in got), got
    assert sorted(r["key"] for r in got) == sorted(d["DeliveryId"] for d in (submitted, finished))
    assert got[-1]["body"]["status"] == "SUCCESS" and got[-1]["body"]["account"] == ACCOUNT_A


def test_deliveries_page_and_filter(api, server):
    op_id = rename(api, server)
    delivered(api, op_id)
    paged, token = [], None
    while True:
        body = api.extension(ACTION, MaxResults="1", NextToken=token, Status="delivered",
                             NotificationName="audit-hook", ApplicationId=APP)
        page = body["Data"]
        assert len(page["Deliveries"]) <= 1 and page["MaxResults"] == 1, page
        paged += page["Deliveries"]
        token = page.get("NextToken")
        if token is None:
            break
    ids = [int(d["DeliveryId"]) for d in paged]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), "oldest first, once each"
    assert {d["OperationId"] for d in paged} >= {op_id}
    assert api.extension(ACTION, NotificationName="no-such-hook")["Data"]["Deliveries"] == []
    assert api.extension(ACTION, Status="expired")["Data"]["Deliveries"] == []


def test_bad_parameters_are_refused(api):
    for params in ({"Status": "failed"}, {"MaxResults": "0"}, {"NextToken": "not-ours"},
                   {"ResourceGroupId": "rg-prod"}):
        refused(lambda: api.extension(ACTION, **params), 400, "InvalidParameter")
    refused(lambda: api.extension(ACTION, OperationId=random_operation_id()),
            404, "InvalidOperationId.NotFound")


def test_its_own_ram_action_and_the_account_bound_it(api, client, server, mode):
    op_id = rename(api, server)
    delivered(api, op_id)
    results_only = client(server, user_key("results-only"))
    e = refused(lambda: results_only.extension(ACTION, OperationId=op_id), 403, "NoPermission")
    if mode != "classic":
        assert e.access_denied_detail["AuthAction"] == f"bpstudio:{ACTION}", e.raw
    reader = client(server, user_key("deliveries-reader"))
    assert len(reader.extension(ACTION, OperationId=op_id)["Data"]["Deliveries"]) == 2
    other = client(server, ROOT_KEY_B)
    refused(lambda: other.extension(ACTION, OperationId=op_id),
            404, "InvalidOperationId.NotFound")
    assert other.extension(ACTION)["Data"]["Deliveries"] == []


def test_an_applications_changes_are_delivered_in_order(api, server):
    body = api.call("CreateApplication", name=f"hooked-{time.monotonic_ns()}",
                    template_id="web-tier", area_id=REGION)
    assert_ok(body)
    app_id = body["Data"]
    assert_ok(api.call("ChangeResourceGroup", resource_id=app_id,
                       new_resource_group_id=RESOURCE_GROUP, resource_type="APPLICATION"))
    assert_ok(api.call("DeleteApplication", application_id=app_id))
    deadline = time.monotonic() + 10
    while True:
        found = api.extension(ACTION, ApplicationId=app_id)["Data"]["Deliveries"]
        if len(found) == 3 and all(d["Status"] == "delivered" for d in found):
            break
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    assert [d["Event"] for d in found] == ["application_created", "resource_group_changed",
                                           "application_deleted"], found
    assert all("OperationId" not in d and d["ApplicationId"] == app_id for d in found), found
    got = [r["body"] for r in Receiver.received if r["body"].get("application") == app_id]
    assert all(r["signed"] for r in Receiver.received)
    assert [b["event"]["kind"] for b in got] == [d["Event"] for d in found], got
    assert got[1]["event"] == {"kind": "resource_group_changed", "from": None,
                               "to": RESOURCE_GROUP}, got
