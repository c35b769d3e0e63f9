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
import io
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import numpy as np
from keras_image_helper import create_preprocessor
from PIL import Image

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

FETCH_TIMEOUT_S = float(os.environ.get("FETCH_TIMEOUT_S", "5"))  # connect timeout and per-read timeout, seconds
MAX_IMAGE_BYTES = int(os.environ.get("MAX_IMAGE_BYTES", str(10 * 1024 * 1024)))  # cap on bytes downloaded
MAX_IMAGE_PIXELS = 40_000_000  # Pillow's decompression-bomb limit (its default is about 89 M pixels)
ALLOWED_SCHEMES = ("http", "https")

interpreter = Interpreter(model_path=str(MODEL_PATH))
interpreter.allocate_tensors()
_input = interpreter.get_input_details()[0]
INPUT_INDEX = _input["index"]
OUTPUT_INDEX = interpreter.get_output_details()[0]["index"]
_, INPUT_HEIGHT, INPUT_WIDTH, _ = _input["shape"]
CLASSES = LABELS_PATH.read_text().split()
preprocessor = create_preprocessor("xception", target_size=(int(INPUT_WIDTH), int(INPUT_HEIGHT)))
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


class RequestError(Exception):
    """A problem with the client's request or the image its URL points to: answered with a 4xx status.

    Attributes:
        status: HTTP status code (400 for a malformed request, 422 for a URL that cannot give an image).
        code: a stable machine-readable error code, listed in the README.
    """

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http and https URLs (urllib refuses file:// itself, but follows ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in ALLOWED_SCHEMES:
            raise RequestError(422, "upstream_http_error", f"the image host redirected to a non-http URL: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_HttpOnlyRedirects)


def validate_url(url) -> str:
    """Return ``url`` if it is an absolute http(s) URL with a host.

    Raises:
        RequestError: 400 ``missing_url`` when absent or not a string, 400 ``invalid_url`` otherwise.
    """
    if url is None:
        raise RequestError(400, "missing_url", 'the request needs a "url" field with an image URL')
    if not isinstance(url, str):
        raise RequestError(400, "missing_url", f'"url" must be a string, got {type(url).__name__}')
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.netloc:
        raise RequestError(400, "invalid_url", f"only absolute http and https URLs are accepted, got {url[:200]!r}")
    return url.strip()


def download_image(url: str) -> Image.Image:
    """Download ``url`` and decode it as an image, within a timeout and a size cap.

    Returns:
        a fully decoded Pillow image (any mode; the preprocessor converts it to RGB).

    Raises:
        RequestError: 422 with code ``fetch_failed`` (host unreachable), ``upstream_http_error`` (4xx/5xx from the
        image host), ``fetch_timeout`` (no answer within ``FETCH_TIMEOUT_S`` seconds), ``image_too_large``
        (more than ``MAX_IMAGE_BYTES`` bytes or ``MAX_IMAGE_PIXELS`` pixels) or ``not_an_image``.
    """
    request = urllib.request.Request(validate_url(url), headers={"User-Agent": "serverless-dl-clothing/1.0"})
    try:
        with _opener.open(request, timeout=FETCH_TIMEOUT_S) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
                message = f"the image is {declared} bytes; the limit is {MAX_IMAGE_BYTES}"
                raise RequestError(422, "image_too_large", message)
            data = response.read(MAX_IMAGE_BYTES + 1)
    except RequestError:
        raise
    except urllib.error.HTTPError as e:
        raise RequestError(422, "upstream_http_error", f"the image host answered HTTP {e.code} {e.reason}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            message = f"the image host did not answer within {FETCH_TIMEOUT_S} s"
            raise RequestError(422, "fetch_timeout", message) from None
        raise RequestError(422, "fetch_failed", f"could not fetch the image: {reason}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise RequestError(422, "image_too_large", f"the image is over the limit of {MAX_IMAGE_BYTES} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RequestError(422, "image_too_large", f"the image has more than {MAX_IMAGE_PIXELS} pixels") from None
    except (OSError, ValueError, SyntaxError):  # Pillow's UnidentifiedImageError is an OSError
        raise RequestError(422, "not_an_image", "the URL did not return an image Pillow can decode") from None
    return img


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits: exp(z - max z) / sum(exp(z - max z)), in float64. Shape (n_classes,)."""
    # BEGIN SOLUTION
    # HINT: exponentiate the logits (minus their maximum, so exp cannot overflow) and divide by the sum.
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
    # HINT: download_image(url), preprocessor.convert_to_tensor, set_tensor/invoke/get_tensor on the interpreter,
    # HINT: softmax, then a dict of plain Python floats (json cannot serialise numpy.float32).
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
    # HINT: read event["body"], base64-decode it when event["isBase64Encoded"] is true, json.loads it;
    # HINT: raise RequestError(400, "invalid_json", ...) when it is missing, undecodable or not a JSON object.
    body = event.get("body")
    if not body:
        raise RequestError(400, "invalid_json", 'the request body must be JSON like {"url": "https://..."}')
    try:
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body, validate=True).decode("utf-8")
        payload = json.loads(body)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise RequestError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise RequestError(400, "invalid_json", 'the request body must be a JSON object like {"url": "https://..."}')
    return payload
    # END SOLUTION


def lambda_handler(event, context):
    """Lambda entry point. ``context`` (the Lambda context object) is not used.

    Returns:
        for a direct invocation, the ``predict`` dict, or ``{"error": {"status", "code", "message"}}``;
        for a proxy event, ``{"statusCode": int, "headers": {...}, "body": json string}`` with the same content.
        Client errors are 4xx, faults of ours 500; no stack trace is ever returned.
    """
    proxy = is_proxy_event(event)
    try:
        if proxy:
            payload = parse_proxy_body(event)
        elif isinstance(event, dict):
            payload = event
        else:
            raise RequestError(400, "invalid_json", 'the event must be a JSON object like {"url": "https://..."}')
        status, result = 200, predict(payload.get("url"))
    except RequestError as e:
        logger.warning("request error %s: %s", e.code, e.message)
        status, result = e.status, {"error": {"status": e.status, "code": e.code, "message": e.message}}
    except Exception:
        logger.exception("internal error")
        status, result = 500, {"error": {"status": 500, "code": "internal_error", "message": "internal error"}}
    if not proxy:
        return result
    # BEGIN SOLUTION
    # HINT: API Gateway needs {"statusCode": int, "headers": {...}, "body": str}, the body being the JSON of result.
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(result)}
    # END SOLUTION
