"""Checks of chapter 08 (``08_explore_more/``): the Google Cloud Run functions adapter, and, from
``grading.checks.chapter08_tabular``, the tabular model's input validation and ONNX export.

``check_classify_request`` runs the student's ``google_cloud_function.py`` for real, under the Functions Framework
(the server ``functions-framework --target classify`` starts, gunicorn's, as Cloud Run functions run it), in a
process of its own with the grading sandbox's environment (``grading.sandbox.student_environment``: no credentials),
chapter 03's reference handler on its ``PYTHONPATH`` (the core the adapter wraps, never the exercise's own answer),
and sends it HTTP requests: the answer, the status, the Content-Type, the error bodies and the log line must be the
handler's own, as on Lambda (README, "The handler's answer" and "Errors"). A second server runs as deployed
(``ALLOW_PRIVATE_URLS`` unset), where a photo on 127.0.0.1 must be refused: an adapter that downloads the photo itself
instead of leaving it to the handler would fetch it.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from grading import hints
from grading.checks.chapter03 import KNOWN_TOP_PROBABILITY
from grading.checks.chapter08_tabular import check_export_onnx, check_validate_features  # noqa: F401 (re-exported)
from grading.checks.common import CLASSES, KNOWN_SAMPLES, LOCAL_USE, sample_url
from grading.outcomes import exercise
from grading.sandbox import ExerciseTimeout, student_environment
from tutorial_support.image_server import serve_directory
from tutorial_support.paths import HANDLER_DIR, SAMPLES_DIR

CHAPTER = "08_explore_more"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request

TARGET = "classify"  # the HTTP function of google_cloud_function.py (functions-framework --target)
START_TIMEOUT_S = 120.0  # the framework's start: importing the adapter, the handler and LiteRT, loading the model
REQUEST_TIMEOUT_S = 60.0  # one request: the handler's own download deadline is 10 s
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"  # what curl -d sends when no Content-Type is given
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)|NotImplementedError)(?::\s?(.*))?$")


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FunctionServer:
    """The student's HTTP function served by the Functions Framework in a process of its own (``function_server``).

    ``post`` sends one request; ``log_lines`` are the JSON lines the process wrote to stdout (the handler's request
    log); ``stderr`` is what it wrote there (Flask's report of an exception the function raised).
    """

    def __init__(self, port: int, stdout: Path, stderr: Path):
        self.port, self._stdout, self._stderr = port, stdout, stderr

    def post(self, body: bytes, content_type: str | None = JSON_TYPE, path: str = "/predict") -> tuple[int, str, bytes]:
        """(status, Content-Type, body) of ``POST path`` with ``body``."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            connection.request("POST", path, body=body, headers={"Content-Type": content_type} if content_type else {})
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type") or "", response.read()
        except TimeoutError:
            raise ExerciseTimeout(f"the function did not answer within {REQUEST_TIMEOUT_S:g} s (an endless loop, or a "
                                  "wait for something that never comes?)") from None
        finally:
            connection.close()

    def stderr(self) -> str:
        return self._stderr.read_text(errors="replace")

    def log_lines(self) -> list[dict]:
        """The JSON objects the process wrote to stdout, one a line (other lines are skipped)."""
        found = []
        for line in self._stdout.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append(record)
        return found

    def raised(self) -> tuple[str, str] | None:
        """(exception type, message) of the last exception the function raised, from Flask's report on stderr."""
        for line in reversed(self.stderr().splitlines()):
            match = EXCEPTION_LINE.match(line.strip())
            if match:
                return match.group(1), (match.group(2) or "").strip()
        return None


@contextmanager
def function_server(source: Path, environment: dict[str, str]):
    """``python -m functions_framework --target classify --source SOURCE`` on 127.0.0.1 (a free port), as ``make
    serve PLATFORM=gcp`` runs it, with the sandbox's environment, ``PYTHONPATH`` the reference handler's folder, and
    ``environment``. Yields a ``FunctionServer`` once it accepts connections; stops its process group after.

    Raises:
        AssertionError: the framework exited before serving (the file does not import, or has no ``classify``).
    """
    scratch = Path(tempfile.mkdtemp(prefix="grading-gcf-"))
    for name in ("home", "tmp", "work"):
        (scratch / name).mkdir()
    env = {**student_environment(scratch / "home", scratch / "tmp"), "PYTHONPATH": str(HANDLER_DIR), **environment}
    port, stdout, stderr = _free_port(), scratch / "stdout.log", scratch / "stderr.log"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "functions_framework", "--target", TARGET, "--source", str(source), "--host",
             "127.0.0.1", "--port", str(port)], cwd=scratch / "work", env=env, stdout=out, stderr=err,
            start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                tail = "\n".join(stderr.read_text(errors="replace").strip().splitlines()[-6:])
                raise AssertionError(
                    f"{source.name} did not start under the Functions Framework (functions-framework --target "
                    f"{TARGET}): it exited with status {process.returncode}. Does the file import, and does it still "
                    f"define the HTTP function {TARGET}? The end of its output:\n{tail}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{source.name} did not start serving within {START_TIMEOUT_S:g} s")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield FunctionServer(port, stdout, stderr)
    finally:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def _short(value, limit: int = 200) -> str:
    text = value.decode(errors="replace") if isinstance(value, bytes) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _answer(server: FunctionServer, what: str, body: bytes, content_type: str | None = JSON_TYPE) -> tuple[int, dict]:
    """(status, JSON answer) of one request, checked to be JSON labelled ``application/json``; the function's own
    exception, when it raised one, becomes the verdict (its stub's NotImplementedError: not attempted)."""
    status, got_type, data = server.post(body, content_type)
    raised = server.raised() if status >= 500 else None
    if raised and raised[0].rsplit(".", 1)[-1] == "NotImplementedError":
        raise NotImplementedError(raised[1] or "classify_request is still a stub")
    if raised:
        raise AssertionError(
            f"{what}: the function raised {raised[0]}: {_short(raised[1].encode())} and the Functions Framework "
            f"answered HTTP {status}: let lambda_function.lambda_handler answer every request (it never raises), and "
            "take its answer apart with response['body'], response['statusCode'], response['headers']")
    try:
        answer = json.loads(data)
    except ValueError:
        flask_page = "<title>" in data.decode(errors="replace").lower() or "html" in got_type
        raise AssertionError(
            f"{what}: HTTP {status} with a body that is not JSON ({_short(data, 120)})"
            + ("; that is Flask's own error page: request.get_json() (and request.json) refuse a body that is not "
               "labelled application/json, or is not JSON, before the handler sees it. Pass the raw body, "
               "request.get_data(), to the handler, which answers 400 invalid_json itself" if flask_page else
               "; return the handler's body (a JSON string) as it is")) from None
    assert isinstance(answer, dict), f"{what}: the body should be a JSON object, got {_short(data)}"
    assert "statusCode" not in answer, (
        f"{what}: the body is the handler's whole proxy response, {_short(answer)}: Flask turned the dict you returned "
        "into JSON with status 200. Return (response['body'], response['statusCode'], response['headers'])")
    assert got_type.split(";")[0].strip().lower() == JSON_TYPE, (
        f"{what}: the Content-Type is {got_type!r}, expected {JSON_TYPE}: return the handler's headers too "
        "(Flask's third element), or Flask labels a string text/html")
    return status, answer


