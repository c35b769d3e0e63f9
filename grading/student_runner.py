"""The student's side of the grading sandbox: a process that holds one student's chapter code and runs the calls the
checks make into it. Started by ``grading.sandbox.StudentProcess``; never imported by the grader itself.

    python -m grading.student_runner     # reads requests on stdin, answers on the stdout it had when it started

The protocol is one JSON object per line (``grading.sandbox`` documents the messages and the encoding of values).
Whatever the student's code prints goes to stderr (the log the grader keeps), not into the answers: the answers go to
a copy of the original stdout taken before any student code runs. Nothing here decides a verdict: the checks run in
the grader's process and only see the values and exceptions this process sends back.
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path

from grading import protocol

EXERCISE_TAG = "exercise"
MAX_TEXT = 2000  # characters of an exception message or a repr sent back


def _client(spec: dict):
    """A boto3 client for the fake AWS account the grader runs (moto's server at ``spec["endpoint"]``)."""
    import boto3

    return boto3.client(spec["$client"], region_name=spec["region"], endpoint_url=spec["endpoint"],
                        aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing")


_KERAS_MODELS: dict[str, object] = {}


def _keras_model(path: str):
    """The Keras model at ``path``, loaded once in this process."""
    if path not in _KERAS_MODELS:
        import keras

        _KERAS_MODELS[path] = keras.models.load_model(path, compile=False)
    return _KERAS_MODELS[path]


def decode(value):
    """A value the grader sent as the Python object it stands for (``grading.protocol``), with this side's tags: a
    boto3 client of the grader's fake AWS account, and the Keras model."""
    return protocol.decode(value, {"$client": _client, "$keras_model": lambda spec: _keras_model(spec["$keras_model"])})


def _opaque(value) -> dict:
    """What the grader gets of a value it cannot take as data: its type's name and a short repr."""
    return {"$opaque": repr(value)[:MAX_TEXT], "$type": f"{type(value).__module__}.{type(value).__qualname__}"}


def encode(value):
    """``value`` as JSON the grader can decode without running anything (``grading.protocol``): numbers, text,
    containers, numpy arrays and numbers, paths and bytes keep their type; anything else is sent as ``_opaque``."""
    return protocol.encode(value, _opaque)


def _exception(error: BaseException) -> dict:
    """What the grader needs of an exception the student's code raised: its type, its bases' names, its message,
    the ``status`` and ``code`` attributes the handler's ``RequestError`` carries, and the end of its traceback."""
    kind = type(error)
    attributes = {name: encode(getattr(error, name)) for name in ("status", "code")
                  if isinstance(getattr(error, name, None), (int, str))}
    tail = "".join(traceback.format_exception(error)[-3:])
    return {"type": kind.__name__, "builtin": getattr(builtins, kind.__name__, None) is kind,
            "bases": [base.__name__ for base in kind.__mro__[1:]], "message": str(error)[:MAX_TEXT],
            "attributes": attributes, "traceback": tail[-MAX_TEXT:]}


def _describe(namespace: dict) -> dict:
    """The names a check may use: the functions (and classes, callable), and the exception classes with the names of
    their bases."""
    exceptions = {name: [base.__name__ for base in value.__mro__[1:]] for name, value in sorted(namespace.items())
                  if isinstance(value, type) and issubclass(value, BaseException)}
    functions = sorted(name for name, value in namespace.items()
                       if callable(value) and name not in exceptions and not name.startswith("__"))
    return {"functions": functions, "exceptions": exceptions}


def load_module(path: str, name: str) -> dict:
    """Import the script ``path`` under the module name ``name``, its folder first on ``sys.path`` (so its own
    imports, like ``safe_download``, come from beside it). Returns its namespace."""
    folder = str(Path(path).parent)
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return vars(module)


def load_notebook(path: str, name: str) -> dict:
    """Run the code cells tagged ``exercise`` of the notebook at ``path`` in a fresh namespace; return it."""
    cells = [cell for cell in json.loads(Path(path).read_text())["cells"]
             if cell["cell_type"] == "code" and EXERCISE_TAG in cell.get("metadata", {}).get("tags", [])]
    namespace: dict = {"__name__": name}
    for index, cell in enumerate(cells):
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        exec(compile(source, f"{Path(path).name} (exercise cell {index + 1})", "exec"), namespace)
    return namespace


def main() -> None:
    channel = os.fdopen(os.dup(1), "w", buffering=1)  # the answers: a copy of stdout from before any student code
    os.dup2(2, 1)  # from here on, what anything prints goes to stderr, the grader's log of this process
    sys.stdout = sys.stderr
    namespace: dict = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            op = request["op"]
            if op == "load_module":
                namespace = load_module(request["path"], request["name"])
                result = _describe(namespace)
            elif op == "load_notebook":
                namespace = load_notebook(request["path"], request["name"])
                result = _describe(namespace)
            elif op == "call":
                function = namespace[request["name"]]
                result = encode(function(*decode(request["args"]), **decode(request["kwargs"])))
            elif op == "environ":
                result = {key: os.environ.get(key) for key in request["env"]}  # to restore them after
                for key, value in request["env"].items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            else:
                raise ValueError(f"unknown op {op!r}")
            answer = {"id": request["id"], "ok": result}
        except BaseException as error:  # everything the student's code raises goes back to the checks
            if isinstance(error, KeyboardInterrupt):
                raise
            answer = {"id": request["id"], "raised": _exception(error)}
        channel.write(json.dumps(answer) + "\n")
        channel.flush()


if __name__ == "__main__":
    main()
