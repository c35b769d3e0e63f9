"""Hostile requests and hostile image hosts, on the network side of the handler's download
(solutions/03_lambda_code/safe_download.py) and its request log line (lambda_function.log_request):

- URLs that cannot name a valid host or port are refused 400 ``invalid_url`` before any lookup or connection;
- no message repeats a value the URL or the image host supplied (a SENTINEL planted in each is never in the answer);
- the request log line is bounded, whatever the request or the host sent;
- informational (1xx) answers before the final one are read past, within the deadline and the byte cap;
- a host name lookup that never returns costs only its own request.

The hostile answers come from a raw socket server built here (``raw_host``), which sends exactly the bytes a test
scripts: interim answers before the final one, any reason phrase, header lines http.server would not write.
"""

import json
import socket
import ssl
import threading
import time
import urllib.parse

import lambda_function
import pytest
import safe_download
from conftest import ImageHost, ask, assert_next_good_request_answered, assert_refused, captured_request_log

from tutorial_support.events import url_event

PANTS = "/samples/pants/0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"
JPEG = ImageHost.jpeg
SENTINEL = "sentinel7c1e"  # planted in URLs and answers; never to come back in a message






def assert_no_sentinel(answer: dict) -> None:
    assert SENTINEL not in json.dumps(answer).lower(), answer




@pytest.fixture
def no_network_touched(monkeypatch):
    """Records every lookup and connection attempt; the list stays empty for a URL refused before any."""
    touched = []

    def getaddrinfo(host, *args, **kwargs):
        touched.append(("lookup", host))
        raise socket.gaierror(socket.EAI_NONAME, "not looked up in this test")

    def connect(sock, address):
        touched.append(("connect", address))
        raise ConnectionRefusedError(111, "not connected in this test")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return touched


# ---------------------------------------------------------------------------------------- URL validation

INVALID_URLS = {
    "NUL in the host": f"http://{SENTINEL}\x00.example/a.jpg",
    "DEL in the host": f"http://{SENTINEL}\x7f.example/a.jpg",
    "C1 control in the host": f"http://{SENTINEL}\x85.example/a.jpg",
    "tab in the host (urlsplit would drop it)": f"http://{SENTINEL}\t.example/a.jpg",
    "newline in the host": f"http://{SENTINEL}\n.example/a.jpg",
    "unpaired surrogate in the host": f"http://{SENTINEL}\ud800.example/a.jpg",
    "unpaired surrogate in the path": f"http://{SENTINEL}.example/\udc80.jpg",
    "port 0": f"http://{SENTINEL}.example:0/a.jpg",
    "port 65536": f"http://{SENTINEL}.example:65536/a.jpg",
    "port 99999": f"http://{SENTINEL}.example:99999/a.jpg",
    "signed port": f"http://{SENTINEL}.example:+80/a.jpg",
    "hex port": f"http://{SENTINEL}.example:0x50/a.jpg",
    "two ports": f"http://{SENTINEL}.example:80:81/a.jpg",
    "empty host": "http:///a.jpg",
    "empty host with a port": "http://:80/a.jpg",
    "space in the host": f"http://{SENTINEL} x.example/a.jpg",
    "percent in the host": f"http://{SENTINEL}%2e.example/a.jpg",
    "backslash in the host": f"http://{SENTINEL}.example\\evil.example/a.jpg",
    "empty label": f"http://{SENTINEL}..example/a.jpg",
    "leading dot": f"http://.{SENTINEL}.example/a.jpg",
    "label of 64 characters": f"http://{SENTINEL}{'a' * 64}.example/a.jpg",
    "host name of 254 characters": f"http://{SENTINEL[:8]}.{'abcdefgh.' * 26}abcdefghijk/a.jpg",
    "host name of 254 characters and a dot": f"http://{SENTINEL[:8]}.{'abcdefgh.' * 26}abcdefghijk./a.jpg",
    "a megabyte of host name": f"http://{SENTINEL}{'a' * 1_000_000}.example/a.jpg",
    "fullwidth solidus, NFKC '/'": f"http://{SENTINEL}\uff0fexample.com/a.jpg",
    "ends in a number, not IPv4": "http://1.2.3.999/a.jpg",
    "invalid octal": "http://08/a.jpg",
    "IPv4 with a final dot": "http://127.0.0.1./a.jpg",
    "unclosed bracket": f"http://[::1{SENTINEL}/a.jpg",
    "IPv4 in brackets": "http://[1.2.3.4]/a.jpg",
    "IPvFuture in brackets": f"http://[v1.{SENTINEL}]/a.jpg",
    "text after the bracket": f"http://[::1]{SENTINEL}/a.jpg",
    "empty zone": "http://[fe80::1%25]/a.jpg",
    "user name": f"http://{SENTINEL}@example.com/a.jpg",
    "empty user name": "http://@example.com/a.jpg",
    "user and password": f"http://user:{SENTINEL}@example.com/a.jpg",
    "no //": f"http:{SENTINEL}.example/a.jpg",
    "ftp": f"ftp://{SENTINEL}.example/a.jpg",
}


