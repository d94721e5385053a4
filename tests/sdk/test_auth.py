"""Authentication and authorization as the SDKs see it: bad secrets and key ids, replayed
nonces, skewed clocks, and a RAM user with no policy (denied everything with NoPermission)."""

import datetime
import uuid

import pytest

from harness import (APP, READER_KEY, ROOT_KEY_A, ApiError, assert_ok, build_config)

ACTIONS = {
    "ListServices": lambda api: api.list_services(),
    "ListOperations": lambda api: api.list_operations("ecs"),
    "GetOperationParams": lambda api: api.get_operation_params("ecs", "rename"),
    "ExecuteOperationASync": lambda api: api.execute_async(
        "ecs", "rename", {"instanceId": "i-web1", "instance_name": "denied"},
        application_id=APP),
    "ExecuteOperationSync": lambda api: api.execute_sync(
        "ecs", "rename", {"instanceId": "i-web1", "instance_name": "denied"},
        application_id=APP),
    "GetExecuteOperationResult": lambda api: api.get_result("op_0123456789abcdefABCDEF"),
}


# Actions the classic SDK has request classes for; it reaches the others with CommonRequest.
CLASSIC_NATIVE = {"ExecuteOperationASync", "ExecuteOperationSync", "GetExecuteOperationResult"}


@pytest.fixture(scope="module")
def server(start):
    return start(build_config(ram_user=True))


@pytest.fixture
def pin_signing(mode, monkeypatch):
    """pin_signing(nonce=..., timestamp=...): makes the SDK in use sign with this nonce and/or
    timestamp (UTC "YYYY-MM-DDTHH:MM:SSZ"), by replacing the SDK helper that generates it."""
    def _pin(nonce: str | None = None, timestamp: str | None = None) -> None:
        if mode == "classic":
            from aliyunsdkcore.utils import parameter_helper

            if nonce is not None:
                monkeypatch.setattr(parameter_helper, "get_uuid", lambda: nonce)
            if timestamp is not None:
                monkeypatch.setattr(parameter_helper, "get_iso_8061_date", lambda: timestamp)
        else:
            from alibabacloud_tea_openapi.utils import Utils

            if nonce is not None:
                monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: nonce))
            if timestamp is not None:
                monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: timestamp))
    return _pin


def utc_timestamp(offset: datetime.timedelta = datetime.timedelta()) -> str:
    now = datetime.datetime.now(datetime.timezone.utc) + offset
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_wrong_secret(client, server, mode, action):
    api = client(server, (ROOT_KEY_A[0], "not-the-secret"))
    with pytest.raises(ApiError) as err:
        ACTIONS[action](api)
    assert err.value.status == 400, err.value
    if mode == "classic" and action in CLASSIC_NATIVE:
        # The classic SDK compares the server's string to sign (after the first ':' of
        # Message) with its own and, when they match, reports a wrong secret.
        assert err.value.code == "InvalidAccessKeySecret", err.value
    elif mode == "classic":
        # Through CommonRequest the SDK keeps its string to sign on an inner request and never
        # makes that comparison; make it here.
        assert err.value.code == "SignatureDoesNotMatch", err.value
        assert err.value.message.split(":")[1] == api.classic_string_to_sign(), err.value
    else:
        assert err.value.code == "SignatureDoesNotMatch", err.value
        assert ":" in err.value.message, err.value


@pytest.mark.parametrize("action", ["ListServices", "ExecuteOperationASync",
                                    "GetExecuteOperationResult"])
def test_unknown_access_key_id(client, server, action):
    api = client(server, ("LTAI5tNoSuchKey00000001", ROOT_KEY_A[1]))
    with pytest.raises(ApiError) as err:
        ACTIONS[action](api)
    assert err.value.code == "InvalidAccessKeyId.NotFound", err.value
    assert 400 <= err.value.status < 500, err.value


@pytest.mark.parametrize("action", ["ListServices", "GetExecuteOperationResult"])
def test_replayed_nonce_is_refused(api, pin_signing, monkeypatch, action):
    # Same nonce and same timestamp: the second request is a byte-for-byte replay of the first.
    pin_signing(nonce=uuid.uuid4().hex, timestamp=utc_timestamp())
    assert_ok(ACTIONS[action](api))
    with pytest.raises(ApiError) as err:
        ACTIONS[action](api)
    assert err.value.code == "SignatureNonceUsed", err.value
    assert err.value.status == 400, err.value
    # A fresh nonce goes through again.
    monkeypatch.undo()
    assert_ok(ACTIONS[action](api))


def test_nonce_reused_with_another_timestamp_is_refused(api, pin_signing):
    nonce = uuid.uuid4().hex
    pin_signing(nonce=nonce, timestamp=utc_timestamp(datetime.timedelta(seconds=-5)))
    assert_ok(api.list_services())
    pin_signing(nonce=nonce, timestamp=utc_timestamp())
    with pytest.raises(ApiError) as err:
        api.list_services()
    assert err.value.code == "SignatureNonceUsed", err.value


@pytest.mark.parametrize("minutes", [-20, 20])
def test_timestamp_outside_fifteen_minutes_is_refused(api, pin_signing, minutes):
    pin_signing(timestamp=utc_timestamp(datetime.timedelta(minutes=minutes)))
    with pytest.raises(ApiError) as err:
        api.list_services()
    assert err.value.code == "InvalidTimeStamp.Expired", err.value
    assert err.value.status == 400, err.value


def test_timestamp_within_fifteen_minutes_is_accepted(api, pin_signing):
    pin_signing(timestamp=utc_timestamp(datetime.timedelta(minutes=-10)))
    assert_ok(api.list_services())


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_ram_user_without_policy_is_denied(client, server, mode, action):
    api = client(server, READER_KEY)
    with pytest.raises(ApiError) as err:
        ACTIONS[action](api)
    assert err.value.status == 403, err.value
    assert err.value.code == "NoPermission", err.value
    if mode != "classic":  # the classic SDK does not read AccessDeniedDetail
        detail = err.value.access_denied_detail
        assert isinstance(detail, dict), err.value.raw
        assert detail.get("AuthAction") == f"bpstudio:{action}", detail
        assert detail.get("NoPermissionType") == "ImplicitDeny", detail
        assert detail.get("AuthPrincipalType"), detail
        assert detail.get("AuthPrincipalDisplayName"), detail


def test_root_key_is_allowed(api):
    assert_ok(api.list_services())
