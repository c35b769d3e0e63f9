"""The values the grader and a student's process exchange (``grading.sandbox``, ``grading.student_runner``): JSON,
with tagged objects for what JSON lacks, so that neither side ever unpickles or runs what the other sent.

Both sides: ``{"$nd": base64, "dtype", "shape"}`` (numpy array), ``{"$npscalar": value, "dtype"}`` (numpy number),
``{"$path"}``, ``{"$bytes": base64}``, ``{"$tuple": [...]}``, ``{"$dict": [[key, value], ...]}`` (a dict whose keys are
not all plain strings). Each side adds its own tags through ``other`` (encoding) and ``tags`` (decoding): towards the
student, a boto3 client and the Keras model; from the student, ``{"$opaque", "$type"}`` for anything else.
"""

from __future__ import annotations

import base64
import numbers
from pathlib import Path

MAX_DEPTH = 50  # nesting deeper than this is handed to ``other``


def encode(value, other, depth: int = 0):
    """``value`` as JSON with tagged objects.

    Args:
        other: called with a value of any other type (or nested deeper than ``MAX_DEPTH``); returns its tagged form
            or raises TypeError.
    """
    if depth > MAX_DEPTH:
        return other(value)
    if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
        return value
    if type(value) is list:
        return [encode(v, other, depth + 1) for v in value]
    if type(value) is tuple:
        return {"$tuple": [encode(v, other, depth + 1) for v in value]}
    if type(value) is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: encode(v, other, depth + 1) for k, v in value.items()}
        return {"$dict": [[encode(k, other, depth + 1), encode(v, other, depth + 1)] for k, v in value.items()]}
    if isinstance(value, Path):
        return {"$path": str(value)}
    if type(value) is bytes:
        return {"$bytes": base64.b64encode(value).decode()}
    if type(value).__module__ == "numpy":
        import numpy as np

        if isinstance(value, np.ndarray) and value.dtype != object:
            array = np.ascontiguousarray(value)
            return {"$nd": base64.b64encode(array.tobytes()).decode(), "dtype": array.dtype.str,
                    "shape": list(array.shape)}
        if isinstance(value, np.generic) and isinstance(value, numbers.Number):
            return {"$npscalar": value.item(), "dtype": value.dtype.str}
    return other(value)


def decode(value, tags: dict | None = None):
    """A value sent as ``encode`` writes it, as the Python object it stands for; nothing in it is run.

    Args:
        tags: ``{tag: make}`` for this side's own tags: ``make(tagged dict)`` returns the object.
    """
    tags = tags or {}
    if isinstance(value, list):
        return [decode(v, tags) for v in value]
    if not isinstance(value, dict):
        return value
    if "$nd" in value:
        import numpy as np

        return np.frombuffer(base64.b64decode(value["$nd"]), dtype=np.dtype(value["dtype"])).reshape(
            value["shape"]).copy()
    if "$npscalar" in value:
        import numpy as np

        return np.dtype(value["dtype"]).type(value["$npscalar"])
    if "$path" in value:
        return Path(value["$path"])
    if "$bytes" in value:
        return base64.b64decode(value["$bytes"])
    if "$tuple" in value:
        return tuple(decode(v, tags) for v in value["$tuple"])
    if "$dict" in value:
        return {decode(k, tags): decode(v, tags) for k, v in value["$dict"]}
    for tag, make in tags.items():
        if tag in value:
            return make(value)
    return {k: decode(v, tags) for k, v in value.items()}
