"""AWS Lambda handler: classify a photo of clothing, given by URL, with the TF-Lite model.

Event shapes accepted (examples in ``solutions/03_lambda_code/events/``):
- direct invocation: ``{"url": "https://..."}``; the answer is the prediction (or ``{"error": ...}``) as a dict;
- API Gateway proxy events, HTTP API payload format 2.0 and REST API payload format 1.0: the URL comes in the JSON
  body (possibly base64-encoded); the answer is ``{"statusCode", "headers", "body"}`` with a JSON body.

The model is loaded once, at import time (the cold start), and reused by every warm invocation.
TensorFlow is never imported: LiteRT (``ai-edge-litert``) runs the model, ``tflite_runtime`` is the fallback.
"""

import base64
import binascii
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import safe_download
from keras_image_helper import create_preprocessor
from safe_download import RequestError

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # the course's older stack: tflite-runtime 2.14 with numpy < 2
    from tflite_runtime.interpreter import Interpreter

logger = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
# In the container image the model sits beside this file, in the task root; in the repository it is in models/.
_DEFAULT_MODEL = next((folder / "clothing-model.tflite" for folder in (_HERE, *(p / "models" for p in _HERE.parents))
                       if (folder / "clothing-model.tflite").is_file()), _HERE / "clothing-model.tflite")
MODEL_PATH = Path(os.environ.get("MODEL_PATH", _DEFAULT_MODEL))
LABELS_PATH = MODEL_PATH.with_name("labels.txt")

interpreter = Interpreter(model_path=str(MODEL_PATH))
interpreter.allocate_tensors()
_input = interpreter.get_input_details()[0]
INPUT_INDEX = _input["index"]
OUTPUT_INDEX = interpreter.get_output_details()[0]["index"]
_, INPUT_HEIGHT, INPUT_WIDTH, _ = _input["shape"]
CLASSES = LABELS_PATH.read_text().split()
preprocessor = create_preprocessor("xception", target_size=(int(INPUT_WIDTH), int(INPUT_HEIGHT)))


def download_image(url: str):
    """The photo at ``url`` as ``safe_download.download_image`` downloads and decodes it for this model's input size
    (``safe_image.decode_image``: the work bounded, upright as its EXIF tag says, RGB; a JPEG decoded at a reduced
    scale that stays at least twice the input size, which gives the same pixels for photos of 400 px or less).

    Returns:
        a loaded Pillow image in mode ``RGB``.

    Raises:
        RequestError: see ``safe_download.download_image``.
    """
    return safe_download.download_image(url, target_size=preprocessor.target_size)


# One JSON line per request on stdout (CloudWatch Logs on Lambda): request ids, outcome, status, durations.
# Never the URL's path or query (a presigned URL carries a signature there), the image, or the environment.
# Each text field is cut to LOG_FIELD_MAX_BYTES bytes of JSON, so that a line is at most LOG_LINE_MAX_BYTES bytes
# whatever the request or the image host sent (CloudWatch Logs bills by size).
LOG_FIELD_MAX_BYTES = 128
LOG_TRUNCATED = "...(truncated)"
LOG_LINE_MAX_BYTES = 1024
request_log = logging.getLogger("clothing.requests")
if not request_log.handlers:
    _stdout = logging.StreamHandler(sys.stdout)
    _stdout.setFormatter(logging.Formatter("%(message)s"))
    request_log.addHandler(_stdout)
    request_log.setLevel(logging.INFO)
    request_log.propagate = False  # not again through the root logger (Lambda's would prefix it with text)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits: exp(z - max z) / sum(exp(z - max z)), in float64. Shape (n_classes,)."""
    # BEGIN SOLUTION
    # TASK: return the softmax of the 1-D array of logits: probabilities of the same shape, positive, summing to 1,
    # TASK: computed in float64, and finite even for logits in the thousands (positive or negative).
    # HINT: cast to float64 and subtract the largest logit (not the smallest, not the mean): every exponent is then
    # HINT: <= 0, so exp cannot overflow, and the largest term is exp(0) = 1, so the sum cannot underflow to 0;
    # HINT: exponentiate and divide by the sum (np.exp(z) / np.exp(z).sum()); one array in, no axis needed.
    z = logits.astype(np.float64) - logits.max()
    e = np.exp(z)
    return e / e.sum()
    # END SOLUTION


