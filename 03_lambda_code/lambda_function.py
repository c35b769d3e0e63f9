"""AWS Lambda handler: classify a photo of clothing, given by URL or sent itself, with the TF-Lite model.

Event shapes accepted (examples in ``solutions/03_lambda_code/events/``):
- direct invocation: ``{"url": "https://..."}``, or ``{"image": "<the image file, base64-encoded>"}``; the answer is
  the prediction (or ``{"error": ...}``) as a dict;
- API Gateway proxy events, HTTP API payload format 2.0 and REST API payload format 1.0: the JSON body holds the same
  object (possibly base64-encoded), or the body is the image itself (``Content-Type`` ``image/jpeg``, ``image/png``
  or ``image/webp``; API Gateway delivers it base64-encoded, ``isBase64Encoded`` true); the answer is
  ``{"statusCode", "headers", "body"}`` with a JSON body;
- a Step Functions batch (chapter 07: a Distributed Map's ItemBatcher), ``{"Items": [...], "BatchInput": {...}}``:
  each item is answered as a direct invocation, ``{"results": [one answer per item, in order]}`` (``answer_batch``).

Both ways in end in the same decoder (``safe_image.decode_image``, with its bounds) and the same classification
(``_classify``); an upload is at most ``MAX_UPLOAD_BYTES`` (from Lambda's 6 MB payload: ``safe_image``).

The model is loaded once, at import time (the cold start), and reused by every warm invocation.
TensorFlow is never imported: LiteRT (``ai-edge-litert``) runs the model, ``tflite_runtime`` is the fallback.
"""

import base64
import binascii
import hashlib
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
from safe_image import MAX_UPLOAD_BASE64_CHARS, MAX_UPLOAD_BYTES, UPLOAD_TYPES, decode_base64_upload  # noqa: F401

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


def model_version(path: Path = MODEL_PATH) -> str:
    """The name of the model that answers: the ``MODEL_VERSION`` environment variable when it is set (a name you
    choose, such as ``efficientnet-lite0-v2``), else the first 12 hex digits of the SHA-256 of the model file, so the
    same weights get the same version wherever they run (here, the image, every deploy) and other weights another one.
    Read once, at import (hashing the 7 MB model takes a few ms of the cold start)."""
    return os.environ.get("MODEL_VERSION") or hashlib.sha256(path.read_bytes()).hexdigest()[:12]


MODEL_VERSION = model_version()  # in every answer and log line, so that two versions can be compared (make compare)


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


# One JSON line per request on stdout (CloudWatch Logs on Lambda): request ids, model and function version, outcome,
# status, durations, and the metrics CloudWatch extracts from it (EMF_NAMESPACE, log_request).
# Never the URL's path or query (a presigned URL carries a signature there), the image, or the environment.
# Each text field is cut to LOG_FIELD_MAX_BYTES bytes of JSON, so that a line is at most LOG_LINE_MAX_BYTES bytes
# whatever the request or the image host sent (CloudWatch Logs bills by size).
LOG_FIELD_MAX_BYTES = 128
LOG_TRUNCATED = "...(truncated)"
LOG_LINE_MAX_BYTES = 2048
# The CloudWatch namespace of the metrics in the log line (embedded metric format: CloudWatch Logs extracts them, no
# PutMetricData call). Their dimensions stay few and bounded (model version, predicted class, error code), since
# every combination of dimension values is a custom metric billed by the month (aws.amazon.com/cloudwatch/pricing/).
EMF_NAMESPACE = "ServerlessClothing"
request_log = logging.getLogger("clothing.requests")
if not request_log.handlers:
    _stdout = logging.StreamHandler(sys.stdout)
    _stdout.setFormatter(logging.Formatter("%(message)s"))
    request_log.addHandler(_stdout)
    request_log.setLevel(logging.INFO)
    request_log.propagate = False  # not again through the root logger (Lambda's would prefix it with text)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits: exp(z - max z) / sum(exp(z - max z)), in float64. Shape (n_classes,)."""
    # TODO: return the softmax of the 1-D array of logits: probabilities of the same shape, positive, summing to 1, computed in float64, and finite even for logits in the thousands (positive or negative).
    raise NotImplementedError('return the softmax of the 1-D array of logits: probabilities of the same shape, positive, summing to 1, computed in float64, and finite even for logits in the thousands (positive or negative).')


