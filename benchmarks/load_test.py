"""A bounded load test of ``make serve`` on 127.0.0.1: good and bad requests, a few at a time, every answer checked.

    make load-test [REQUESTS=2000 CONCURRENCY=4]   # = python benchmarks/load_test.py --requests ...
    python benchmarks/load_test.py --requests 200 --no-write   # a quick look; writes nothing

Starts an image host on 127.0.0.1 (``tutorial_support.image_server``) over a temporary folder with four sample photos
and the bad files below, and chapter 06's ``serve.py --port PORT`` in a subprocess, as ``make serve`` runs it (with
``ALLOW_PRIVATE_URLS=1``: the image host is on loopback). Each photo's answer is first taken from one request at a
time; then ``--requests`` requests (about 60 % photos, 40 % bad requests of the kinds in ``BAD_KINDS``, shuffled
with ``--seed``) go out from ``--concurrency`` threads, each thread on one keep-alive connection. A wrong answer is a
photo answered with another class, other probabilities (beyond 1e-6) or a status other than 200, a bad request not
answered with its 4xx status and error code, or a connection error; any wrong answer makes the exit status 1.

Reports requests per kind, status counts, throughput, latency percentiles (good and bad requests apart) and the
server's resident memory (RSS, sampled every ``RSS_EVERY`` requests; warm-up is the first 10 % of requests), and
writes ``benchmarks/load_test.json`` and the README's block between its ``load-test`` markers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from tutorial_support.image_server import serve_directory
from tutorial_support.paths import BENCHMARKS_DIR, REPO_ROOT, SAMPLES_DIR, SOLUTIONS
from tutorial_support.readme import update_readme
from tutorial_support.timing import machine, percentile

OUTPUT = BENCHMARKS_DIR / "load_test.json"
SERVE = SOLUTIONS / "06_api_gateway" / "serve.py"  # what make serve runs
SAMPLES = SAMPLES_DIR
PHOTO_CLASSES = ("dress", "hat", "pants", "shoes")  # one photo of each (the first by name) is sent
GOOD_SHARE = 0.6
WARMUP_SHARE = 0.1
RSS_EVERY = 100  # requests between two samples of the server's resident memory
TOLERANCE = 1e-6  # largest difference allowed between a probability and the photo's first answer
START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 60
NOT_FOUND = "Not Found"  # the message of the 404 serve.py (like an HTTP API) gives a route it does not have


@dataclass(frozen=True)
class Kind:
    """One kind of request and the answer it must get.

    Attributes:
        name: the kind's name in the report.
        method, path: the HTTP request line (``path`` on serve.py).
        body: the request body; ``{image_host}`` in it becomes the image host's base URL.
        status: the status it must be answered with; 200 for a photo.
        code: for a bad request, the error code it must carry (``error.code`` in the handler's answer, or
            ``message`` in serve.py's 404); None for a photo.
    """

    name: str
    method: str
    path: str
    body: str
    status: int
    code: str | None = None

    @property
    def good(self) -> bool:
        """True for a photo (answered 200), False for a bad request."""
        return self.status == 200


# Bad requests and the answer each must get (README, "Errors"; serve.py for the routes it does not have).
BAD_KINDS = (
    Kind("invalid JSON body", "POST", "/predict", "{not json", 400, "invalid_json"),
    Kind("JSON body not an object", "POST", "/predict", "[1, 2]", 400, "invalid_json"),
    Kind("no url", "POST", "/predict", '{"photo": "{image_host}/photos/pants.jpg"}', 400, "missing_url"),
    Kind("non-http URL", "POST", "/predict", '{"url": "file:///etc/passwd"}', 400, "invalid_url"),
    Kind("image host 404", "POST", "/predict", '{"url": "{image_host}/photos/missing.jpg"}', 422,
         "upstream_http_error"),
    Kind("text file", "POST", "/predict", '{"url": "{image_host}/bad/notes.txt"}', 422, "not_an_image"),
    Kind("truncated JPEG", "POST", "/predict", '{"url": "{image_host}/bad/truncated.jpg"}', 422, "not_an_image"),
    Kind("GET /predict", "GET", "/predict", "", 404, NOT_FOUND),
    Kind("POST to an unknown path", "POST", "/classify", '{"url": "{image_host}/photos/pants.jpg"}', 404, NOT_FOUND),
)


def photos() -> dict[str, Path]:
    """The photos sent: ``{class: the first sample photo of that class}`` for ``PHOTO_CLASSES``."""
    return {name: sorted((SAMPLES / name).glob("*.jpg"))[0] for name in PHOTO_CLASSES}


def good_kinds() -> tuple[Kind, ...]:
    """One kind per photo: ``POST /predict`` with its URL on the image host, answered 200."""
    return tuple(Kind(f"photo: {name}", "POST", "/predict", f'{{"url": "{{image_host}}/photos/{name}.jpg"}}', 200)
                 for name in PHOTO_CLASSES)


def prepare_folder(folder: Path) -> None:
    """Fill ``folder`` with what the image host serves: ``photos/<class>.jpg`` and ``bad/notes.txt`` (text) and
    ``bad/truncated.jpg`` (the first half of a photo)."""
    (folder / "photos").mkdir(parents=True)
    (folder / "bad").mkdir()
    for name, path in photos().items():
        shutil.copyfile(path, folder / "photos" / f"{name}.jpg")
    (folder / "bad" / "notes.txt").write_text("Not a photo: the handler must answer 422 not_an_image.\n")
    jpeg = photos()["pants"].read_bytes()
    (folder / "bad" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])


def plan(requests: int, seed: int) -> list[Kind]:
    """``requests`` kinds to send, in order: ``GOOD_SHARE`` of them photos, the rest bad requests, each group
    cycling through its kinds (so every kind is present from 23 requests on), shuffled with ``seed``."""
    good, bad = good_kinds(), BAD_KINDS
    n_good = round(requests * GOOD_SHARE)
    kinds = [good[i % len(good)] for i in range(n_good)] + [bad[i % len(bad)] for i in range(requests - n_good)]
    random.Random(seed).shuffle(kinds)
    return kinds


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(connection: http.client.HTTPConnection, kind: Kind, image_host: str) -> tuple[int, dict]:
    """Send one request of ``kind`` on ``connection``. Returns (status, JSON body; ``{}`` when it is not JSON).

    Raises:
        OSError, http.client.HTTPException: the connection failed.
    """
    body = kind.body.replace("{image_host}", image_host).encode()
    headers = {"Content-Type": "application/json"} if kind.method == "POST" else {}
    connection.request(kind.method, kind.path, body=body if kind.method == "POST" else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, {}


def error_code(answer: dict) -> str | None:
    """The error code of an answer: the handler's ``error.code``, or the ``message`` of serve.py's 404."""
    error = answer.get("error")
    return error.get("code") if isinstance(error, dict) else answer.get("message")


def wrong_answer(kind: Kind, status: int, answer: dict, expected: dict | None = None) -> str | None:
    """Why an answer to a request of ``kind`` is wrong, or None when it is right.

    Args:
        kind: what was sent.
        status, answer: the HTTP status and the JSON body received.
        expected: for a photo, its answer from a request sent alone (``top_class`` and ``probabilities``).
    """
    if kind.good:
        if status != 200:
            return f"{kind.name}: HTTP {status} {error_code(answer)}"
        got, want = answer.get("probabilities") or {}, expected["probabilities"]
        if answer.get("top_class") != expected["top_class"]:
            return f"{kind.name}: top_class {answer.get('top_class')!r}, expected {expected['top_class']!r}"
        if set(got) != set(want) or any(abs(got[c] - want[c]) > TOLERANCE for c in want):
            return f"{kind.name}: probabilities differ from the photo's answer by more than {TOLERANCE}"
        return None
    if not 400 <= status < 500 or status != kind.status or error_code(answer) != kind.code:
        return f"{kind.name}: HTTP {status} {error_code(answer)}, expected {kind.status} {kind.code}"
    return None


@contextmanager
def running_server(port: int, log: Path):
    """``serve.py --port port`` in a subprocess (with ``ALLOW_PRIVATE_URLS=1``), its output to ``log``, until it
    answers. Yields the ``psutil.Process``; on exit, stops it with SIGINT (as Ctrl-C on ``make serve``), then kills it
    if it has not stopped within 10 s.

    Raises:
        RuntimeError: the server exited or did not answer within ``START_TIMEOUT_S`` seconds (with its output).
    """
    env = {**os.environ, "ALLOW_PRIVATE_URLS": "1"}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, str(SERVE), "--port", str(port)], stdout=out,
                                   stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                why = f"exited with {process.returncode}" if process.returncode is not None else "did not answer"
                raise RuntimeError(f"serve.py {why} within {START_TIMEOUT_S} s:\n{log.read_text()[-2000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/")
                connection.getresponse().read()
                connection.close()
                break
            except OSError:
                time.sleep(0.1)
        yield psutil.Process(process.pid)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def rss_mb(process: psutil.Process) -> float:
    """The resident memory of ``process``, MB (10^6 bytes)."""
    return process.memory_info().rss / 1e6


class LoadRun:
    """Sends a plan of requests from a pool of threads, one keep-alive connection per thread, and records every
    answer's kind, status, latency (ms) and what was wrong with it, and the server's RSS (MB) before the first
    request, after ``warmup`` requests, every ``RSS_EVERY`` requests and after the last."""

    def __init__(self, port: int, image_host: str, expected: dict, server: psutil.Process, warmup: int):
        self.port, self.image_host, self.expected, self.server = port, image_host, expected, server
        self.warmup = warmup
        self.local = threading.local()
        self.lock = threading.Lock()
        self.results: list[tuple[str, int | None, float, str | None]] = []  # (kind, status, ms, wrong or None)
        self.rss: list[tuple[int, float]] = [(0, rss_mb(server))]  # (requests answered, MB)

    def _connection(self) -> http.client.HTTPConnection:
        if getattr(self.local, "connection", None) is None:
            self.local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        return self.local.connection

    def one(self, kind: Kind) -> None:
        """Send one request of ``kind`` and record its result."""
        start = time.perf_counter()
        try:
            status, answer = send(self._connection(), kind, self.image_host)
            wrong = wrong_answer(kind, status, answer, self.expected.get(kind.name))
        except (OSError, http.client.HTTPException) as e:
            self.local.connection.close()
            self.local.connection = None
            status, wrong = None, f"{kind.name}: connection error {e!r}"
        ms = (time.perf_counter() - start) * 1000
        with self.lock:
            self.results.append((kind.name, status, ms, wrong))
            done = len(self.results)
            if done % RSS_EVERY == 0 or done == self.warmup:
                self.rss.append((done, rss_mb(self.server)))

    def run(self, kinds: list[Kind], concurrency: int) -> float:
        """Send ``kinds`` from ``concurrency`` threads. Returns the seconds it took."""
        start = time.perf_counter()
        pool = ThreadPoolExecutor(concurrency)
        try:
            for future in [pool.submit(self.one, kind) for kind in kinds]:
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: drop what has not started
        seconds = time.perf_counter() - start
        if self.rss[-1][0] != len(self.results):
            self.rss.append((len(self.results), rss_mb(self.server)))
        return seconds


def summarise(kinds: list[Kind], loader: LoadRun, seconds: float, concurrency: int, seed: int) -> dict:
    """The report (``benchmarks/load_test.json``) of a finished run."""
    all_kinds = {k.name: k for k in (*good_kinds(), *BAD_KINDS)}
    by_kind: dict[str, dict] = {}
    for name, status, _, wrong in loader.results:
        row = by_kind.setdefault(name, {"requests": 0, "expected": None, "answers": Counter(), "wrong": 0})
        row["requests"] += 1
        row["answers"][str(status)] += 1
        row["wrong"] += wrong is not None
    for name, row in by_kind.items():
        kind = all_kinds[name]
        row["expected"] = f"{kind.status} {kind.code or loader.expected[name]['top_class']}"
        row["answers"] = dict(sorted(row["answers"].items()))
    by_kind = {name: by_kind[name] for name in all_kinds if name in by_kind}

    def latency(good: bool) -> dict:
        ms = [ms for name, _, ms, _ in loader.results if all_kinds[name].good == good]
        return {"requests": len(ms), **{f"p{q}": round(percentile(ms, q), 2) for q in (50, 95, 99)}}

    warmup = loader.warmup
    after_warmup = next(mb for done, mb in loader.rss if done >= warmup)
    end = loader.rss[-1][1]
    wrong = [w for *_, w in loader.results if w is not None]
    return {
        "command": None, "machine": machine(),
        "settings": {"requests": len(kinds), "concurrency": concurrency, "seed": seed, "warmup_requests": warmup,
                     "rss_every": RSS_EVERY, "photos": {name: str(p.relative_to(REPO_ROOT))
                                                        for name, p in photos().items()}},
        "wrong_answers": len(wrong), "wrong_examples": sorted(set(wrong))[:10],
        "kinds": by_kind,
        "status_counts": dict(sorted(Counter(str(status) for _, status, _, _ in loader.results).items())),
        "seconds": round(seconds, 2), "throughput_rps": round(len(loader.results) / seconds, 1),
        "latency_ms": {"good": latency(True), "bad": latency(False)},
        "rss_mb": {"start": round(loader.rss[0][1], 1), "after_warmup": round(after_warmup, 1), "end": round(end, 1),
                   "max": round(max(mb for _, mb in loader.rss), 1),
                   "growth_after_warmup": round(end - after_warmup, 1),
                   "samples": [[done, round(mb, 1)] for done, mb in loader.rss]},
    }


def load_test(requests: int, concurrency: int, seed: int) -> dict:
    """Run the whole test (image host, server, sequential answers, the load) and return its report."""
    kinds = plan(requests, seed)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        prepare_folder(folder / "site")
        image_host = stack.enter_context(serve_directory(folder / "site"))
        port = free_port()
        server = stack.enter_context(running_server(port, folder / "serve.log"))
        expected = {}
        for kind in good_kinds():  # one at a time, before the load: the answer each photo must keep getting
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
            status, answer = send(connection, kind, image_host)
            connection.close()
            if status != 200:
                raise RuntimeError(f"{kind.name}: HTTP {status} {answer} when sent alone")
            expected[kind.name] = {"top_class": answer["top_class"], "probabilities": answer["probabilities"]}
        loader = LoadRun(port, image_host, expected, server, warmup=max(1, round(requests * WARMUP_SHARE)))
        seconds = loader.run(kinds, concurrency)
        return summarise(kinds, loader, seconds, concurrency, seed)


def render_markdown(report: dict) -> str:
    """The README's block: settings, answers per kind, and the throughput, latency and memory figures."""
    m, s, lat, rss = report["machine"], report["settings"], report["latency_ms"], report["rss_mb"]
    n_good = lat["good"]["requests"]
    lines = [f"Measured on {m['cpu']} ({m['cores']} cores), {m['os']}, Python {m['python']}, {m['date']}, with "
             f"`{report['command']}`: {s['requests']:,} requests ({n_good:,} photos, {lat['bad']['requests']:,} bad "
             f"requests), {s['concurrency']} at a time, seed {s['seed']}. **Wrong answers: "
             f"{report['wrong_answers']}.**", "",
             "| kind | requests | expected | answered |", "|---|---|---|---|"]
    for name, row in report["kinds"].items():
        answers = ", ".join(f"{status} × {count:,}" for status, count in row["answers"].items())
        lines.append(f"| {name} | {row['requests']:,} | {row['expected']} | {answers} |")
    statuses = ", ".join(f"{status}: {count:,}" for status, count in report["status_counts"].items())
    lines += ["", "| figure | value |", "|---|---|",
              f"| status counts | {statuses} |",
              f"| throughput | {report['throughput_rps']:,.1f} requests/s ({report['seconds']:,.1f} s) |"]
    for group in ("good", "bad"):
        g = lat[group]
        lines.append(f"| latency, {group} requests (p50 / p95 / p99) | {g['p50']:,.2f} / {g['p95']:,.2f} / "
                     f"{g['p99']:,.2f} ms |")
    lines += [f"| server RSS: start / after warm-up ({s['warmup_requests']:,} requests) / end / max | "
              f"{rss['start']:,.1f} / {rss['after_warmup']:,.1f} / {rss['end']:,.1f} / {rss['max']:,.1f} MB |",
              f"| RSS growth after warm-up | {rss['growth_after_warmup']:+,.1f} MB |", "",
              f"RSS is sampled every {s['rss_every']} requests; the latencies include the handler's download from "
              f"the image host, which shares the machine's {m['cores']} cores with the server and the client."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where the JSON report goes")
    parser.add_argument("--no-write", action="store_true", help="print the report only; write no file")
    parser.add_argument("--render-only", action="store_true", help="rewrite the README block from --output's JSON")
    args = parser.parse_args(argv)
    if args.render_only:
        report = json.loads(args.output.read_text())
    else:
        report = load_test(args.requests, args.concurrency, args.seed)
        report["command"] = (f"make load-test REQUESTS={args.requests} CONCURRENCY={args.concurrency}"
                             if args.seed == parser.get_default("seed") else
                             "python benchmarks/load_test.py " + " ".join(sys.argv[1:] if argv is None
                                                                                          else argv))
    markdown = render_markdown(report)
    print(markdown)
    for example in report["wrong_examples"]:
        print("wrong:", example)
    if not (args.no_write or args.render_only):
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    if not args.no_write and args.output.resolve() == OUTPUT.resolve() and update_readme(markdown,
                                                                                              marker="load-test"):
        print("README.md updated")
    return 1 if report["wrong_answers"] else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # like Ctrl-C: unwind, so the servers stop too
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted; the servers are stopped")
