"""Checks of chapter 03 (``03_lambda_code/lambda_function.py``): softmax, the prediction, the proxy body, the
handler.

What each check grades is what the chapter's notebook teaches and the README documents ("The handler's answer",
"Errors", "What the function fetches"): softmax without overflow or underflow, in float64; a prediction downloaded
only through ``safe_download.download_image`` (checked as deployed, ``ALLOW_PRIVATE_URLS`` unset), answered in plain
Python floats in the order of ``labels.txt``; every bad proxy body a 400 ``invalid_json``; the proxy response API
Gateway expects, the right status for each error, and the direct invocation's own answer.

The student's code is only called with plain values (dicts, strings, numpy arrays, None) and only its own
``RequestError`` is read (``status``, ``code``), so the checks also work when the grader runs it in a process of its
own.
"""

from __future__ import annotations

import base64
import functools
import json

import numpy as np

from grading import hints
from grading.checks.common import CLASSES, KNOWN_SAMPLES, as_deployed, sample_url, served_samples
from grading.outcomes import exercise
from grading.sandbox import SandboxError
from tutorial_support.events import proxy_event, url_event
from tutorial_support.image_server import serve_directory
from tutorial_support.paths import SAMPLES_DIR

CHAPTER = "03_lambda_code"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request

SAFE_DOWNLOAD = ("download with download_image(url) from safe_download: it refuses file:// URLs and every address "
                 "that is not public (SSRF: deployed, 127.0.0.1:9001 is the Lambda Runtime API and 169.254.169.254 "
                 "instance metadata)")


# Exceptions a check lets through when it turns what the student's code raised into a verdict: the stub's
# NotImplementedError (not attempted) and the sandbox's own errors (a timeout, a process that died: not a verdict).
PASS_THROUGH = (NotImplementedError, SandboxError)


def _short(value, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# ------------------------------------------------------------------------------------------------------- softmax

# Expected values, by hand (e = 2.718281828459045):
# softmax([1, 2, 3]) = e^(k - 3) / (e^-2 + e^-1 + 1); e^-1 = 0.36787944117144233, e^-2 = 0.1353352832366127,
#   sum 1.5032147244080551, so [0.09003057317038046, 0.24472847105479764, 0.6652409557748218].
# softmax([1000, 1001]) = [1 / (1 + e), e / (1 + e)] = [0.2689414213699951, 0.7310585786300049]; [-1000, -1001]
#   is the same pair reversed (only differences of logits matter).
# softmax([-1000, 0, 1000]) = [e^-2000, e^-1000, 1] / (1 + e^-1000 + e^-2000) = [0, 0, 1] in float64 (e^-1000 is
#   below the smallest float64, 5e-324).
# softmax([0, -110]) = [1, e^-110] / (1 + e^-110) = [1, 1.6889118802245324e-48]: a float64 holds e^-110; in
#   float32 (smallest 1.4e-45) it is 0.
SMALL = ([1.0, 2.0, 3.0], [0.09003057317038046, 0.24472847105479764, 0.6652409557748218])
PAIR = [0.2689414213699951, 0.7310585786300049]
TINY = 1.6889118802245324e-48


def _softmax_of(fn, logits: np.ndarray, what: str) -> np.ndarray:
    """``fn(logits)`` as a float64 array of the same shape as ``logits``; AssertionError when not."""
    try:
        with np.errstate(all="ignore"):
            got = fn(logits.copy())
    except PASS_THROUGH:
        raise
    except Exception as e:  # noqa: BLE001 (numpy's AxisError for an axis a 1-D array has not, and the like)
        raise AssertionError(
            f"softmax({what}) raised {type(e).__name__}: {e}. The logits are one 1-D array, shape (n_classes,): "
            "no batch axis: take the max and the sum over the whole array") from None
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"softmax({what}) should return an array of numbers, got {_short(got)}") from None
    assert got.shape == logits.shape, (
        f"softmax({what}) should keep the shape of the logits, {logits.shape}; got shape {got.shape}")
    return got