def _classify(image) -> dict:
    """Classify a decoded photo: the one step that ``predict`` (a URL) and ``predict_bytes`` (an upload) share, so the
    same file gets the same answer whichever way it came in.

    Args:
        image: a loaded Pillow image in mode ``RGB``, as ``download_image`` and ``safe_download.image_from_bytes``
            give it.

    Returns:
        ``{"top_class": str, "probability": float, "probabilities": {class: float}}``: plain Python floats in
        [0, 1] that sum to 1 over the 10 classes, in the order of ``CLASSES``.
    """
    # TODO: classify the decoded photo `image` (a Pillow RGB image); return {"top_class": str, "probability": float, "probabilities": {class: float}}, plain Python floats, the classes in the order of CLASSES.
    raise NotImplementedError('classify the decoded photo `image` (a Pillow RGB image); return {"top_class": str, "probability": float, "probabilities": {class: float}}, plain Python floats, the classes in the order of CLASSES.')


def predict(url: str) -> dict:
    """Classify the image at ``url``.

    Returns:
        the ``_classify`` answer: ``{"top_class": str, "probability": float, "probabilities": {class: float}}``.

    Raises:
        RequestError: see ``validate_url`` and ``download_image``.
    """
    # TODO: classify the image at url: download it with download_image(url) (safe_download: never urlopen or requests) and classify the photo with _classify. Let download_image's RequestError through.
    raise NotImplementedError("classify the image at url: download it with download_image(url) (safe_download: never urlopen or requests) and classify the photo with _classify. Let download_image's RequestError through.")


def predict_bytes(data: bytes) -> dict:
    """Classify an uploaded image: the file's own bytes (JPEG, PNG or WebP), not a URL. The same answer as ``predict``
    gives for a URL serving the same file: the bytes go through the same decoder (``safe_image.decode_image``, with
    the same bounds) and the same ``_classify``.

    Raises:
        RequestError: 413 ``payload_too_large`` (over ``MAX_UPLOAD_BYTES``, before decoding); 422 ``not_an_image``,
        ``image_too_large`` or ``image_too_complex`` (see ``safe_image.decode_image``).
    """
    return _classify(safe_download.image_from_bytes(data, target_size=preprocessor.target_size))


# Media types of a proxy body that can only be an upload: an image type not in UPLOAD_TYPES (GIF, HEIC, SVG...), or
# a form (multipart/form-data: the file wrapped in a form, not the file itself). Answered 415; any other type (JSON,
# curl's default application/x-www-form-urlencoded, none) is read as the JSON request, as before uploads existed.
REFUSED_UPLOAD_KINDS = ("image/", "multipart/", "audio/", "video/")


def _media_type(event: dict) -> str:
    """The proxy event's ``Content-Type`` (any case of the header's name: payload 1.0 keeps the client's), lower-case,
    without parameters; ``""`` when it has none."""
    headers = event.get("headers")
    for name, value in (headers.items() if isinstance(headers, dict) else ()):
        if isinstance(name, str) and name.lower() == "content-type" and isinstance(value, str):
            return value.split(";")[0].strip().lower()
    return ""


