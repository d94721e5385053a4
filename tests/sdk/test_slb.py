"""slb modifyListenerAttribute: Message is the listener's whole configuration, shaped like the
documented seed example (a JSON text holding a one-element array)."""

import json

import pytest

from harness import APP, ApiError, assert_failure, assert_success

# Listener settings every configuration must carry (the seed example's settings that
# product.md names: health check, URI, HTTP codes, interval, thresholds, timeout, scheduler,
# sticky session, gzip, bandwidth, X-Forwarded-For).
CORE_KEYS = {
    "listenerPort", "healthCheck", "healthCheckURI", "healthCheckHttpCode",
    "healthCheckInterval", "healthyThreshold", "unhealthyThreshold", "healthCheckTimeout",
    "scheduler", "stickySession", "gzip", "bandwidth", "xForwardedFor",
}


def listener_config(data: dict) -> dict:
    state, _ = assert_success(data)
    # Message is a JSON text, not a JSON value embedded in the envelope.
    assert isinstance(data["Message"], str)
    assert isinstance(state, list) and len(state) == 1, state
    assert isinstance(state[0], dict), state
    return state[0]


def test_modify_listener_attribute(api, server):
    lb = server.fresh_lb()
    changes = {
        "healthCheck": "on", "healthCheckURI": "/healthz", "healthCheckHttpCode": "http_2xx",
        "healthCheckInterval": 5, "healthyThreshold": 4, "unhealthyThreshold": 5,
        "healthCheckTimeout": 8, "scheduler": "wrr", "stickySession": "off", "gzip": "off",
        "xForwardedFor": "off", "description": "web listener",
    }
    data = api.run("slb", "modifyListenerAttribute",
                   {"loadBalancerId": lb, "listenerPort": 80, **changes})
    config = listener_config(data)
    assert CORE_KEYS <= set(config), sorted(config)
    assert config["listenerPort"] == 80
    for key, value in changes.items():
        assert config[key] == value, (key, config)
    assert isinstance(json.loads(data["Arguments"]), dict)


def test_listener_changes_accumulate(api, server):
    lb = server.fresh_lb()

    def modify(port, **settings):
        return listener_config(api.run("slb", "modifyListenerAttribute",
                                       {"loadBalancerId": lb, "listenerPort": port, **settings}))

    other_before = modify(80, description="eighty")
    first = modify(443, scheduler="rr")
    assert first["scheduler"] == "rr" and first["listenerPort"] == 443
    second = modify(443, gzip="off", healthCheck="off")
    assert second["scheduler"] == "rr", second
    assert second["gzip"] == "off" and second["healthCheck"] == "off", second
    assert set(first) <= set(second), (sorted(first), sorted(second))
    # The other listener of the same load balancer is untouched.
    other_after = modify(80, description="eighty")
    volatile = {"requestId"}
    assert ({k: v for k, v in other_before.items() if k not in volatile}
            == {k: v for k, v in other_after.items() if k not in volatile})


@pytest.mark.parametrize("lb,port", [("lb-doesnotexist", 80), (None, 8080)])
def test_unknown_load_balancer_or_listener_fails_at_run_time(api, server, lb, port):
    lb = lb or server.fresh_lb()
    assert_failure(api.run("slb", "modifyListenerAttribute",
                           {"loadBalancerId": lb, "listenerPort": port, "scheduler": "rr"}))


@pytest.mark.parametrize("attributes,field", [
    ({"listenerPort": 0}, "listenerPort"),
    ({"listenerPort": 65536}, "listenerPort"),
    ({"listenerPort": "eighty"}, "listenerPort"),
    ({"loadBalancerId": None}, "loadBalancerId"),
    ({"listenerPort": None}, "listenerPort"),
    ({"healthCheck": "maybe"}, "healthCheck"),
    ({"healthCheckInterval": 0}, "healthCheckInterval"),
    ({"healthCheckTimeout": -5}, "healthCheckTimeout"),
])
def test_schema_violation_is_refused_at_submit(api, attributes, field):
    attrs = {"loadBalancerId": "lb-web", "listenerPort": 80, **attributes}
    attrs = {k: v for k, v in attrs.items() if v is not None}
    with pytest.raises(ApiError) as err:
        api.execute_async("slb", "modifyListenerAttribute", attrs, application_id=APP)
    assert err.value.code == "InvalidParameter", err.value
    assert err.value.status == 400
    assert field in err.value.message, err.value
