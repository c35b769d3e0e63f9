"""The events Lambda hands the handler: API Gateway proxy events (HTTP API payload format 2.0, REST API payload
format 1.0) and direct invocations, built from the example events kept beside the handler
(``solutions/03_lambda_code/events/``), so that every local caller sends the same shapes.

Formats: docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html (2.0) and
.../set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format (1.0).
"""

from __future__ import annotations

import base64
import json
import time
import uuid

from tutorial_support.paths import EVENTS_DIR

EVENT_FILES = {"http-v2": "apigw-http-v2.json", "rest-v1": "apigw-rest-v1.json", "direct": "direct.json"}
SHAPES = tuple(EVENT_FILES)  # "http-v2" (payload 2.0), "rest-v1" (payload 1.0), "direct"
TEXT_TYPES = ("application/json", "text/")  # bodies API Gateway passes as text; anything else arrives base64-encoded


def template(shape: str) -> dict:
    """The example event of ``shape`` (a key of ``EVENT_FILES``), freshly read: the caller may change it.

    Raises:
        KeyError: an unknown shape.
    """
    return json.loads((EVENTS_DIR / EVENT_FILES[shape]).read_text())


def proxy_event(shape: str, body: str | None, base64_encoded: bool = False) -> dict:
    """An API Gateway proxy event of ``shape`` (``"http-v2"`` or ``"rest-v1"``) whose body is ``body`` as sent:
    a string (JSON, or base64 when ``base64_encoded``), or None for a request without a body."""
    if shape == "direct":
        raise ValueError("a direct invocation has no body: use url_event(url, 'direct')")
    event = template(shape)
    event.update(body=body, isBase64Encoded=base64_encoded)
    return event


def url_event(url: str | None, shape: str = "http-v2") -> dict:
    """The event asking the handler to classify ``url``: ``{"url": url}`` as a direct invocation, or as the JSON
    body of a proxy event of ``shape``. ``url=None`` leaves the ``url`` out (a request the handler must refuse)."""
    payload = {} if url is None else {"url": url}
    if shape == "direct":
        return payload
    return proxy_event(shape, json.dumps(payload))


def image_event(data: bytes, content_type: str = "image/jpeg", shape: str = "http-v2") -> dict:
    """The event asking the handler to classify the image ``data`` itself (an upload): as a direct invocation,
    ``{"image": "<base64 of data>"}``; as a proxy event of ``shape``, a body that is ``data`` base64-encoded with
    ``isBase64Encoded`` true and the ``Content-Type`` header ``content_type``, as API Gateway's HTTP API delivers an
    image body (docs: aws.amazon.com/blogs/compute/handling-binary-data-using-amazon-api-gateway-http-apis/)."""
    encoded = base64.b64encode(data).decode("ascii")
    if shape == "direct":
        return {"image": encoded}
    event = proxy_event(shape, encoded, base64_encoded=True)
    name = "content-type" if shape == "http-v2" else "Content-Type"  # payload 2.0 lower-cases header names
    event["headers"] = {**{k: v for k, v in event["headers"].items() if k.lower() != "content-type"},
                        name: content_type}
    return event


def http_api_event(method: str, path: str, headers: dict, body: bytes, source_ip: str = "127.0.0.1") -> dict:
    """The payload-2.0 event API Gateway's HTTP API would send for one HTTP request: the example event with this
    request's method, path, query string, headers (lower-case names), body and a fresh request id.

    Args:
        path: the request target, with its query string (``/predict?x=1``).
        headers: the request's headers.
        body: the raw body: text for JSON and ``text/*`` types, base64 (``isBase64Encoded``) otherwise.
        source_ip: the caller's address (``requestContext.http.sourceIp``).
    """
    event = template("http-v2")
    raw_path, _, query = path.partition("?")
    headers = {key.lower(): value for key, value in headers.items()}
    text = headers.get("content-type", "").startswith(TEXT_TYPES)
    event.update(rawPath=raw_path, rawQueryString=query, headers=headers, routeKey=f"{method} {raw_path}",
                 body=(body.decode("utf-8", errors="replace") if text else base64.b64encode(body).decode()) or None,
                 isBase64Encoded=bool(body) and not text)
    context = event["requestContext"]
    context.update(requestId=str(uuid.uuid4()), routeKey=event["routeKey"], timeEpoch=int(time.time() * 1000),
                   domainName=headers.get("host", "127.0.0.1"))
    context["http"].update(method=method, path=raw_path, sourceIp=source_ip,
                           userAgent=headers.get("user-agent", ""))
    return event


def answer_of(response) -> tuple[int, dict]:
    """(HTTP status, answer dict) of what the handler returned: a proxy response (``statusCode``, JSON ``body``) or a
    direct invocation's answer (200 unless it is ``{"error": {"status": ...}}``)."""
    if isinstance(response, dict) and "statusCode" in response:
        return response["statusCode"], json.loads(response["body"])
    return (response["error"]["status"] if "error" in response else 200), response
