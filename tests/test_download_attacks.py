"""Attacks on the handler's download (solutions/03_lambda_code/safe_download.py): SSRF, slow and endless answers,
bombs, lies about content, and secrets that must not leak. Each gets its documented 4xx, and the next good request
is answered.

The image host of conftest.py is on 127.0.0.1, so the SSRF tests switch ``ALLOW_PRIVATE_URLS`` off. The redirect and
DNS-rebinding tests need one hop to succeed first: they treat exactly 127.0.0.1 as public (``loopback_is_public``)
and check that everything else is still refused.
"""

import http.server
import json
import socket
import ssl
import threading
import urllib.parse

import lambda_function
import pytest
import safe_download
from conftest import ImageHost, ask, assert_next_good_request_answered, assert_refused, captured_request_log

PANTS = "/samples/pants/0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"
SECRET_ENV = "SENTINEL-SECRET-VALUE-7f3a"








@pytest.fixture
def no_private(monkeypatch):
    """The deployed function's setting: ALLOW_PRIVATE_URLS unset."""
    monkeypatch.delenv("ALLOW_PRIVATE_URLS", raising=False)


@pytest.fixture
def loopback_is_public(monkeypatch, no_private):
    """Treat exactly 127.0.0.1 as a public address, so the image host can be the first hop of an attack."""
    real = safe_download.refusal_reason
    monkeypatch.setattr(safe_download, "refusal_reason", lambda address: None if address == "127.0.0.1"
                        else real(address))


@pytest.fixture
def fake_dns(monkeypatch):
    """Resolve the names put in the returned dict ({name: [address, ...]}) to those addresses, without DNS; count
    the lookups of each in ``lookups``."""
    class Table(dict):
        lookups: dict = {}

    table, real = Table(), socket.getaddrinfo
    table.lookups = lookups = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host in table:
            lookups[host] = lookups.get(host, 0) + 1
            answers = table[host]
            addresses = answers[min(lookups[host], len(answers)) - 1]  # a list per lookup: the n-th, then the last
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port, 0, 0) if ":" in a else (a, port)) for a in addresses]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


# One address in every refused range, and the spellings of loopback and metadata that fool string checks.
RANGE_SAMPLES = [str(network[1] if network.num_addresses > 1 else network[0])
                 for network, _ in safe_download.REFUSED_NETWORKS]
SPELLINGS = ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "017700000001",
             "localhost", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[0:0:0:0:0:0:0:1]",
             "169.254.169.254", "0xa9fea9fe", "[::ffff:169.254.169.254]", "[fe80::1%25lo]", "[fd00:ec2::254]",
             "0.0.0.0", "0", "255.255.255.255", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[2001::1]"]


def url_for(host: str, path: str = "/a.jpg", port: int | None = None) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}{f':{port}' if port else ''}{path}"


@pytest.mark.parametrize("address", RANGE_SAMPLES)
def test_refusal_reason_names_every_refused_range(address):
    reason = safe_download.refusal_reason(address)
    assert reason is not None
    assert any(str(network) in reason for network, _ in safe_download.REFUSED_NETWORKS)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700::1111",
                                     "::ffff:8.8.8.8", "100.128.0.1", "192.0.3.1", "172.32.0.1"])
def test_public_unicast_addresses_are_not_refused(address):
    assert safe_download.refusal_reason(address) is None


@pytest.mark.parametrize("host", RANGE_SAMPLES + SPELLINGS)
def test_direct_url_to_a_refused_address_is_a_422(image_host, monkeypatch, no_private, host):
    answer = ask(url_for(host))
    assert_refused(answer, "destination_refused")
    assert "only public internet addresses" in answer["error"]["message"]
    assert_next_good_request_answered(image_host, monkeypatch)


def test_default_refuses_the_local_image_host_and_the_setting_allows_it(image_host, monkeypatch, no_private):
    answer = ask(image_host + PANTS)
    assert_refused(answer, "destination_refused")
    assert "127.0.0.0/8 (loopback)" in answer["error"]["message"]
    assert safe_download.ALLOW_PRIVATE_URLS in answer["error"]["message"]
    assert_next_good_request_answered(image_host, monkeypatch)


@pytest.mark.parametrize("address", RANGE_SAMPLES + ["127.0.0.1"])
def test_hostname_resolving_to_a_refused_address_is_a_422(image_host, monkeypatch, no_private, fake_dns, address):
    fake_dns["evil.example"] = [[address]]
    assert_refused(ask("http://evil.example/a.jpg"), "destination_refused")
    assert_next_good_request_answered(image_host, monkeypatch)


