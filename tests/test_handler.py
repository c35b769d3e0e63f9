"""The final Lambda handler (solutions/03_lambda_code/lambda_function.py): predictions, event shapes, bad input."""

import base64
import json
import os
import subprocess
import sys

import lambda_function
import pytest
import safe_download
from conftest import REPO_ROOT, SOLUTIONS

from tutorial_support.events import proxy_event

PANTS = "/samples/pants/0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"
EVENTS_DIR = SOLUTIONS / "03_lambda_code" / "events"


def call(shape, payload):
    """Invoke the handler with ``payload`` (a dict) in the given event shape. Returns (status, answer dict)."""
    if shape == "direct":
        answer = lambda_function.lambda_handler(payload, None)
        json.dumps(answer)  # what Lambda does with the return value: must not raise (Runtime.MarshalError)
        return (answer["error"]["status"] if "error" in answer else 200), answer
    response = lambda_function.lambda_handler(proxy_event(shape, json.dumps(payload)), None)
    assert set(response) == {"statusCode", "headers", "body"}
    assert response["headers"]["Content-Type"] == "application/json"
    assert isinstance(response["body"], str)
    return response["statusCode"], json.loads(response["body"])


SHAPES = ["direct", "http-v2", "rest-v1"]


def test_predict_returns_plain_floats_that_sum_to_one(image_host):
    result = lambda_function.predict(image_host + PANTS)
    assert result["top_class"] == "pants"
    assert list(result["probabilities"]) == lambda_function.CLASSES
    assert len(result["probabilities"]) == 10
    assert all(type(p) is float and 0.0 <= p <= 1.0 for p in result["probabilities"].values())
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
    assert type(result["probability"]) is float
    assert result["probability"] == max(result["probabilities"].values())


def test_classes_match_the_training_metrics():
    metrics = json.loads((REPO_ROOT / "models" / "metrics.json").read_text())
    assert lambda_function.CLASSES == metrics["classes"]


def test_bundled_samples_are_classified_about_as_well_as_the_validation_split(image_host, sample_images):
    metrics = json.loads((REPO_ROOT / "models" / "metrics.json").read_text())
    predicted = [lambda_function.predict(f"{image_host}/samples/{label}/{p.name}")["top_class"]
                 for p, label in sample_images]
    accuracy = sum(p == label for p, (_, label) in zip(predicted, sample_images)) / len(sample_images)
    # 30 images: the binomial standard error around the validation accuracy is about 0.07; allow 3 of them.
    assert accuracy >= metrics["validation"]["accuracy"] - 0.21, (accuracy, predicted)
    assert accuracy > 0.5


@pytest.mark.parametrize("shape", SHAPES)
def test_good_request_in_every_event_shape(image_host, shape):
    status, answer = call(shape, {"url": image_host + PANTS})
    assert status == 200
    assert answer["top_class"] == "pants"


