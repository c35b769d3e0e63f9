"""Property-based tests (Hypothesis) of the handler over any event: whatever arrives, the answer is well formed, a
4xx for anything that is not a usable request, never an exception, and exactly one JSON log line.

No event here reaches the network: every host is refused before any connection (``refusal_reason`` is made to refuse
every address), and names are resolved by a stub.
"""

import base64
import json
import socket

import lambda_function
import pytest
import safe_download
from conftest import captured_request_log
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)
URLS = st.one_of(
    st.text(max_size=40),
    st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{port}/{path}",
              st.sampled_from(["http", "https", "HTTP", "ftp", "file", "data", "javascript", ""]),
              st.one_of(st.ip_addresses().map(lambda ip: f"[{ip}]" if ip.version == 6 else str(ip)),
                        st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True), st.text(max_size=10)),
              st.sampled_from(["", ":80", ":0", ":65536", ":x", ":-1"]),
              st.text(max_size=20)))
PAYLOADS = st.one_of(JSON, st.fixed_dictionaries({"url": URLS}, optional={"extra": JSON}),
                     st.fixed_dictionaries({"url": JSON}))


def body_text(payload) -> st.SearchStrategy:
    return st.sampled_from([json.dumps(payload), json.dumps(payload)[:-1], ""]) | st.text()


@st.composite
def proxy_events(draw):
    """API Gateway-shaped events (payload 2.0 or 1.0, or a mix) with any body, base64 flag and headers."""
    payload = draw(PAYLOADS)
    body = draw(st.one_of(body_text(payload), JSON))
    base64_flag = draw(st.one_of(st.booleans(), JSON))
    if base64_flag is True and isinstance(body, str) and draw(st.booleans()):
        body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    event = {draw(st.sampled_from(["requestContext", "httpMethod", "routeKey"])): draw(JSON),
             "body": body, "isBase64Encoded": base64_flag,
             "headers": draw(st.one_of(st.dictionaries(st.text(max_size=20), st.text(max_size=40)), JSON))}
    return event


EVENTS = st.one_of(JSON, PAYLOADS, proxy_events())


@pytest.fixture(autouse=True)
def private_urls_allowed(monkeypatch):
    """Not here (it replaces conftest's fixture of that name): the deployed function's setting."""
    monkeypatch.delenv("ALLOW_PRIVATE_URLS", raising=False)


def no_connection(sock, address):
    raise AssertionError(f"a test tried to connect to {address}")


@pytest.fixture(scope="module", autouse=True)
def nothing_reaches_the_network():
    """Refuse every address before connecting, and resolve every name to a private address without DNS."""
    patch = pytest.MonkeyPatch()
    patch.delenv("ALLOW_PRIVATE_URLS", raising=False)
    patch.setattr(safe_download, "refusal_reason", lambda address: "every address (in this test)")
    patch.setattr(socket.socket, "connect", no_connection)
    patch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port or 80))])
    with captured_request_log() as lines:
        yield lines
    patch.undo()


def check_error(error: dict) -> int:
    assert set(error) == {"status", "code", "message"}
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    assert 400 <= error["status"] < 500, error  # nothing a client sends is a fault of ours
    return error["status"]


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(event=EVENTS)
def test_any_event_gets_a_well_formed_4xx_and_one_log_line(nothing_reaches_the_network, event):
    lines = nothing_reaches_the_network
    before = len(lines)
    response = lambda_function.lambda_handler(event, None)  # must not raise
    json.dumps(response)  # what Lambda does with the answer: must not raise either
    if lambda_function.is_proxy_event(event):
        assert set(response) == {"statusCode", "headers", "body"}
        assert response["headers"] == {"Content-Type": "application/json"}
        assert isinstance(response["body"], str)
        status = check_error(json.loads(response["body"])["error"])
        assert response["statusCode"] == status
    else:
        status = check_error(response["error"])
    assert len(lines) == before + 1
    record = json.loads(lines[-1])
    assert (record["status"], record["outcome"]) == (status, "client_error")


REAL_REFUSAL_REASON = safe_download.refusal_reason  # before the fixture above replaces it


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(address=st.ip_addresses())
def test_every_address_allowed_is_global_for_python_too(address):
    """The refused ranges include at least everything Python's ``ipaddress`` does not call global, and multicast."""
    if REAL_REFUSAL_REASON(str(address)) is None:
        judged = (address.ipv4_mapped if address.version == 6 else None) or address
        assert judged.is_global and not judged.is_multicast, address


@pytest.mark.parametrize("network, name", safe_download.REFUSED_NETWORKS)
def test_every_refused_range_is_refused_from_first_to_last_address(network, name):
    assert REAL_REFUSAL_REASON(str(network[0])) == f"{network} ({name})"
    assert REAL_REFUSAL_REASON(str(network[-1])) is not None
