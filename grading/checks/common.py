"""What the checks of several chapters share: the model and the photos they are checked on, the oracles computed
from them, and the photos served on 127.0.0.1 for the handler to download.

Expected figures are worked out by hand in each chapter module's comments, from the sources named there; they are
not computed by a second copy of the solution.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
from contextlib import contextmanager
from unittest import mock

import numpy as np

from grading.targets import Target
from tutorial_support.image_server import serve_directory
from tutorial_support.images import load_batch
from tutorial_support.paths import KERAS_MODEL, MODELS_DIR, REPO_ROOT, SAMPLES_DIR, classes

CLASSES = classes()
# The side in pixels of the model's square input (224: EfficientNet-Lite0, the model that ships), from its metrics.
INPUT_SIZE = int(json.loads((MODELS_DIR / "metrics.json").read_text())["input_size"])
# Three bundled photos the model classifies correctly (make demo), from different classes.
KNOWN_SAMPLES = {
    "pants": SAMPLES_DIR / "pants" / "081b5ec1-13a6-43c8-991f-9ad2020f646a.jpg",
    "shoes": SAMPLES_DIR / "shoes" / "24535295-abe3-4613-91f6-a7fe87954662.jpg",
    "hat": SAMPLES_DIR / "hat" / "014b2a1b-c5a0-469b-b115-bc02b2001db5.jpg",
}


def close(got, expected, rel=1e-6, abs_=1e-9) -> bool:
    """True when ``got`` is a number within ``rel`` (relative) or ``abs_`` (absolute) of ``expected``."""
    return isinstance(got, (int, float, np.floating)) and math.isclose(float(got), expected, rel_tol=rel, abs_tol=abs_)


@functools.lru_cache(maxsize=1)
def keras_model():
    """The trained Keras model (``models/clothing-model.keras``), loaded once per process. A check that passes it to
    the student's code in the grading sandbox sends its path (``_tutorial_source``), loaded there."""
    import keras

    model = keras.models.load_model(KERAS_MODEL, compile=False)
    model._tutorial_source = str(KERAS_MODEL)
    return model


@functools.lru_cache(maxsize=1)
def reference() -> Target:
    """The reference chapters (``solutions/``), for the given code the checks reuse: never an exercise's solution
    as the oracle of that same exercise."""
    return Target("solutions", REPO_ROOT)


def preprocessed(paths) -> np.ndarray:
    """Images preprocessed as in training and serving (``tutorial_support.images.load_batch``, keras-image-helper).

    Returns:
        float32 array of shape (len(paths), INPUT_SIZE, INPUT_SIZE, 3), values in [-1, 1].
    """
    return load_batch(list(paths), INPUT_SIZE)


def reference_probabilities(paths) -> np.ndarray:
    """Softmax of the Keras model's logits, float64 (len(paths), 10): the oracle for chapter 01's classifier."""
    logits = keras_model().predict(preprocessed(paths), verbose=0).astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


LOCAL_USE = {"ALLOW_PRIVATE_URLS": "1"}  # the handler's opt-in to private addresses: photos served on 127.0.0.1


@contextmanager
def local_use(module=None):
    """While in this block, the handler may fetch private addresses (``LOCAL_USE``): in this process, and in the
    process where ``module`` (the student's code) runs, when the grader runs it in a process of its own (a module
    with ``student_environment``). Restored after."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, LOCAL_USE))
        if hasattr(module, "student_environment"):
            stack.enter_context(module.student_environment(LOCAL_USE))
        yield


@contextmanager
def as_deployed(module=None):
    """While in this block, ``ALLOW_PRIVATE_URLS`` is unset, as in the deployed function: in this process and in the
    process where ``module`` runs (see ``local_use``). Restored after."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ))
        os.environ.pop("ALLOW_PRIVATE_URLS", None)
        if hasattr(module, "student_environment"):
            stack.enter_context(module.student_environment({"ALLOW_PRIVATE_URLS": None}))
        yield


@contextmanager
def served_samples(module=None):
    """The bundled samples served on 127.0.0.1 (``tutorial_support.image_server``); yields the base URL.

    The handler refuses private addresses unless ``ALLOW_PRIVATE_URLS=1`` (``safe_download.py``), so it is set for
    the duration (``local_use(module)``), and restored after.
    """
    with local_use(module), serve_directory(SAMPLES_DIR) as base:
        yield base


def sample_url(base: str, path) -> str:
    """The URL of a bundled sample ``path`` (under ``samples/``) served at ``base`` (``served_samples``)."""
    return f"{base}/{path.relative_to(SAMPLES_DIR).as_posix()}"
