"""The grader's side of the grading sandbox: the student's code runs in a process of its own, and the checks, in the
grader's process, call into it.

Why: a check that imported the student's module into its own process could be fooled by it (a module that, at import,
replaces the checks, patches pytest or the outcome classes, writes the report, or exits the process). Here the
student's code never shares a process with a check or with the code that records verdicts; a check only sees the
values and exceptions the student's process sends back, decoded from JSON without running anything.

``StudentProcess`` starts ``python -m grading.student_runner`` with a scratch working directory and HOME, an
environment without credentials, and its own process group (killed, whole, when the exercise ends). One exercise,
one process: an exercise that hangs (``ExerciseTimeout``) or crashes (``SandboxError``) costs that exercise only.

The protocol: one JSON object per line. Requests: ``{"id", "op": "load_module", "path", "name"}``,
``{"id", "op": "load_notebook", "path", "name"}`` (the notebook's cells tagged ``exercise``), ``{"id", "op": "call",
"name", "args", "kwargs"}``, ``{"id", "op": "environ", "env": {name: value or null}}``. Answers: ``{"id", "ok":
value}`` or ``{"id", "raised": {"type", "builtin", "bases", "message", "attributes", "traceback"}}``. Values are JSON
with tagged objects (``grading.protocol``): numpy arrays and numbers, paths, bytes, tuples and dicts keep their
type; anything else the student's code returned arrives as its type's name and repr (``Opaque``); towards the
student, a boto3 client of the grader's moto server and the Keras model are sent by reference.

What this does not defend against: the student's process runs as the same user as the grader. It cannot reach the
verdicts, the checks or the report, and ``grading.grade`` restores and reports any change it makes to the grader's
files; but it can read any file that user can read by its absolute path, and use the network. It is not a container:
to grade code you do not trust at all, run ``make grade`` in a container or a virtual machine of its own.
"""

from __future__ import annotations

import builtins
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from grading import protocol

DEFAULT_TIMEOUT_S = 300.0
# The environment the student's process gets from the grader's: nothing else (no credentials, tokens, profiles).
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "VIRTUAL_ENV")
STUDENT_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2",
               "AWS_EC2_METADATA_DISABLED": "true"}


class SandboxError(RuntimeError):
    """The student's process ended, or answered something that is not the protocol (an error, not a verdict)."""


class ExerciseTimeout(SandboxError):
    """The student's code did not answer within the exercise's time limit; its process was stopped."""


class RemoteException(Exception):  # noqa: N818 -- named for what it stands for, not as an error of ours
    """An exception the student's code raised, of a class of its own: its name, message, and the ``status`` and
    ``code`` attributes of the handler's ``RequestError`` when it had them."""

    def __init__(self, message: str = "", attributes: dict | None = None, traceback: str = ""):
        super().__init__(message)
        self.traceback = traceback
        for key, value in (attributes or {}).items():
            setattr(self, key, value)


class Opaque:
    """A value of a type that cannot be sent as data (an object, a function, a class): its type and repr only."""

    def __init__(self, type_name: str, text: str):
        self.type_name, self.text = type_name, text

    def __repr__(self) -> str:
        return f"<{self.type_name} {self.text}>"


def student_environment(home: Path, tmp: Path) -> dict:
    """The environment of a student's process: ``KEPT_ENV`` from the grader's, ``STUDENT_ENV``, a scratch HOME and
    TMPDIR. No AWS credentials, no profiles, no tokens."""
    env = {key: os.environ[key] for key in KEPT_ENV if key in os.environ}
    return {**env, **STUDENT_ENV, "HOME": str(home), "TMPDIR": str(tmp)}


def _towards_student(value) -> dict:
    """This side's own tags (``grading.protocol``): a boto3 client goes as its service, region and endpoint (the
    student's process makes its own, on the grader's moto server); the trained Keras model as its path.

    Raises:
        TypeError: a value of a type the protocol does not carry.
    """
    meta = getattr(value, "meta", None)
    if meta is not None and hasattr(meta, "service_model") and hasattr(meta, "endpoint_url"):  # a boto3 client
        return {"$client": meta.service_model.service_name, "region": meta.region_name, "endpoint": meta.endpoint_url}
    source = getattr(value, "_tutorial_source", None)
    if isinstance(source, str):  # the trained Keras model (grading.checks.common.keras_model)
        return {"$keras_model": source}
    raise TypeError(f"a {type(value).__name__} cannot be sent to the student's process")


def encode(value):
    """A value the grader sends to the student's process, as JSON with tagged objects (``grading.protocol``).

    Raises:
        TypeError: a value of a type the protocol does not carry.
    """
    return protocol.encode(value, _towards_student)


def decode(value):
    """A value the student's process sent, as a Python object (``grading.protocol``); nothing in it is run.
    Anything the student's code returned that is not data arrives as an ``Opaque``."""
    return protocol.decode(value, {"$opaque": lambda v: Opaque(str(v.get("$type")), str(v["$opaque"]))})


