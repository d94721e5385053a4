"""Harness of the SDK conformance suite: runs the real `bpops serve` and drives it through the
official, unmodified Alibaba Cloud SDKs in the three client modes users have.

Nothing here mocks the server or the SDKs. The only hooks into SDK internals are the nonce and
clock helpers that the replay and clock-skew tests pin (see test_auth.py).
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import queue
import re
import secrets
import signal
import string
import subprocess
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
BPOPS_BIN = Path(os.environ.get("BPOPS_BIN", REPO / "target" / "debug" / "bpops"))
VERSION = "2021-09-31"
STARTUP_TIMEOUT = 20.0

ACCOUNT_A = "1000000000000001"
ROOT_KEY_A = ("LTAI5tExampleRoot000001", "example-root-secret")
ACCOUNT_B = "1000000000000002"
ROOT_KEY_B = ("LTAI5tExampleRootB00001", "example-root-b-secret")
READER_KEY = ("LTAI5tExampleReader0001", "example-reader-secret")

APP = "APP-WEB"
RESOURCE_GROUP = "rg-prod"
REGION = "cn-hangzhou"
INSTANCE_POOL = 96
LB_POOL = 24

MODES = ("acs3", "v2", "classic")
FINAL = ("SUCCESS", "FAILURE")
STATUS_ORDER = {"INIT": 0, "RUNNING": 1, "SUCCESS": 2, "FAILURE": 2}

OPERATION_ID_RE = re.compile(r"^op_[0-9A-Za-z]{22}$")
REQUEST_ID_RE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
FAILURE_CODE_RE = re.compile(r"^[A-Z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*: ")
LISTENING_RE = re.compile(r"listening on (127\.0\.0\.1):(\d+)")


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # A JSON string (ASCII, \uXXXX escapes) is a valid TOML basic string.
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _emit_table(lines: list[str], path: str, table: dict) -> None:
    for key, value in table.items():
        if not isinstance(value, dict) and not _is_table_array(value):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in table.items():
        sub = f"{path}.{_toml_key(key)}" if path else _toml_key(key)
        if isinstance(value, dict):
            lines += ["", f"[{sub}]"]
            _emit_table(lines, sub, value)
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{sub}]]"]
                # Values inside an array-of-tables item are written inline.
                lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items()]


def dump_toml(doc: dict) -> str:
    lines: list[str] = []
    _emit_table(lines, "", doc)
    text = "\n".join(lines).lstrip("\n") + "\n"
    if tomllib.loads(text) != json.loads(json.dumps(doc)):
        raise AssertionError(f"TOML writer round-trip failed:\n{text}")
    return text


def instance_id(n: int) -> str:
    return f"i-pool{n:03d}"


def lb_id(n: int) -> str:
    return f"lb-pool{n:03d}"


def build_config(
    *,
    retention: str = "1h",
    sync_wait: str = "5s",
    emulation: list[dict] | tuple = (),
    second_account: bool = False,
    ram_user: bool = False,
) -> dict:
    """The configuration document (product.md "Configuration" shape) most modules start from:
    account A with application APP-WEB in rg-prod, the brief's i-web1 and lb-web, and pools of
    identical Running instances and load balancers so that every test gets fresh resources."""
    resources = [
        {"application": APP, "service": "ecs", "id": "i-web1",
         "properties": {"instance_name": "web-1", "instance_type": "ecs.g7.large",
                        "status": "Running", "region_id": REGION}},
        {"application": APP, "service": "slb", "id": "lb-web",
         "properties": {"region_id": REGION, "listeners": [{"listenerPort": 80}]}},
    ]
    resources += [
        {"application": APP, "service": "ecs", "id": instance_id(n),
         "properties": {"instance_name": f"pool-{n}", "instance_type": "ecs.g7.large",
                        "status": "Running", "region_id": REGION}}
        for n in range(INSTANCE_POOL)
    ]
    resources += [
        {"application": APP, "service": "slb", "id": lb_id(n),
         "properties": {"region_id": REGION,
                        "listeners": [{"listenerPort": 80}, {"listenerPort": 443}]}}
        for n in range(LB_POOL)
    ]
    accounts = [{"id": ACCOUNT_A}]
    groups = [{"account": ACCOUNT_A, "id": RESOURCE_GROUP}]
    apps = [{"account": ACCOUNT_A, "id": APP, "resource_group": RESOURCE_GROUP}]
    keys = [{"id": ROOT_KEY_A[0], "secret": ROOT_KEY_A[1], "account": ACCOUNT_A}]
    doc: dict[str, Any] = {
        "operations": {"retention": retention, "sync_wait": sync_wait},
    }
    if emulation:
        doc["operations"]["emulation"] = list(emulation)
    if second_account:
        accounts.append({"id": ACCOUNT_B})
        groups.append({"account": ACCOUNT_B, "id": "rg-b"})
        apps.append({"account": ACCOUNT_B, "id": "APP-B", "resource_group": "rg-b"})
        resources.append(
            {"application": "APP-B", "service": "ecs", "id": "i-b1",
             "properties": {"instance_name": "b-1", "instance_type": "ecs.g7.large",
                            "status": "Running", "region_id": REGION}})
        keys.append({"id": ROOT_KEY_B[0], "secret": ROOT_KEY_B[1], "account": ACCOUNT_B})
    doc.update({"accounts": accounts, "resource_groups": groups, "applications": apps,
                "resources": resources})
    if ram_user:
        # A RAM user with no policy attached: authenticates, is allowed nothing.
        doc["users"] = [{"account": ACCOUNT_A, "name": "reader"}]
        keys.append({"id": READER_KEY[0], "secret": READER_KEY[1], "account": ACCOUNT_A,
                     "user": "reader"})
    doc["access_keys"] = keys
    return doc


def policy_document(*statements: dict) -> str:
    """A RAM policy document holding `statements`."""
    return json.dumps({"Version": "1", "Statement": list(statements)})


def user_key(user: str) -> tuple[str, str]:
    """The AccessKey pair `add_users` gives RAM user `user`."""
    return (f"LTAI5tUsr{user.replace('-', '')[:12]:0<12}01", f"secret-of-{user}")


def add_users(config: dict, users: dict, policies: dict) -> None:
    """Adds to `config` the RAM `users` (name -> (account, [(policy, scope)], active)), each
    with the key `user_key` gives it, and the `policies` ((account, name) -> document)."""
    config["users"] = [{"account": account, "name": name}
                       for name, (account, _, _) in users.items()]
    config["access_keys"] += [
        {"id": user_key(name)[0], "secret": user_key(name)[1], "account": account,
         "user": name, "active": active}
        for name, (account, _, active) in users.items()]
    config["policies"] = [{"account": account, "name": name, "document": doc}
                          for (account, name), doc in policies.items()]
    config["attachments"] = [
        {"account": account, "policy": policy, "user": name, "scope": scope}
        for name, (account, grants, _) in users.items() for policy, scope in grants]


# --------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------

@dataclass
class Server:
    workdir: Path
    proc: subprocess.Popen
    host: str
    port: int
    stderr_path: Path
    printed: list[str] = field(default_factory=list)  # stdout up to `listening on`
    _instances: itertools.count = field(default_factory=itertools.count)
    _lbs: itertools.count = field(default_factory=itertools.count)

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def fresh_instance(self) -> str:
        """A pool instance no other test has used on this server (Running, ecs.g7.large)."""
        n = next(self._instances)
        assert n < INSTANCE_POOL, "instance pool exhausted: raise INSTANCE_POOL"
        return instance_id(n)

    def fresh_lb(self) -> str:
        """A pool load balancer no other test has used (listeners 80 and 443, defaults)."""
        n = next(self._lbs)
        assert n < LB_POOL, "load-balancer pool exhausted: raise LB_POOL"
        return lb_id(n)

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_server(workdir: Path, config: dict) -> Server:
    """Writes `config` (its storage URL filled in) to workdir/bpops.toml and runs
    `bpops serve` on an ephemeral loopback port; returns once it prints `listening on`."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = dict(config)
    config["storage"] = {"url": "sqlite://" + str((workdir / "bpops.db").resolve())}
    config_path = workdir / "bpops.toml"
    config_path.write_text(dump_toml(config))
    args = ["serve", "--config", str(config_path),
            "--listen", "127.0.0.1:0", "--data", str(workdir / "data")]
    return launch(workdir, args, f"--- config ---\n{config_path.read_text()[:3000]}")