def _expect_close(got: np.ndarray, expected: list[float], what: str, advice: str) -> None:
    """``got`` equals ``expected`` to 9 significant digits; ``advice`` says what is wrong when it is far off, and a
    result right only to float32's 7 digits is told to compute in float64."""
    assert np.all(np.isfinite(got)) and np.allclose(got, expected, rtol=1e-6, atol=0), (
        f"softmax({what}) gave {got}; expected {expected}: {advice}")
    assert np.allclose(got, expected, rtol=1e-9, atol=0), (
        f"softmax({what}) gave {got!r}; expected {expected} to 9 digits: compute in float64 "
        "(logits.astype(np.float64)), since float32 keeps about 7 significant digits")


@exercise(CHAPTER, "softmax")
def check_softmax(fn):
    """Check ``fn(logits) -> probabilities`` (a 1-D numpy array in, the same shape out): small logits to 1e-12,
    logits of +-1000 (the max shift), a spread of 2000 (the largest logit, not the smallest or the mean), float32
    logits computed in float64, and probabilities that sum to 1."""
    logits, expected = SMALL
    got = _softmax_of(fn, np.array(logits), "[1, 2, 3]")
    _expect_close(got, expected, "[1, 2, 3]", "exp(z) / sum(exp(z)) over the logits")
    assert abs(got.sum() - 1) < 1e-12, f"softmax([1, 2, 3]) should sum to 1, got a sum of {got.sum()!r}"

    got = _softmax_of(fn, np.array([1000.0, 1001.0], dtype=np.float32), "[1000, 1001] in float32")
    assert np.all(np.isfinite(got)), (
        f"softmax([1000, 1001]) gave {got}: exp(1000) overflows to inf, and inf / inf is nan; "
        "subtract the largest logit before exp")
    _expect_close(got, PAIR, "[1000, 1001] in float32", "subtract the largest logit, which changes nothing "
                  "mathematically (do not clip or rescale the logits)")

    got = _softmax_of(fn, np.array([-1000.0, -1001.0]), "[-1000, -1001]")
    _expect_close(got, PAIR[::-1], "[-1000, -1001]", "exp(-1000) underflows to 0, and 0 / 0 is nan; subtract the "
                  "largest logit, so that the largest term is exp(0) = 1")

    got = _softmax_of(fn, np.array([-1000.0, 0.0, 1000.0]), "[-1000, 0, 1000]")
    assert np.all(np.isfinite(got)) and np.allclose(got, [0.0, 0.0, 1.0], rtol=0, atol=1e-12), (
        f"softmax([-1000, 0, 1000]) gave {got}; expected [0, 0, 1]: subtract the LARGEST logit (not the smallest, "
        "not the mean), so that no exponent is positive")

    got = _softmax_of(fn, np.array([0.0, -110.0], dtype=np.float32), "[0, -110] in float32")
    assert got[1] > 0 and abs(got[1] / TINY - 1) < 1e-6, (
        f"softmax of the float32 logits [0, -110] gave {got!r}; expected [1, {TINY!r}]: exp(-110) is 0 in float32 "
        "(smallest 1.4e-45) but not in float64; compute in float64 (logits.astype(np.float64))")

    # Logits like the model's: 10 classes, float32, shape (10,) in and out; the order of the classes is kept.
    logits = np.array([2.5, -1.0, 0.3, 4.1, -3.2, 0.0, 1.7, -0.6, 3.3, -2.2], dtype=np.float32)
    got = _softmax_of(fn, logits, "10 float32 logits, shape (10,)")
    assert np.all(got > 0) and abs(got.sum() - 1) < 1e-12, (
        f"softmax of 10 logits should give positive numbers summing to 1, got {got} (sum {got.sum()!r})")
    assert np.array_equal(np.argsort(got), np.argsort(logits)), (
        "softmax must keep the order of the classes: a larger logit, a larger probability")


# ------------------------------------------------------------------------------------------------------- predict

# The top probability the model that ships gives each of KNOWN_SAMPLES (models/clothing-model.tflite, EfficientNet-Lite0
# in float16; notebook 03 prints the first, pants 0.8333). They move by about 1e-5 between runtimes; a different
# preprocessing moves them by far more.
KNOWN_TOP_PROBABILITY = {"pants": 0.8333, "shoes": 0.9016, "hat": 0.8641}


