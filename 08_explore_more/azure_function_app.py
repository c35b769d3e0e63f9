"""Azure Functions: the clothing classifier as an HTTP-triggered function of the Python v2 programming model.

    POST https://APP.azurewebsites.net/api/predict?code=FUNCTION_KEY   {"url": "https://..."}

Deployed (``make deploy-plan PLATFORM=azure``: a Flex Consumption app, zip deploy), this file is the app's
``function_app.py`` (the file the Functions host indexes), beside chapter 03's ``lambda_function.py``,
``safe_download.py`` and ``safe_image.py``, the model, ``host.json`` and ``requirements.txt``. Locally, the tests
build ``azure.functions.HttpRequest`` objects and call the function that ``app`` registered
(``classify.build().get_user_function()``), without Azure Functions Core Tools (their npm package downloads a binary
at install, which cannot be done here).

As ``google_cloud_function.py`` does for Google, the function only translates between the platform's request and
response and chapter 03's handler, imported unchanged: the request's raw body goes to
``lambda_function.lambda_handler`` in the dict it reads (``body``, ``isBase64Encoded``, ``requestContext.requestId``),
and its ``statusCode``, ``headers`` and ``body`` become the ``HttpResponse``. Same JSON contract, status codes, error
bodies, log line and download protections as on Lambda.

The route: ``POST /api/predict`` (the host adds the ``api/`` prefix); other methods and paths get the host's own 404.
Who may call it: anyone with a *function key* (``AuthLevel.FUNCTION``: ``?code=KEY`` in the URL, which ``predict.py``
passes on as it is, or the ``x-functions-key`` header). A Flex Consumption app scales out by itself (its preview's
docs gave 40 as the lowest maximum instance count it accepted, flex-consumption-plan.md, 2024), so a key, rather than
a small instance cap as on Lambda and Google, keeps strangers' requests off the bill. ``AuthLevel.ANONYMOUS`` would
make it public.
"""

from __future__ import annotations

import base64
import threading

import azure.functions as func
import lambda_function

ROUTE = "predict"  # served at /api/predict
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

# One LiteRT interpreter per process, not thread-safe; the Python worker runs synchronous functions on a thread pool:
# requests take turns, as in one Lambda execution environment.
_one_at_a_time = threading.Lock()


@app.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def classify(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Answer ``POST /api/predict`` with chapter 03's handler.

    Args:
        req: the request; its body is the JSON ``{"url": "https://..."}``, whatever its Content-Type.
        context: the invocation's context; its ``invocation_id`` is logged as the request's id.

    Returns:
        the handler's JSON answer with its status (200, or the error's own 4xx/5xx) and ``Content-Type:
        application/json``.
    """
    event = {"body": base64.b64encode(req.get_body()).decode("ascii"), "isBase64Encoded": True,
             "requestContext": {"requestId": getattr(context, "invocation_id", None)}}
    with _one_at_a_time:
        response = lambda_function.lambda_handler(event, None)
    headers = {key: value for key, value in response["headers"].items() if key.lower() != "content-type"}
    return func.HttpResponse(response["body"], status_code=response["statusCode"], headers=headers,
                             mimetype="application/json", charset="utf-8")
