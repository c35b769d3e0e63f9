"""Download and decode an image from a URL that a stranger sent, without letting them use the function against you.

The deployed handler fetches whatever URL arrives at a public endpoint, from inside your AWS account: on Lambda the
Runtime API listens on 127.0.0.1:9001, and elsewhere instance metadata answers on 169.254.169.254. This module
refuses that kind of server-side request forgery (SSRF) and bounds what one request can cost:

- **Public addresses only.** Every address the URL's host resolves to must be a public unicast address (see
  ``refusal_reason`` for the ranges refused). The check is made on the address the socket then connects to (the
  host is resolved once and the connection pinned to that address, so DNS rebinding has no window), again on the
  socket's peer address once connected, and again at every redirect. Numeric hosts in decimal, octal or hex
  (``http://2130706433/``, ``http://0x7f.1/``) are read as IPv4 addresses, as the C library would, and checked.
- **Few redirects** (``MAX_REDIRECTS``), to http and https URLs only. Environment proxies are ignored.
- **One deadline** (``FETCH_TIMEOUT_S``) for the whole download: DNS, connection, TLS, redirects, headers and body.
  A watchdog shuts the socket at the deadline, so a server that drips one byte a second is cut off.
- **A byte cap** (``MAX_IMAGE_BYTES``) checked on the declared ``Content-Length`` and while reading, and a **pixel
  cap** (``MAX_IMAGE_PIXELS``) checked on the image header before any pixel is decoded.
- **Images only:** a ``Content-Type`` of ``image/*`` (or a generic binary type, or none), no ``Content-Encoding``,
  and bytes Pillow decodes as one of ``IMAGE_FORMATS``.
- Errors (``RequestError``) say what was refused and why. They never repeat the response body of the target or any
  environment value.

Local use (the demo, the tests, ``make serve``, the notebooks) fetches photos from a server on 127.0.0.1, so it opts
in to private addresses with one setting: the environment variable ``ALLOW_PRIVATE_URLS=1``. Everything else above
still applies. The deployed function never sets it (``solutions/05_deploy/deploy.py`` sets no environment).

No library does all of this for Python's standard HTTP client; ``requests-hardened`` (Saleor) pins and checks the
address with ``requests``, but has no overall deadline or streaming byte cap, and lets only loopback be opted in.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import ipaddress
import os
import socket
import ssl
import threading
import time
import urllib.parse
import warnings
from contextlib import contextmanager

from PIL import Image

ALLOW_PRIVATE_URLS = "ALLOW_PRIVATE_URLS"  # the environment variable that opts in to private addresses (local use)
FETCH_TIMEOUT_S = float(os.environ.get("FETCH_TIMEOUT_S", "10"))  # deadline for the whole download, seconds
MAX_IMAGE_BYTES = int(os.environ.get("MAX_IMAGE_BYTES", str(10 * 1024 * 1024)))  # bytes downloaded, at most
MAX_IMAGE_PIXELS = 40_000_000  # width x height, at most (Pillow's own decompression-bomb limit is about 89 M)
MAX_REDIRECTS = 3
ALLOWED_SCHEMES = ("http", "https")
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")  # the only decoders Pillow may use on downloaded bytes
BINARY_TYPES = ("application/octet-stream", "binary/octet-stream")  # what S3 serves for a file uploaded untyped
USER_AGENT = "serverless-dl-clothing/1.0"
READ_CHUNK_BYTES = 64 * 1024

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
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")  # DNS, with a deadline
_local = threading.local()


class RequestError(Exception):
    """A problem with the client's request or the image its URL points to: answered with a 4xx status.

    Attributes:
        status: HTTP status code (400 for a malformed request, 422 for a URL that cannot give an image).
        code: a stable machine-readable error code, listed in the README.
        message: one sentence for the client; never the target's response body or an environment value.
    """

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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


def validate_url(url) -> str:
    """Return ``url``, stripped, if it is an absolute http(s) URL with a host, a valid port and no user name.

    Raises:
        RequestError: 400 ``missing_url`` when absent or not a string, 400 ``invalid_url`` otherwise.
    """
    if url is None:
        raise RequestError(400, "missing_url", 'the request needs a "url" field with an image URL')
    if not isinstance(url, str):
        raise RequestError(400, "missing_url", f'"url" must be a string, got {type(url).__name__}')
    url = url.strip()
    invalid = RequestError(400, "invalid_url", f"only absolute http and https URLs are accepted, got {url[:200]!r}")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number in 0-65535)
    except ValueError:
        raise invalid from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        raise invalid
    if parts.username is not None or parts.password is not None:
        raise RequestError(400, "invalid_url", "URLs with a user name or password (user:pass@host) are not accepted")
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


def _resolve(host: str, port: int, deadline: _Deadline) -> list[tuple[int, tuple]]:
    """The (family, socket address) pairs of ``host``: an IPv4 address in any form ``inet_aton`` reads (decimal,
    octal, hex, short), an IPv6 literal, or a name resolved with ``getaddrinfo`` within the deadline."""
    try:
        return [(socket.AF_INET, (socket.inet_ntoa(socket.inet_aton(host)), port))]
    except OSError:
        pass
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=deadline.left())
    except concurrent.futures.TimeoutError:
        deadline.expired = True
        deadline.left()  # raises fetch_timeout
    except (OSError, UnicodeError):
        raise RequestError(422, "fetch_failed", f"could not resolve the host name {host[:100]!r}") from None
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos if family in (socket.AF_INET, socket.AF_INET6)]


def _check(address: str, what: str) -> None:
    """RequestError 422 ``destination_refused`` if ``address`` is not public and private addresses are not allowed."""
    if private_urls_allowed():
        return
    reason = refusal_reason(address)
    if reason:
        raise RequestError(422, "destination_refused",
                           f"{what} is in {reason}; only public internet addresses are fetched "
                           f"(set {ALLOW_PRIVATE_URLS}=1 to allow private ones, for local use only)")


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to ``host`` that connects to one address resolved and checked beforehand."""

    def __init__(self, host: str, port: int, address: tuple[int, tuple], deadline: _Deadline, tls: bool):
        super().__init__(host, port, timeout=deadline.left())
        self._address, self._deadline, self._tls = address, deadline, tls
        self.default_port = 443 if tls else 80  # so that the Host header names no port when the URL names none

    def connect(self):
        family, sockaddr = self._address
        sock = socket.socket(family, socket.SOCK_STREAM)
        self._deadline.watch(sock)
        try:
            sock.settimeout(self._deadline.left())
            sock.connect(sockaddr)
            _check(sock.getpeername()[0], f"the connected address of {self.host}")
            if self._tls:  # the certificate is checked against the host name, not the address connected to
                sock = _tls_context.wrap_socket(sock, server_hostname=self.host)
                self._deadline.watch(sock)
        except BaseException:
            sock.close()
            raise
        self.sock = self.pinned_sock = sock  # http.client drops self.sock when the response is to close it


