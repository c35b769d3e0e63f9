"""AWS Lambda handler: classify a wine from its 13 chemical measurements with chapter 08's tabular model.

The backend is chosen by the environment variable ``TABULAR_BACKEND`` (``BACKENDS``):

- ``sklearn`` (the default): the scikit-learn pipeline (``sklearn.joblib``), run by scikit-learn;
- ``xgboost``: the XGBoost classifier (``xgboost.json``, XGBoost's own format), run by XGBoost;
- ``sklearn-onnx``, ``xgboost-onnx``: the same two models exported to ONNX, run by ONNX Runtime (no scikit-learn,
  SciPy or XGBoost needed).

Only the backend's own library is imported, so an image holds only that one. The model files and ``features.json``
(feature names, classes, valid ranges) sit beside this file in the task root, or in ``models/tabular/`` of the
repository (``TABULAR_MODEL_DIR`` overrides both). The model is loaded once, at import time (the cold start).

Events (the same shapes as chapter 03's handler):
- a direct invocation, ``{"features": [...]}``; the answer is the prediction (or ``{"error": ...}``) itself;
- API Gateway proxy events, HTTP API payload format 2.0 and REST API payload format 1.0, whose JSON body (possibly
  base64-encoded) is that object; the answer is ``{"statusCode", "headers", "body"}`` with a JSON body.

``features`` is a list of the 13 numbers in the order of ``FEATURE_NAMES``, or an object ``{name: number}`` with
exactly those names, in any order. The answer: ``{"top_class": "class_1", "probability": 0.97, "probabilities":
{"class_0": ..., "class_1": ..., "class_2": ...}, "backend": "sklearn"}``, plain floats summing to 1.

Errors: ``{"error": {"status", "code", "message"}}`` (a proxy event gets it as the body, with ``statusCode`` set to
``status``); every code is in ``ERRORS``. Bad input never produces a stack trace, and one JSON line per request goes to
the log (``log_request``): no feature values, no body.

This file imports nothing of the repository (no ``tutorial_support``, no chapter 03 module): its task root is this
file and the model files.
"""

import base64
import binascii
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# The status and meaning of every error the handler answers (README-style documentation, and what the tests hold it
# to: no other code is ever answered).
ERRORS = {
    "invalid_json": (400, "the proxy body is missing, not valid (base64 or) JSON, or not an object; a direct event "
                          "that is not an object"),
    "missing_features": (400, 'the request has no "features"'),
    "invalid_features": (400, '"features" is neither a list nor an object'),
    "wrong_feature_count": (400, '"features" is a list of the wrong length'),
    "wrong_feature_names": (400, '"features" is an object whose names are not exactly the model\'s'),
    "not_a_number": (400, "a feature is not a JSON number (a string, true/false, null, a list, an object) or is "
                          "NaN or Infinity"),
    "out_of_range": (400, "a feature is outside its valid range (features.json): the model cannot answer there"),
    "internal_error": (500, "a fault of ours (logged with its stack trace, never returned)"),
}
# backend: the model file it loads, beside features.json
BACKENDS = {"sklearn": "sklearn.joblib", "xgboost": "xgboost.json", "sklearn-onnx": "sklearn.onnx",
            "xgboost-onnx": "xgboost.onnx"}
FEATURES_FILE = "features.json"


