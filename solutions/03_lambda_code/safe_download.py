"""Download and decode an image from a URL that a stranger sent, without letting them use the function against you.

The deployed handler fetches whatever URL arrives at a public endpoint, from inside your AWS account: on Lambda the
Runtime API listens on 127.0.0.1:9001, and elsewhere instance metadata answers on 169.254.169.254. This module
refuses that kind of server-side request forgery (SSRF) and bounds what one request can cost:

- **Public addresses only.** Every address the URL's host resolves to must be a public unicast address (see
  ``refusal_reason`` for the ranges refused). The check is made on the address the socket then connects to (the
  host is resolved once and the connection pinned to that address, so DNS rebinding has no window), again on the
  socket's peer address once connected, and again at every redirect. Numeric hosts in decimal, octal or hex
  (``http://2130706433/``, ``http://0x7f.1/``) are read as IPv4 addresses, as the C library would, and checked.
- **URLs that can name a host and a port**, checked before any lookup or connection (``validate_url``), and
  again for every redirect: no control characters or unpaired surrogates, a host name of letters, digits, ``-``,
  ``_`` and dots within DNS's lengths (IDNA for an internationalized name), an IPv4 or a bracketed IPv6 address, a
  port in 1-65535, no user name.
- **Few redirects** (``MAX_REDIRECTS``), to http and https URLs only. Environment proxies are ignored.
- **One deadline** (``FETCH_TIMEOUT_S``) for the whole download: DNS, connection, TLS, redirects, headers and body.
  A watchdog shuts the socket at the deadline, so a server that drips one byte a second is cut off. Informational
  answers (1xx, such as 103 Early Hints) are read past to the final one within it. Each name lookup runs in a
  daemon thread of its own, so a lookup that never returns costs only its own request; at most
  ``MAX_LOOKUPS_IN_FLIGHT`` run at once, and a request past that is answered 503 at once.
- **A byte cap** (``MAX_IMAGE_BYTES``) checked on the declared ``Content-Length`` and while reading; the bytes of
  informational answers count against it.
- **Images only:** a ``Content-Type`` of ``image/*`` (or a generic binary type, or none), no ``Content-Encoding``,
  and bytes that ``safe_image.decode_image`` decodes: a JPEG, PNG or WebP (``IMAGE_FORMATS``) under the pixel cap
  (``MAX_IMAGE_PIXELS``, checked on the header before any pixel is decoded), with the decoder's work bounded
  whatever the file's structure (scans, chunks, frames, coding), turned upright and converted to RGB.
- Errors (``RequestError``) name the rule that refused the request. They never repeat a value the URL or the
  image host supplied (host name, content type, encoding, reason phrase, declared length, response body), nor any
  environment value.

Local use (the demo, the tests, ``make serve``, the notebooks) fetches photos from a server on 127.0.0.1, so it opts
in to private addresses with one setting: the environment variable ``ALLOW_PRIVATE_URLS=1``. Everything else above
still applies. The deployed function never sets it (``solutions/05_deploy/deploy.py`` sets no environment).

No library does all of this for Python's standard HTTP client; ``requests-hardened`` (Saleor) pins and checks the
address with ``requests``, but has no overall deadline or streaming byte cap, and lets only loopback be opted in.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
from contextlib import contextmanager

from PIL import Image
from safe_image import (  # noqa: F401 (re-exported)
    IMAGE_FORMATS,
    MAX_IMAGE_PIXELS,
    MAX_UPLOAD_BYTES,
    RequestError,
    check_upload_size,
    decode_image,
)

ALLOW_PRIVATE_URLS = "ALLOW_PRIVATE_URLS"  # the environment variable that opts in to private addresses (local use)
FETCH_TIMEOUT_S = float(os.environ.get("FETCH_TIMEOUT_S", "10"))  # deadline for the whole download, seconds
MAX_IMAGE_BYTES = int(os.environ.get("MAX_IMAGE_BYTES", str(10 * 1024 * 1024)))  # bytes downloaded, at most
MAX_REDIRECTS = 3
ALLOWED_SCHEMES = ("http", "https")
BINARY_TYPES = ("application/octet-stream", "binary/octet-stream")  # what S3 serves for a file uploaded untyped
USER_AGENT = "serverless-dl-clothing/1.0"
READ_CHUNK_BYTES = 64 * 1024
MAX_HOST_CHARS = 253  # a DNS name's length, at most, without its final dot (RFC 1035, 2.3.4; RFC 1123, 2.1)
MAX_LABEL_CHARS = 63  # one label of a DNS name (RFC 1035, 2.3.4), after IDNA encoding
MAX_INTERIM_ANSWERS = 10  # informational (1xx) answers read past before the final one, at most (RFC 9110, 15.2)
MAX_LOOKUPS_IN_FLIGHT = 32  # host name lookups still running in this process, at most: more are refused with 503
HOST_LABEL = re.compile(r"[a-z0-9_-]+")  # a label of a host name, once IDNA-encoded and lower-cased
NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")  # a label that only an IPv4 address can end in (RFC 3696, 2)
ZONE_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")  # an IPv6 zone, RFC 6874: unreserved characters
FORBIDDEN_IN_URL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # control characters, lone surrogates

# Refused destinations: the entries of IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its
# updates; iana.org/assignments/iana-ipv4-special-registry, .../iana-ipv6-special-registry) plus multicast
# (RFC 5771, RFC 4291) and CGNAT. IPv6 is allowed only in 2000::/3, the global unicast space (RFC 4291, 2.4); an
# IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged as the IPv4 address it maps.
REFUSED_NETWORKS = tuple((ipaddress.ip_network(network), name) for network, name in (
    ("0.0.0.0/8", "'this network', unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT, shared address space"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local, where instance metadata answers"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation, TEST-NET-1"),
    ("192.88.99.0/24", "6to4 relay anycast, deprecated"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation, TEST-NET-2"),
    ("203.0.113.0/24", "documentation, TEST-NET-3"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved, and 255.255.255.255 broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b::/96", "NAT64, embedding an IPv4 address"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments: Teredo, benchmarking, ORCHID"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4, embedding an IPv4 address"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing, SRv6"),
    ("fc00::/7", "unique local, private"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local, deprecated"),
    ("ff00::/8", "multicast"),
))
IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")

_tls_context = ssl.create_default_context()  # certificate and host name checked against the system's CAs
_lookups = {"in_flight": 0, "lock": threading.Lock()}  # host name lookups still running, each in its own thread
_local = threading.local()


def private_urls_allowed() -> bool:
    """True when the environment variable ``ALLOW_PRIVATE_URLS`` is ``1``: local use, where photos are served from
    127.0.0.1. Read on every request, so a test or a notebook can switch it."""
    return os.environ.get(ALLOW_PRIVATE_URLS) == "1"


def refusal_reason(address: str) -> str | None:
    """Why ``address`` is not a destination a public endpoint may fetch from, or None if it is public unicast.

    Args:
        address: an IPv4 or IPv6 address as text (an IPv6 scope such as ``%eth0`` is allowed).

    Returns:
        the refused range and its name, for example ``"127.0.0.0/8 (loopback)"``; None for a public unicast
        address.

    Raises:
        ValueError: ``address`` is not an IP address.
    """
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network, name in REFUSED_NETWORKS:
        if ip.version == network.version and ip in network:
            return f"{network} ({name})"
    if ip.version == 6 and ip not in IPV6_GLOBAL_UNICAST:
        return f"reserved IPv6 space, outside the global unicast {IPV6_GLOBAL_UNICAST}"
    return None


def _invalid(rule: str) -> RequestError:
    return RequestError(400, "invalid_url", rule)


def _authority(url: str) -> tuple[str, str, int | None]:
    """The scheme (lower-cased), host and port of ``url``, checked: the one parser of URLs that ``validate_url`` and
    the connection share, so that what is fetched is what was checked.

    The host is a host name (lower-cased; an internationalized name stays as written, IDNA encodes it when looked
    up), an IPv4 address in a form ``inet_aton`` reads, or an IPv6 literal without its brackets, its zone decoded
    (``fe80::1%eth0``). The port is None when the URL names none.

    Raises:
        RequestError: 400 ``invalid_url``, naming the rule broken and never the URL's text.
    """
    if FORBIDDEN_IN_URL.search(url):  # urlsplit would silently drop a tab or a newline, and http.client refuse the rest
        raise _invalid("the URL contains a control character or an unpaired surrogate (U+D800 to U+DFFF)")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # an unclosed "[", or a host that NFKC-normalizes to a "/", "?", "#", "@" or ":"
        raise _invalid("the URL's host is not a host name, an IPv4 address or an IPv6 address in brackets") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES or not url[len(scheme) + 1:].startswith("//"):
        raise _invalid("only absolute http and https URLs (http://host/path) are accepted")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at:  # http://trusted.example@evil.example/ reads as trusted.example to a person; the request never sends it
        raise _invalid("URLs with a user name or password (user:pass@host) are not accepted")
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _invalid("the URL's host in brackets is not followed by a port or the end of the host")
        port_text = rest[1:] if rest else None
        address, percent, zone = host.partition("%25")  # the zone of a link-local address: [fe80::1%25eth0]
        if percent:
            if not ZONE_ID.fullmatch(zone):
                raise _invalid("the zone of the URL's IPv6 address has a character a zone cannot have")
            host = f"{address}%{zone}"
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise _invalid("the URL's host in brackets is not an IPv6 address") from None
    else:
        host, colon, port_text = hostport.partition(":")
        port_text = port_text if colon else None
        host = _check_host_name(host.lower())
    port = None
    if port_text:  # an empty port (http://host:/) is the scheme's default (RFC 3986, 3.2.3)
        if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5 and 1 <= int(port_text) <= 65535):
            raise _invalid("the URL's port is not a number from 1 to 65535")
        port = int(port_text)
    return scheme, host, port


def _check_host_name(host: str) -> str:
    """``host`` if it can be a host name or an IPv4 address: at most ``MAX_HOST_CHARS`` characters once IDNA-encoded
    (what ``getaddrinfo`` and the TLS handshake send), labels of 1 to ``MAX_LABEL_CHARS`` letters, digits, ``-`` and
    ``_``, and, when the last label is a number, an IPv4 address ``inet_aton`` reads (no top-level domain is all
    digits, RFC 3696, 2); RequestError 400 ``invalid_url`` otherwise."""
    if not host:
        raise _invalid("the URL has no host")
    if len(host) > MAX_HOST_CHARS + 1:  # checked first, so that a megabyte of host name costs nothing more
        raise _invalid(f"the URL's host name is longer than {MAX_HOST_CHARS} characters")
    try:
        encoded = host.encode("idna").decode("ascii")  # IDNA 2003, as socket.getaddrinfo and ssl encode a name
    except UnicodeError:
        raise _invalid("the URL's host name is not a valid internationalized name, or has an empty label or one "
                       f"longer than {MAX_LABEL_CHARS} characters") from None
    labels = encoded.removesuffix(".").split(".")  # one final dot names the root: "example.com." is valid
    if len(encoded.removesuffix(".")) > MAX_HOST_CHARS:
        raise _invalid(f"the URL's host name is longer than {MAX_HOST_CHARS} characters")
    if not all(0 < len(label) <= MAX_LABEL_CHARS for label in labels):
        raise _invalid(f"the URL's host name has an empty label or one longer than {MAX_LABEL_CHARS} characters")
    if not all(HOST_LABEL.fullmatch(label) for label in labels):
        raise _invalid("the URL's host name has a character other than letters, digits, '-', '_' and '.'")
    if NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            socket.inet_aton(host)
        except OSError:
            raise _invalid("the URL's host ends in a number but is not an IPv4 address") from None
    return host


def validate_url(url) -> str:
    """Return ``url``, stripped, if it is an absolute http(s) URL whose host can be a host name or an IP address,
    with a valid port and no user name: checked before any lookup or connection.

    Refused: control characters (C0, DEL, C1) and unpaired surrogates anywhere in the URL; an empty host; a host name
    with a character other than letters, digits, ``-``, ``_`` and ``.`` (an internationalized name is read as its
    IDNA form), an empty label, a label over ``MAX_LABEL_CHARS`` or a name over ``MAX_HOST_CHARS`` characters; a
    host ending in a number that is not an IPv4 address; brackets around anything but an IPv6 address; a port
    outside 1-65535 (port 0 included); a user name or password (``user@host``: it makes a URL read as another host
    to a person, and would never be sent).

    Raises:
        RequestError: 400 ``missing_url`` when absent or not a string, 400 ``invalid_url`` otherwise. The message
        names the rule and never repeats the URL.
    """
    if url is None:
        raise RequestError(400, "missing_url", 'the request needs a "url" field with an image URL')
    if not isinstance(url, str):
        raise RequestError(400, "missing_url", f'"url" must be a string, got {type(url).__name__}')
    url = url.strip()
    _authority(url)
    return url


def _timed_out() -> RequestError:
    return RequestError(422, "fetch_timeout", f"the image took longer than {FETCH_TIMEOUT_S:g} s to download")


class _Deadline:
    """The time left until one download's deadline, and the watchdog that shuts its socket when it passes."""

    def __init__(self, seconds: float):
        self.end, self.expired, self._sock, self._lock = time.monotonic() + seconds, False, None, threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        """Seconds left; RequestError 422 ``fetch_timeout`` when none."""
        left = self.end - time.monotonic()
        if left <= 0 or self.expired:
            raise _timed_out()
        return left

    def watch(self, sock) -> None:
        """Shut ``sock`` down at the deadline (and now, if it has passed)."""
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shutdown()

    def _expire(self):
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self):
        if self._sock is not None:
            try:  # socket.socket's own shutdown, also for an SSLSocket: it wakes a thread blocked in recv
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self):
        self._timer.cancel()


