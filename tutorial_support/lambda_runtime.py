"""Run a task root as Lambda does, without Docker: ``awslambdaric`` against a minimal Lambda Runtime API.

Inside Lambda (and inside the base image's emulator, ``aws-lambda-rie``), the runtime interface client
``awslambdaric`` imports the handler named by ``CMD`` from the task root, then loops: ``GET
/2018-06-01/runtime/invocation/next`` gives it an event, ``POST .../invocation/{request id}/response`` (or
``/error``) returns the handler's answer. ``RuntimeAPI`` is that API on 127.0.0.1, with only those endpoints
and ``/runtime/init/error``, as documented at docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html.
``run_task_root`` starts Lambda's Python (3.13) on a task root, in a process whose ``sys.path`` holds only the
task root, the standard library and the runtime client: what a handler sees in the image; with ``user=NOBODY`` (when
this process is root) it runs as a user that owns none of the files, as Lambda runs the image, so that files only
their owner may read fail as they fail on Lambda. ``load_handler`` imports a
handler in this process the way Lambda's runtime does (the task root first on ``sys.path``), for local callers that
need no separate process: ``make demo``, ``make serve``, the benchmarks and the notebooks.
"""

from __future__ import annotations

import functools
import glob
import http.server
import importlib
import json
import os
import platform
import queue
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

AWSLAMBDARIC = "awslambdaric==4.2.2"  # the runtime interface client in public.ecr.aws/lambda/python:3.13
API = "/2018-06-01/runtime"
DEFAULT_HANDLER = "lambda_function.lambda_handler"  # the image's CMD: module.function
# The user and group a task root is run as to see it as Lambda's user does (a user that owns none of the image's
# files, and is in none of their groups): nobody, 65534 on Debian, Ubuntu and Amazon Linux.
NOBODY = 65534


def handler_module(task_root: Path, handler: str = DEFAULT_HANDLER):
    """Import the module of ``handler`` (``module.function``) from ``task_root`` into this process, as Lambda's
    Python runtime does: the task root goes first on ``sys.path`` (where ``LAMBDA_TASK_ROOT`` is in Lambda), so the
    handler's own imports (``safe_download``) resolve there too. A module of that name imported before is reused when
    it comes from the same folder.

    Args:
        task_root: the folder holding the handler's file (``solutions/03_lambda_code``, a student's
            ``03_lambda_code``, or an assembled ``var/task``).
        handler: ``module.function``, the image's ``CMD``.

    Returns:
        the imported module.

    Raises:
        RuntimeError: a module of the same name from another folder is already imported in this process (Lambda
            runs one task root per process; start another process for another one).
        ImportError: the task root has no such module (Lambda's ``Runtime.ImportModuleError``).
    """
    module_name = handler.rpartition(".")[0]
    task_root = Path(task_root).resolve()
    loaded = sys.modules.get(module_name)
    if loaded is not None:
        origin = Path(getattr(loaded, "__file__", "") or "").resolve().parent
        if origin != task_root:
            raise RuntimeError(f"{module_name} is already imported from {origin}, not {task_root}: one task root per "
                               "process, as in Lambda")
        return loaded
    if str(task_root) not in sys.path:
        sys.path.insert(0, str(task_root))  # Lambda's own sys.path: the task root first
    return importlib.import_module(module_name)


def load_handler(task_root: Path, handler: str = DEFAULT_HANDLER):
    """The handler function ``handler`` (``module.function``) of ``task_root``, imported by ``handler_module``.

    Raises:
        AttributeError: the module has no such function (Lambda's ``Runtime.HandlerNotFound``).
        RuntimeError, ImportError: as ``handler_module``.
    """
    return getattr(handler_module(task_root, handler), handler.rpartition(".")[2])


class InitError(RuntimeError):
    """The function failed to start (Lambda's ``Runtime.ImportModuleError`` and friends): ``error`` is the JSON the
    runtime client posted to ``/runtime/init/error``, or None when the process died without posting one."""

    def __init__(self, message: str, error: dict | None = None):
        super().__init__(message)
        self.error = error


