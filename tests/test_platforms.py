"""Chapter 08: one contract on three platforms. The same requests go to chapter 03's handler as API Gateway calls it on
Lambda (a payload 2.0 event), to the Google adapter through the Functions Framework's own Flask app and test client,
and to the Azure adapter as an ``azure.functions.HttpRequest``; each must get the same status, Content-Type, JSON
body and log line, good photo or documented error (README, "Errors"). Then what each platform adds: Google's 405,
Azure's route, requests taking turns, and ``make serve PLATFORM=gcp`` answering as ``make serve`` does.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import types
import urllib.error
import urllib.request
import uuid
from unittest import mock

import azure.functions as func
import azure_function_app
import functions_framework
import lambda_function
import predict
import pytest
from conftest import PANTS, REPO_ROOT, SOLUTIONS, captured_request_log, overlap_probe

from tutorial_support.events import http_api_event

GOOGLE_SOURCE = SOLUTIONS / "08_explore_more" / "google_cloud_function.py"
JSON_TYPE, FORM_TYPE, BINARY_TYPE = "application/json", "application/x-www-form-urlencoded", "application/octet-stream"
PLATFORMS = ("aws", "gcp", "azure")


@pytest.fixture(scope="module")
def google_client():
    """The Functions Framework's Flask app for ``classify``, as ``functions-framework --target classify`` builds it,
    and its test client."""
    with mock.patch.dict(os.environ):  # create_app sets FUNCTION_TARGET in the environment
        app = functions_framework.create_app(target="classify", source=str(GOOGLE_SOURCE))
    return app.test_client()


AZURE_FUNCTION = azure_function_app.classify.build().get_user_function()


def azure_context() -> types.SimpleNamespace:
    """What the Azure host passes as ``context``: the invocation's id (``func.Context.invocation_id``)."""
    return types.SimpleNamespace(invocation_id=str(uuid.uuid4()), function_name="classify")


def ask(platform: str, body: bytes, content_type: str | None, google_client) -> tuple[int, str, dict]:
    """(status, Content-Type without parameters, JSON body) of ``POST /predict`` with ``body`` on ``platform``."""
    headers = {"Content-Type": content_type} if content_type else {}
    if platform == "aws":  # API Gateway's HTTP API event for this request, as serve.py builds it
        response = lambda_function.lambda_handler(http_api_event("POST", "/predict", headers, body), None)
        status, kind, data = response["statusCode"], response["headers"]["Content-Type"], response["body"]
    elif platform == "gcp":
        response = google_client.post("/predict", data=body, headers=headers)
        status, kind, data = response.status_code, response.headers["Content-Type"], response.get_data()
    else:
        request = func.HttpRequest(method="POST", url="/api/predict", body=body, headers=headers)
        response = AZURE_FUNCTION(request, azure_context())
        status, kind, data = response.status_code, response.mimetype, response.get_body()
    return status, kind.split(";")[0].strip(), json.loads(data)


def closed_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def url_body(url: str) -> bytes:
    return json.dumps({"url": url}).encode()


PHOTO = "{host}/samples/" + PANTS
# (body, Content-Type, status, error code or None for the photo, as deployed: ALLOW_PRIVATE_URLS unset)
CASES = {
    "photo": (url_body(PHOTO), JSON_TYPE, 200, None, False),
    "photo, curl's default form type": (url_body(PHOTO), FORM_TYPE, 200, None, False),
    "photo, no content type": (url_body(PHOTO), None, 200, None, False),
    "empty body": (b"", JSON_TYPE, 400, "invalid_json", False),
    "not JSON": (b"{url:", JSON_TYPE, 400, "invalid_json", False),
    "a JSON list": (b'["x"]', JSON_TYPE, 400, "invalid_json", False),
    "bytes that are not UTF-8": (b'{"url": "\xff\xfe"}', BINARY_TYPE, 400, "invalid_json", False),
    "no url": (b"{}", JSON_TYPE, 400, "missing_url", False),
    "url not a string": (b'{"url": 42}', JSON_TYPE, 400, "missing_url", False),
    "ftp URL": (url_body("ftp://example.com/a.jpg"), JSON_TYPE, 400, "invalid_url", False),
    "file URL": (url_body("file:///etc/passwd"), JSON_TYPE, 400, "invalid_url", False),
    "user name in the URL": (url_body("http://user@example.com/a.jpg"), JSON_TYPE, 400, "invalid_url", False),
    "private address, as deployed": (url_body(PHOTO), JSON_TYPE, 422, "destination_refused", True),
    "instance metadata, as deployed": (url_body("http://169.254.169.254/latest/meta-data/"), JSON_TYPE, 422,
                                       "destination_refused", True),
    "too many redirects": (url_body("{host}/redirect-chain/4"), JSON_TYPE, 422, "too_many_redirects", False),
    "declared too large": (url_body("{host}/huge-length"), JSON_TYPE, 422, "image_too_large", False),
    "too many pixels": (url_body("{host}/bomb.png"), JSON_TYPE, 422, "image_too_large", False),
    "not an image": (url_body("{host}/page.html"), JSON_TYPE, 422, "not_an_image", False),
    "upstream 404": (url_body("{host}/missing.jpg"), JSON_TYPE, 422, "upstream_http_error", False),
    "host refuses the connection": (url_body("http://127.0.0.1:{closed}/a.jpg"), JSON_TYPE, 422, "fetch_failed",
                                    False),
}