def test_hostname_with_one_refused_address_among_public_ones_is_a_422(no_private, fake_dns):
    fake_dns["mixed.example"] = [["93.184.215.14", "10.0.0.7"]]
    answer = ask("http://mixed.example/a.jpg")
    assert_refused(answer, "destination_refused")
    assert "10.0.0.0/8 (private)" in answer["error"]["message"]


def is_the_image_host(host: str) -> bool:
    """True for the spellings of 127.0.0.1 itself, which ``loopback_is_public`` lets through."""
    try:
        return socket.inet_ntoa(socket.inet_aton(host)) == "127.0.0.1"
    except OSError:
        return host == "localhost"


@pytest.mark.parametrize("target", [url_for(host, "/latest/meta-data/") for host in RANGE_SAMPLES + SPELLINGS
                                    if not is_the_image_host(host)] + ["http://evil.example/"])
def test_redirect_to_a_refused_address_is_a_422(image_host, monkeypatch, loopback_is_public, fake_dns, target):
    fake_dns["evil.example"] = [["169.254.169.254"]]
    answer = ask(f"{image_host}/redirect?to={urllib.parse.quote(target, safe='')}")
    assert_refused(answer, "destination_refused")
    assert "redirect 1" in answer["error"]["message"]
    assert_next_good_request_answered(image_host, monkeypatch)


def test_loopback_is_public_fixture_lets_only_the_first_hop_through(image_host, loopback_is_public):
    assert ask(image_host + PANTS)["top_class"] == "pants"  # so the refusals above happen at the redirect


def test_dns_rebinding_has_no_window(image_host, loopback_is_public, fake_dns):
    """The name is looked up once per hop, and the connection goes to the address that was checked: a second lookup
    (what urllib's connect would do) would answer 10.0.0.7."""
    port = urllib.parse.urlsplit(image_host).port
    fake_dns["rebind.example"] = [["127.0.0.1"], ["10.0.0.7"]]
    answer = ask(f"http://rebind.example:{port}{PANTS}")
    assert (answer["status"], answer["top_class"]) == (200, "pants"), answer
    assert fake_dns.lookups["rebind.example"] == 1


def test_the_address_connected_to_is_checked_again(image_host, monkeypatch, no_private):
    """Even if the check before connecting were bypassed, the peer address of the socket is checked."""
    calls = []
    real = safe_download.refusal_reason

    def first_call_passes(address):
        calls.append(address)
        return None if len(calls) == 1 else real(address)

    monkeypatch.setattr(safe_download, "refusal_reason", first_call_passes)
    answer = ask(image_host + PANTS)
    assert_refused(answer, "destination_refused")
    assert "connected address" in answer["error"]["message"]
    assert calls == ["127.0.0.1", "127.0.0.1"]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_a_server_that_drips_is_cut_off_at_the_deadline(image_host, monkeypatch, path):
    """Without the overall deadline these answers would take 100,000 x 0.2 s (body) or forever (headers): the
    per-read timeout never fires, since a byte comes every 0.2 s. pytest-timeout fails the test if it hangs."""
    monkeypatch.setattr(safe_download, "FETCH_TIMEOUT_S", 1.0)
    answer = ask(image_host + path)
    assert_refused(answer, "fetch_timeout")
    assert "1 s" in answer["error"]["message"]
    assert_next_good_request_answered(image_host, monkeypatch)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("path, code", [
    ("/endless", "image_too_large"),  # no Content-Length, never ends: the cap stops the read
    ("/huge-length", "image_too_large"),  # declares 10^12 bytes: refused before reading
    ("/bomb.png", "image_too_large"),  # 49 M pixels in a small PNG: refused from the header, before decoding
    ("/huge-bomb.png", "image_too_large"),  # 400 M pixels
    ("/truncated.jpg", "not_an_image"),
    ("/short-body.jpg", "fetch_failed"),  # the connection closes before Content-Length bytes came
    ("/image-labelled-html.jpg", "not_an_image"),  # image bytes, text/html type
    ("/html-labelled-jpeg.jpg", "not_an_image"),  # HTML bytes, image/jpeg type
    ("/gzipped.jpg", "not_an_image"),  # Content-Encoding: gzip
    ("/secret-error", "upstream_http_error"),
])
def test_hostile_answers_get_their_documented_4xx(image_host, monkeypatch, path, code):
    monkeypatch.setattr(safe_download, "MAX_IMAGE_BYTES", 1_000_000)
    assert_refused(ask(image_host + path), code)
    assert_next_good_request_answered(image_host, monkeypatch)