class RequestError(Exception):
    """A request the handler refuses: an HTTP ``status`` (4xx), a ``code`` of ``ERRORS`` and a ``message`` for the
    caller."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def find_model_dir() -> Path:
    """Where ``features.json`` and the model files are: ``TABULAR_MODEL_DIR``, else beside this file (the task root),
    else ``models/tabular/`` in a folder above it (the repository)."""
    if os.environ.get("TABULAR_MODEL_DIR"):
        return Path(os.environ["TABULAR_MODEL_DIR"])
    here = Path(__file__).resolve().parent
    candidates = (here, *(parent / "models" / "tabular" for parent in here.parents))
    return next((folder for folder in candidates if (folder / FEATURES_FILE).is_file()), here)


def load_backend(backend: str, folder: Path):
    """The function ``x -> probabilities`` of ``backend``, its model loaded from ``folder``: ``x`` float32
    ``(n, n_features)`` in, ``(n, n_classes)`` probabilities out. One thread: a Lambda function below 1,769 MB has
    less than one vCPU, and these models are too small to gain from more.

    Raises:
        ValueError: an unknown backend (not in ``BACKENDS``).
        ImportError: the backend's library is not installed (an image built for another backend).
    """
    if backend not in BACKENDS:
        raise ValueError(f"TABULAR_BACKEND={backend!r} is not a backend; expected one of {', '.join(BACKENDS)}")
    path = folder / BACKENDS[backend]
    if backend == "sklearn":
        import joblib

        return joblib.load(path).predict_proba  # our own file: joblib unpickles, which runs code
    if backend == "xgboost":
        import xgboost

        booster = xgboost.Booster(model_file=str(path))
        booster.set_param({"nthread": 1})
        return booster.inplace_predict  # multi:softprob: (n, n_classes)
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    return lambda x: session.run(["probabilities"], {input_name: x})[0]


BACKEND = os.environ.get("TABULAR_BACKEND", "sklearn")
MODEL_DIR = find_model_dir()
_spec = json.loads((MODEL_DIR / FEATURES_FILE).read_text())
FEATURE_NAMES = [feature["name"] for feature in _spec["features"]]  # the input order
RANGES = {feature["name"]: (feature["low"], feature["high"]) for feature in _spec["features"]}  # bounds included
CLASSES = _spec["classes"]
predict_proba = load_backend(BACKEND, MODEL_DIR)

# One JSON line per request on stdout (CloudWatch Logs on Lambda). Text fields are cut to LOG_FIELD_MAX_CHARS.
LOG_FIELD_MAX_CHARS = 128
request_log = logging.getLogger("tabular.requests")
if not request_log.handlers:
    _stdout = logging.StreamHandler(sys.stdout)
    _stdout.setFormatter(logging.Formatter("%(message)s"))
    request_log.addHandler(_stdout)
    request_log.setLevel(logging.INFO)
    request_log.propagate = False  # not again through the root logger (Lambda's would prefix it with text)


def _short(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: a client's names in a message, never megabytes."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _json_kind(value) -> str:
    """What a JSON value that is not a number is, in JSON's words: a string (quoted, cut), true, false, null, a list,
    an object."""
    if isinstance(value, str):
        return f"the string {_short(value, 30)}"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def validate_features(payload) -> np.ndarray:
    """The model's input from a request's ``payload`` (a dict): ``payload["features"]``, a list of
    ``len(FEATURE_NAMES)`` numbers in that order, or an object ``{name: number}`` with exactly those names.

    Returns:
        float32, shape ``(1, len(FEATURE_NAMES))``, in the order of ``FEATURE_NAMES``.

    Raises:
        RequestError: 400 with the code of ``ERRORS`` that names the problem: ``missing_features``,
        ``invalid_features``, ``wrong_feature_count``, ``wrong_feature_names``, ``not_a_number`` (a string, a bool:
        ``True`` is an int in Python, None, a list, NaN or Infinity: ``json.loads`` accepts ``NaN``), ``out_of_range``
        (outside ``RANGES[name]``, bounds included; so is a JSON integer too large for a float, 10**400).
    """
    # BEGIN SOLUTION
    # TASK: return payload["features"] as a float32 numpy array of shape (1, len(FEATURE_NAMES)), in the order of
    # TASK: FEATURE_NAMES; features is a list of that many numbers in that order, or an object {name: number} with
    # TASK: exactly those names. Raise RequestError(400, code, message) with the code of ERRORS for each problem:
    # TASK: missing_features, invalid_features (neither list nor object), wrong_feature_count, wrong_feature_names,
    # TASK: not_a_number (not an int or a float, or NaN/Infinity), out_of_range (outside RANGES[name], bounds
    # TASK: included). No other exception may escape.
    # HINT: features = payload.get("features"); None -> missing_features. For a dict, compare its keys with
    # HINT: FEATURE_NAMES (missing or unknown names -> wrong_feature_names) and take the values in FEATURE_NAMES order,
    # HINT: not the client's; for a list, check len first. Then for each (name, value): bool is a subclass of int, so
    # HINT: refuse bools first (isinstance(value, bool)), then anything not an int or a float; refuse
    # HINT: math.isfinite(value) false for floats (NaN, inf: json.loads reads NaN and Infinity); then low <= value <=
    # HINT: high with (low, high) = RANGES[name] (compare before float(): float(10**400) raises OverflowError, the
    # HINT: comparison does not). Last, np.array([values], dtype=np.float32): the (1, n) batch the models take.
    features = payload.get("features") if isinstance(payload, dict) else None
    if features is None:
        raise RequestError(400, "missing_features", f'the request needs "features": a list of the '
                           f'{len(FEATURE_NAMES)} numbers {", ".join(FEATURE_NAMES)}, or an object {{name: number}}')
    if isinstance(features, dict):
        missing = [name for name in FEATURE_NAMES if name not in features]
        unknown = [name for name in features if name not in RANGES]
        if missing or unknown:
            raise RequestError(400, "wrong_feature_names", f"features: missing {_short(missing)}, unknown "
                               f"{_short(unknown)}; expected exactly {', '.join(FEATURE_NAMES)}")
        values = [features[name] for name in FEATURE_NAMES]
    elif isinstance(features, list):
        if len(features) != len(FEATURE_NAMES):
            raise RequestError(400, "wrong_feature_count", f"features has {len(features)} values; the model takes "
                               f"{len(FEATURE_NAMES)}: {', '.join(FEATURE_NAMES)}")
        values = features
    else:
        raise RequestError(400, "invalid_features", '"features" must be a list of numbers or an object '
                           f"{{name: number}}, not {type(features).__name__}")
    for name, value in zip(FEATURE_NAMES, values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RequestError(400, "not_a_number", f"{name} is {_json_kind(value)}, not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError(400, "not_a_number", f"{name} is {value}: NaN and Infinity are not numbers the model "
                               "can use")
        low, high = RANGES[name]
        if not low <= value <= high:
            raise RequestError(400, "out_of_range", f"{name} is outside [{low}, {high}], the range the model was "
                               "trained on (with a margin): it cannot answer there")
    return np.array([values], dtype=np.float32)
    # END SOLUTION


def predict(x: np.ndarray) -> dict:
    """The prediction for one row ``x`` (float32, ``(1, n_features)``) by the backend: ``{"top_class",
    "probability", "probabilities": {class: float}, "backend"}``, plain Python floats in the order of ``CLASSES``."""
    probabilities = np.asarray(predict_proba(x), dtype=np.float64)[0]
    best = int(probabilities.argmax())
    return {"top_class": CLASSES[best], "probability": float(probabilities[best]),
            "probabilities": {name: float(p) for name, p in zip(CLASSES, probabilities)}, "backend": BACKEND}


def is_proxy_event(event) -> bool:
    """True for an API Gateway proxy event (payload format 1.0 or 2.0), False for a direct invocation."""
    return isinstance(event, dict) and ("requestContext" in event or "httpMethod" in event or "routeKey" in event)


def parse_proxy_body(event: dict) -> dict:
    """The JSON object in a proxy event's body (base64-encoded when ``isBase64Encoded`` is true).

    Raises:
        RequestError: 400 ``invalid_json`` when the body is absent, not valid base64, UTF-8 or JSON, or not an object.
    """
    body = event.get("body")
    if not body or not isinstance(body, str):
        raise RequestError(400, "invalid_json", 'the request body must be JSON like {"features": [...]}')
    try:
        if event.get("isBase64Encoded") is True:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        payload = json.loads(body)
    except (binascii.Error, ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RequestError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise RequestError(400, "invalid_json", 'the request body must be a JSON object like {"features": [...]}')
    return payload


def _log_text(value) -> str | None:
    """``value`` cut to ``LOG_FIELD_MAX_CHARS`` characters if it is a string, else None."""
    return value[:LOG_FIELD_MAX_CHARS] if isinstance(value, str) else None


def log_request(event, context, status: int, result: dict, inference_ms: float | None, seconds: float) -> dict:
    """Write the request's one JSON log line to ``request_log``, and return it as a dict.

    Fields: ``request_id`` (Lambda's), ``api_request_id`` (API Gateway's), ``event`` (``"direct"`` or ``"proxy"``),
    ``backend``, ``status``, ``outcome`` (``"ok"``, ``"client_error"``, ``"server_error"``), ``error_code``,
    ``top_class``, ``inference_ms`` (the backend's call) and ``duration_ms`` (the whole invocation). Never the
    features or the body.
    """
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    error = result.get("error") if isinstance(result.get("error"), dict) else {}
    record = {
        "request_id": _log_text(getattr(context, "aws_request_id", None)),
        "api_request_id": _log_text(request_context.get("requestId") if isinstance(request_context, dict) else None),
        "event": "proxy" if is_proxy_event(event) else "direct",
        "backend": BACKEND,
        "status": status,
        "outcome": "ok" if status < 400 else "client_error" if status < 500 else "server_error",
        "error_code": _log_text(error.get("code")),
        "top_class": _log_text(result.get("top_class")),
        "inference_ms": None if inference_ms is None else round(inference_ms, 3),
        "duration_ms": round(seconds * 1000, 3),
    }
    request_log.info(json.dumps(record))
    return record


def lambda_handler(event, context):
    """Lambda entry point. ``context`` (the Lambda context object) gives the request id for the log, when present.

    Returns:
        for a direct invocation, the ``predict`` dict or ``{"error": {"status", "code", "message"}}``; for a proxy
        event, ``{"statusCode": int, "headers": {...}, "body": json string}`` with the same content. Client errors
        are 400, faults of ours 500 (the stack trace goes to the log only).
    """
    started = time.perf_counter()
    proxy = is_proxy_event(event)
    inference_ms = None
    try:
        if proxy:
            payload = parse_proxy_body(event)
        elif isinstance(event, dict):
            payload = event
        else:
            raise RequestError(400, "invalid_json", 'the event must be a JSON object like {"features": [...]}')
        x = validate_features(payload)
        inference_started = time.perf_counter()
        status, result = 200, predict(x)
        inference_ms = (time.perf_counter() - inference_started) * 1000
    except RequestError as e:
        status, result = e.status, {"error": {"status": e.status, "code": e.code, "message": e.message}}
    except Exception:
        logger.exception("internal error")  # the stack trace goes to the log only
        status, result = 500, {"error": {"status": 500, "code": "internal_error", "message": "internal error"}}
    log_request(event, context, status, result, inference_ms, time.perf_counter() - started)
    if not proxy:
        return result
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(result)}