def launch(workdir: Path, args: list[str], context: str = "") -> Server:
    """Runs `bpops <args>` in workdir; returns once it prints `listening on`, with what it
    printed before in `Server.printed`. `context` is added to the error when it does not."""
    if not BPOPS_BIN.exists():
        raise RuntimeError(f"bpops binary not found at {BPOPS_BIN} (build it, or set BPOPS_BIN)")
    stderr_path = workdir / "stderr.log"
    stderr_file = open(stderr_path, "wb")
    proc = subprocess.Popen(
        [str(BPOPS_BIN), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_file,
        cwd=workdir,
    )
    stderr_file.close()

    lines: queue.Queue = queue.Queue()

    def pump() -> None:  # keeps draining stdout so the server never blocks on it
        for raw in proc.stdout:
            lines.put(raw.decode(errors="replace"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            why = f"did not print 'listening on 127.0.0.1:<port>' within {STARTUP_TIMEOUT:.0f}s"
            break
        if line is None:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            why = f"closed stdout (exit status {proc.poll()}) before printing 'listening on'"
            break
        seen.append(line)
        match = LISTENING_RE.search(line)
        if match:
            return Server(workdir, proc, match.group(1), int(match.group(2)), stderr_path, seen)
    server = Server(workdir, proc, "", 0, stderr_path, seen)
    try:
        server.stop()
    except subprocess.TimeoutExpired:
        pass
    raise RuntimeError(
        f"bpops {' '.join(args)} {why}\n--- stdout ---\n{''.join(seen)}\n--- stderr ---\n"
        f"{server.stderr()[-6000:]}\n{context}")


# --------------------------------------------------------------------------------------------
# The three client modes
# --------------------------------------------------------------------------------------------

class ApiError(Exception):
    """An error answer, as the SDK in use reported it."""

    def __init__(self, mode: str, status: int | None, code: str, message: str,
                 request_id: str | None, access_denied_detail: Any = None, raw: Any = None):
        super().__init__(f"[{mode}] HTTP {status} {code}: {message} (RequestId {request_id})")
        self.mode = mode
        self.status = status
        self.code = code
        self.message = message or ""
        self.request_id = request_id
        self.access_denied_detail = access_denied_detail
        self.raw = raw


class Api:
    """One client, in one mode, for one key. Every call returns the response body as a dict
    with the SDK's PascalCase keys (for tea: the response model's to_map(), i.e. exactly what
    the SDK's model holds; for classic: the JSON the SDK hands back) and records the HTTP status
    in `last_status`. Errors raise ApiError."""

    def __init__(self, mode: str, endpoint: str, key_id: str, secret: str):
        self.mode = mode
        self.endpoint = endpoint
        self.last_status: int | None = None
        if mode in ("acs3", "v2"):
            from alibabacloud_bpstudio20210931.client import Client
            from alibabacloud_tea_openapi.models import Config

            config = Config(access_key_id=key_id, access_key_secret=secret,
                            endpoint=endpoint, protocol="HTTP")
            if mode == "v2":
                config.signature_algorithm = "v2"
            self._tea = Client(config)
        elif mode == "classic":
            from aliyunsdkcore.client import AcsClient

            self._classic = AcsClient(key_id, secret, REGION)
        else:
            raise ValueError(mode)

    # -- transport ------------------------------------------------------------------------

    def _tea_call(self, fn: Callable, *args) -> dict:
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

        try:
            resp = fn(*args)
        except AlibabaCloudException as e:
            data = e.data if isinstance(e.data, dict) else {}
            self.last_status = e.status_code
            raise ApiError(self.mode, e.status_code, e.code,
                           data.get("Message", e.message), e.request_id,
                           getattr(e, "access_denied_detail", None), data) from None
        if isinstance(resp, dict):  # call_api's raw answer, for actions without a model
            self.last_status = resp.get("statusCode")
            return resp["body"]
        self.last_status = resp.status_code
        return resp.body.to_map()

    def _classic_call(self, request) -> dict:
        from aliyunsdkcore.acs_exception.exceptions import ServerException

        self._classic_request = request
        try:
            raw = self._classic.do_action_with_exception(request)
        except ServerException as e:
            self.last_status = e.get_http_status()
            raise ApiError(self.mode, e.get_http_status(), e.get_error_code(),
                           e.get_error_msg(), e.get_request_id()) from None
        self.last_status = 200  # do_action_with_exception only returns on 2xx
        body = json.loads(raw)
        assert isinstance(body, dict), f"response body is not a JSON object: {raw!r}"
        return body

    def classic_string_to_sign(self) -> str:
        """The string to sign the classic SDK computed for its last request."""
        request = self._classic_request
        # A CommonRequest signs through an inner RpcRequest, which keeps the string.
        inner = getattr(request, "request", None)
        return (inner if inner is not None else request).string_to_sign

    def classic_common(self, action: str, query: dict | None = None,
                        body: dict | None = None) -> dict:
        """Any action through the classic SDK's CommonRequest (RPC, POST)."""
        from aliyunsdkcore.request import CommonRequest

        req = CommonRequest(domain=self.endpoint, version=VERSION, action_name=action)
        req.set_method("POST")
        for k, v in (query or {}).items():
            req.add_query_param(k, v)
        for k, v in (body or {}).items():
            req.add_body_params(k, v)
        return self._classic_call(req)

    # -- the six actions ------------------------------------------------------------------

    def list_services(self) -> dict:
        if self.mode == "classic":
            return self.classic_common("ListServices")
        return self._tea_call(self._tea.list_services)

    def list_operations(self, service_type: str) -> dict:
        if self.mode == "classic":
            # tea sends ServiceType in the query; do the same.
            return self.classic_common("ListOperations", query={"ServiceType": service_type})
        from alibabacloud_bpstudio20210931 import models as m

        return self._tea_call(self._tea.list_operations,
                              m.ListOperationsRequest(service_type=service_type))

    def get_operation_params(self, service_type: str, operation: str) -> dict:
        if self.mode == "classic":
            return self.classic_common("GetOperationParams",
                                        body={"ServiceType": service_type,
                                              "Operation": operation})
        from alibabacloud_bpstudio20210931 import models as m

        return self._tea_call(self._tea.get_operation_params,
                              m.GetOperationParamsRequest(service_type=service_type,
                                                          operation=operation))

    def execute_async(self, service_type, operation, attributes=None, **kw) -> dict:
        return self._execute("ExecuteOperationASync", service_type, operation, attributes, **kw)

    def execute_sync(self, service_type, operation, attributes=None, **kw) -> dict:
        return self._execute("ExecuteOperationSync", service_type, operation, attributes, **kw)

    def _execute(self, action: str, service_type: str | None, operation: str | None,
                 attributes: dict | None, *, application_id: str | None = None,
                 client_token: str | None = None, resource_group_id: str | None = None,
                 raw_attributes: str | None = None) -> dict:
        """`attributes` is a dict: tea sends it as compact UTF-8 JSON, classic as Python's
        default json.dumps (", "/": " separators, \\uXXXX escapes). `raw_attributes` hands a
        string to the SDK unchanged (classic sends it verbatim; tea, which wants a dict,
        sends `null`)."""
        if self.mode == "classic":
            if action == "ExecuteOperationASync":
                from aliyunsdkbpstudio.request.v20210931.ExecuteOperationASyncRequest import \
                    ExecuteOperationASyncRequest as Request
            else:
                from aliyunsdkbpstudio.request.v20210931.ExecuteOperationSyncRequest import \
                    ExecuteOperationSyncRequest as Request
            req = Request()
            req.set_endpoint(self.endpoint)
            if service_type is not None:
                req.set_ServiceType(service_type)
            if operation is not None:
                req.set_Operation(operation)
            if raw_attributes is not None:
                req.set_Attributes(raw_attributes)
            elif attributes is not None:
                req.set_Attributes(json.dumps(attributes))
            if application_id is not None:
                req.set_ApplicationId(application_id)
            if client_token is not None:
                req.set_ClientToken(client_token)
            if resource_group_id is not None:
                req.set_ResourceGroupId(resource_group_id)
            return self._classic_call(req)

        from alibabacloud_bpstudio20210931 import models as m

        cls = (m.ExecuteOperationASyncRequest if action == "ExecuteOperationASync"
               else m.ExecuteOperationSyncRequest)
        req = cls(service_type=service_type, operation=operation,
                  attributes=raw_attributes if raw_attributes is not None else attributes,
                  application_id=application_id, client_token=client_token,
                  resource_group_id=resource_group_id)
        fn = (self._tea.execute_operation_async if action == "ExecuteOperationASync"
              else self._tea.execute_operation_sync)
        return self._tea_call(fn, req)

    def get_result(self, operation_id: str, resource_group_id: str | None = None) -> dict:
        if self.mode == "classic":
            from aliyunsdkbpstudio.request.v20210931.GetExecuteOperationResultRequest import \
                GetExecuteOperationResultRequest

            req = GetExecuteOperationResultRequest()
            req.set_endpoint(self.endpoint)
            req.set_OperationId(operation_id)
            if resource_group_id is not None:
                req.set_ResourceGroupId(resource_group_id)
            return self._classic_call(req)
        from alibabacloud_bpstudio20210931 import models as m

        return self._tea_call(self._tea.get_execute_operation_result,
                              m.GetExecuteOperationResultRequest(
                                  operation_id=operation_id,
                                  resource_group_id=resource_group_id))

    # -- the application family ----------------------------------------------------------

    def call(self, action: str, **params) -> dict:
        """An action of the application family by its wire name, with the tea model's
        snake_case parameters (maps as dicts; None leaves a parameter out): tea through its
        typed method and request model, classic through the action's request class and its
        setters (which send maps as JSON text, as tea does)."""
        params = {name: value for name, value in params.items() if value is not None}
        if self.mode == "classic":
            module = importlib.import_module(
                f"aliyunsdkbpstudio.request.v20210931.{action}Request")
            req = getattr(module, f"{action}Request")()
            req.set_endpoint(self.endpoint)
            # Some request classes pin HTTPS (GetApplicationVariables, ReConfigApplication);
            # bpops serves plain HTTP, as Config(protocol="HTTP") tells tea.
            req.set_protocol_type("http")
            for name, value in params.items():
                getattr(req, "set_" + "".join(w.capitalize() for w in name.split("_")))(value)
            return self._classic_call(req)
        from alibabacloud_bpstudio20210931 import models as m

        method = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
        return self._tea_call(getattr(self._tea, method),
                              getattr(m, f"{action}Request")(**params))

    def extension(self, action: str, **params) -> dict:
        """A bpops extension action, which no SDK models, by its wire name with its wire
        parameters in the form body (None leaves one out): tea through its generic call_api,
        classic through CommonRequest."""
        params = {name: value for name, value in params.items() if value is not None}
        if self.mode == "classic":
            return self.classic_common(action, body=params)
        from alibabacloud_tea_openapi import models as open_api_models
        from alibabacloud_tea_util import models as util_models

        request = open_api_models.OpenApiRequest(body=params)
        spec = open_api_models.Params(
            action=action, version=VERSION, protocol="HTTPS", pathname="/", method="POST",
            auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
        return self._tea_call(self._tea.call_api, spec, request, util_models.RuntimeOptions())

    # -- conveniences ---------------------------------------------------------------------

    def submit(self, service_type: str, operation: str, attributes: dict, **kw) -> str:
        """ExecuteOperationASync; checks the envelope and returns the OperationId."""
        kw.setdefault("application_id", APP)
        body = self.execute_async(service_type, operation, attributes, **kw)
        assert_ok(body)
        op_id = body.get("Data")
        assert isinstance(op_id, str) and OPERATION_ID_RE.match(op_id), body
        return op_id

    def wait(self, op_id: str, timeout: float = 10.0) -> tuple[dict, list[str]]:
        """Polls GetExecuteOperationResult until the operation is final; returns its Data and
        every status seen on the way (checked to only move forward)."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            body = self.get_result(op_id)
            assert_ok(body)
            data = body.get("Data")
            assert isinstance(data, dict), f"no Data for a live operation: {body}"
            check_result_data(data, op_id)
            status = data["Status"]
            if seen:
                assert STATUS_ORDER[status] >= STATUS_ORDER[seen[-1]], \
                    f"status went backwards: {seen} then {status}"
            seen.append(status)
            if status in FINAL:
                return data, seen
            assert time.monotonic() < deadline, f"{op_id} not final after {timeout}s: {seen}"
            time.sleep(0.02)

    def run(self, service_type: str, operation: str, attributes: dict, **kw) -> dict:
        """Submits asynchronously and waits; returns the final Data."""
        timeout = kw.pop("timeout", 10.0)
        return self.wait(self.submit(service_type, operation, attributes, **kw), timeout)[0]


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

def assert_ok(body: dict) -> None:
    assert body.get("Code") == "200", body
    assert isinstance(body.get("Message"), str), body
    assert isinstance(body.get("RequestId"), str) and REQUEST_ID_RE.match(body["RequestId"]), body


def check_result_data(data: dict, op_id: str) -> None:
    """Shape of Data for GetExecuteOperationResult and ExecuteOperationSync."""
    assert data.get("OperationId") == op_id, data
    assert data.get("Status") in STATUS_ORDER, data
    assert isinstance(data.get("Message"), str), data
    assert isinstance(data.get("Arguments"), str), data


def assert_success(data: dict) -> tuple[Any, Any]:
    """A SUCCESS result; returns (parsed Message, parsed Arguments), both JSON texts."""
    assert data["Status"] == "SUCCESS", data
    return json.loads(data["Message"]), json.loads(data["Arguments"])


def assert_failure(data: dict, code: str | None = None) -> str:
    """A FAILURE result whose Message starts with a stable code (`code` if given)."""
    assert data["Status"] == "FAILURE", data
    message = data["Message"]
    if code is not None:
        assert message.startswith(code + ": "), data
    else:
        assert FAILURE_CODE_RE.match(message), data
    return message


def refused(call: Callable, status: int, code: str) -> ApiError:
    """Runs `call`, which must fail with HTTP `status` and `code`; returns the error."""
    with pytest.raises(ApiError) as err:
        call()
    assert (err.value.status, err.value.code) == (status, code), err.value
    return err.value


def denied(call: Callable, action: str, kind: str = "ImplicitDeny") -> None:
    """Runs `call`, which must be denied `bpstudio:<action>` (`kind` is checked where the SDK
    shows AccessDeniedDetail)."""
    e = refused(call, 403, "NoPermission")
    if e.mode != "classic":
        assert e.access_denied_detail.get("AuthAction") == f"bpstudio:{action}"
        assert e.access_denied_detail.get("NoPermissionType") == kind


def get_application(api: Api, app_id: str, **params) -> dict:
    """GetApplication's Data."""
    body = api.call("GetApplication", application_id=app_id, **params)
    assert_ok(body)
    return body["Data"]


def settled(api: Api, app_id: str, timeout: float = 20.0) -> dict:
    """Polls GetApplication, as the Terraform provider does, until no step is in progress."""
    deadline = time.monotonic() + timeout
    while True:
        data = get_application(api, app_id)
        if data["Status"] not in ("Verifying", "Valuating", "Deploying", "Destroying"):
            return data
        assert time.monotonic() < deadline, f"{app_id} still {data['Status']}"
        time.sleep(0.02)


def random_operation_id() -> str:
    """A well-formed OperationId that no server ever issued (128 random bits)."""
    alphabet = string.digits + string.ascii_letters
    return "op_" + "".join(secrets.choice(alphabet) for _ in range(22))


def strings_in(value: Any) -> set[str]:
    """Every string anywhere inside a parsed JSON value (keys excluded)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(strings_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(strings_in(v) for v in value)) if value else set()
    return set()
