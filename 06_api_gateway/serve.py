"""Serve the Lambda handler on 127.0.0.1 as API Gateway would call it, before anything is deployed (``make serve``).

    python solutions/06_api_gateway/serve.py [--port 8080]
    curl -X POST http://127.0.0.1:8080/predict -H 'Content-Type: application/json' -d '{"url": "https://..."}'

Each ``POST /predict`` becomes an HTTP API event with payload format 2.0 (``tutorial_support.events.http_api_event``:
``solutions/03_lambda_code/events/apigw-http-v2.json`` with this request's headers, body and path), goes to chapter
03's ``lambda_handler``, and its ``statusCode``, ``headers`` and ``body`` become the HTTP response. A body whose
``Content-Type`` is not JSON or text (a photo: ``image/jpeg``, ``image/png``, ``image/webp``) reaches the handler
base64-encoded with ``isBase64Encoded`` true, as an HTTP API delivers it: it decides from the request's Content-Type
(aws.amazon.com/blogs/compute/handling-binary-data-using-amazon-api-gateway-http-apis/). ``GET /`` is the web page
(``web/index.html``: take or choose a photo, or paste an image URL), under a strict Content-Security-Policy
(``content_security_policy``). Other paths and methods get 404 ``{"message": "Not Found"}``, as from an HTTP API with
no matching route. ``predict.py`` and ``curl`` work the same against this server and against the deployed API.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import json
import re
import sys
import threading
import urllib.parse
from contextlib import contextmanager

from predict import HINTS

from tutorial_support.events import http_api_event
from tutorial_support.lambda_runtime import load_handler
from tutorial_support.paths import HANDLER_DIR, SOLUTIONS

MAX_BODY_BYTES = 6 * 2**20  # Lambda's synchronous payload limit; API Gateway refuses larger requests with 413
PAGE = SOLUTIONS / "06_api_gateway" / "web" / "index.html"  # served at GET /
PAGE_PATHS = ("/", "/index.html")
PAGE_CONFIG = re.compile(r'(<script type="application/json" id="page-config">)(.*?)(</script>)', re.DOTALL)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
INLINE_CODE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)  # the page's own code: tags without attributes
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# The page sends no credentials: an API made with AUTH=iam or AUTH=jwt answers it 401 or 403.
NO_CREDENTIALS = ("this page sends no credentials, so it works with an API made with AUTH=none (the default of make "
                  "api); for AUTH=iam or AUTH=jwt, use predict.py (--auth iam, --token)")


def page_config(lambda_handler) -> dict:
    """What ``serve.py`` tells the page (its JSON block ``page-config``): ``maxUploadBytes``, the handler module's
    ``MAX_UPLOAD_BYTES`` (None for a handler without it: the page then leaves the size to the handler's 413), and
    ``hints``, what API Gateway's own error answers mean (``predict.HINTS``, by HTTP status; 401 and 403 say that
    the page sends no credentials)."""
    module = sys.modules.get(getattr(lambda_handler, "__module__", None) or "")
    limit = getattr(module, "MAX_UPLOAD_BYTES", None)
    hints = {**HINTS, 401: NO_CREDENTIALS, 403: NO_CREDENTIALS}
    return {"maxUploadBytes": limit if isinstance(limit, int) else None,
            "hints": {str(status): hint for status, hint in sorted(hints.items())}}


def render_page(config: dict, html: str | None = None) -> str:
    """The page (``PAGE``, or ``html``) with ``config`` in its JSON block ``page-config`` (``<`` escaped, so that no
    value can end the block)."""
    html = PAGE.read_text(encoding="utf-8") if html is None else html
    data = json.dumps(config).replace("<", "\\u003c")
    return PAGE_CONFIG.sub(lambda match: match.group(1) + data + match.group(3), html, count=1)


def endpoint_origin(endpoint: str | None) -> str | None:
    """The origin (``https://host[:port]``) of the page's ``?endpoint=`` for its ``connect-src``: an ``https`` URL, or
    ``http`` on this machine (``LOOPBACK_HOSTS``), with a plain host name or address; None for anything else (the
    page's requests to it are then blocked by the browser, and the page says why)."""
    try:
        parts = urllib.parse.urlsplit(endpoint or "")
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if not (re.fullmatch(r"[a-z0-9.-]+", host) or host == "::1"):
        return None
    if not (parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS)):
        return None
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{f':{port}' if port else ''}"


def content_security_policy(html: str, endpoint: str | None = None) -> str:
    """The page's Content-Security-Policy: nothing by default; its own inline ``<script>`` and ``<style>`` by their
    SHA-256 hashes (so no other script runs, injected or not); photos from the file picker (``blob:``) or from the
    web address given (``http:``/``https:``: an ``<img>`` only); requests to this server (``'self'``) and to the
    ``?endpoint=`` origin (``endpoint_origin``); no ``<base>``, no form submission, no framing.
    Directives: w3.org/TR/CSP3/."""
    hashes = {"script": [], "style": []}
    for kind, code in INLINE_CODE.findall(HTML_COMMENT.sub("", html)):
        digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    connect = ["'self'", *filter(None, [endpoint_origin(endpoint)])]
    return "; ".join([
        "default-src 'none'", " ".join(["script-src", *(hashes["script"] or ["'none'"])]),
        " ".join(["style-src", *(hashes["style"] or ["'none'"])]), "img-src blob: data: http: https:",
        " ".join(["connect-src", *connect]), "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ])


def proxy_response(response) -> tuple[int, dict, str]:
    """(status, headers, body) of the HTTP response API Gateway makes of a handler's return value (payload 2.0).

    ``{"statusCode": int, "headers": {...}, "body": str}`` is used as it is. A dict without ``statusCode`` is taken
    as the body of a 200 (format 2.0 infers that; 1.0 does not). A ``statusCode`` with a body that is not a string
    is a malformed proxy response: 502 ``{"message": "Internal Server Error"}``, the real answer lost.
    """
    json_type = {"Content-Type": "application/json"}
    if isinstance(response, dict) and "statusCode" in response:
        body = response.get("body")
        if body is None or isinstance(body, str):
            headers = {**json_type, **(response.get("headers") or {})}
            return int(response["statusCode"]), headers, body or ""
        return 502, json_type, json.dumps({"message": "Internal Server Error"})
    return 200, json_type, json.dumps(response)


def make_handler(lambda_handler, log: bool = True):
    """An ``http.server`` request handler class that answers ``POST /predict`` with ``lambda_handler`` and ``GET /``
    with the web page (``render_page``, ``content_security_policy``); ``log`` writes one line per request to stderr.

    Calls to ``lambda_handler`` take turns, as in one Lambda execution environment, which runs one invocation at a
    time: the handler's module-level interpreter is not thread-safe (two threads in it at once fail or swap
    answers). Concurrent requests wait for each other, where Lambda would start more environments.
    """
    one_at_a_time = threading.Lock()
    config = page_config(lambda_handler)

    class ApiGatewayHandler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm the body waits for the client's delayed ACK
        # of the headers (about 40 ms on Linux) on a keep-alive connection.
        disable_nagle_algorithm = True

        def log_message(self, format, *args):
            if log:
                sys.stderr.write(f"{self.address_string()} {format % args}\n")

        def _send(self, status: int, headers: dict, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes | None:
            """The request's body; None, and the connection closes after the answer, when it is over
            ``MAX_BODY_BYTES``. Every answer reads the body first: on a keep-alive connection, a body left unread
            would be taken for the next request."""
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                return None
            return self.rfile.read(length)

        def _not_found(self) -> None:
            self._body()
            self._send(404, {"Content-Type": "application/json"}, json.dumps({"message": "Not Found"}))

        def do_POST(self):
            if self.path.partition("?")[0] != "/predict":
                return self._not_found()
            body = self._body()
            if body is None:
                return self._send(413, {"Content-Type": "application/json"},
                                  json.dumps({"message": "Request Entity Too Large"}))
            event = http_api_event("POST", self.path, dict(self.headers.items()), body, self.client_address[0])
            try:
                with one_at_a_time:
                    response = lambda_handler(event, None)
            except Exception as e:  # the handler never raises; if it did, API Gateway would answer 500 like this
                sys.stderr.write(f"handler failed: {e!r}\n")
                return self._send(500, {"Content-Type": "application/json"},
                                  json.dumps({"message": "Internal Server Error"}))
            self._send(*proxy_response(response))

        def do_GET(self):
            path, _, query = self.path.partition("?")
            if path not in PAGE_PATHS:
                return self._not_found()
            self._body()
            html = render_page(config)  # read at each request: an edit of the page shows on reload
            endpoint = urllib.parse.parse_qs(query).get("endpoint", [None])[0]
            self._send(200, {"Content-Type": "text/html; charset=utf-8",
                             "Content-Security-Policy": content_security_policy(html, endpoint),
                             "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                             "Cache-Control": "no-store"}, html)

        do_PUT = do_DELETE = do_PATCH = _not_found

    return ApiGatewayHandler


@contextmanager
def serve(port: int = 0, lambda_handler=None, log: bool = False):
    """Serve ``lambda_handler`` (chapter 03's by default) on 127.0.0.1:``port`` in a background thread; ``log``
    writes one line per request to stderr.

    Yields:
        the endpoint URL, ``http://127.0.0.1:PORT/predict``.
    """
    if lambda_handler is None:
        lambda_handler = load_handler(HANDLER_DIR)  # as Lambda imports it from the task root
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), make_handler(lambda_handler, log))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/predict"
    finally:
        server.shutdown()
        server.server_close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    with serve(args.port, log=True) as endpoint:
        print(f"Serving the Lambda handler at {endpoint} (POST {{\"url\": ...}}); Ctrl-C stops it.\n"
              f"The web page: {endpoint.removesuffix('predict')} (on this machine only)\n"
              f"Try: python solutions/06_api_gateway/predict.py {endpoint} IMAGE_URL", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
