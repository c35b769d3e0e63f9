"""Serve the Lambda handler on 127.0.0.1 as API Gateway would call it, before anything is deployed (``make serve``).

    python solutions/06_api_gateway/serve.py [--port 8080]
    curl -X POST http://127.0.0.1:8080/predict -H 'Content-Type: application/json' -d '{"url": "https://..."}'

Each ``POST /predict`` becomes an HTTP API event with payload format 2.0 (``tutorial_support.events.http_api_event``:
``solutions/03_lambda_code/events/apigw-http-v2.json`` with this request's headers, body and path), goes to chapter
03's ``lambda_handler``, and its ``statusCode``, ``headers`` and ``body`` become the HTTP response. Other paths and
methods get 404 ``{"message": "Not Found"}``, as from an HTTP API with no matching route. ``predict.py`` and ``curl``
work the same against this server and against the deployed API.
"""

from __future__ import annotations

import argparse
import http.server
import json
import sys
import threading
from contextlib import contextmanager

from tutorial_support.events import http_api_event
from tutorial_support.lambda_runtime import load_handler
from tutorial_support.paths import HANDLER_DIR

MAX_BODY_BYTES = 6 * 2**20  # Lambda's synchronous payload limit; API Gateway refuses larger requests with 413


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
    """An ``http.server`` request handler class that answers ``POST /predict`` with ``lambda_handler``; ``log``
    writes one line per request to stderr.

    Calls to ``lambda_handler`` take turns, as in one Lambda execution environment, which runs one invocation at a
    time: the handler's module-level interpreter is not thread-safe (two threads in it at once fail or swap
    answers). Concurrent requests wait for each other, where Lambda would start more environments.
    """
    one_at_a_time = threading.Lock()

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

        do_GET = do_PUT = do_DELETE = do_PATCH = _not_found

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
              f"Try: python solutions/06_api_gateway/predict.py {endpoint} IMAGE_URL", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