@pytest.mark.parametrize("url", INVALID_URLS.values(), ids=INVALID_URLS.keys())
def test_a_url_that_cannot_name_a_host_or_port_is_a_400_before_any_lookup_or_connection(
        image_host, monkeypatch, no_network_touched, url):
    answer = ask(url)
    assert_refused(answer, "invalid_url", 400)
    assert no_network_touched == []
    assert_no_sentinel(answer)
    assert "URL" in answer["error"]["message"]  # a rule about the URL, in words
    monkeypatch.undo()  # the real network functions again, for the next request
    assert_next_good_request_answered(image_host, monkeypatch)


VALID_URLS = {  # url: (host, port) as the connection will use them
    "http://example.com/a.jpg": ("example.com", None),
    "HTTPS://Example.COM:8443/a.jpg": ("example.com", 8443),
    "http://example.com./a.jpg": ("example.com.", None),  # the root's dot
    "http://example.com:/a.jpg": ("example.com", None),  # an empty port is the default (RFC 3986, 3.2.3)
    "http://my_bucket.s3.amazonaws.com/a.jpg": ("my_bucket.s3.amazonaws.com", None),
    "https://b\u00fccher.example/a.jpg": ("b\u00fccher.example", None),  # IDNA: xn--bcher-kva.example
    "http://xn--bcher-kva.example/a.jpg": ("xn--bcher-kva.example", None),
    f"http://{'a' * 63}.example/a.jpg": (f"{'a' * 63}.example", None),
    f"http://{'abcdefgh.' * 27}abcdefghij/a.jpg": (f"{'abcdefgh.' * 27}abcdefghij", None),  # 253 characters
    f"http://{'abcdefgh.' * 27}abcdefghij./a.jpg": (f"{'abcdefgh.' * 27}abcdefghij.", None),  # and the root's dot
    "http://2130706433/a.jpg": ("2130706433", None),  # numeric IPv4 spellings, checked as addresses later
    "http://0x7f.1:65535/a.jpg": ("0x7f.1", 65535),
    "http://[::1]:1/a.jpg": ("::1", 1),
    "http://[fe80::1%25eth0]/a.jpg": ("fe80::1%eth0", None),
    "http://example.com/caf\u00e9 menu.jpg?size=large#top": ("example.com", None),
}


@pytest.mark.parametrize("url, host_and_port", VALID_URLS.items(), ids=VALID_URLS.keys())
def test_urls_that_name_a_valid_host_and_port_are_accepted_as_they_are(url, host_and_port):
    assert safe_download.validate_url(f"  {url}\n") == url
    assert safe_download._authority(url)[1:] == host_and_port


def test_port_0_is_no_longer_fetched_from_port_80(monkeypatch, no_network_touched):
    """It was read as 'no port' (0 is false) and fetched from 80."""
    answer = ask("http://127.0.0.1:0/a.jpg")
    assert_refused(answer, "invalid_url", 400)
    assert "port" in answer["error"]["message"] and no_network_touched == []


# ------------------------------------------------------------------------------------- hostile image hosts


