"""Limits of the request path as the official SDKs meet them (README "Limits of the request
path"): a body over the limit is answered RequestEntityTooLarge, in every client mode, even by
clients that write their whole body before reading the answer."""

from __future__ import annotations

import pytest

from harness import APP, ApiError, assert_ok


def test_a_3_mib_request_gets_request_entity_too_large(api, server):
    # Issue 11 item 11: the server used to answer 413 and close without reading, so the SDK,
    # still writing, died with BrokenPipeError instead of reading the answer.
    name = "n" * (3 * 1024 * 1024)
    with pytest.raises(ApiError) as refused:
        api.execute_async("ecs", "rename",
                          {"instanceId": server.fresh_instance(), "instance_name": name},
                          application_id=APP)
    assert (refused.value.status, refused.value.code) == (413, "RequestEntityTooLarge")
    # The server is unharmed, and the same client's next call goes through.
    assert_ok(api.list_services())