def _get(url: str, deadline: _Deadline, hop: int) -> tuple[http.client.HTTPResponse, _PinnedConnection]:
    """Send ``GET url`` to a checked address; return the response (headers read) and its connection."""
    parts = urllib.parse.urlsplit(url)
    tls = parts.scheme.lower() == "https"
    host, port = parts.hostname, parts.port or (443 if tls else 80)
    if ":" in host:  # an IPv6 literal; its zone, if any, is percent-encoded in a URL: [fe80::1%25eth0]
        host = urllib.parse.unquote(host)
    what = "the URL's host" if hop == 0 else f"the host of redirect {hop}"
    addresses = _resolve(host, port, deadline)
    if not addresses:
        raise RequestError(422, "fetch_failed", f"the host name {host[:100]!r} has no IP address")
    for _, sockaddr in addresses:  # every address of the name must be public, not only the first
        _check(sockaddr[0], what)
    connection = _PinnedConnection(host, port, addresses[0], deadline, tls)
    target = urllib.parse.quote(urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")),
                                safe="/?&=%:@!$'()*+,;-._~")  # spaces and non-ASCII characters percent-encoded
    try:
        connection.request("GET", target, headers={"User-Agent": USER_AGENT, "Accept": "image/*",
                                                   "Accept-Encoding": "identity"})
        return connection.getresponse(), connection
    except BaseException:
        connection.close()
        raise