def is_upload(event: dict) -> bool:
    """True when the proxy event's body is the image itself: its ``Content-Type`` is one of ``UPLOAD_TYPES``.

    Raises:
        RequestError: 415 ``unsupported_media_type`` for a body that can only be some other upload (another image
        type, a multipart form, audio or video).
    """
    media_type = _media_type(event)
    if media_type in UPLOAD_TYPES:
        return True
    if media_type.startswith(REFUSED_UPLOAD_KINDS):
        raise RequestError(415, "unsupported_media_type",
                           "the body's Content-Type is not one this endpoint reads: send the photo itself with "
                           f"Content-Type {', '.join(UPLOAD_TYPES)} (a phone's HEIC photo: export it as JPEG), not "
                           'in a form; or JSON {"url": "https://..."} or {"image": "<base64>"}')
    return False


def upload_body(event: dict) -> bytes:
    """The image bytes of a proxy event whose body is the image itself (``is_upload``): base64-decoded, as API
    Gateway's HTTP API delivers any image body (``isBase64Encoded`` true).

    Raises:
        RequestError: 400 ``invalid_image`` (no body; a body not base64-encoded, which is what a REST API without
        the image types in its binaryMediaTypes delivers; not valid base64); 413 ``payload_too_large`` (over
        ``MAX_UPLOAD_BASE64_CHARS`` characters, before decoding, or ``MAX_UPLOAD_BYTES`` bytes).
    """
    body = event.get("body")
    if not body or not isinstance(body, str):
        raise RequestError(400, "invalid_image", "the request body is empty: send the image file's bytes as the body")
    if event.get("isBase64Encoded") is not True and len(body) <= MAX_UPLOAD_BASE64_CHARS:
        raise RequestError(400, "invalid_image",
                           "the image body arrived as text, not base64-encoded (isBase64Encoded is not true): an "
                           "HTTP API encodes an image body itself; a REST API must list the image types in its "
                           "binaryMediaTypes")
    return decode_base64_upload(body, "the request body")


def predict_request(payload: dict) -> dict:
    """The answer to a request object, a direct invocation or a proxy event's JSON body: ``{"url": ...}`` (``predict``)
    or ``{"image": "<base64>"}`` (``predict_bytes``).

    Raises:
        RequestError: 400 ``url_and_image`` (both given), 400 ``missing_url`` (neither); and as ``predict``,
        ``predict_bytes`` and ``safe_image.decode_base64_upload`` (400 ``invalid_image``, 413 ``payload_too_large``).
    """
    url, image = payload.get("url"), payload.get("image")
    if url is not None and image is not None:
        raise RequestError(400, "url_and_image", 'the request has both "url" and "image": send one of them')
    if image is not None:
        return predict_bytes(decode_base64_upload(image))
    if url is None:
        raise RequestError(400, "missing_url", 'the request needs a "url" field with an image URL, or an "image" '
                                               "field with the image file base64-encoded")
    return predict(url)


def is_proxy_event(event) -> bool:
    """True for an API Gateway proxy event (payload format 1.0 or 2.0), False for a direct invocation."""
    return isinstance(event, dict) and ("requestContext" in event or "httpMethod" in event or "routeKey" in event)