def predict(url: str) -> dict:
    """Classify the image at ``url``.

    Returns:
        ``{"top_class": str, "probability": float, "probabilities": {class: float}}``: plain Python floats in
        [0, 1] that sum to 1 over the 10 classes, in the order of ``CLASSES``.

    Raises:
        RequestError: see ``validate_url`` and ``download_image``.
    """
    # BEGIN SOLUTION
    # TASK: classify the image at url, downloaded with download_image(url) (safe_download: never urlopen or
    # TASK: requests); return {"top_class": str, "probability": float, "probabilities": {class: float}}, plain Python
    # TASK: floats, the classes in the order of CLASSES. Let download_image's RequestError through.
    # HINT: x = preprocessor.convert_to_tensor(download_image(url)); interpreter.set_tensor(INPUT_INDEX, x),
    # HINT: interpreter.invoke(), interpreter.get_tensor(OUTPUT_INDEX)[0] (the 10 logits), softmax; the top class is
    # HINT: the argmax; convert every number with float() (json cannot serialise numpy.float32, and the answer must
    # HINT: be plain floats), and build probabilities with zip(CLASSES, ...).
    x = preprocessor.convert_to_tensor(download_image(url))  # float32 (1, height, width, 3), in [-1, 1]
    interpreter.set_tensor(INPUT_INDEX, np.asarray(x, dtype=np.float32))  # no copy: it is float32 already
    interpreter.invoke()
    probabilities = softmax(interpreter.get_tensor(OUTPUT_INDEX)[0])
    best = int(probabilities.argmax())
    return {
        "top_class": CLASSES[best],
        "probability": float(probabilities[best]),
        "probabilities": {name: float(p) for name, p in zip(CLASSES, probabilities)},
    }
    # END SOLUTION


def is_proxy_event(event) -> bool:
    """True for an API Gateway proxy event (payload format 1.0 or 2.0), False for a direct invocation."""
    return isinstance(event, dict) and ("requestContext" in event or "httpMethod" in event or "routeKey" in event)