def test_the_pixel_cap_is_checked_before_decoding(image_host, monkeypatch):
    decoded = []
    real_load = safe_download.Image.Image.load
    monkeypatch.setattr(safe_download.Image.Image, "load", lambda self: decoded.append(self.size) or real_load(self))
    assert_refused(ask(image_host + "/bomb.png"), "image_too_large")
    assert decoded == []


def test_the_byte_cap_is_enforced_while_reading(image_host, monkeypatch):
    """The endless body is refused after reading about the cap, not after reading it all (it has no end)."""
    monkeypatch.setattr(safe_download, "MAX_IMAGE_BYTES", 300_000)
    read = []
    real_read1 = safe_download.http.client.HTTPResponse.read1
    monkeypatch.setattr(safe_download.http.client.HTTPResponse, "read1",
                        lambda self, n=-1: read.append(len(chunk := real_read1(self, n))) or chunk)
    assert_refused(ask(image_host + "/endless"), "image_too_large")
    assert 300_000 < sum(read) <= 300_000 + safe_download.READ_CHUNK_BYTES


@pytest.fixture
def request_log():
    """The JSON lines the handler logs while the test runs."""
    with captured_request_log() as lines:
        yield lines


@pytest.mark.parametrize("path", ["/secret-error", "/secret-page", "/html-labelled-jpeg.jpg", "/drip-headers"])
def test_errors_never_echo_the_target_body_or_environment_values(image_host, monkeypatch, request_log, path):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ENV)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET_ENV)
    monkeypatch.setattr(safe_download, "FETCH_TIMEOUT_S", 1.0)
    answer = ask(image_host + path)
    assert 400 <= answer["status"] < 500
    for text in [json.dumps(answer), *request_log]:
        assert "SECRET-BODY" not in text and SECRET_ENV not in text


def test_one_json_log_line_per_request_with_ids_outcome_and_durations(image_host, request_log):
    class Context:
        aws_request_id = "c0ffee00-0000-4000-8000-000000000001"

    lambda_function.lambda_handler({"url": image_host + PANTS + "?X-Amz-Signature=SIGNATURE"}, Context())
    lambda_function.lambda_handler({"url": image_host + "/missing.jpg"}, Context())
    ask("not a url")
    assert len(request_log) == 3
    good, missing, bad = (json.loads(line) for line in request_log)
    assert (good["request_id"], good["status"], good["outcome"], good["top_class"]) == (
        Context.aws_request_id, 200, "ok", "pants")
    assert good["host"] == "127.0.0.1" and good["bytes"] > 0 and good["width"] > 0
    assert 0 < good["download_ms"] < good["duration_ms"] and good["inference_ms"] > 0
    assert (missing["status"], missing["outcome"], missing["error_code"]) == (422, "client_error",
                                                                              "upstream_http_error")
    assert (bad["status"], bad["event"], bad["error_code"]) == (400, "proxy", "invalid_url")
    assert bad["api_request_id"] and bad["request_id"] is None
    assert "SIGNATURE" not in "".join(request_log) and "samples" not in "".join(request_log)


# HTTPS: the connection is pinned to an address, but the certificate is still checked against the host name.
@pytest.fixture(scope="module")
def tls_image_host():
    """An HTTPS image host on 127.0.0.1 with a certificate for ``localhost`` from a throwaway CA; yields
    (port, the CA's ssl context for clients)."""
    trustme = pytest.importorskip("trustme", reason="trustme is in requirements/dev.txt")
    ca = trustme.CA()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ImageHost)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    yield server.server_address[1], client_context
    server.shutdown()
    server.server_close()


def test_https_image_with_a_valid_certificate(monkeypatch, tls_image_host):
    port, context = tls_image_host
    monkeypatch.setattr(safe_download, "_tls_context", context)
    answer = ask(f"https://localhost:{port}{PANTS}")
    assert (answer["status"], answer["top_class"]) == (200, "pants"), answer


def test_https_certificate_for_another_name_is_refused(monkeypatch, tls_image_host):
    port, context = tls_image_host
    monkeypatch.setattr(safe_download, "_tls_context", context)
    answer = ask(f"https://127.0.0.1:{port}{PANTS}")  # the certificate names localhost, not 127.0.0.1
    assert_refused(answer, "fetch_failed")
    assert "certificate" in answer["error"]["message"]


def test_https_to_a_host_with_an_unknown_ca_is_refused(tls_image_host):
    port, _ = tls_image_host
    assert_refused(ask(f"https://localhost:{port}{PANTS}"), "fetch_failed")
