"""Checks of chapter 02 (``02_tflite/convert.py``): the TF-Lite conversion and running it with LiteRT."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np

from grading import hints
from grading.checks.common import CLASSES, KNOWN_SAMPLES, keras_model, preprocessed, reference
from grading.outcomes import exercise
from tutorial_support.paths import KERAS_MODEL, TFLITE_MODEL

CHAPTER = "02_tflite"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request


@exercise("02_tflite", "convert")
def check_convert(fn):
    """Check ``fn(keras_path, tflite_path) -> size in bytes``: a TF-Lite flatbuffer that agrees with Keras.
    The converted file is run by the reference ``tflite_logits`` (chapter 02's other exercise)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "converted.tflite"
        size = fn(KERAS_MODEL, out)
        assert out.is_file(), f"convert should write the model to tflite_path ({out.name}); nothing was written"
        data = out.read_bytes()
        assert size == len(data), f"convert should return the file's size ({len(data)} bytes), got {size!r}"
        # A TF-Lite model is a FlatBuffer whose file identifier, bytes 4-8, is "TFL3" (tensorflow/lite/schema).
        assert data[4:8] == b"TFL3", "the file is not a TF-Lite flatbuffer (no TFL3 identifier at bytes 4-8)"
        x = preprocessed(KNOWN_SAMPLES.values())
        got = reference().module("02_tflite", "convert.py").tflite_logits(out, x)
        assert np.allclose(got, keras_model().predict(x, verbose=0), atol=1e-4), (
            "the converted model's logits differ from Keras by more than 1e-4")


@exercise("02_tflite", "tflite_logits")
def check_tflite_logits(fn):
    """Check ``fn(tflite_path, x) -> logits`` (float32, (n, 10)) against the Keras model's logits on three samples."""
    x = preprocessed(KNOWN_SAMPLES.values())
    got = fn(TFLITE_MODEL, x)
    assert isinstance(got, np.ndarray), f"tflite_logits should return a numpy array, got {type(got).__name__}"
    assert got.shape == (len(x), len(CLASSES)), f"expected shape {(len(x), len(CLASSES))}, got {got.shape}"
    expected = keras_model().predict(x, verbose=0)
    assert np.allclose(got, expected, atol=1e-4), (
        f"logits differ from Keras by up to {np.abs(got - expected).max():.2e} (expected <= 1e-4); "
        "one row per image, in the order of x?")