def _check_answer(answer, name: str, true_class: str) -> None:
    """The documented shape of ``predict``'s answer for the bundled photo ``name`` of ``true_class``."""
    assert isinstance(answer, dict), f"predict should return a dict, got {type(answer).__name__}"
    assert "error" not in answer, (
        f"predict({name}) returned the error {_short(answer['error'])}: is ALLOW_PRIVATE_URLS=1 set while it runs?")
    assert set(answer) == {"top_class", "probability", "probabilities"}, (
        f"expected the keys top_class, probability, probabilities; got {sorted(answer)}")
    try:
        json.dumps(answer)
    except TypeError as e:
        raise AssertionError(f"the answer must be JSON-serialisable ({e}): Lambda serialises it with json.dumps; "
                             "convert each numpy number with float()") from None
    probabilities = answer["probabilities"]
    assert isinstance(probabilities, dict), (
        f"probabilities should be a dict {{class: float}}, got {_short(probabilities)}")
    assert list(probabilities) == CLASSES, (
        f"probabilities should list the 10 classes in labels.txt order ({', '.join(CLASSES)}); "
        f"got {', '.join(map(str, probabilities))}")
    numbers = [answer["probability"], *probabilities.values()]
    kinds = sorted({f"{type(p).__module__}.{type(p).__name__}" for p in numbers if type(p) is not float})
    assert not kinds, f"the answer must hold plain Python floats, got {', '.join(kinds)}: convert with float()"
    assert all(0 <= p <= 1 for p in numbers), f"probabilities must be in [0, 1], got {_short(probabilities)}"
    assert abs(sum(probabilities.values()) - 1) < 1e-6, (
        f"probabilities should sum to 1 (the softmax of the logits), got {sum(probabilities.values())!r}")
    best = max(probabilities, key=probabilities.get)
    assert answer["top_class"] == best, (
        f"top_class is {answer['top_class']!r}, but the most probable class is {best!r} (the argmax, not the argmin)")
    assert answer["probability"] == probabilities[best], (
        f"probability should be top_class's probability, {probabilities[best]!r}; got {answer['probability']!r}")
    assert best == true_class, f"{name} is {true_class}, predict says {best}: preprocess with convert_to_tensor"
    expected = KNOWN_TOP_PROBABILITY[true_class]
    assert abs(answer["probability"] - expected) < 0.005, (
        f"{name}: the model gives {true_class} a probability of {expected}, predict says {answer['probability']:.4f}: "
        "preprocess with preprocessor.convert_to_tensor (the training preprocessing) and feed it to the interpreter")


def _expect_refusal(module, url: str, status: int, code: str, what: str, if_answered: str, if_raised: str = "") -> None:
    """``module.predict(url)`` must raise ``RequestError(status, code)``; ``if_answered`` says what it means when it
    answers instead, ``if_raised`` when it raises another exception."""
    try:
        answer = module.predict(url)
    except module.RequestError as e:
        assert (e.status, e.code) == (status, code), (
            f"predict({what}) raised RequestError {e.status} {e.code}; expected {status} {code}: {SAFE_DOWNLOAD}")
        return
    except PASS_THROUGH:
        raise
    except Exception as e:  # noqa: BLE001 (anything else the student's download raised)
        raise AssertionError(f"predict({what}) raised {type(e).__name__} ({_short(str(e))}){if_raised}; expected "
                             f"RequestError {status} {code}: {SAFE_DOWNLOAD}") from None
    if isinstance(answer, dict) and "error" in answer:
        raise AssertionError(f"predict({what}) returned {_short(answer)}: predict raises the RequestError of "
                             "download_image (the handler turns it into the error answer and its status)")
    raise AssertionError(if_answered)