class RuntimeAPI(http.server.ThreadingHTTPServer):
    """The Lambda Runtime API on 127.0.0.1 (an ephemeral port): ``invoke(event)`` hands an event to the next
    ``GET .../invocation/next`` and waits for the function's response or error."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _RuntimeHandler)
        self.events: queue.Queue = queue.Queue()
        self.results: dict[str, queue.Queue] = {}
        self.init_error: dict | None = None
        self.init_failed = threading.Event()
        self.alive = lambda: True  # run_task_root replaces it: is the function's process still running?
        self.output = lambda: ""  # run_task_root replaces it: what the function's process printed so far

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # the function stopped mid-request
            super().handle_error(request, client_address)

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        return f"{self.server_address[0]}:{self.server_address[1]}"

    def invoke(self, event, timeout_s: float = 60.0) -> tuple[str, object]:
        """Give ``event`` (any JSON value) to the function and wait for its answer.

        Returns:
            ``("response", value)`` or ``("error", {"errorMessage", "errorType", ...})``, JSON-decoded.

        Raises:
            InitError: the function failed to start, or its process died.
            TimeoutError: no answer within ``timeout_s`` seconds.
        """
        request_id = str(uuid.uuid4())
        self.results[request_id] = answers = queue.Queue()
        self.events.put((request_id, json.dumps(event).encode()))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.init_failed.is_set():
                raise InitError(f"the function failed to start: {self.init_error}", self.init_error)
            try:
                return answers.get(timeout=0.1)
            except queue.Empty:
                if not self.alive():
                    if self.init_failed.is_set():  # it posted its init error, then exited
                        continue
                    raise InitError("the function's process exited") from None
        raise TimeoutError(f"no answer from the function within {timeout_s} s")


class _RuntimeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeAPI

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))  # awslambdaric crashes on a response without it
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != f"{API}/invocation/next":
            return self._reply(404, b'{"errorMessage": "not found"}')
        request_id, body = self.server.events.get()  # blocks, as Lambda's does, until there is an event
        self._reply(200, body, {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:clothing-model",
            "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
        })

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        value = json.loads(body) if body else None
        if self.path == f"{API}/init/error":
            self.server.init_error = value
            self.server.init_failed.set()
            return self._reply(202, b'{"status": "OK"}')
        prefix = f"{API}/invocation/"
        request_id, _, kind = self.path.removeprefix(prefix).partition("/")
        if not self.path.startswith(prefix) or kind not in ("response", "error") \
                or request_id not in self.server.results:
            return self._reply(404, b'{"errorMessage": "unknown request id"}')
        self.server.results.pop(request_id).put((kind, value))
        self._reply(202, b'{"status": "OK"}')


class Emulator(http.server.ThreadingHTTPServer):
    """What ``aws-lambda-rie`` does in the base image, on 127.0.0.1: each ``POST
    /2015-03-31/functions/function/invocations`` (Lambda's Invoke API path) becomes one event for ``api``, and the
    function's answer is the HTTP response: 200 with its JSON, or 200 with the error JSON and the header
    ``X-Amz-Function-Error: Unhandled``, as Lambda's Invoke API does."""

    daemon_threads = True

    def __init__(self, api: RuntimeAPI, port: int = 0):
        super().__init__(("127.0.0.1", port), _EmulatorHandler)
        self.api = api

    @property
    def port(self) -> int:
        return self.server_address[1]


class _EmulatorHandler(http.server.BaseHTTPRequestHandler):
    server: Emulator

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/2015-03-31/functions/function/invocations":
            status, headers, answer = 404, {}, {"message": "not found"}
        else:
            try:
                kind, answer = self.server.api.invoke(json.loads(body or b"{}"))
                status, headers = 200, ({"X-Amz-Function-Error": "Unhandled"} if kind == "error" else {})
            except (InitError, TimeoutError, ValueError) as e:
                status, headers, answer = 502, {}, {"errorMessage": str(e), "errorType": type(e).__name__}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def find_python(version: str = "3.13") -> str | None:
    """A working ``python<version>`` executable (on PATH, or installed by pyenv or uv), or None."""
    candidates = [shutil.which(f"python{version}"),
                  *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}"))),
                  *sorted(glob.glob(os.path.expanduser(f"~/.local/share/uv/python/cpython-{version}*/bin/python{version}")))]
    for candidate in filter(None, candidates):
        try:
            result = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                    capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and result.stdout.strip() == version:
            return candidate
    return None


def host_architecture() -> str:
    """This machine's architecture in Lambda's words (``x86_64`` or ``arm64``)."""
    return "arm64" if platform.machine().lower() in ("arm64", "aarch64") else "x86_64"


@functools.lru_cache(maxsize=1)
def runtime_client() -> Path:
    """``awslambdaric`` and its dependencies for CPython 3.13 on this machine, installed once into a cache folder
    (``~/.cache/serverless-dl/``) and reused.

    Raises:
        RuntimeError: pip cannot install it (no package index).
    """
    from tutorial_support import lambda_wheels

    target = Path.home() / ".cache" / "serverless-dl" / f"{AWSLAMBDARIC.replace('==', '-')}-cp313-{host_architecture()}"
    if not (target / "awslambdaric" / "__main__.py").is_file():
        with tempfile.TemporaryDirectory(dir=target.parent.mkdir(parents=True, exist_ok=True) or target.parent) as tmp:
            lambda_wheels.install(None, Path(tmp) / "ric", host_architecture(), extra=(AWSLAMBDARIC,))
            shutil.rmtree(target, ignore_errors=True)
            (Path(tmp) / "ric").rename(target)  # whole or not at all, if two processes race
    return target