def test_base64_encoded_body(image_host):
    body = base64.b64encode(json.dumps({"url": image_host + PANTS}).encode()).decode()
    response = lambda_function.lambda_handler(proxy_event("http-v2", body, base64_encoded=True), None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["top_class"] == "pants"


def test_redirect_to_an_http_image_is_followed(image_host):
    assert lambda_function.predict(image_host + "/redirect-to-sample")["top_class"] == "pants"


@pytest.mark.parametrize("path", ["/octet-stream.jpg", "/untyped.jpg", "/redirect-chain/3"])
def test_generic_binary_type_no_type_and_three_redirects_are_accepted(image_host, path):
    assert lambda_function.predict(image_host + path)["top_class"] == "pants"


@pytest.mark.parametrize("event_file", ["direct.json", "apigw-http-v2.json", "apigw-rest-v1.json"])
def test_event_files_beside_the_handler(image_host, event_file):
    text = (EVENTS_DIR / event_file).read_text().replace("http://127.0.0.1:8000", image_host + "/samples")
    answer = lambda_function.lambda_handler(json.loads(text), None)
    if "statusCode" in answer:
        assert answer["statusCode"] == 200
        answer = json.loads(answer["body"])
    assert answer["top_class"] == "pants"


BAD_PAYLOADS = {
    "missing url": ({}, 400, "missing_url"),
    "null url": ({"url": None}, 400, "missing_url"),
    "url not a string": ({"url": ["http://example.com/a.jpg"]}, 400, "missing_url"),
    "file scheme": ({"url": "file:///etc/passwd"}, 400, "invalid_url"),
    "ftp scheme": ({"url": "ftp://127.0.0.1/a.jpg"}, 400, "invalid_url"),
    "data scheme": ({"url": "data:image/png;base64,iVBORw0KGgo="}, 400, "invalid_url"),
    "relative url": ({"url": "/samples/pants/x.jpg"}, 400, "invalid_url"),
    "unreachable host": ({"url": "http://127.0.0.1:9/a.jpg"}, 422, "fetch_failed"),
    "http 404 from host": ({"url": "{host}/missing.jpg"}, 422, "upstream_http_error"),
    "http 503 from host": ({"url": "{host}/server-error.jpg"}, 422, "upstream_http_error"),
    "timeout": ({"url": "{host}/slow.jpg"}, 422, "fetch_timeout"),
    "body over the cap": ({"url": "{host}/endless"}, 422, "image_too_large"),
    "html page": ({"url": "{host}/page.html"}, 422, "not_an_image"),
    "truncated jpeg": ({"url": "{host}/truncated.jpg"}, 422, "not_an_image"),
    "decompression bomb (warning zone)": ({"url": "{host}/bomb.png"}, 422, "image_too_large"),
    "decompression bomb": ({"url": "{host}/huge-bomb.png"}, 422, "image_too_large"),
    "redirect to file://": ({"url": "{host}/redirect-to-file"}, 422, "destination_refused"),
    "redirect to ftp://": ({"url": "{host}/redirect-to-ftp"}, 422, "destination_refused"),
    "four redirects": ({"url": "{host}/redirect-chain/4"}, 422, "too_many_redirects"),
    "user and password in the url": ({"url": "http://user:secret@127.0.0.1/a.jpg"}, 400, "invalid_url"),
    "port out of range": ({"url": "http://127.0.0.1:99999/a.jpg"}, 400, "invalid_url"),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", list(BAD_PAYLOADS))
def test_bad_input_gets_a_clear_4xx_and_the_next_request_still_works(image_host, monkeypatch, shape, case):
    payload, expected_status, expected_code = BAD_PAYLOADS[case]
    monkeypatch.setattr(safe_download, "FETCH_TIMEOUT_S", 0.5)
    monkeypatch.setattr(safe_download, "MAX_IMAGE_BYTES", 1_000_000)
    if isinstance(payload.get("url"), str):
        payload = {"url": payload["url"].replace("{host}", image_host)}
    status, answer = call(shape, payload)
    assert status == expected_status, answer
    assert answer["error"]["code"] == expected_code
    assert answer["error"]["status"] == expected_status
    assert answer["error"]["message"] and "Traceback" not in answer["error"]["message"]
    status, answer = call(shape, {"url": image_host + PANTS})
    assert (status, answer["top_class"]) == (200, "pants")


def test_declared_content_length_over_the_cap_is_refused_before_reading(image_host, monkeypatch):
    monkeypatch.setattr(safe_download, "MAX_IMAGE_BYTES", 1000)
    status, answer = call("direct", {"url": image_host + PANTS})
    assert (status, answer["error"]["code"]) == (422, "image_too_large")
    assert "limit is 1000" in answer["error"]["message"]


@pytest.mark.parametrize("shape", ["http-v2", "rest-v1"])
@pytest.mark.parametrize("body, base64_encoded", [
    ("{not json", False),
    ("", False),
    (None, False),
    ('["a list"]', False),
    ("not base64!", True),
    (base64.b64encode(b"\xff\xfe").decode(), True),
])
def test_malformed_body_is_a_400(image_host, shape, body, base64_encoded):
    response = lambda_function.lambda_handler(proxy_event(shape, body, base64_encoded), None)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("event", ["a string", ["a", "list"], 42, None])
def test_direct_invocation_with_a_non_object_event_is_a_400(event):
    answer = lambda_function.lambda_handler(event, None)
    assert answer["error"]["status"] == 400


def test_fault_of_ours_is_a_500_without_details(image_host, monkeypatch):
    def broken_invoke():
        raise RuntimeError("secret internal detail")

    with monkeypatch.context() as patch:
        patch.setattr(lambda_function.interpreter, "invoke", broken_invoke)
        status, answer = call("http-v2", {"url": image_host + PANTS})
    assert status == 500
    assert answer["error"]["code"] == "internal_error"
    assert "secret" not in json.dumps(answer)
    assert call("http-v2", {"url": image_host + PANTS})[0] == 200


IMPORT_CHECK = """
import sys
import lambda_function
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
assert not heavy, heavy
print(lambda_function.Interpreter.__module__)
"""


def test_handler_module_never_imports_tensorflow():
    out = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=SOLUTIONS / "03_lambda_code",
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("ai_edge_litert")


def test_interpreter_falls_back_to_tflite_runtime(tmp_path):
    # tflite-runtime 2.14 cannot share an environment with numpy 2 (see the README), so a tflite_runtime package
    # whose interpreter module hands out LiteRT's class (the same API) stands in for it, with ai_edge_litert blocked.
    package = tmp_path / "tflite_runtime"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "interpreter.py").write_text(
        "import importlib, sys\n"
        "blocked = sys.modules.pop('ai_edge_litert')\n"
        "Interpreter = importlib.import_module('ai_edge_litert.interpreter').Interpreter\n"
        "sys.modules['ai_edge_litert'] = blocked\n"
    )
    code = (
        "import sys\n"
        "sys.modules['ai_edge_litert'] = None\n"
        "import lambda_function\n"
        "shim = sys.modules['tflite_runtime.interpreter']\n"
        "print(lambda_function.Interpreter is shim.Interpreter, lambda_function.CLASSES[0])\n"
    )
    # python -c puts its working directory (the handler's folder) first on sys.path, then PYTHONPATH (the shim)
    out = subprocess.run([sys.executable, "-c", code], cwd=SOLUTIONS / "03_lambda_code", capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "dress"]