@exercise(CHAPTER, "predict")
def check_predict(module):
    """Check ``module.predict(url)``: three bundled photos served on 127.0.0.1 (local use) give the documented answer
    with the model's figures; then, as deployed (``ALLOW_PRIVATE_URLS`` unset), a photo on 127.0.0.1 is refused 422
    ``destination_refused``, a ``file://`` URL 400 ``invalid_url``, and only then the instance-metadata address 422
    ``destination_refused`` (a download that connected there would already have failed on 127.0.0.1)."""
    with served_samples(module) as base:
        for true_class, path in KNOWN_SAMPLES.items():
            name = path.relative_to(SAMPLES_DIR).as_posix()
            try:
                answer = module.predict(sample_url(base, path))
            except module.RequestError as e:
                raise AssertionError(
                    f"predict({name}), a photo served on 127.0.0.1 with ALLOW_PRIVATE_URLS=1 (local use), raised "
                    f"RequestError {e.status} {e.code} ({_short(str(e))}); expected its prediction: leave the "
                    "decision to download_image, which allows private addresses when ALLOW_PRIVATE_URLS=1") from None
            _check_answer(answer, name, true_class)
    path = KNOWN_SAMPLES["pants"]
    with as_deployed(module), serve_directory(SAMPLES_DIR) as base:
        url = sample_url(base, path)
        _expect_refusal(module, url, 422, "destination_refused", f"{url}, as deployed",
                        f"predict fetched a private address: {url}, served on 127.0.0.1, with ALLOW_PRIVATE_URLS "
                        f"unset as deployed; expected RequestError 422 destination_refused: {SAFE_DOWNLOAD}")
        file_url = path.as_uri()
        _expect_refusal(module, file_url, 400, "invalid_url", file_url,
                        f"predict read a file:// URL ({file_url}): a caller could read any file of the function; "
                        f"expected RequestError 400 invalid_url: {SAFE_DOWNLOAD}")
        metadata = "http://169.254.169.254/latest/meta-data/"
        _expect_refusal(module, metadata, 422, "destination_refused", f"{metadata}, as deployed",
                        f"predict answered for the instance-metadata address {metadata}; expected RequestError 422 "
                        f"destination_refused, before connecting: {SAFE_DOWNLOAD}",
                        ": it tried to connect to the instance-metadata address")


# ---------------------------------------------------------------------------------------------- parse_proxy_body

PAYLOAD = {"url": "https://example.com/a.jpg"}
UNICODE_PAYLOAD = {"url": "https://example.com/bl\u00e5b\u00e6r.jpg", "note": "\u00e9t\u00e9 \u2603"}


def _b64(data: bytes | str) -> str:
    """``data`` (text as UTF-8) base64-encoded, as API Gateway sends a body with ``isBase64Encoded`` true."""
    return base64.b64encode(data.encode("utf-8") if isinstance(data, str) else data).decode("ascii")


def _good_bodies() -> list[tuple[str, dict, dict]]:
    """(what, event, the payload it holds): proxy events of both formats whose body is a JSON object."""
    text, unicode_text = json.dumps(PAYLOAD), json.dumps(UNICODE_PAYLOAD, ensure_ascii=False)
    return [
        ("a payload 2.0 JSON body", proxy_event("http-v2", text), PAYLOAD),
        ("a payload 1.0 JSON body", proxy_event("rest-v1", text), PAYLOAD),
        ("a base64-encoded body (isBase64Encoded true)", proxy_event("http-v2", _b64(text), True), PAYLOAD),
        ("a JSON body with non-ASCII text", proxy_event("http-v2", unicode_text), UNICODE_PAYLOAD),
        ("a base64-encoded UTF-8 body with non-ASCII text", proxy_event("rest-v1", _b64(unicode_text), True),
         UNICODE_PAYLOAD),
    ]


def _bad_bodies() -> list[tuple[str, dict]]:
    """(what, event): proxy events whose body is the client's mistake, each a 400 ``invalid_json`` (README,
    "Errors")."""
    not_utf8 = b'{"url": "https://example.com/\xff\xfe.jpg"}'  # 0xff never occurs in UTF-8 (latin-1 would read it)
    return [
        ("no body (None)", proxy_event("http-v2", None)),
        ("an empty body", proxy_event("rest-v1", "")),
        ("a body that is not valid JSON", proxy_event("http-v2", '{url: "https://example.com/a.jpg"')),
        ("a JSON list", proxy_event("http-v2", json.dumps([PAYLOAD["url"]]))),
        ("a JSON string", proxy_event("rest-v1", json.dumps(PAYLOAD["url"]))),
        ("a JSON number", proxy_event("http-v2", "42")),
        ("JSON null", proxy_event("http-v2", "null")),
        ("a body that is not valid base64", proxy_event("http-v2", "%%% not base64 %%%", True)),
        ("base64 of bytes that are not UTF-8", proxy_event("http-v2", _b64(not_utf8), True)),
        ("base64 of text that is not JSON", proxy_event("rest-v1", _b64("url=https://example.com/a.jpg"), True)),
        ("base64 of a JSON list", proxy_event("http-v2", _b64(json.dumps([PAYLOAD])), True)),
    ]