def _lookup_busy() -> RequestError:
    return RequestError(503, "lookups_busy", f"{MAX_LOOKUPS_IN_FLIGHT} host name lookups are still running in this "
                                             "copy of the function; try again in a few seconds")


def _resolve(host: str, port: int, deadline: _Deadline, what: str = "the URL's host") -> list[tuple[int, tuple]]:
    """The (family, socket address) pairs of ``host``: an IPv4 address in any form ``inet_aton`` reads (decimal,
    octal, hex, short), an IPv6 literal, or a name resolved with ``getaddrinfo`` within the deadline.

    A name is looked up in a daemon thread of its own, so that a lookup that never returns costs only the request
    that made it: that request gets ``fetch_timeout`` at its deadline, and the next one starts its own thread. The
    thread holds one of ``MAX_LOOKUPS_IN_FLIGHT`` slots until ``getaddrinfo`` returns (the C library's resolver gives
    up after its own timeouts), which bounds the threads a flood of such names can leave behind.

    Raises:
        RequestError: 422 ``fetch_timeout`` at the deadline, 422 ``fetch_failed`` when the name does not resolve
        (the message names ``what``, never the name), 503 ``lookups_busy`` when all the slots are taken.
    """
    try:
        return [(socket.AF_INET, (socket.inet_ntoa(socket.inet_aton(host)), port))]
    except OSError:
        pass
    deadline.left()  # raises fetch_timeout when no time is left to look up
    with _lookups["lock"]:
        if _lookups["in_flight"] >= MAX_LOOKUPS_IN_FLIGHT:
            raise _lookup_busy()
        _lookups["in_flight"] += 1
    answer, done = {}, threading.Event()

    def look_up():
        try:
            answer["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as e:  # noqa: BLE001 (handed to the request's thread, which decides)
            answer["error"] = e
        finally:
            with _lookups["lock"]:
                _lookups["in_flight"] -= 1
            done.set()

    try:
        threading.Thread(target=look_up, name="resolve", daemon=True).start()
    except RuntimeError:  # no thread can be started now
        with _lookups["lock"]:
            _lookups["in_flight"] -= 1
        raise _lookup_busy() from None
    if not done.wait(deadline.left()):
        deadline.expired = True
        deadline.left()  # raises fetch_timeout
    if "error" in answer:
        if isinstance(answer["error"], (OSError, UnicodeError)):
            raise RequestError(422, "fetch_failed", f"could not resolve {what}") from None
        raise answer["error"]
    return [(family, sockaddr) for family, _, _, _, sockaddr in answer["infos"]
            if family in (socket.AF_INET, socket.AF_INET6)]


def _check(address: str, what: str) -> None:
    """RequestError 422 ``destination_refused`` if ``address`` is not public and private addresses are not allowed."""
    if private_urls_allowed():
        return
    reason = refusal_reason(address)
    if reason:
        raise RequestError(422, "destination_refused",
                           f"{what} is in {reason}; only public internet addresses are fetched "
                           f"(set {ALLOW_PRIVATE_URLS}=1 to allow private ones, for local use only)")


class _Response(http.client.HTTPResponse):
    """An HTTP answer that reads past the informational (1xx) answers before the final one, as a client must
    (RFC 9110, 15.2): 100 Continue, 102 Processing, 103 Early Hints and any unknown 1xx. They are read within the
    same deadline (the watchdog shuts the socket), at most ``MAX_INTERIM_ANSWERS`` of them, and their bytes
    (``interim_bytes``) count against the same ``MAX_IMAGE_BYTES`` as the body. 101 Switching Protocols, never asked
    for, is returned as the final answer (and so refused as not a 200)."""

    interim_bytes = 0
    max_line, max_fields = 65536, 100  # http.client's own limits on the final answer's header lines

    def _read_status(self):
        for _ in range(MAX_INTERIM_ANSWERS + 1):
            version, status, reason = super()._read_status()
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            self._count(len(version) + len(reason) + 5)  # the status line (a run of spaces in it counts as one)
            for _ in range(self.max_fields + 1):  # its header fields, read and dropped
                line = self.fp.readline(self.max_line + 1)
                if len(line) > self.max_line:
                    raise http.client.LineTooLong("header line")
                self._count(len(line))
                if line in (b"\r\n", b"\n", b""):
                    break
            else:
                raise http.client.HTTPException(f"more than {self.max_fields} header fields")
        raise RequestError(422, "upstream_http_error", f"the image host sent more than {MAX_INTERIM_ANSWERS} "
                                                       "informational (1xx) answers before its final answer")

    def _count(self, size: int) -> None:
        self.interim_bytes += size
        if self.interim_bytes > MAX_IMAGE_BYTES:
            raise RequestError(422, "image_too_large", "the informational (1xx) answers before the image are over "
                                                       f"the limit of {MAX_IMAGE_BYTES} bytes")


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to ``host`` that connects to one address resolved and checked beforehand; ``what`` names
    the host in messages ("the URL's host", "the host of redirect 1"), which never repeat the host name."""

    response_class = _Response

    def __init__(self, host: str, port: int, address: tuple[int, tuple], deadline: _Deadline, tls: bool,
                 what: str = "the URL's host"):
        super().__init__(host, port, timeout=deadline.left())
        self._address, self._deadline, self._tls, self._what = address, deadline, tls, what
        self.default_port = 443 if tls else 80  # so that the Host header names no port when the URL names none

    def connect(self):
        family, sockaddr = self._address
        sock = socket.socket(family, socket.SOCK_STREAM)
        self._deadline.watch(sock)
        try:
            sock.settimeout(self._deadline.left())
            sock.connect(sockaddr)
            _check(sock.getpeername()[0], f"the connected address of {self._what}")
            if self._tls:  # the certificate is checked against the host name, not the address connected to
                sock = _tls_context.wrap_socket(sock, server_hostname=self.host)
                self._deadline.watch(sock)
        except BaseException:
            sock.close()
            raise
        self.sock = self.pinned_sock = sock  # http.client drops self.sock when the response is to close it


def _get(url: str, deadline: _Deadline, hop: int) -> tuple[_Response, _PinnedConnection]:
    """Send ``GET url`` (a URL ``validate_url`` accepted) to a checked address; return the response (headers read)
    and its connection."""
    scheme, host, port = _authority(url)
    tls = scheme == "https"
    port = port or (443 if tls else 80)
    what = "the URL's host" if hop == 0 else f"the host of redirect {hop}"
    addresses = _resolve(host, port, deadline, what)
    if not addresses:
        raise RequestError(422, "fetch_failed", f"{what} has no IPv4 or IPv6 address")
    for _, sockaddr in addresses:  # every address of the name must be public, not only the first
        _check(sockaddr[0], what)
    connection = _PinnedConnection(host, port, addresses[0], deadline, tls, what)
    parts = urllib.parse.urlsplit(url)
    target = urllib.parse.quote(urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")),
                                safe="/?&=%:@!$'()*+,;-._~")  # spaces and non-ASCII characters percent-encoded
    try:
        connection.request("GET", target, headers={"User-Agent": USER_AGENT, "Accept": "image/*",
                                                   "Accept-Encoding": "identity"})
        return connection.getresponse(), connection
    except BaseException:
        connection.close()
        raise


def _read_capped(response: _Response, connection: _PinnedConnection, deadline: _Deadline) -> bytes:
    """The response body, read in chunks with the socket timeout set to the time left: at most ``MAX_IMAGE_BYTES``,
    less the bytes of the informational answers before it.

    Raises:
        RequestError: 422 ``image_too_large`` (declared or read over the cap), ``fetch_failed`` (the connection
        closed before the declared length), ``fetch_timeout``. Messages never repeat a length the host declared.
    """
    limit = MAX_IMAGE_BYTES - response.interim_bytes
    declared = response.length  # http.client's reading of Content-Length: None when absent, invalid or chunked
    if declared is not None and declared > limit:
        raise RequestError(422, "image_too_large",
                           f"the image's declared Content-Length is over the byte cap; the limit is {MAX_IMAGE_BYTES} "
                           "bytes")
    body = bytearray()
    while not response.isclosed():  # http.client closes it once Content-Length bytes are read
        connection.pinned_sock.settimeout(deadline.left())
        chunk = response.read1(READ_CHUNK_BYTES)
        if not chunk:
            break
        body += chunk
        if len(body) > limit:
            raise RequestError(422, "image_too_large", f"the image is over the limit of {MAX_IMAGE_BYTES} bytes")
    deadline.left()  # raises fetch_timeout when the watchdog is what ended the body
    if declared is not None and len(body) < declared:
        raise RequestError(422, "fetch_failed",
                           "the image host closed the connection before sending the Content-Length it declared")
    return bytes(body)


def _status_name(status: int) -> str:
    """``"HTTP 404 (Not Found)"`` for a status code in the HTTP registry (``http.HTTPStatus``), a fixed phrase for any
    other: never the reason phrase the host sent."""
    try:
        return f"HTTP {status} ({http.HTTPStatus(status).phrase})"
    except ValueError:
        return "with a status code outside the HTTP registry"


def _check_headers(response: _Response) -> None:
    """RequestError 422 for an answer that is not a 200 carrying an uncompressed image. The messages name the rule,
    never the content type, encoding or reason phrase the host sent."""
    if response.status != 200:
        raise RequestError(422, "upstream_http_error", f"the image host answered {_status_name(response.status)}, "
                                                       "not 200")
    media_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if media_type and not media_type.startswith("image/") and media_type not in BINARY_TYPES:
        raise RequestError(422, "not_an_image", "the URL gave content that is not an image: its Content-Type is "
                                                f"neither image/* nor {' or '.join(BINARY_TYPES)}")
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise RequestError(422, "not_an_image", "the image came compressed (a Content-Encoding other than "
                                                "identity); only plain bytes are accepted")


# OpenSSL's verification errors (X509_V_ERR_*) that a client can act on; their own text can name the host.
_CERTIFICATE_ERRORS = {9: "not valid yet", 10: "expired", 18: "self-signed", 19: "from an untrusted chain",
                       20: "from an untrusted issuer", 21: "from an untrusted issuer", 62: "for another host name"}


def _redirect(url: str, location: str | None, hop: int) -> str:
    """The URL that redirect ``hop`` (1, 2, ...) of ``url`` leads to, checked as ``validate_url`` checks the client's.

    Raises:
        RequestError: 422 ``upstream_http_error`` without a Location, 422 ``destination_refused`` for a URL that is
        not http(s) or not valid (the message names the rule, never the Location).
    """
    if not location:
        raise RequestError(422, "upstream_http_error", "the image host redirected without a Location")
    refused = f"redirect {hop} leads to"
    if FORBIDDEN_IN_URL.search(location):
        raise RequestError(422, "destination_refused", f"{refused} a URL with a control character")
    try:
        url = urllib.parse.urljoin(url, location.strip())
    except ValueError:
        raise RequestError(422, "destination_refused", f"{refused} a URL that cannot be parsed") from None
    if urllib.parse.urlsplit(url).scheme.lower() not in ALLOWED_SCHEMES:
        raise RequestError(422, "destination_refused", f"{refused} a URL that is not http or https")
    try:
        return validate_url(url)
    except RequestError as e:
        raise RequestError(422, "destination_refused", f"{refused} a URL that cannot be fetched: {e.message}") from None


def fetch(url: str) -> bytes:
    """Download ``url`` under the rules in this module's docstring.

    Returns:
        the body of the final 200 answer, at most ``MAX_IMAGE_BYTES`` bytes.

    Raises:
        RequestError: 400 ``missing_url`` / ``invalid_url`` (see ``validate_url``); 422 ``destination_refused``
        (a non-public address, or a redirect to a URL that is not http/https or not valid), ``too_many_redirects``,
        ``fetch_failed`` (DNS, connection or TLS failure), ``fetch_timeout``, ``upstream_http_error`` (an answer
        other than 200 or a redirect), ``image_too_large`` (bytes) or ``not_an_image`` (content type or encoding);
        503 ``lookups_busy`` (see ``_resolve``). No message repeats a value the URL or the image host supplied.
    """
    url = validate_url(url)
    deadline = _Deadline(FETCH_TIMEOUT_S)
    stats = getattr(_local, "stats", None)
    try:
        for hop in range(MAX_REDIRECTS + 1):
            if stats is not None:
                stats.update(host=_authority(url)[1], redirects=hop)
            response, connection = _get(url, deadline, hop)
            try:
                if response.status in (301, 302, 303, 307, 308):
                    url = _redirect(url, response.getheader("Location"), hop + 1)
                    continue
                _check_headers(response)
                body = _read_capped(response, connection, deadline)
                if stats is not None:
                    stats["bytes"] = len(body)
                return body
            finally:
                connection.close()
        raise RequestError(422, "too_many_redirects", f"the image host redirected more than {MAX_REDIRECTS} times")
    except RequestError:
        if deadline.expired:  # the watchdog cut a read short: say so
            deadline.left()
        raise
    except (OSError, http.client.HTTPException, ValueError) as e:  # ssl.SSLError and socket.timeout are OSErrors
        if deadline.expired or isinstance(e, TimeoutError):
            raise _timed_out() from None
        if isinstance(e, ssl.SSLCertVerificationError):  # its verify_message can name the host: not repeated
            reason = f"TLS certificate not valid: {_CERTIFICATE_ERRORS.get(e.verify_code, 'refused by OpenSSL')}"
        elif isinstance(e, OSError):
            reason = e.strerror or type(e).__name__
        else:  # the text of an HTTPException can quote what the server sent: give its kind only
            reason = f"malformed HTTP answer ({type(e).__name__})"
        raise RequestError(422, "fetch_failed", f"could not fetch the image: {str(reason)[:200]}") from None
    finally:
        deadline.cancel()


def download_image(url: str, target_size: tuple[int, int] | None = None) -> Image.Image:
    """Download ``url`` with ``fetch`` and decode it with ``safe_image.decode_image``.

    Args:
        url: the image's URL, as the client sent it.
        target_size: the model's input size (width, height); a JPEG is then decoded at a reduced scale that keeps
            it at least ``safe_image.DRAFT_MARGIN`` times this size. None: full size.

    Returns:
        a loaded Pillow image in mode ``RGB``, upright as its EXIF orientation says.

    Raises:
        RequestError: as ``fetch``; and as ``safe_image.decode_image``: 422 ``image_too_large`` (pixels, from the
        header), ``image_too_complex`` (more scans, segments or chunks than a photo has) or ``not_an_image`` (bytes
        that are not a complete JPEG, PNG or WebP, or an animation).
    """
    started = time.perf_counter()
    stats = getattr(_local, "stats", None)
    try:
        return decode_image(fetch(url), target_size, header=stats)
    finally:
        if stats is not None:
            stats["download_ms"] = round((time.perf_counter() - started) * 1000, 1)


def image_from_bytes(data: bytes, target_size: tuple[int, int] | None = None) -> Image.Image:
    """Decode an upload (the image's bytes, sent by the client itself rather than a URL) exactly as ``download_image``
    decodes downloaded bytes: the same ``safe_image.decode_image``, the same bounds, recorded for the request log the
    same way (``bytes``, ``width``, ``height``; no ``host``). Nothing is fetched, so none of the SSRF rules apply.

    Args:
        data: the file's bytes, at most ``MAX_UPLOAD_BYTES``.
        target_size: as for ``download_image``.

    Returns:
        a loaded Pillow image in mode ``RGB``, upright as its EXIF orientation says.

    Raises:
        RequestError: 413 ``payload_too_large`` (over ``MAX_UPLOAD_BYTES``, checked before decoding); and as
        ``safe_image.decode_image``: 422 ``image_too_large``, ``image_too_complex`` or ``not_an_image``.
    """
    check_upload_size(data)
    stats = getattr(_local, "stats", None)
    if stats is not None:
        stats["bytes"] = len(data)
    return decode_image(data, target_size, header=stats)


@contextmanager
def recording():
    """Within this block, ``download_image`` (and ``image_from_bytes``) on this thread records into the yielded dict:
    ``host``, ``redirects``, ``bytes``, ``width``, ``height`` and ``download_ms`` (what it got to). For the handler's
    request log."""
    _local.stats = stats = {}
    try:
        yield stats
    finally:
        _local.stats = None
