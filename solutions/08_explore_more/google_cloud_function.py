"""Google Cloud Run functions: the clothing classifier as an HTTP function of the Functions Framework.

    functions-framework --target classify --source google_cloud_function.py --host 127.0.0.1 --port 8080
    curl -X POST http://127.0.0.1:8080/predict -H 'Content-Type: application/json' -d '{"url": "https://..."}'

(``make serve PLATFORM=gcp`` runs the first line from the repository; ``predict.py`` and ``curl`` work against it as
against ``make serve``.) Deployed (``make deploy-plan PLATFORM=gcp``), this file is the function's ``main.py``,
beside chapter 03's ``lambda_function.py``, ``safe_download.py`` and ``safe_image.py`` and the model.

The prediction core is chapter 03's handler, imported unchanged: ``lambda_function.lambda_handler`` reads an HTTP
request as a dict (``body``, ``isBase64Encoded``, ``requestContext.requestId``: the fields of API Gateway's proxy
event that it uses) and answers ``{"statusCode", "headers", "body"}``, writing one JSON log line. This adapter only
translates: the Flask request the Functions Framework passes in becomes that dict, and the answer becomes Flask's
``(body, status, headers)``. So the JSON contract, the status codes, the error bodies, the log line and every
protection of the download (the SSRF rules, the size limits) are the same as on Lambda, by construction.

Nothing here imports ``tutorial_support``: this file is deployed. In the repository, ``lambda_function`` is found on
``PYTHONPATH`` (``make serve PLATFORM=gcp`` sets it to ``solutions/03_lambda_code``; the tests list that folder in
pytest's ``pythonpath``); deployed, it sits beside this file, whose folder the Functions Framework puts on
``sys.path``.
"""

from __future__ import annotations

import base64
import json
import threading

import functions_framework
import lambda_function

# The request's id, logged by the handler: the Functions Framework puts it on every request (the platform's, or a
# fresh one: functions_framework.execution_id.WsgiMiddleware).
EXECUTION_ID_HEADER = "Function-Execution-Id"
JSON_HEADERS = {"Content-Type": "application/json"}

# The handler's LiteRT interpreter is one per process and not thread-safe, and the Functions Framework serves requests
# on several threads (gunicorn's gthread worker): requests take turns, as they do in one Lambda execution environment.
_one_at_a_time = threading.Lock()


def classify_request(request) -> tuple[str, int, dict]:
    """The answer to one HTTP request, from chapter 03's handler.

    Args:
        request: the Flask request (``flask.Request``) the Functions Framework passes to an HTTP function: its body is
            the JSON ``{"url": "https://..."}``, whatever its Content-Type (curl's ``-d`` sends
            ``application/x-www-form-urlencoded``).

    Returns:
        ``(body, status, headers)`` as Flask takes them: the handler's JSON text, its HTTP status (200, or the error's
        own 4xx/5xx) and its headers (``Content-Type: application/json``).
    """
    # BEGIN SOLUTION
    # TASK: answer the Flask request with chapter 03's lambda_handler: give it the request's raw body and id in the
    # TASK: dict it reads (body, isBase64Encoded, requestContext.requestId), and return its answer as Flask's
    # TASK: (body, status, headers) tuple: the same JSON, status and headers as on Lambda, for good and bad bodies.
    # HINT: body = request.get_data() (bytes: never request.get_json(), which refuses a body that is not labelled
    # HINT: application/json, or is not JSON, with an HTML error page of its own); pass it base64-encoded, so that
    # HINT: the handler also judges bytes that are not UTF-8: {"body": base64.b64encode(body).decode("ascii"),
    # HINT: "isBase64Encoded": True, "requestContext": {"requestId": request.headers.get(EXECUTION_ID_HEADER)}}.
    # HINT: response = lambda_function.lambda_handler(event, None) is a proxy response; return response["body"] (a
    # HINT: JSON string), response["statusCode"], response["headers"]: returning the dict itself would make Flask
    # HINT: answer 200 with the whole dict as JSON, whatever the status.
    event = {"body": base64.b64encode(request.get_data()).decode("ascii"), "isBase64Encoded": True,
             "requestContext": {"requestId": request.headers.get(EXECUTION_ID_HEADER)}}
    response = lambda_function.lambda_handler(event, None)
    return response["body"], response["statusCode"], response["headers"]
    # END SOLUTION


@functions_framework.http
def classify(request):
    """The HTTP function (``--target classify``): ``POST`` with ``{"url": ...}`` on any path, as a Cloud Run function
    is served at its URL's root (``/`` and ``/predict`` alike). Other methods get 405 ``{"message": "Method Not
    Allowed"}``. Requests take turns (``_one_at_a_time``)."""
    if request.method != "POST":
        return json.dumps({"message": "Method Not Allowed"}), 405, {**JSON_HEADERS, "Allow": "POST"}
    with _one_at_a_time:
        return classify_request(request)