@exercise(CHAPTER, "parse_proxy_body")
def check_parse_proxy_body(module):
    """Check ``module.parse_proxy_body(event)``: plain, base64 and non-ASCII bodies of both payload formats give their
    object; every documented bad body (none, empty, not JSON, not an object, bad base64, not UTF-8) raises
    ``RequestError`` 400 ``invalid_json`` and nothing else."""
    for what, event, payload in _good_bodies():
        try:
            got = module.parse_proxy_body(event)
        except module.RequestError as e:
            got = f"RequestError {e.status} {e.code} ({e})"
        except PASS_THROUGH:
            raise
        except Exception as e:  # noqa: BLE001
            got = f"{type(e).__name__} ({_short(str(e))})"
        if got == payload:
            continue
        if not event["isBase64Encoded"]:
            advice = "json.loads the body as it is when isBase64Encoded is false"
        elif isinstance(got, dict):
            advice = "decode the base64-decoded bytes as UTF-8 (JSON text is UTF-8)"
        else:
            advice = "base64-decode the body first when event['isBase64Encoded'] is true (a boolean), then json.loads"
        raise AssertionError(f"{what}, {_short(event['body'], 80)}, should give {payload}; got {_short(got)}: {advice}")
    for what, event in _bad_bodies():
        try:
            got = module.parse_proxy_body(event)
        except module.RequestError as e:
            assert (e.status, e.code) == (400, "invalid_json"), (
                f"{what}: expected RequestError 400 invalid_json, got {e.status} {e.code}")
            continue
        except PASS_THROUGH:
            raise
        except Exception as e:  # noqa: BLE001
            raise AssertionError(
                f"{what}: parse_proxy_body raised {type(e).__name__} ({_short(str(e))}); catch it and raise "
                "RequestError(400, 'invalid_json', ...): any other exception becomes a 500, a fault of ours, for the "
                "client's mistake") from None
        raise AssertionError(f"{what} ({_short(event['body'], 80)}): parse_proxy_body returned {_short(got)}; "
                             "it should raise RequestError(400, 'invalid_json', ...)")


# ------------------------------------------------------------------------------------------------ lambda_handler


def _invoke(module, event, what: str):
    """``module.lambda_handler(event, None)``, JSON-serialisable; AssertionError when an exception escapes."""
    try:
        response = module.lambda_handler(event, None)
    except module.RequestError as e:
        raise AssertionError(
            f"{what}: lambda_handler let RequestError {e.status} {e.code} escape; Lambda would answer its stack "
            "trace (errorType, stackTrace) and API Gateway a 502: catch it and answer its status and error") from None
    except PASS_THROUGH:
        raise
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"{what}: lambda_handler raised {type(e).__name__} ({_short(str(e))}); it must answer "
                             "every request, with {'error': {...}} and a status for bad ones") from None
    try:
        json.dumps(response)
    except (TypeError, ValueError) as e:
        raise AssertionError(f"{what}: the answer is not JSON-serialisable ({e}); Lambda serialises it with "
                             "json.dumps") from None
    return response


def _proxy_answer(response, what: str) -> tuple[int, dict]:
    """(statusCode, the body's JSON) of a proxy response, checked against what API Gateway needs."""
    assert isinstance(response, dict), f"{what}: a proxy event needs a dict response, got {_short(response)}"
    missing = [key for key in ("statusCode", "headers", "body") if key not in response]
    assert not missing, (
        f"{what}: the proxy response needs statusCode, headers and body; missing {', '.join(missing)} in "
        f"{_short(response)}")
    status, headers, body = response["statusCode"], response["headers"], response["body"]
    assert type(status) is int, f"{what}: statusCode must be an int, got {_short(status)}"
    assert isinstance(headers, dict), f"{what}: headers must be a dict, got {_short(headers)}"
    content_type = {str(k).lower(): v for k, v in headers.items()}.get("content-type")
    assert isinstance(content_type, str) and content_type.split(";")[0].strip().lower() == "application/json", (
        f"{what}: set the Content-Type header to application/json, got headers {_short(headers)}")
    assert isinstance(body, str), (
        f"{what}: the body must be a string, json.dumps(result), got {type(body).__name__}; a body that is not a "
        "string is a malformed proxy response, and API Gateway answers 502")
    try:
        answer = json.loads(body)
    except ValueError:
        raise AssertionError(f"{what}: the body must be JSON text, json.dumps(result), got {_short(body, 120)} "
                             "(str(result) writes Python's repr, which is not JSON)") from None
    assert isinstance(answer, dict), f"{what}: the body should be the JSON of result (an object), got {_short(body)}"
    return status, answer