@pytest.mark.parametrize("body, content_type, status, code, deployed", CASES.values(), ids=CASES.keys())
def test_the_three_adapters_give_the_same_answer_status_and_log_line(google_client, image_host, monkeypatch, body,
                                                                      content_type, status, code, deployed):
    body = body.replace(b"{host}", image_host.encode()).replace(b"{closed}", str(closed_port()).encode())
    if deployed:
        monkeypatch.delenv("ALLOW_PRIVATE_URLS")  # as deployed: private addresses refused
    with captured_request_log() as lines:
        answers = {platform: ask(platform, body, content_type, google_client) for platform in PLATFORMS}
    assert answers["gcp"] == answers["aws"] and answers["azure"] == answers["aws"], answers
    got_status, kind, answer = answers["aws"]
    assert (got_status, kind) == (status, JSON_TYPE)
    if code is None:
        direct = lambda_function.lambda_handler({"url": json.loads(body)["url"]}, None)
        assert answer == direct and answer["top_class"] == "pants"
    else:
        assert answer["error"]["code"] == code and answer["error"]["status"] == status
    records = [json.loads(line) for line in lines]
    assert [(r["status"], r["error_code"]) for r in records] == [(status, code)] * 3  # one line per request
    assert all(isinstance(r["api_request_id"], str) and r["api_request_id"] for r in records), records


def test_google_answers_other_methods_405_and_any_path(google_client, image_host):
    response = google_client.get("/predict")
    assert (response.status_code, response.headers["Allow"], response.get_json()) == (
        405, "POST", {"message": "Method Not Allowed"})
    response = google_client.post("/", data=url_body(image_host + "/samples/" + PANTS))  # a function's URL is its root
    assert response.status_code == 200 and response.get_json()["top_class"] == "pants"


def test_the_google_request_id_is_the_function_execution_id(google_client):
    with captured_request_log() as lines:
        google_client.post("/predict", data=b"{}", headers={"Function-Execution-Id": "exec-123"})
    assert json.loads(lines[0])["api_request_id"] == "exec-123"


def test_the_azure_function_is_post_api_predict_behind_a_function_key():
    (function,) = azure_function_app.app.get_functions()
    bindings = [json.loads(binding) for binding in function.get_raw_bindings()]
    trigger = next(b for b in bindings if b["type"] == "httpTrigger")
    assert (trigger["route"], trigger["methods"], trigger["authLevel"]) == ("predict", ["POST"], "FUNCTION")
    assert {"type": "http", "direction": "OUT", "name": "$return"} in bindings
    context = azure_context()
    with captured_request_log() as lines:
        AZURE_FUNCTION(func.HttpRequest(method="POST", url="/api/predict", body=b"{}"), context)
    assert json.loads(lines[0])["api_request_id"] == context.invocation_id


@pytest.mark.parametrize("platform", ["gcp", "azure"])
def test_requests_take_turns_in_one_instance(google_client, monkeypatch, platform):
    slow, most = overlap_probe()
    monkeypatch.setattr(lambda_function, "lambda_handler", slow)
    threads = [threading.Thread(target=ask, args=(platform, b"{}", JSON_TYPE, google_client)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert most[0] == 1


def make_serve_command(port: int) -> str:
    """The command ``make serve PLATFORM=gcp`` runs (``make -n``: printed, not run), on ``port``."""
    run = subprocess.run(["make", "-n", "-s", "serve", "PLATFORM=gcp"], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.replace("\\\n", " ").splitlines()
    (command,) = [line for line in lines if "functions_framework" in line]
    assert "--host 127.0.0.1 --port 8080" in command and "ALLOW_PRIVATE_URLS=1" in command
    return command.replace("--port 8080", f"--port {port}")


def test_make_serve_platform_gcp_answers_as_make_serve_does(image_host):
    port = closed_port()
    process = subprocess.Popen(["sh", "-c", make_serve_command(port)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}/predict"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read().decode()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        answer = predict.predict(endpoint, image_host + "/samples/" + PANTS)  # the chapter 06 client, unchanged
        assert answer["top_class"] == "pants"
        request = urllib.request.Request(endpoint, data=b"{url:", method="POST")  # curl -d: a form type
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 400 and json.loads(refused.value.read())["error"]["code"] == "invalid_json"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/predict")
        assert connection.getresponse().status == 405
        connection.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