def _expect_error(server: FunctionServer, what: str, body: bytes, status: int, code: str,
                  content_type: str | None = JSON_TYPE, advice: str = "") -> None:
    """The request is answered HTTP ``status`` with the handler's error ``code`` in its documented body."""
    got, answer = _answer(server, what, body, content_type)
    error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    if got == 200 and error:
        raise AssertionError(f"{what}: HTTP 200 with the error {_short(error)}: the HTTP status must be the error's "
                             "own (the handler's statusCode, Flask's second element)")
    assert (got, error.get("code")) == (status, code), (
        f"{what}: expected HTTP {status} {code} as on Lambda, got HTTP {got} {_short(answer)}"
        + (f": {advice}" if advice else ""))
    assert error.get("status") == status and isinstance(error.get("message"), str), (
        f"{what}: the error body should be the handler's, {{'error': {{'status', 'code', 'message'}}}}; got "
        f"{_short(answer)}")


PREDICTION_KEYS = ["top_class", "probability", "probabilities"]


def _expect_prediction(server: FunctionServer, what: str, body: bytes, content_type: str | None = JSON_TYPE,
                       advice: str = "") -> dict:
    """The request is answered 200 with the handler's prediction for the bundled pants photo."""
    status, answer = _answer(server, what, body, content_type)
    assert status == 200 and "error" not in answer, (
        f"{what}: expected HTTP 200 and the prediction, got HTTP {status} {_short(answer)}"
        + (f": {advice}" if advice else ""))
    # The handler's answer: the prediction (predict's), then the model_version that lambda_handler adds to it
    assert list(answer) in (PREDICTION_KEYS, PREDICTION_KEYS + ["model_version"]) and \
        list(answer["probabilities"]) == CLASSES, f"{what}: expected the handler's answer, got {_short(answer)}"
    assert answer["top_class"] == "pants" and abs(answer["probability"] - KNOWN_TOP_PROBABILITY["pants"]) < 0.005, (
        f"{what}: the handler answers pants {KNOWN_TOP_PROBABILITY['pants']} for this photo, got {_short(answer)}")
    return answer