def parse_proxy_body(event: dict) -> dict:
    """Decode the JSON body of an API Gateway proxy event (base64-encoded when ``isBase64Encoded`` is true).

    Raises:
        RequestError: 400 ``invalid_json`` when the body is absent, not valid base64 or JSON, or not an object.
    """
    # BEGIN SOLUTION
    # TASK: return the JSON object in event["body"] (base64-encoded when event["isBase64Encoded"] is true); raise
    # TASK: RequestError(400, "invalid_json", message) when the body is missing or empty, not valid base64, not UTF-8,
    # TASK: not valid JSON, or JSON that is not an object. No other exception may escape.
    # HINT: body = event.get("body"); refuse None and ""; when event.get("isBase64Encoded") is True, use
    # HINT: base64.b64decode(body, validate=True).decode("utf-8"); then json.loads. Wrap the decoding in try/except
    # HINT: (binascii.Error, ValueError): UnicodeDecodeError and json.JSONDecodeError are ValueErrors. Last, refuse
    # HINT: anything that is not a dict (a list, a string, a number, null).
    body = event.get("body")
    if not body or not isinstance(body, str):
        raise RequestError(400, "invalid_json", 'the request body must be JSON like {"url": "https://..."}')
    try:
        if event.get("isBase64Encoded") is True:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        payload = json.loads(body)
    except (binascii.Error, ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RequestError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise RequestError(400, "invalid_json", 'the request body must be a JSON object like {"url": "https://..."}')
    return payload
    # END SOLUTION


def _log_text(value) -> str | None:
    """``value`` if it is a string of at most ``LOG_FIELD_MAX_BYTES`` bytes once written as JSON (a non-ASCII or
    control character is written as one or two ``\\uXXXX`` escapes: 6 or 12 bytes); else its longest beginning that
    fits with ``LOG_TRUNCATED`` after it. None for anything that is not a string."""
    if not isinstance(value, str):
        return None
    if len(value) <= LOG_FIELD_MAX_BYTES and len(json.dumps(value)) - 2 <= LOG_FIELD_MAX_BYTES:
        return value
    budget, kept = LOG_FIELD_MAX_BYTES - len(LOG_TRUNCATED), 0
    for char in value:
        budget -= len(json.dumps(char)) - 2
        if budget < 0:
            break
        kept += 1
    return value[:kept] + LOG_TRUNCATED


def log_request(event, context, status: int, result: dict, download: dict, seconds: float) -> dict:
    """Write the request's one JSON log line to ``request_log``, and return it as a dict.

    Fields: ``request_id`` (Lambda's, from ``context.aws_request_id``), ``api_request_id`` (API Gateway's, from the
    proxy event), ``event`` (``"direct"`` or ``"proxy"``), ``status``, ``outcome`` (``"ok"``, ``"client_error"`` or
    ``"server_error"``), ``error_code``, ``top_class``, the download's ``host``, ``redirects``, ``bytes``, ``width``
    and ``height``, and the durations in milliseconds: ``download_ms``, ``inference_ms`` (the rest of the work) and
    ``duration_ms`` (the whole invocation). Nothing that is not listed here, so no URL path, image or secret.

    Every text field (the ids, ``error_code``, ``top_class``, ``host``) is cut by ``_log_text`` to
    ``LOG_FIELD_MAX_BYTES`` bytes of JSON, ending in ``LOG_TRUNCATED`` when cut, so the line is at most
    ``LOG_LINE_MAX_BYTES`` bytes whatever the event, the URL or the image host sent.
    """
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    api_request_id = request_context.get("requestId") if isinstance(request_context, dict) else None
    request_id = getattr(context, "aws_request_id", None)
    answer = result if isinstance(result, dict) else {}
    error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    duration_ms = round(seconds * 1000, 1)
    download_ms = download.get("download_ms")
    record = {
        "request_id": _log_text(request_id),
        "api_request_id": _log_text(api_request_id),
        "event": "proxy" if is_proxy_event(event) else "direct",
        "status": status,
        "outcome": "ok" if status < 400 else "client_error" if status < 500 else "server_error",
        "error_code": _log_text(error.get("code")),
        "top_class": _log_text(answer.get("top_class")),
        "host": _log_text(download.get("host")),
        **{key: download.get(key) for key in ("redirects", "bytes", "width", "height")},
        "download_ms": download_ms,
        "inference_ms": round(duration_ms - download_ms, 1) if status == 200 and download_ms is not None else None,
        "duration_ms": duration_ms,
    }
    request_log.info(json.dumps(record))
    return record


def lambda_handler(event, context):
    """Lambda entry point. ``context`` (the Lambda context object) gives the request id for the log, when present.

    Returns:
        for a direct invocation, the ``predict`` dict, or ``{"error": {"status", "code", "message"}}``;
        for a proxy event, ``{"statusCode": int, "headers": {...}, "body": json string}`` with the same content.
        Client errors are 4xx, faults of ours 500; no stack trace is ever returned. One JSON line per request goes
        to the log (``log_request``).
    """
    started = time.perf_counter()
    proxy = is_proxy_event(event)
    with safe_download.recording() as download:
        try:
            if proxy:
                payload = parse_proxy_body(event)
            elif isinstance(event, dict):
                payload = event
            else:
                raise RequestError(400, "invalid_json", 'the event must be a JSON object like {"url": "https://..."}')
            status, result = 200, predict(payload.get("url"))
        except RequestError as e:
            status, result = e.status, {"error": {"status": e.status, "code": e.code, "message": e.message}}
        except Exception:
            logger.exception("internal error")  # the stack trace goes to the log only
            status, result = 500, {"error": {"status": 500, "code": "internal_error", "message": "internal error"}}
    log_request(event, context, status, result, download, time.perf_counter() - started)
    if not proxy:
        return result
    # BEGIN SOLUTION
    # TASK: return the API Gateway proxy response: statusCode the status (an int), a Content-Type header of
    # TASK: application/json, and body the JSON text of result.
    # HINT: return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(result)}:
    # HINT: a body that is a dict (not a string) is a malformed proxy response, and API Gateway answers 502.
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(result)}
    # END SOLUTION