def cannot_switch_user() -> str | None:
    """Why this process cannot start another as a different user (it is not root), or None when it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return ("this process is not root, so it cannot start the function as another user (Lambda's user owns "
                "none of the image's files; run the tests as root, e.g. in a container, to see the image as it does)")
    return None


def reachable_by_others(path: Path) -> bool:
    """Whether a user that is neither ``path``'s owner nor in its group can reach it: search (``x``) permission on
    every folder above it, and read permission on it (and search permission when it is a folder)."""
    path = Path(path).absolute()
    for folder in reversed(path.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            return False
    needed = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)
    return path.stat().st_mode & needed == needed


@functools.lru_cache(maxsize=None)
def _shared_copy(folder: Path) -> Path:
    """A copy of ``folder`` (hard links where the file system allows) in a new folder any user can reach, removed
    when this process exits; its files keep their own modes. Without its ``site-packages`` and ``test`` folders
    (the function's Python runs with ``-S``, and never imports the test suite)."""
    import atexit

    parent = Path(tempfile.mkdtemp(prefix="lambda-user-"))
    parent.chmod(0o755)
    atexit.register(shutil.rmtree, parent, True)

    def link(source, target):
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    copy = parent / folder.name
    shutil.copytree(folder, copy, symlinks=True, copy_function=link,
                    ignore=shutil.ignore_patterns("site-packages", "test"))
    return copy


def _python_for(python: str) -> tuple[str, dict[str, str]]:
    """``(executable, environment)`` that runs ``python`` for a user who cannot reach it where it is installed (under
    a home folder such as ``/root/.pyenv``): its installation copied where that user can, and ``LD_LIBRARY_PATH``
    pointing at the copy's ``lib`` (a ``--enable-shared`` build's RUNPATH names the original folder)."""
    if reachable_by_others(Path(python)):
        return python, {}
    prefix = Path(subprocess.run([python, "-c", "import sys; print(sys.base_prefix)"], capture_output=True,
                                 text=True, check=True, timeout=60).stdout.strip())
    copy = _shared_copy(prefix)
    return str(copy / Path(python).resolve().relative_to(prefix.resolve())), {"LD_LIBRARY_PATH": str(copy / "lib")}


@contextmanager
def run_task_root(task_root: Path, handler: str, python: str, environment: dict | None = None,
                  site_packages: Path | None = None, user: int | None = None):
    """Start ``python -m awslambdaric <handler>`` on ``task_root`` against a ``RuntimeAPI``; yield the API.

    The process sees only the task root, the standard library and the runtime client: ``-I -S`` (no site-packages,
    no ``PYTHON*`` variables), an environment with nothing from this one but ``PATH``, and the task root as its
    working directory. It is stopped on exit.

    With ``user`` (``NOBODY``), the process runs as that user and group, with no other groups: Lambda too runs the
    image as a user that is not root ("The default Lambda user must be able to read all the files required to run
    your function code", docs.aws.amazon.com/lambda/latest/dg/images-create.html), so a file of the task root that
    only its owner may read cannot be read, as on Lambda. Python and the runtime client are
    copied where that user can reach them when they are installed where it cannot (a home folder); the task root
    must be reachable already (``reachable_by_others``; ``task_root.reproduce`` makes the image's ``/`` and its
    folders ``drwxr-xr-x``, as in an image).

    Args:
        task_root: the folder that stands for ``/var/task``.
        handler: ``module.function`` (the image's ``CMD``).
        python: a CPython 3.13 executable (``find_python``).
        environment: more environment variables for the function.
        site_packages: the folder standing for the image's ``/var/lang/lib/python3.13/site-packages``, where a
            ``pip install`` without ``--target`` puts packages (after the task root on ``sys.path``, as in Lambda).
        user: a user id to run the function as (its group id too), or None for this process's own.

    Raises:
        PermissionError: ``user`` is given and this process is not root (``cannot_switch_user``), or that user
            cannot reach ``task_root``.
    """
    extra_env, switch = {}, {}
    if user is not None:
        if reason := cannot_switch_user():
            raise PermissionError(reason)
        if not reachable_by_others(Path(task_root)):
            raise PermissionError(f"user {user} cannot reach the task root {task_root}: a folder on the way lets "
                                  "only its owner in; assemble it under a folder any user can search (tempfile's "
                                  "default folder, chmod 755)")
    runtime = runtime_client()
    if user is not None:
        python, extra_env = _python_for(python)
        runtime = runtime if reachable_by_others(runtime) else _shared_copy(runtime)
        switch = {"user": user, "group": user, "extra_groups": []}
    api = RuntimeAPI()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    after = [str(p) for p in (site_packages, runtime) if p is not None]
    bootstrap = (f"import sys; sys.path[:0] = [{str(task_root)!r}]; sys.path += {after!r}; "
                 "from awslambdaric.__main__ import main; main(sys.argv)")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": ":UTC",
           "AWS_LAMBDA_RUNTIME_API": api.address, "LAMBDA_TASK_ROOT": str(task_root), "_HANDLER": handler,
           "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13", "AWS_LAMBDA_FUNCTION_NAME": "clothing-model",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
           "AWS_REGION": "us-east-1", **extra_env, **(environment or {})}
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([python, "-I", "-S", "-c", bootstrap, handler], cwd=task_root, env=env,
                               stdout=log, stderr=subprocess.STDOUT, **switch)
    api.alive = lambda: process.poll() is None
    api.output = lambda: (log.seek(0), log.read().decode(errors="replace"))[1]
    try:
        yield api
    finally:
        process.kill()
        process.wait()
        api.shutdown()
        api.server_close()
        log.close()
