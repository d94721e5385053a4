"""Limits of the request path as the official SDKs meet them (README "Limits of the request
path"): a body over the limit is answered RequestEntityTooLarge, in every client mode, even by
clients that write their whole body before reading the answer."""

from __future__ import annotations

import pytest

from harness import APP, ApiError, assert_ok


@pytest.mark.parametrize("mib", [3, 8])
def test_a_request_of_several_mib_gets_request_entity_too_large(api, server, mib):
    # Issue 11 item 11: the server used to answer 413 and close without reading, so the SDK,
    # still writing, died with BrokenPipeError instead of reading the answer. 3 MiB is the
    # size reported; 8 MiB is more than the sockets' buffers hold, so the server must read it.
    name = "n" * (mib * 1024 * 1024)
    with pytest.raises(ApiError) as refused:
        api.execute_async("ecs", "rename",
                          {"instanceId": server.fresh_instance(), "instance_name": name},
                          application_id=APP)
    assert (refused.value.status, refused.value.code) == (413, "RequestEntityTooLarge")
    # The server is unharmed, and the same client's next call goes through.
    assert_ok(api.list_services())
