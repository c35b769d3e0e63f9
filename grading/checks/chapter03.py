"""Checks of chapter 03 (``03_lambda_code/lambda_function.py``): softmax, the prediction, the proxy body, the
handler."""

from __future__ import annotations

import base64
import functools
import json

import numpy as np

from grading import hints
from grading.checks.common import CLASSES, KNOWN_SAMPLES, sample_url, served_samples
from grading.outcomes import exercise
from tutorial_support.events import url_event

CHAPTER = "03_lambda_code"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request


@exercise("03_lambda_code", "softmax")
def check_softmax(fn):
    """Check ``fn(logits) -> probabilities`` on small, large and float32 logits."""
    # softmax([1, 2, 3]) = e^(k-3) / (e^-2 + e^-1 + 1) = [0.09003057, 0.24472847, 0.66524096]
    got = np.asarray(fn(np.array([1.0, 2.0, 3.0])))
    assert got.shape == (3,), f"softmax of 3 logits should have shape (3,), got {got.shape}"
    assert np.allclose(got, [0.09003057, 0.24472847, 0.66524096], atol=1e-7), f"softmax([1, 2, 3]) gave {got}"
    # logits 1000 and 1001: exp overflows unless the maximum is subtracted; answer 1/(1+e) = 0.26894142, 0.73105858
    with np.errstate(over="ignore", invalid="ignore"):
        big = np.asarray(fn(np.array([1000.0, 1001.0], dtype=np.float32)))
    assert np.all(np.isfinite(big)), f"softmax([1000, 1001]) gave {big}: subtract the largest logit before exp"
    assert np.allclose(big, [0.26894142, 0.73105858], atol=1e-6), f"softmax([1000, 1001]) gave {big}"


@exercise("03_lambda_code", "predict")
def check_predict(module):
    """Check ``module.predict(url)`` on three bundled photos served on 127.0.0.1."""
    with served_samples(module) as base:
        for true_class, path in KNOWN_SAMPLES.items():
            answer = module.predict(sample_url(base, path))
            assert isinstance(answer, dict), f"predict should return a dict, got {type(answer).__name__}"
            try:
                assert json.loads(json.dumps(answer)) == answer
            except TypeError as e:
                raise AssertionError(f"the answer must be JSON-serialisable ({e}); convert numpy floats with float()")
            assert set(answer) == {"top_class", "probability", "probabilities"}, (
                f"expected keys top_class, probability, probabilities; got {sorted(answer)}")
            probabilities = answer["probabilities"]
            assert list(probabilities) == CLASSES, "probabilities should list the 10 classes in labels.txt order"
            assert abs(sum(probabilities.values()) - 1) < 1e-5, "probabilities should sum to 1"
            assert answer["top_class"] == max(probabilities, key=probabilities.get), (
                "top_class is not the most probable class")
            assert answer["probability"] == probabilities[answer["top_class"]], "probability is not top_class's"
            assert answer["top_class"] == true_class, f"{path.name} should be {true_class}, got {answer['top_class']}"


@exercise("03_lambda_code", "parse_proxy_body")
def check_parse_proxy_body(module):
    """Check ``module.parse_proxy_body(event)`` on plain, base64 and bad bodies."""
    payload = {"url": "https://example.com/a.jpg"}
    text = json.dumps(payload)
    got = module.parse_proxy_body({"body": text, "isBase64Encoded": False})
    assert got == payload, f"a JSON body {text} should give {payload}, got {got!r}"
    encoded = base64.b64encode(text.encode()).decode()
    got = module.parse_proxy_body({"body": encoded, "isBase64Encoded": True})
    assert got == payload, f"a base64-encoded body should give {payload}, got {got!r}"
    for what, event in [("no body", {"body": None}), ("invalid JSON", {"body": "{url: "}),
                        ("a JSON list", {"body": "[1, 2]"}), ("bad base64", {"body": "%%%", "isBase64Encoded": True})]:
        try:
            module.parse_proxy_body(event)
        except module.RequestError as e:
            assert (e.status, e.code) == (400, "invalid_json"), (
                f"{what}: expected 400 invalid_json, got {e.status} {e.code}")
        else:
            raise AssertionError(f"{what} should raise RequestError(400, 'invalid_json', ...)")


@exercise("03_lambda_code", "lambda_handler")
def check_lambda_handler(module):
    """Check ``module.lambda_handler`` with the events in ``solutions/03_lambda_code/events``: good and bad requests."""
    for name in ("http-v2", "rest-v1"):
        response = module.lambda_handler(url_event(None, name), None)
        assert isinstance(response, dict) and {"statusCode", "body"} <= set(response), (
            f"{name}: a proxy response needs statusCode and body, got {response!r}")
        assert isinstance(response["body"], str), "the body must be a string (json.dumps), else API Gateway answers 502"
        assert response["statusCode"] == 400, f"{name} without a url: expected status 400, got {response['statusCode']}"
        assert json.loads(response["body"])["error"]["code"] == "missing_url"
    with served_samples(module) as base:
        path = KNOWN_SAMPLES["pants"]
        url = sample_url(base, path)
        for name in ("http-v2", "rest-v1", "direct"):
            response = module.lambda_handler(url_event(url, name), None)
            if name == "direct":
                answer, status = response, 200 if "top_class" in response else response.get("error", {}).get("status")
            else:
                answer, status = json.loads(response["body"]), response["statusCode"]
                assert response.get("headers", {}).get("Content-Type") == "application/json", (
                    "set the Content-Type header to application/json")
            assert status == 200, (
                f"{name} with a good image URL: expected 200, got {status} {answer} (is predict done?)")
            assert answer["top_class"] == "pants", f"{name}: expected pants, got {answer['top_class']}"