def _read_capped(response: http.client.HTTPResponse, connection: _PinnedConnection, deadline: _Deadline) -> bytes:
    """The response body, read in chunks with the socket timeout set to the time left; at most ``MAX_IMAGE_BYTES``."""
    declared = response.getheader("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > MAX_IMAGE_BYTES:
        raise RequestError(422, "image_too_large",
                           f"the image is {int(declared):,} bytes; the limit is {MAX_IMAGE_BYTES}")
    body = bytearray()
    while not response.isclosed():  # http.client closes it once Content-Length bytes are read
        connection.pinned_sock.settimeout(deadline.left())
        chunk = response.read1(READ_CHUNK_BYTES)
        if not chunk:
            break
        body += chunk
        if len(body) > MAX_IMAGE_BYTES:
            raise RequestError(422, "image_too_large", f"the image is over the limit of {MAX_IMAGE_BYTES} bytes")
    deadline.left()  # raises fetch_timeout when the watchdog is what ended the body
    if declared.strip().isdigit() and len(body) < int(declared):
        raise RequestError(422, "fetch_failed",
                           f"the image host closed the connection after {len(body):,} of {int(declared):,} bytes")
    return bytes(body)


def _check_headers(response: http.client.HTTPResponse) -> None:
    """RequestError 422 for an answer that is not a 200 carrying an uncompressed image."""
    if response.status != 200:
        raise RequestError(422, "upstream_http_error",
                           f"the image host answered HTTP {response.status}")
    media_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if media_type and not media_type.startswith("image/") and media_type not in BINARY_TYPES:
        raise RequestError(422, "not_an_image", f"the URL gave {media_type[:100]!r} content, not an image")
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise RequestError(422, "not_an_image", f"the image came compressed ({encoding[:50]!r}); only plain bytes "
                                                "are accepted")


def fetch(url: str) -> bytes:
    """Download ``url`` under the rules in this module's docstring.

    Returns:
        the body of the final 200 answer, at most ``MAX_IMAGE_BYTES`` bytes.

    Raises:
        RequestError: 400 ``missing_url`` / ``invalid_url`` (see ``validate_url``); 422 ``destination_refused``
        (a non-public address, or a redirect to a scheme other than http/https), ``too_many_redirects``,
        ``fetch_failed`` (DNS, connection or TLS failure), ``fetch_timeout``, ``upstream_http_error`` (an answer
        other than 200 or a redirect), ``image_too_large`` (bytes) or ``not_an_image`` (content type or encoding).
    """
    url = validate_url(url)
    deadline = _Deadline(FETCH_TIMEOUT_S)
    stats = getattr(_local, "stats", None)
    try:
        for hop in range(MAX_REDIRECTS + 1):
            if stats is not None:
                stats.update(host=urllib.parse.urlsplit(url).hostname, redirects=hop)
            response, connection = _get(url, deadline, hop)
            try:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.getheader("Location")
                    if not location:
                        raise RequestError(422, "upstream_http_error", "the image host redirected without a Location")
                    url = urllib.parse.urljoin(url, location.strip())
                    if urllib.parse.urlsplit(url).scheme.lower() not in ALLOWED_SCHEMES:
                        raise RequestError(422, "destination_refused",
                                           f"redirect {hop + 1} leads to a URL that is not http or https")
                    validate_url(url)
                    continue
                _check_headers(response)
                body = _read_capped(response, connection, deadline)
                if stats is not None:
                    stats["bytes"] = len(body)
                return body
            finally:
                connection.close()
        raise RequestError(422, "too_many_redirects", f"the image host redirected more than {MAX_REDIRECTS} times")
    except RequestError as e:
        if e.code != "fetch_timeout" and deadline.expired:  # the watchdog cut a read short: say so
            deadline.left()
        if e.code == "invalid_url":  # a redirect's URL, not the client's
            raise RequestError(422, "destination_refused", "a redirect leads to a URL that cannot be fetched") from None
        raise
    except (OSError, http.client.HTTPException, ValueError) as e:  # ssl.SSLError and socket.timeout are OSErrors
        if deadline.expired or isinstance(e, TimeoutError):
            raise _timed_out() from None
        if isinstance(e, ssl.SSLCertVerificationError):
            reason = f"TLS certificate not valid ({e.verify_message})"
        elif isinstance(e, OSError):
            reason = e.strerror or type(e).__name__
        else:  # the text of an HTTPException can quote what the server sent: give its kind only
            reason = f"malformed HTTP answer ({type(e).__name__})"
        raise RequestError(422, "fetch_failed", f"could not fetch the image: {str(reason)[:200]}") from None
    finally:
        deadline.cancel()


def download_image(url: str) -> Image.Image:
    """Download ``url`` with ``fetch`` and decode it, refusing more than ``MAX_IMAGE_PIXELS`` pixels before decoding.

    Returns:
        a fully decoded Pillow image (any mode; the handler's preprocessor converts it to RGB).

    Raises:
        RequestError: as ``fetch``; and 422 ``image_too_large`` (pixels) or ``not_an_image`` (bytes that are not
        a complete JPEG, PNG, WebP, GIF or BMP).
    """
    started = time.perf_counter()
    stats = getattr(_local, "stats", None)
    try:
        data = fetch(url)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)  # reads the header only
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError("over the pixel cap")
                img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise RequestError(422, "image_too_large", f"the image has more than {MAX_IMAGE_PIXELS:,} pixels") from None
        except (OSError, ValueError, SyntaxError, EOFError):  # Pillow's UnidentifiedImageError is an OSError
            raise RequestError(422, "not_an_image", "the URL did not give a complete JPEG, PNG, WebP, GIF or BMP "
                                                    "image") from None
        if stats is not None:
            stats.update(width=img.width, height=img.height)
        return img
    finally:
        if stats is not None:
            stats["download_ms"] = round((time.perf_counter() - started) * 1000, 1)


@contextmanager
def recording():
    """Within this block, ``download_image`` on this thread records into the yielded dict: ``host``, ``redirects``,
    ``bytes``, ``width``, ``height`` and ``download_ms`` (what it got to). For the handler's request log."""
    _local.stats = stats = {}
    try:
        yield stats
    finally:
        _local.stats = None