def parse_proxy_body(event: dict) -> dict:
    """Decode the JSON body of an API Gateway proxy event (base64-encoded when ``isBase64Encoded`` is true).

    Raises:
        RequestError: 400 ``invalid_json`` when the body is absent, not valid base64 or JSON, or not an object.
    """
    # TODO: return the JSON object in event["body"] (base64-encoded when event["isBase64Encoded"] is true); raise RequestError(400, "invalid_json", message) when the body is missing or empty, not valid base64, not UTF-8, not valid JSON, or JSON that is not an object. No other exception may escape.
    raise NotImplementedError('return the JSON object in event["body"] (base64-encoded when event["isBase64Encoded"] is true); raise RequestError(400, "invalid_json", message) when the body is missing or empty, not valid base64, not UTF-8, not valid JSON, or JSON that is not an object. No other exception may escape.')


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
    ``duration_ms`` (the whole invocation); ``model_version`` (``MODEL_VERSION``) and ``function_version`` (the Lambda
    version that ran, from ``context.function_version``: the one an alias resolved to, ``$LATEST`` unpublished);
    the counts ``requests`` (1), ``predictions`` or ``errors`` (1, or 0); and ``_aws``, the CloudWatch embedded metric
    format's metadata (``emf_metadata``). Nothing that is not listed here, so no URL path, image or secret.

    Every text field (the ids, versions, ``error_code``, ``top_class``, ``host``) is cut by ``_log_text`` to
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
        # the rest of the work; an upload has no download, so its decoding counts here
        "inference_ms": round(duration_ms - (download_ms or 0), 1) if status == 200 else None,
        "duration_ms": duration_ms,
        "model_version": _log_text(MODEL_VERSION),
        "function_version": _log_text(getattr(context, "function_version", None)),
        "requests": 1,
    }
    record["errors"] = int(isinstance(record["error_code"], str))
    if not record["errors"] and status == 200 and isinstance(record["top_class"], str):
        record["predictions"] = 1
    record["_aws"] = emf_metadata(record, int(time.time() * 1000))
    request_log.info(json.dumps(record))
    return record


