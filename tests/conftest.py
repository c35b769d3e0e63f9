"""Shared fixtures: a local image host on 127.0.0.1, the handler's request log captured, and the submissions of the
mutation tests (tests/mutations/: the reference solution with one plausible mistake each, graded as make grade does).

The image host serves the bundled samples plus the awkward and hostile answers a real image host can give
(HTTP errors, slow and dripping answers, endless, huge or non-image bodies, bombs, redirects anywhere).

Every test runs with ``ALLOW_PRIVATE_URLS=1`` (the handler's opt-in for local use), because the image host is on
127.0.0.1; the tests of the SSRF protection (tests/test_download_attacks.py) switch it off.
"""

import gzip
import http.server
import io
import json
import logging
import threading
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from grading import starters
from grading.targets import Target

# The paths the tests import from here: tutorial_support.paths, the one copy.
from tutorial_support.paths import MODELS_DIR, REPO_ROOT, SAMPLES_DIR, SHARED_DATA_DIR, SOLUTIONS  # noqa: F401

SLOW_SECONDS = 3.0
DRIP_SECONDS = 0.2
PANTS = "pants/0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"


def _png(size, mode="1") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


class ImageHost(http.server.BaseHTTPRequestHandler):
    """GET /samples/<class>/<file>, plus special paths (see ``do_GET``)."""

    bomb_png = _png((7_000, 7_000))  # 49 M pixels: over the handler's 40 M limit, under 2x (Pillow's warning zone)
    huge_bomb_png = _png((20_000, 20_000))  # 400 M pixels: Pillow raises DecompressionBombError itself
    jpeg = (SAMPLES_DIR / "pants" / "0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg").read_bytes()

    def log_message(self, *args):
        pass

    def _send(self, status, body: bytes, content_type="image/jpeg", headers=None, length=None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, head: bytes, byte: bytes = b"\xff"):
        """Send ``head`` (status line and headers, or part of them) at once, then one byte every DRIP_SECONDS, until
        the client hangs up."""
        try:
            self.wfile.write(head)
            while True:
                self.wfile.write(byte)
                self.wfile.flush()
                time.sleep(DRIP_SECONDS)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/redirect":  # /redirect?to=URL: 302 to any URL
            return self._send(302, b"", "text/plain", {"Location": urllib.parse.parse_qs(query)["to"][0]})
        if path.startswith("/redirect-chain/"):  # n redirects, then the pants photo
            left = int(path.rsplit("/", 1)[1])
            target = f"/redirect-chain/{left - 1}" if left > 1 else "/samples/" + PANTS
            return self._send(302, b"", "text/plain", {"Location": target})
        if path == "/drip":  # a 200 that sends its body one byte at a time
            return self._drip(b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n")
        if path == "/drip-headers":  # headers that never end
            return self._drip(b"HTTP/1.0 200 OK\r\nX-Slow: ", b"a")
        if path == "/huge-length":  # declares a terabyte
            return self._send(200, self.jpeg, length=10**12)
        if path == "/short-body.jpg":  # declares more than it sends, then closes
            return self._send(200, self.jpeg[:1000], length=len(self.jpeg))
        if path == "/html-labelled-jpeg.jpg":  # HTML that calls itself a JPEG
            return self._send(200, b"<html><body>SECRET-BODY not an image</body></html>", "image/jpeg")
        if path == "/octet-stream.jpg":  # how S3 serves a file uploaded without a type
            return self._send(200, self.jpeg, "binary/octet-stream")
        if path == "/untyped.jpg":
            return self._send(200, self.jpeg, None)
        if path == "/gzipped.jpg":
            return self._send(200, gzip.compress(self.jpeg), "image/jpeg", {"Content-Encoding": "gzip"})
        if path == "/secret-error":
            return self._send(500, b"SECRET-BODY stack trace of an internal service", "text/plain")
        if path == "/secret-page":
            return self._send(200, b"<html>SECRET-BODY internal page</html>", "text/html")
        if path.startswith("/samples/"):
            file = (SAMPLES_DIR / path.removeprefix("/samples/")).resolve()
            if file.is_file() and SAMPLES_DIR in file.parents:
                return self._send(200, file.read_bytes())
            return self._send(404, b"not found", "text/plain")
        if path == "/missing.jpg":
            return self._send(404, b"not found", "text/plain")
        if path == "/server-error.jpg":
            return self._send(503, b"unavailable", "text/plain")
        if path == "/slow.jpg":
            time.sleep(SLOW_SECONDS)
            return self._send(200, self.jpeg)
        if path == "/page.html":
            return self._send(200, b"<html><body>not an image</body></html>", "text/html")
        if path == "/image-labelled-html.jpg":  # a real JPEG that calls itself HTML
            return self._send(200, self.jpeg, "text/html")
        if path == "/truncated.jpg":
            return self._send(200, self.jpeg[: len(self.jpeg) // 3])
        if path == "/bomb.png":
            return self._send(200, self.bomb_png, "image/png")
        if path == "/huge-bomb.png":
            return self._send(200, self.huge_bomb_png, "image/png")
        if path == "/redirect-to-file":
            return self._send(302, b"", "text/plain", {"Location": "file:///etc/passwd"})
        if path == "/redirect-to-ftp":
            return self._send(302, b"", "text/plain", {"Location": "ftp://127.0.0.1/a.jpg"})
        if path == "/redirect-to-sample":
            return self._send(302, b"", "text/plain",
                              {"Location": "/samples/pants/0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"})
        if path == "/endless":  # no Content-Length: the handler must stop reading at its cap
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"\xff" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        return self._send(404, b"not found", "text/plain")


@pytest.fixture(autouse=True)
def private_urls_allowed(monkeypatch):
    """ALLOW_PRIVATE_URLS=1 for every test (and the processes it starts): the image host is on 127.0.0.1."""
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")


@pytest.fixture(scope="session")
def image_host():
    """Base URL (``http://127.0.0.1:PORT``) of the local image host, for the whole test session."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ImageHost)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def sample_images():
    """(path, true class) for every bundled sample, sorted."""
    return [(p, p.parent.name) for p in sorted(SAMPLES_DIR.rglob("*.jpg"))]


@contextmanager
def captured_request_log():
    """The JSON lines the handler logs (``lambda_function.request_log``) while in this block, as a list of strings,
    at level INFO whatever ``make demo`` set it to."""
    import lambda_function

    lines, handler, level = [], logging.Handler(), lambda_function.request_log.level
    handler.emit = lambda record: lines.append(record.getMessage())
    lambda_function.request_log.setLevel(logging.INFO)
    lambda_function.request_log.addHandler(handler)
    try:
        yield lines
    finally:
        lambda_function.request_log.removeHandler(handler)
        lambda_function.request_log.setLevel(level)


def overlap_probe(seconds: float = 0.05):
    """A stand-in Lambda handler that takes ``seconds`` per call and records how many of its calls overlap.

    Returns:
        (the handler, a one-item list whose item is the most calls seen running at once).
    """
    inside, most = [0], [0]
    lock = threading.Lock()

    def handler(event, context):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(seconds)
        with lock:
            inside[0] -= 1
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    return handler, most


def ask(url: str, event=None) -> dict:
    """The handler's answer to ``event`` (default: a payload-2.0 event asking for ``url``): {"status": int, **body}."""
    import lambda_function

    from tutorial_support.events import url_event

    response = lambda_function.lambda_handler(event or url_event(url), None)
    return {"status": response["statusCode"], **json.loads(response["body"])}


def assert_refused(answer: dict, code: str, status: int = 422) -> None:
    """``answer`` (from ``ask``) is the documented error ``code`` with ``status``."""
    assert (answer["status"], answer.get("error", {}).get("code")) == (status, code), answer
    assert answer["error"]["status"] == status


def assert_next_good_request_answered(image_host: str, monkeypatch) -> None:
    """The same warm handler still answers a good request (a real pants photo, private addresses allowed)."""
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")
    answer = ask(f"{image_host}/samples/{PANTS}")
    assert (answer["status"], answer["top_class"]) == (200, "pants"), answer


# --------------------------------------------------------------------------------------------- mutation tests


class EditError(AssertionError):
    """An edit of a mutation test does not apply: the reference changed under it."""


def apply_edits(text: str, edits: list[tuple[str, str]], where: str) -> str:
    """``text`` with each ``(old, new)`` of ``edits`` replaced, in order; each ``old`` must occur exactly once."""
    for old, new in edits:
        if text.count(old) != 1:
            raise EditError(f"{where}: {old!r} occurs {text.count(old)} times, not once")
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="session")
def solved_files():
    """Every generated chapter file, its stubs filled in by the reference code (``starters.render(solved=True)``)."""
    return starters.render(solved=True)


@pytest.fixture
def submission(tmp_path, solved_files):
    """``submission(chapter, {file: [(old, new), ...]}, kind="student")`` -> a ``Target`` over a fresh checkout whose
    ``chapter/file`` has the edits applied (a notebook's edits apply to its JSON text, so write them as they appear in
    the cell sources, with quotes escaped as JSON escapes them)."""
    made = []

    def make(chapter: str, edits: dict[str, list[tuple[str, str]]]) -> Target:
        root = tmp_path / f"submission{len(made)}"
        for name, text in solved_files.items():
            if name.startswith(chapter + "/"):
                relative = name.split("/", 1)[1]
                if relative in edits:
                    text = apply_edits(text, edits[relative], name)
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        missing = set(edits) - {name.split("/", 1)[1] for name in solved_files if name.startswith(chapter + "/")}
        if missing:
            raise EditError(f"{chapter} has no generated file {sorted(missing)}")
        for shared in REPO_ROOT.iterdir():  # the rest of a checkout, as it is
            linked = not shared.name.startswith(".") or shared.name == ".dockerignore"
            if linked and not (root / shared.name).exists():
                (root / shared.name).symlink_to(shared, target_is_directory=shared.is_dir())
        made.append(root)
        return Target("student", root)

    return make


def dockerfile_of(target: Target) -> tuple[Path, Path]:
    """(the Dockerfile, the build context) of a submission's chapter 04."""
    return target.path("04_docker", "Dockerfile"), target.root


def graded_correct(check, answer, capsys, name: str) -> None:
    """``check(answer)`` passes and says so (``<name>: correct``)."""
    capsys.readouterr()
    assert check(answer) is None
    assert capsys.readouterr().out.endswith(f"{name}: correct\n")


def renamed_answer(reference: str, name: str, case: str, edits) -> str:
    """``reference`` (a function's source) with each ``(old, new)`` of ``edits`` replaced (each ``old`` exactly once),
    and the function renamed ``<name>__<case>``: one of several answers put side by side in one submission."""
    for old, new in edits:
        assert reference.count(old) == 1, f"{case}: {old!r} occurs {reference.count(old)} times in {name}, not once"
        reference = reference.replace(old, new)
    return reference.replace(f"def {name}(", f"def {name}__{case}(", 1)


@pytest.fixture(scope="module")
def shared_submissions():
    """``{key: (target, code)}``: submissions a test module makes once and grades many answers in (one student
    process each, so that TensorFlow loads once); their processes are stopped when the module's tests are done."""
    made: dict = {}
    yield made
    for target, _ in made.values():
        target.close()
