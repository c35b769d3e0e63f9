"""Chapter 06 locally: ``serve.py`` (the handler behind an HTTP server that speaks payload format 2.0) and the
``predict.py`` client, with real sample photos served on 127.0.0.1."""

import http.client
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import predict
import pytest
import serve
from conftest import SOLUTIONS, overlap_probe

PANTS = "/samples/pants/0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"
SERVE, PREDICT = SOLUTIONS / "06_api_gateway" / "serve.py", SOLUTIONS / "06_api_gateway" / "predict.py"


@pytest.fixture(scope="module")
def endpoint():
    with serve.serve() as url:
        yield url


def post(url: str, body: bytes, content_type: str = "application/json", method: str = "POST"):
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_real_photo_is_classified_through_the_local_server_by_the_client(endpoint, image_host):
    answer = predict.predict(endpoint, image_host + PANTS)
    assert answer["top_class"] == "pants" and abs(sum(answer["probabilities"].values()) - 1) < 1e-5
    run = subprocess.run([sys.executable, str(PREDICT), endpoint, image_host + PANTS], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip().splitlines()[-1].startswith("pants ("), run.stderr


@pytest.mark.parametrize("body, status, code", [
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_json"),
    (b"{}", 400, "missing_url"),
    (b'{"url": "file:///etc/passwd"}', 400, "invalid_url"),
    (b'{"url": "IMAGE_HOST/page.html"}', 422, "not_an_image"),
    (b'{"url": "IMAGE_HOST/missing.jpg"}', 422, "upstream_http_error"),
])
def test_bad_inputs_get_4xx_and_the_server_keeps_answering(endpoint, image_host, body, status, code):
    got_status, answer = post(endpoint, body.replace(b"IMAGE_HOST", image_host.encode()))
    assert (got_status, answer["error"]["code"]) == (status, code)
    assert post(endpoint, json.dumps({"url": image_host + PANTS}).encode())[0] == 200


def test_other_paths_and_methods_are_404_as_from_an_http_api(endpoint):
    assert post(endpoint.replace("/predict", "/other"), b"{}") == (404, {"message": "Not Found"})
    assert post(endpoint, b"", method="GET") == (404, {"message": "Not Found"})


def client_error(capsys) -> str:
    """The client's message (the server, in this process, logs each request to stderr too)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    return line


def test_the_client_reports_http_errors_and_unreachable_endpoints(endpoint, capsys):
    assert predict.main([endpoint, "ftp://example.com/a.jpg"]) == 1
    err = client_error(capsys)
    assert err.startswith("error: HTTP 400 from") and "invalid_url" in err
    assert predict.main([endpoint.replace("/predict", "/nope"), "https://example.com/a.jpg"]) == 1
    err = client_error(capsys)
    assert "HTTP 404" in err and "the path is /predict" in err
    with serve.serve() as gone:
        pass  # the server has stopped: nothing listens on that port any more
    assert predict.main([gone, "https://example.com/a.jpg"]) == 3
    assert client_error(capsys).startswith(f"error: cannot reach {gone}")


def test_make_serve_runs_the_server_until_stopped(image_host):
    process = subprocess.Popen([sys.executable, str(SERVE), "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith("Serving the Lambda handler at http://127.0.0.1:"), first
        url = first.split(" at ")[1].split()[0]
        status, answer = post(url, json.dumps({"url": image_host + PANTS}).encode())
        assert status == 200 and answer["top_class"] == "pants"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_malformed_proxy_response_is_a_502_as_from_api_gateway():
    def body_not_a_string(event, context):
        return {"statusCode": 200, "body": {"top_class": "pants"}}

    def no_status_code(event, context):
        return {"top_class": "pants"}

    with serve.serve(lambda_handler=body_not_a_string) as url:
        assert post(url, b"{}") == (502, {"message": "Internal Server Error"})
    with serve.serve(lambda_handler=no_status_code) as url:
        assert post(url, b"{}") == (200, {"top_class": "pants"})


def test_a_404_reads_the_request_body_so_a_keep_alive_connection_stays_usable():
    def echo(event, context):
        return {"statusCode": 200, "body": event["body"]}

    with serve.serve(lambda_handler=echo) as url:
        connection = http.client.HTTPConnection("127.0.0.1", int(url.split(":")[2].split("/")[0]), timeout=10)
        for path, status in (("/other", 404), ("/predict", 200), ("/other", 404), ("/predict", 200)):
            connection.request("POST", path, body=b'{"url": "u"}', headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            assert (response.status, json.loads(response.read())) == (
                status, {"url": "u"} if status == 200 else {"message": "Not Found"})
        connection.close()


def test_handler_calls_take_turns_as_in_one_lambda_execution_environment():
    slow, most = overlap_probe()
    with serve.serve(lambda_handler=slow) as url:
        threads = [threading.Thread(target=post, args=(url, b"{}")) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert most[0] == 1