def emf_metadata(record: dict, timestamp_ms: int) -> dict:
    """The ``_aws`` member that makes the log line ``record`` a CloudWatch embedded metric format document
    (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
    CloudWatch Logs extracts, into ``EMF_NAMESPACE``, from the record's own fields:

    - by ``model_version``: ``requests`` and ``errors`` (Count), ``duration_ms``, ``download_ms`` and
      ``inference_ms`` (Milliseconds; each only when the record has a number for it);
    - by ``model_version`` and ``top_class``: ``predictions`` (Count), on a prediction;
    - by ``model_version`` and ``error_code``: ``errors`` (Count), on an error.

    Each dimension set is a metric directive of its own, so that latency is not multiplied by class or error code:
    a model version makes at most 5 + the classes + the error codes seen custom metrics.

    Args:
        record: the log line's fields (``log_request``); the dimensions it names must be strings there.
        timestamp_ms: the metrics' time, in milliseconds since 1970-01-01 UTC.
    """
    def directive(dimension_sets: list, metrics: list) -> dict:
        return {"Namespace": EMF_NAMESPACE, "Dimensions": dimension_sets,
                "Metrics": [{"Name": name, "Unit": unit} for name, unit in metrics]}

    by_version = [("requests", "Count")] + [("errors", "Count")] * (not record.get("errors")) + [
        (key, "Milliseconds") for key in ("duration_ms", "download_ms", "inference_ms")
        if isinstance(record.get(key), (int, float))]
    directives = [directive([["model_version"]], by_version)]
    if record.get("predictions"):
        directives.append(directive([["model_version", "top_class"]], [("predictions", "Count")]))
    if record.get("errors"):  # counted by version here, with the error code's dimension beside it
        directives.append(directive([["model_version"], ["model_version", "error_code"]], [("errors", "Count")]))
    return {"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}


# Step Functions batches (chapter 07, solutions/07_production/batch_aws.py). At most MAX_BATCH_ITEMS items: a slot
# is at most about 2 KB of JSON (a prediction of 10 classes, or an error with one of our messages), so the answer
# stays under Step Functions' 256 KiB limit on a state's output, far under Lambda's 6 MB response limit
# (tests/test_batch.py measures it). An item is started only while BATCH_ITEM_RESERVE_S of the invocation's time is
# left (a whole download, FETCH_TIMEOUT_S, then decoding and inference); the items left are answered 503
# batch_out_of_time, so a slow image host never makes the whole batch time out.
MAX_BATCH_ITEMS = 100
BATCH_ITEM_RESERVE_S = safe_download.FETCH_TIMEOUT_S + 5


def is_batch_event(event) -> bool:
    """True for a Step Functions ItemBatcher event ``{"Items": [...], "BatchInput": ...}``."""
    return isinstance(event, dict) and "Items" in event and not is_proxy_event(event)


def error_answer(status: int, code: str, message: str) -> dict:
    """The documented error answer, ``{"error": {"status", "code", "message"}}``."""
    return {"error": {"status": status, "code": code, "message": message}}


def answer_batch(event: dict, context) -> dict:
    """Answer a batch: each item, in order, as ``lambda_handler`` answers it as a direct invocation (a prediction or
    ``{"error": ...}``, one log line each); ``BatchInput`` is ignored. A bad item gets its error in its slot and never
    fails the batch: an item that is not an object, or an object without a ``url`` or an ``image``, gets 400
    ``invalid_json`` / ``missing_url`` as a direct invocation would; an item that is itself a batch or a proxy event
    gets 400 ``invalid_json``; the items left when less than ``BATCH_ITEM_RESERVE_S`` of the invocation remains get
    503 ``batch_out_of_time`` (classify them again).

    Returns:
        ``{"results": [...]}``, one slot per item; or ``{"error": ...}`` 400 ``invalid_batch`` when ``Items`` is not
        a list or holds more than ``MAX_BATCH_ITEMS`` (the state machine's MaxItemsPerBatch is set too high).
    """
    items = event.get("Items")
    if not isinstance(items, list) or len(items) > MAX_BATCH_ITEMS:
        return error_answer(400, "invalid_batch", f'"Items" must be a list of at most {MAX_BATCH_ITEMS} items: set '
                            f"the state machine's ItemBatcher MaxItemsPerBatch to {MAX_BATCH_ITEMS} or fewer")
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    results = []
    for item in items:
        if remaining_ms is not None and remaining_ms() < BATCH_ITEM_RESERVE_S * 1000:
            results.append(error_answer(503, "batch_out_of_time", "the invocation ran out of time before this item: "
                                        "classify it again in another batch"))
        elif isinstance(item, dict) and ("Items" in item or is_proxy_event(item)):
            results.append(error_answer(400, "invalid_json", "a batch item must be a direct-invocation event like "
                                        '{"url": "https://..."}'))
        else:
            results.append(lambda_handler(item, context))
    return {"results": results}


def lambda_handler(event, context):
    """Lambda entry point. ``context`` (the Lambda context object) gives the request id for the log, when present.

    Returns:
        for a direct invocation, the ``predict`` dict, or ``{"error": {"status", "code", "message"}}``;
        for a proxy event, ``{"statusCode": int, "headers": {...}, "body": json string}`` with the same content.
        Client errors are 4xx, faults of ours 500; no stack trace is ever returned. One JSON line per request goes
        to the log (``log_request``).
    """
    if is_batch_event(event):
        return answer_batch(event, context)
    started = time.perf_counter()
    proxy = is_proxy_event(event)
    with safe_download.recording() as download:
        try:
            if proxy and is_upload(event):
                status, result = 200, predict_bytes(upload_body(event))
            else:
                if proxy:
                    payload = parse_proxy_body(event)
                elif isinstance(event, dict):
                    payload = event
                else:
                    raise RequestError(400, "invalid_json", 'the event must be a JSON object like {"url": "https://..."}')
                status, result = 200, predict_request(payload)
        except RequestError as e:
            status, result = e.status, error_answer(e.status, e.code, e.message)
        except Exception:
            logger.exception("internal error")  # the stack trace goes to the log only
            status, result = 500, error_answer(500, "internal_error", "internal error")
    if isinstance(result, dict):
        result = {**result, "model_version": MODEL_VERSION}  # every answer names the model that gave it
    log_request(event, context, status, result, download, time.perf_counter() - started)
    if not proxy:
        return result
    # TODO: return the API Gateway proxy response: statusCode the status (an int), a Content-Type header of application/json, and body the JSON text of result.
    raise NotImplementedError('return the API Gateway proxy response: statusCode the status (an int), a Content-Type header of application/json, and body the JSON text of result.')