class StudentProcess:
    """A process running ``grading.student_runner`` for one exercise of one student.

    Args:
        timeout_s: the most any one request (loading the code, one call) may take before the process is stopped.
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.timeout_s = timeout_s
        self.scratch = Path(tempfile.mkdtemp(prefix="grading-student-"))
        for name in ("home", "tmp", "work"):
            (self.scratch / name).mkdir()
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grading.student_runner"], cwd=self.scratch / "work",
            env=student_environment(self.scratch / "home", self.scratch / "tmp"), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True, close_fds=True)
        self.answers: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id, self.closed = 0, False

    def _read(self) -> None:
        for line in self.process.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def output(self, characters: int = 1500) -> str:
        """The end of what the student's process printed (stdout and stderr)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-characters:]

    def request(self, op: str, **fields):
        """Send one request; return its decoded answer, or raise what the student's code raised (``raised``).

        Raises:
            ExerciseTimeout: no answer within ``timeout_s``.
            SandboxError: the process ended, or answered out of protocol.
        """
        if self.closed:
            raise SandboxError("the student's process was stopped earlier in this exercise (it hung or crashed)")
        self.next_id += 1
        message = json.dumps({"id": self.next_id, "op": op, **fields}) + "\n"
        try:
            self.process.stdin.write(message.encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._ended() from None
        try:
            line = self.answers.get(timeout=self.timeout_s)
        except queue.Empty:
            self.close()
            raise ExerciseTimeout(f"did not finish within {self.timeout_s:g} s (an endless loop, or a wait for "
                                  "something that never comes?); its process was stopped") from None
        if line is None:
            raise self._ended()
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            raise SandboxError("the student's process answered out of protocol") from None
        if not isinstance(answer, dict) or answer.get("id") != self.next_id:
            raise SandboxError("the student's process answered out of protocol")
        if "raised" in answer:
            return answer["raised"]
        return {"ok": decode(answer.get("ok"))}

    def _ended(self) -> SandboxError:
        code = self.process.wait()
        error = SandboxError(f"the student's code ended its process (exit status {code}) instead of answering:\n"
                             f"{self.output()}")
        self.close()
        return error

    def close(self) -> None:
        """Stop the process and everything it started (its process group); delete its scratch folder."""
        if self.closed:
            return
        self.closed = True
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


class RemoteCode:
    """The student's module (or notebook exercise cells), loaded in a ``StudentProcess``: its functions are called
    there, its own exception classes are mirrored here (``except module.RequestError as e`` works, with ``e.status``
    and ``e.code``), and nothing else of it is reachable."""

    def __init__(self, process: StudentProcess, op: str, path: Path, name: str):
        self._process, self._name = process, name
        loaded = process.request(op, path=str(path), name=name)
        if "ok" not in loaded:
            raise self._raise(loaded)
        self._functions = set(loaded["ok"]["functions"])
        self._exception_bases = dict(loaded["ok"]["exceptions"])  # {name: names of its bases}
        self._exception_names = set(self._exception_bases)
        self._mirrors: dict[tuple, type] = {}

    @staticmethod
    def _builtin_base(bases: list[str]) -> type | None:
        """The most specific built-in exception class among ``bases`` (names), other than Exception itself."""
        for name in bases:
            candidate = getattr(builtins, name, None)
            if isinstance(candidate, type) and issubclass(candidate, Exception) and candidate is not Exception:
                try:
                    candidate("probe")
                except TypeError:  # UnicodeDecodeError and the like need more than a message
                    continue
                return candidate
        return None

    def _mirror(self, name: str, bases: list[str] = ()) -> type:
        """The local class that stands for the student's exception class ``name``: a ``RemoteException``, a subclass
        of the mirror of its own exception parent, and of its most specific built-in base (``except ValueError``
        catches it as it would the original)."""
        if name in self._exception_names:
            bases = self._exception_bases[name]
        key = (name, tuple(bases))
        if key not in self._mirrors:
            parents = [self._mirror(b) for b in bases if b in self._exception_names and b != name][:1]
            builtin = self._builtin_base(list(bases))
            classes = (*parents, RemoteException) if parents else (RemoteException,)
            if builtin is not None and not any(issubclass(p, builtin) for p in classes):
                classes = (*classes, builtin)
            self._mirrors[key] = type(name, classes, {})
        return self._mirrors[key]

    def _raise(self, raised: dict) -> BaseException:
        """The exception to raise here for one the student's code raised."""
        kind, message = raised.get("type", "Exception"), raised.get("message", "")
        bases = list(raised.get("bases", []))
        builtin = getattr(builtins, kind, None) if raised.get("builtin") else None
        if isinstance(builtin, type) and not issubclass(builtin, Exception):  # SystemExit and the like
            return SandboxError(f"the student's code raised {kind} ({message}) instead of answering")
        if isinstance(builtin, type):
            try:
                error = builtin(message)
            except TypeError:  # needs more than a message: a mirror with its built-in bases instead
                error = None
            if error is not None:
                error.student_traceback = raised.get("traceback", "")
                return error
        mirror = self._mirror(kind, bases)
        return mirror(message, decode(raised.get("attributes", {})), raised.get("traceback", ""))

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._exception_names:
            return self._mirror(name)
        if name in self._functions:
            return RemoteFunction(self, name)
        raise AttributeError(f"{self._name} has no function {name!r}")

    def call(self, name: str, args: tuple, kwargs: dict):
        """Call the student's ``name(*args, **kwargs)`` in its process; return its value or raise what it raised."""
        answer = self._process.request("call", name=name, args=encode(list(args)), kwargs=encode(kwargs))
        if "ok" in answer:
            return answer["ok"]
        raise self._raise(answer)

    @contextmanager
    def student_environment(self, changes: dict):
        """While in this block, the student's process has ``changes`` in its environment (None: unset); restored
        after."""
        previous = self._process.request("environ", env=changes).get("ok") or {}
        try:
            yield
        finally:
            self._process.request("environ", env=previous)


class RemoteFunction:
    """One function of the student's code, called in its process."""

    def __init__(self, code: RemoteCode, name: str):
        self._code, self.__name__ = code, name

    def __call__(self, *args, **kwargs):
        return self._code.call(self.__name__, args, kwargs)

    def __repr__(self) -> str:
        return f"<student function {self.__name__}>"

    @contextmanager
    def student_environment(self, changes: dict):
        """As ``RemoteCode.student_environment``, for a check given the function only."""
        with self._code.student_environment(changes):
            yield