@exercise(CHAPTER, "classify_request")
def check_classify_request(source):
    """Check ``google_cloud_function.py`` (the path ``source``) served by the Functions Framework: the bundled pants
    photo gets the handler's prediction, whatever the body's Content-Type (curl's form type included); bad bodies get
    the handler's 400s and 422s, JSON, with their own status; one JSON log line per request; a good request after
    the errors; and, as deployed, a photo on 127.0.0.1 is refused 422 ``destination_refused`` and a ``file://`` URL
    400 ``invalid_url``."""
    source = Path(source).resolve()
    pants = KNOWN_SAMPLES["pants"]
    with serve_directory(SAMPLES_DIR) as base:
        url = sample_url(base, pants)
        good = json.dumps({"url": url}).encode()
        with function_server(source, LOCAL_USE) as server:
            first = _expect_prediction(server, "a photo served on 127.0.0.1 (local use)", good)
            again = _expect_prediction(
                server, f"the same request with curl's default Content-Type, {FORM_TYPE}", good, FORM_TYPE,
                "the body is JSON whatever its label: read it with request.get_data(), not request.get_json() or "
                "request.form")
            assert again == first, f"the same photo gave {_short(again)}, then {_short(first)}"
            errors = [
                ("an empty body", b"", 400, "invalid_json", JSON_TYPE, ""),
                ("a body that is not JSON", b'{"url": ', 400, "invalid_json", JSON_TYPE,
                 "pass the raw body to the handler, which refuses it itself"),
                ("a JSON string, not an object", json.dumps(url).encode(), 400, "invalid_json", JSON_TYPE, ""),
                ("a JSON object without a url", b"{}", 400, "missing_url", JSON_TYPE, ""),
                ("an ftp:// URL", b'{"url": "ftp://example.com/a.jpg"}', 400, "invalid_url", JSON_TYPE, ""),
                ("the URL of a missing photo (HTTP 404)", json.dumps({"url": f"{base}/pants/no-such.jpg"}).encode(),
                 422, "upstream_http_error", JSON_TYPE, ""),
                ("the URL of a text file", json.dumps({"url": f"{base}/README.md"}).encode(), 422, "not_an_image",
                 JSON_TYPE, ""),
                ("bytes that are not UTF-8, sent as application/octet-stream", b'{"url": "\xff\xfe"}', 400,
                 "invalid_json", "application/octet-stream",
                 "API Gateway passes such a body base64-encoded and the handler refuses it as invalid_json: pass the "
                 "raw bytes base64-encoded (isBase64Encoded true), not decoded to text"),
            ]
            for what, body, status, code, content_type, advice in errors:
                _expect_error(server, what, body, status, code, content_type, advice)
            _expect_prediction(server, "the photo again, after the errors", good)
            expected = [200, 200, *(status for _, _, status, *_ in errors), 200]
            logged = [record for record in server.log_lines() if "status" in record]
            assert [record["status"] for record in logged] == expected, (
                f"one JSON log line per request, with its status, as lambda_handler writes it: expected the statuses "
                f"{expected}, the function logged {[record.get('status') for record in logged]}")
        with function_server(source, {}) as deployed:  # the sandbox's environment has no ALLOW_PRIVATE_URLS
            _expect_error(deployed, f"{url}, as deployed (ALLOW_PRIVATE_URLS unset)", good, 422, "destination_refused",
                          advice="leave the download to the handler (lambda_function), whose safe_download refuses "
                                 "every address that is not public")
            _expect_error(deployed, f"{pants.as_uri()}, as deployed", json.dumps({"url": pants.as_uri()}).encode(),
                          400, "invalid_url")