def _check_error(answer: dict, status: int, code: str, what: str) -> None:
    """``answer`` is ``{"error": {"status": status, "code": code, "message": str}}``."""
    error = answer.get("error")
    assert isinstance(error, dict) and error.get("code") == code and error.get("status") == status, (
        f"{what}: expected the error {status} {code}, got {_short(answer)}")
    assert isinstance(error.get("message"), str), f"{what}: the error needs a message, got {_short(error)}"


@exercise(CHAPTER, "lambda_handler")
def check_lambda_handler(module):
    """Check ``module.lambda_handler`` with events built from ``solutions/03_lambda_code/events``: a good photo as a
    direct invocation (the answer itself), payload 2.0, payload 1.0 and a base64 body (proxy responses with a
    Content-Type and a JSON string body); bad requests of each shape (400 and 422, with the error's own status;
    the direct invocation's error object); and a good request again after the errors."""
    with served_samples(module) as base:
        url = sample_url(base, KNOWN_SAMPLES["pants"])
        missing = f"{base}/pants/no-such-photo.jpg"

        direct = _invoke(module, url_event(url, "direct"), "a direct invocation with a good URL")
        assert isinstance(direct, dict) and "statusCode" not in direct, (
            "a direct invocation answers the prediction itself, not a proxy response: return result when the event "
            f"is not a proxy event; got {_short(direct)}")
        assert direct.get("top_class") == "pants", (
            f"a direct invocation with a photo of pants should answer top_class pants, got {_short(direct)} "
            "(is predict correct?)")

        good = [("payload 2.0 with a good URL", url_event(url, "http-v2")),
                ("payload 1.0 with a good URL", url_event(url, "rest-v1")),
                ("payload 2.0 with a base64 body", proxy_event("http-v2", _b64(json.dumps({"url": url})), True))]
        for what, event in good:
            status, answer = _proxy_answer(_invoke(module, event, what), what)
            assert status == 200, (
                f"{what}: expected statusCode 200, got {status} {_short(answer)} (is predict correct?)")
            assert answer == direct, (
                f"{what}: the body should be the same answer as a direct invocation's, {_short(direct)}; "
                f"got {_short(answer)}")

        proxy_errors = [
            ("payload 2.0 without a url", url_event(None, "http-v2"), 400, "missing_url"),
            ("payload 1.0 without a url", url_event(None, "rest-v1"), 400, "missing_url"),
            ("payload 2.0 whose body is a JSON string, not an object", proxy_event("http-v2", json.dumps(url)),
             400, "invalid_json"),
            ("payload 1.0 without a body", proxy_event("rest-v1", None), 400, "invalid_json"),
            ("payload 2.0 with the URL of a missing photo (HTTP 404)", url_event(missing, "http-v2"),
             422, "upstream_http_error"),
        ]
        for what, event, want_status, code in proxy_errors:
            status, answer = _proxy_answer(_invoke(module, event, what), what)
            assert status == want_status, (
                f"{what}: expected statusCode {want_status} (the error's own status), got {status} {_short(answer)}")
            _check_error(answer, want_status, code, what)

        for what, event, want_status, code in [
            ("a direct invocation without a url", url_event(None, "direct"), 400, "missing_url"),
            ("a direct invocation with the URL of a missing photo", url_event(missing, "direct"), 422,
             "upstream_http_error"),
        ]:
            answer = _invoke(module, event, what)
            assert isinstance(answer, dict) and "statusCode" not in answer, (
                f"{what}: a direct invocation answers the error object itself, {{'error': {{...}}}}, not a proxy "
                f"response; got {_short(answer)}")
            _check_error(answer, want_status, code, what)

        what = "payload 2.0 with a good URL, after the errors"
        status, answer = _proxy_answer(_invoke(module, url_event(url, "http-v2"), what), what)
        assert status == 200 and answer.get("top_class") == "pants", (
            f"{what}: expected 200 and pants again, got {status} {_short(answer)}: the same warm process must serve "
            "the next request normally (keep no state from one request to the next)")