class RawHost:
    """A TCP server on 127.0.0.1 that answers each path with bytes scripted in ``answers``: {path: [bytes, ...]}
    (the parts are sent one after the other; ``HOLD`` in the list keeps the connection open until the client
    closes it)."""

    HOLD = object()

    def __init__(self):
        self.answers = {}
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    def _answer(self, client):
        with client:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = client.recv(65536)
                if not chunk:
                    return
                request += chunk
            path = request.split(b" ", 2)[1].decode()
            try:
                for part in self.answers.get(path, [b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"]):
                    if part is self.HOLD:
                        client.settimeout(30)
                        while client.recv(65536):
                            pass
                        return
                    client.sendall(part)
            except OSError:  # the client hung up first
                pass

    def close(self):
        self.server.close()


@pytest.fixture(scope="module")
def raw_host():
    host = RawHost()
    yield host
    host.close()


def image_answer(body: bytes = JPEG, status: bytes = b"200 OK", content_type: bytes = b"image/jpeg",
                 extra: bytes = b"", length: int | None = None) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type + b"\r\nContent-Length: "
            + str(len(body) if length is None else length).encode() + b"\r\nConnection: close\r\n" + extra
            + b"\r\n" + body)


HOSTILE_ANSWERS = {  # path: (the answer, the code it gets)
    "/content-type": (image_answer(content_type=f"text/{SENTINEL}".encode()), "not_an_image"),
    "/content-type-params": (image_answer(content_type=f"application/{SENTINEL}; q={SENTINEL}".encode()),
                             "not_an_image"),
    "/content-encoding": (image_answer(extra=f"Content-Encoding: {SENTINEL}\r\n".encode()), "not_an_image"),
    "/reason-phrase": (image_answer(status=f"404 {SENTINEL}".encode()), "upstream_http_error"),
    "/unregistered-status": (image_answer(status=f"599 {SENTINEL}".encode()), "upstream_http_error"),
    "/declared-length": (image_answer(length=98765432109), "image_too_large"),
    "/short-body": (image_answer(body=JPEG[:100], length=98765), "fetch_failed"),
    "/bad-status-line": (f"HTTP/1.1 2OO {SENTINEL}\r\n\r\n".encode(), "fetch_failed"),
    "/bad-header": (f"HTTP/1.1 200 OK\r\n{'x' * 70000}{SENTINEL}\r\n\r\n".encode(), "fetch_failed"),
    "/redirect-scheme": (image_answer(b"", b"302 Found", extra=f"Location: {SENTINEL}://x/\r\n".encode()),
                         "destination_refused"),
    "/redirect-control": (image_answer(b"", b"302 Found", extra=f"Location: http://{SENTINEL}\x01x/\r\n".encode()),
                          "destination_refused"),
    "/redirect-port-0": (image_answer(b"", b"302 Found", extra=f"Location: http://{SENTINEL}.example:0/\r\n".encode()),
                         "destination_refused"),
    "/redirect-empty-label": (image_answer(b"", b"302 Found",
                                           extra=f"Location: http://{SENTINEL}..example/\r\n".encode()),
                              "destination_refused"),
    "/redirect-bracket": (image_answer(b"", b"302 Found", extra=f"Location: http://[{SENTINEL}/\r\n".encode()),
                          "destination_refused"),
    "/redirect-unresolvable": (image_answer(b"", b"302 Found",
                                            extra=f"Location: http://{SENTINEL}.invalid/\r\n".encode()),
                               "fetch_failed"),
    "/redirect-private": (image_answer(b"", b"302 Found", extra=f"Location: http://{SENTINEL}.internal/\r\n".encode()),
                          "destination_refused"),
}


@pytest.fixture
def sentinel_dns(monkeypatch):
    """``SENTINEL.internal`` resolves to a private address, ``SENTINEL.invalid`` to nothing; other names as usual."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == f"{SENTINEL}.internal":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]
        if host == f"{SENTINEL}.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def loopback_is_public(monkeypatch):
    """The deployed setting, but with exactly 127.0.0.1 treated as public: the raw host is the first hop."""
    monkeypatch.delenv("ALLOW_PRIVATE_URLS", raising=False)
    real = safe_download.refusal_reason
    monkeypatch.setattr(safe_download, "refusal_reason", lambda address: None if address == "127.0.0.1"
                        else real(address))


@pytest.mark.parametrize("path", HOSTILE_ANSWERS)
def test_no_message_repeats_what_the_image_host_sent(image_host, monkeypatch, raw_host, sentinel_dns,
                                                     loopback_is_public, path):
    answer_bytes, code = HOSTILE_ANSWERS[path]
    raw_host.answers[path] = [answer_bytes]
    monkeypatch.setattr(safe_download, "MAX_IMAGE_BYTES", 1_000_000)
    with captured_request_log() as log:
        answer = ask(raw_host.url(path))
    assert_refused(answer, code)
    assert_no_sentinel(answer)
    assert "98765" not in answer["error"]["message"]  # nor the lengths the host declared
    record = json.loads(log[0])
    assert (record["status"], record["error_code"]) == (422, code)
    if not path.startswith("/redirect"):  # a redirect's host is the log's documented "host" field
        assert SENTINEL not in log[0]
    assert_next_good_request_answered(image_host, monkeypatch)


def test_a_certificate_for_another_name_is_refused_without_naming_the_redirect_host(
        image_host, monkeypatch, raw_host, loopback_is_public):
    """OpenSSL's own message names the host the certificate was checked against: here the redirect's."""
    trustme = pytest.importorskip("trustme", reason="trustme is in requirements/dev.txt")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    monkeypatch.setattr(safe_download, "_tls_context", client_context)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_one_handshake():
        with listener:
            client, _ = listener.accept()
            try:
                server_context.wrap_socket(client, server_side=True).close()
            except (ssl.SSLError, OSError):
                client.close()

    threading.Thread(target=serve_one_handshake, daemon=True).start()
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))] if host == f"{SENTINEL}.example"
        else real(host, port, *a, **k))
    location = f"https://{SENTINEL}.example:{listener.getsockname()[1]}/a.jpg"
    raw_host.answers["/redirect-tls"] = [image_answer(b"", b"302 Found", extra=f"Location: {location}\r\n".encode())]
    answer = ask(raw_host.url("/redirect-tls"))
    assert_refused(answer, "fetch_failed")
    assert "certificate" in answer["error"]["message"] and "another host name" in answer["error"]["message"]
    assert_no_sentinel(answer)
    assert_next_good_request_answered(image_host, monkeypatch)


# ------------------------------------------------------------------------------- informational (1xx) answers

EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"


@pytest.mark.parametrize("interim", [[EARLY_HINTS], [CONTINUE], [CONTINUE, PROCESSING, EARLY_HINTS, EARLY_HINTS],
                                     [b"HTTP/1.1 199 Unknown Informational\r\nX-A: 1\r\nX-B: 2\r\n\r\n"]],
                         ids=["103", "100", "100 102 103 103", "unknown 1xx"])
def test_informational_answers_before_the_image_are_read_past(raw_host, interim):
    """RFC 9110, 15.2: a client must be able to parse one or more 1xx answers before the final one."""
    raw_host.answers["/hinted"] = [*interim, image_answer()]
    answer = ask(raw_host.url("/hinted"))
    assert (answer["status"], answer.get("top_class")) == (200, "pants"), answer


def test_informational_answers_sent_in_pieces_are_read_past(raw_host):
    raw_host.answers["/hinted-pieces"] = [EARLY_HINTS[:20], EARLY_HINTS[20:], *image_answer().partition(b"\r\n")]
    answer = ask(raw_host.url("/hinted-pieces"))
    assert (answer["status"], answer.get("top_class")) == (200, "pants"), answer


def test_informational_answers_count_against_the_byte_cap(raw_host, monkeypatch):
    """With the cap a few hundred bytes over the image, the image alone passes and the same image after 103s
    carrying 1 KB of hints each does not."""
    monkeypatch.setattr(safe_download, "MAX_IMAGE_BYTES", len(JPEG) + 500)
    big_hints = b"HTTP/1.1 103 Early Hints\r\nLink: <" + b"a" * 1000 + b">; rel=preload\r\n\r\n"
    raw_host.answers["/plain"] = [image_answer()]
    raw_host.answers["/big-hints"] = [big_hints, image_answer()]
    raw_host.answers["/many-big-hints"] = [big_hints] * 8 + [image_answer()]
    assert ask(raw_host.url("/plain"))["status"] == 200
    assert_refused(ask(raw_host.url("/big-hints")), "image_too_large")  # the body no longer fits
    assert_refused(ask(raw_host.url("/many-big-hints")), "image_too_large")  # the hints alone are over


def test_more_informational_answers_than_the_limit_are_refused(raw_host):
    limit = safe_download.MAX_INTERIM_ANSWERS
    raw_host.answers["/at-limit"] = [PROCESSING] * limit + [image_answer()]
    raw_host.answers["/over-limit"] = [PROCESSING] * (limit + 1) + [image_answer()]
    assert ask(raw_host.url("/at-limit"))["status"] == 200
    answer = ask(raw_host.url("/over-limit"))
    assert_refused(answer, "upstream_http_error")
    assert "informational" in answer["error"]["message"]


@pytest.mark.timeout(20)
def test_informational_answers_are_within_the_same_deadline(raw_host, monkeypatch):
    """A 103 and then nothing: the deadline's watchdog ends the wait for the final answer."""
    monkeypatch.setattr(safe_download, "FETCH_TIMEOUT_S", 0.5)
    raw_host.answers["/hint-then-silence"] = [EARLY_HINTS, RawHost.HOLD]
    assert_refused(ask(raw_host.url("/hint-then-silence")), "fetch_timeout")


def test_101_switching_protocols_is_not_read_past(raw_host):
    """Never asked for (no Upgrade header is sent): it is a final answer, and not a 200."""
    raw_host.answers["/switch"] = [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", image_answer()]
    answer = ask(raw_host.url("/switch"))
    assert_refused(answer, "upstream_http_error")
    assert "101" in answer["error"]["message"]


# ------------------------------------------------------------------------------------------ hung lookups


@pytest.fixture
def hanging_dns(monkeypatch):
    """Names starting with ``hang-`` never resolve (until the test ends); ``ok.example`` resolves at once to
    127.0.0.1. Yields the event that releases the hung lookups."""
    release = threading.Event()

    def getaddrinfo(host, port, *args, **kwargs):
        if host.startswith("hang-"):
            release.wait(timeout=60)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        if host == "ok.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(safe_download, "FETCH_TIMEOUT_S", 0.5)
    yield release
    release.set()


def wait_for_lookups_to_end(seconds: float = 10) -> int:
    end = time.monotonic() + seconds
    while safe_download._lookups["in_flight"] and time.monotonic() < end:
        time.sleep(0.01)
    return safe_download._lookups["in_flight"]


def ask_all(urls: list[str]) -> list[dict]:
    """The answers to ``urls``, asked at the same time from one thread each (a threaded server's requests)."""
    answers = [None] * len(urls)

    def one(i):
        answers[i] = ask(urls[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.timeout(30)
def test_hung_lookups_cost_only_their_own_requests(image_host, hanging_dns):
    """Six lookups that never return (more than the four threads of the old resolver pool), at once and then one by
    one: each of their requests times out, and the next ordinary name is still looked up and fetched."""
    port = urllib.parse.urlsplit(image_host).port
    hung = [f"http://hang-{i}.example/a.jpg" for i in range(6)]
    before = wait_for_lookups_to_end()
    for answer in ask_all(hung[:3]) + [ask(url) for url in hung[3:]]:
        assert_refused(answer, "fetch_timeout")
    assert safe_download._lookups["in_flight"] == before + 6  # still hung, each in its own thread
    answer = ask(f"http://ok.example:{port}{PANTS}")
    assert (answer["status"], answer.get("top_class")) == (200, "pants"), answer
    hanging_dns.set()
    assert wait_for_lookups_to_end() == 0


@pytest.mark.timeout(30)
def test_lookups_over_the_cap_get_a_clear_503_not_a_hang_and_slots_come_back(image_host, monkeypatch, hanging_dns):
    port = urllib.parse.urlsplit(image_host).port
    monkeypatch.setattr(safe_download, "MAX_LOOKUPS_IN_FLIGHT", 2)
    assert wait_for_lookups_to_end() == 0
    for answer in ask_all(["http://hang-a.example/a.jpg", "http://hang-b.example/a.jpg"]):
        assert_refused(answer, "fetch_timeout")
    answer = ask(f"http://ok.example:{port}{PANTS}")
    assert_refused(answer, "lookups_busy", 503)
    assert "2 host name lookups" in answer["error"]["message"]
    ip_answer = ask(f"http://127.0.0.1:{port}{PANTS}")  # an address needs no lookup: still served
    assert (ip_answer["status"], ip_answer.get("top_class")) == (200, "pants"), ip_answer
    hanging_dns.set()  # the resolver gives up on the hung names: their slots come back
    assert wait_for_lookups_to_end() == 0
    answer = ask(f"http://ok.example:{port}{PANTS}")
    assert (answer["status"], answer.get("top_class")) == (200, "pants"), answer


def test_a_failed_lookup_names_the_rule_not_the_host(no_network_touched):
    answer = ask(f"http://{SENTINEL}.example/a.jpg")
    assert_refused(answer, "fetch_failed")
    assert "could not resolve the URL's host" in answer["error"]["message"]
    assert_no_sentinel(answer)
    assert safe_download._lookups["in_flight"] == 0


# --------------------------------------------------------------------------------------- request log bound

HOSTILE_TEXTS = {
    "ASCII": "a" * 1_000_000,
    "quotes (2 bytes each in JSON)": '"' * 1_000_000,
    "control characters (6 bytes each)": "\x01" * 1_000_000,
    "astral characters (12 bytes each)": "\U0001f600" * 1_000_000,
    "mixed": ("a\"\x01\u00e9\U0001f600" * 200_000),
}


@pytest.mark.parametrize("text", HOSTILE_TEXTS.values(), ids=HOSTILE_TEXTS.keys())
def test_every_text_field_of_the_log_line_is_cut_and_the_line_is_bounded(text):
    class Context:
        aws_request_id = text

    event = {"requestContext": {"requestId": text}, "body": "{}"}
    result = {"error": {"status": 500, "code": text, "message": text}, "top_class": text}
    download = {"host": text, "redirects": 3, "bytes": 10**12, "width": 2**32, "height": 2**32,
                "download_ms": 1e300}
    with captured_request_log() as log:
        record = lambda_function.log_request(event, Context(), 500, result, download, 1e300)
    assert len(log) == 1 and len(log[0].encode()) <= lambda_function.LOG_LINE_MAX_BYTES
    assert json.loads(log[0]) == record
    for key in ("request_id", "api_request_id", "error_code", "top_class", "host"):
        value = record[key]
        assert value.endswith(lambda_function.LOG_TRUNCATED) and text.startswith(value.removesuffix(
            lambda_function.LOG_TRUNCATED))
        assert len(json.dumps(value)) - 2 <= lambda_function.LOG_FIELD_MAX_BYTES


def test_short_log_fields_are_written_as_they_are():
    text = "\u00e9\"x" * 10  # 10 x (6 + 2 + 1) = 90 bytes of JSON: under the field bound
    record = lambda_function.log_request({"requestContext": {"requestId": text}}, None, 200, {"top_class": "pants"},
                                         {"host": text}, 0.01)
    assert (record["api_request_id"], record["host"], record["top_class"]) == (text, text, "pants")
    exact = "a" * lambda_function.LOG_FIELD_MAX_BYTES
    assert lambda_function.log_request({}, None, 200, {}, {"host": exact}, 0.01)["host"] == exact
    assert lambda_function.log_request({}, None, 200, {}, {"host": exact + "b"}, 0.01)["host"].endswith(
        lambda_function.LOG_TRUNCATED)


def test_a_megabyte_of_host_name_and_request_id_writes_a_bounded_log_line(no_network_touched):
    """What the issue saw: a URL with a 1 MB host name wrote a 1 MB log line. The URL is now refused before its host
    is recorded, and the request id the event carries is cut."""
    event = url_event(f"http://{'a' * 1_000_000}.example/a.jpg")
    event["requestContext"]["requestId"] = "r" * 1_000_000
    with captured_request_log() as log:
        answer = ask("", event)
    assert_refused(answer, "invalid_url", 400)
    assert len(log) == 1 and len(log[0].encode()) <= lambda_function.LOG_LINE_MAX_BYTES
    assert json.loads(log[0])["api_request_id"].endswith(lambda_function.LOG_TRUNCATED)


def test_the_readme_states_the_log_line_bound():
    from conftest import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    assert f"{lambda_function.LOG_LINE_MAX_BYTES:,} bytes" in readme
    assert f"{lambda_function.LOG_FIELD_MAX_BYTES} bytes" in readme
    assert f"`{lambda_function.LOG_TRUNCATED}`" in readme

