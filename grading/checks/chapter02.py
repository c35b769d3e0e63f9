"""Checks of chapter 02 (``02_tflite/convert.py``): the TF-Lite conversion and running it with LiteRT."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np

from grading import hints
from grading.checks.common import CLASSES, INPUT_SIZE, KNOWN_SAMPLES, keras_model, preprocessed, reference
from grading.outcomes import exercise
from tutorial_support.paths import KERAS_MODEL, TFLITE_MODEL

CHAPTER = "02_tflite"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request

# A float32 TF-Lite file stores each weight in 4 bytes; the converter folds BatchNormalization's statistics into the
# convolutions, so a float32 conversion of the model (13,511,376 bytes) is a little under 4 bytes per Keras parameter
# (3,425,834 parameters: 3.94 bytes each). float16 weights take 2 bytes (6,819,932 bytes: 1.99 per parameter) and
# dynamic-range int8 weights 1 (3.74 MB: 1.09). 3 bytes per parameter tells float32 from both.
FLOAT32_BYTES_PER_PARAMETER = 3.0
# Largest absolute logit difference between Keras and a float32 conversion: rounding only (about 9e-6 measured;
# make convert QUANTIZATION=float32 fails above 1e-4).
TOLERANCE = 1e-4
# The committed models/clothing-model.tflite, which tflite_logits is checked on, is float16 (make convert): its logits
# differ from Keras' by up to 2.1e-2 on 371 photos (make convert's own check allows 5e-2). Reading the wrong tensor,
# the wrong row or a reused buffer moves them by 1 or more.
SHIPPED_TOLERANCE = 5e-2
STALE = b"a stale file from an earlier run, not a model\n"


def _converted(fn, folder: Path, quantization: str | None) -> tuple[int, bytes]:
    """Run ``fn(KERAS_MODEL, folder / <name>[, quantization])`` over a stale file at that path; return (what fn
    returned, the file's bytes)."""
    out = folder / f"converted-{quantization or 'default'}.tflite"
    out.write_bytes(STALE)  # an earlier run's file: convert must replace it
    size = fn(KERAS_MODEL, out) if quantization is None else fn(KERAS_MODEL, out, quantization)
    data = out.read_bytes() if out.is_file() else b""
    assert data != STALE, (
        f"convert should write the converted model to tflite_path, replacing any file there; {out.name} still holds "
        f"the old file (nothing written to that path?)")
    assert not isinstance(size, (bytes, bytearray)), (
        "convert should return the file's size in bytes (an int), not the model's bytes")
    assert isinstance(size, int) and not isinstance(size, bool) and size == len(data), (
        f"convert should return the size of the written file in bytes ({len(data):,}), got {size!r}"
        + (" (in MB? return bytes)" if isinstance(size, float) and abs(size * 1e6 - len(data)) < 1e4 else ""))
    # A TF-Lite model is a FlatBuffer whose file identifier, bytes 4-8, is "TFL3" (tensorflow/lite/schema).
    assert data[4:8] == b"TFL3", "the file is not a TF-Lite flatbuffer (no TFL3 identifier at bytes 4-8)"
    return size, data


@exercise("02_tflite", "convert")
def check_convert(fn):
    """Check ``fn(keras_path, tflite_path, quantization="float32") -> size in bytes``: by default a float32 TF-Lite
    flatbuffer, written over any file at ``tflite_path``, whose logits agree with Keras' to ``TOLERANCE``; with
    ``"dynamic"`` a quantized, smaller file; an unknown quantization raises ValueError.
    The converted files are run by the reference ``tflite_logits`` (chapter 02's other exercise)."""
    parameters = keras_model().count_params()
    x = preprocessed(KNOWN_SAMPLES.values())
    expected = keras_model().predict(x, verbose=0)
    run = reference().module("02_tflite", "convert.py").tflite_logits
    with tempfile.TemporaryDirectory() as tmp:
        size, _ = _converted(fn, Path(tmp), None)
        assert size >= FLOAT32_BYTES_PER_PARAMETER * parameters, (
            f"the default conversion should keep the weights float32 (about 4 bytes for each of the model's "
            f"{parameters:,} parameters, about {4 * parameters / 1e6:.1f} MB), got {size:,} bytes: a quantized "
            f"model? set no converter.optimizations for float32 (set_quantization does nothing then)")
        got = run(Path(tmp) / "converted-default.tflite", x)
        difference = float(np.abs(got - expected).max())
        assert difference <= TOLERANCE, (
            f"the converted model's logits differ from Keras' by up to {difference:.1e}, expected <= {TOLERANCE:g} "
            f"for a float32 conversion")

        small, _ = _converted(fn, Path(tmp), "dynamic")
        # dynamic-range: int8 weights, about 1 byte per parameter, so well under half the float32 size.
        assert small < size / 2, (
            f"convert(..., quantization='dynamic') should write a dynamic-range quantized model (int8 weights, about "
            f"a quarter of the float32 size of {size:,} bytes), got {small:,} bytes: pass the quantization on with "
            f"set_quantization(converter, quantization)")

    try:
        with tempfile.TemporaryDirectory() as tmp:
            fn(KERAS_MODEL, Path(tmp) / "unknown.tflite", "int4")
    except ValueError:
        pass
    else:
        raise AssertionError("convert(..., quantization='int4') should raise ValueError (an unknown quantization; "
                             "set_quantization raises it)")


def _logits(fn, x: np.ndarray) -> np.ndarray:
    """``fn(TFLITE_MODEL, x)``, with LiteRT's errors (ValueError, RuntimeError) turned into a wrong answer saying what
    they usually mean."""
    try:
        return fn(TFLITE_MODEL, x)
    except (ValueError, RuntimeError) as e:
        text = str(e)
        if "allocate_tensors" in text or "not ready" in text:
            why = "call interpreter.allocate_tensors() once, after creating the Interpreter and before set_tensor"
        elif "reference to internal data" in text:
            why = ("keep get_tensor's copy of each row: interpreter.tensor(index)() returns a view of the "
                   "interpreter's buffer, and LiteRT refuses to invoke() while a view is kept")
        elif "Dimension mismatch" in text:
            why = (f"the model's input is a batch of ONE image, (1, {INPUT_SIZE}, {INPUT_SIZE}, 3): set_tensor each "
                   "image as row[None], one at a time")
        else:
            why = "see the notebook's section on set_tensor / invoke / get_tensor"
        raise AssertionError(f"tflite_logits raised {type(e).__name__} on {len(x)} image(s) ({text.strip()}): "
                             f"{why}") from None


def _check_logits(got, x: np.ndarray, expected: np.ndarray) -> None:
    """Assert that ``got`` (tflite_logits' answer for ``x``) is float32 (n, 10) and equal to ``expected``."""
    n = len(x)
    assert isinstance(got, np.ndarray), (
        f"tflite_logits should return a numpy array (np.stack the rows), got {type(got).__name__}")
    assert got.shape == (n, len(CLASSES)), (
        f"for {n} image(s) expected logits of shape {(n, len(CLASSES))}, one row per image, got {got.shape}"
        + (": only the first image?" if n > 1 and got.shape[:1] == (1,) else ""))
    assert got.dtype == np.float32, f"the logits should be float32, as the model returns them, got {got.dtype}"
    if n > 1 and np.allclose(got, got[:1]) and not np.allclose(expected, expected[:1]):
        matches = [i for i in range(n) if np.allclose(got[0], expected[i], atol=SHIPPED_TOLERANCE)]
        which = f"image {matches[0] + 1}'s" if matches else "the same"
        raise AssertionError(
            f"every row is {which} logits, for {n} different images: set_tensor each image before its invoke(), and "
            f"keep a copy of each row (get_tensor(...)[0].copy()) rather than a buffer the next image overwrites")
    difference = np.abs(got - expected).max()
    assert difference <= SHIPPED_TOLERANCE, (
        f"logits differ from Keras' by up to {difference:.2e} (expected <= {SHIPPED_TOLERANCE:g}, the float16 "
        f"file's rounding): one row per image, in the order of x, read from the output tensor "
        f"(get_output_details()[0]['index'])")


@exercise("02_tflite", "tflite_logits")
def check_tflite_logits(fn):
    """Check ``fn(tflite_path, x) -> logits`` (float32, (n, 10)) against the Keras model's logits: on three photos,
    then on one photo alone (a batch of one is still (1, 10))."""
    x = preprocessed(KNOWN_SAMPLES.values())
    expected = keras_model().predict(x, verbose=0)
    _check_logits(_logits(fn, x), x, expected)
    _check_logits(_logits(fn, x[1:2]), x[1:2], expected[1:2])
