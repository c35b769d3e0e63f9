"""Convert the Keras model to a TF-Lite model and check that both give the same answers.

Usage (from the repository root)::

    python solutions/02_tflite/convert.py            # models/clothing-model.keras -> models/clothing-model.tflite
    python solutions/02_tflite/convert.py --quantization float16   # the file that ships (make convert)
    python solutions/02_tflite/convert.py --check-only

The parity check runs both models on real images (the bundled samples, plus the validation split when
``--data-dir`` is given) and fails when any top-1 class differs or the largest absolute logit difference
exceeds ``--tolerance`` (by default ``TOLERANCE`` for the quantization: float16 weights round each weight to 11
significant bits, so their logits move by about 1e-2; dynamic-range quantization is only reported).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tutorial_support.images import find_images, load_batch  # noqa: F401  (load_batch: the notebook's too)
from tutorial_support.paths import KERAS_MODEL, SAMPLES_DIR, TFLITE_MODEL

QUANTIZATIONS = ("float32", "dynamic", "float16")
# The largest absolute logit difference from the Keras model that each quantization may give. float32: rounding
# only (measured 8.8e-06 on 371 photos). float16: weights rounded to half precision (relative error up to 2**-11,
# IEEE 754); measured 2.1e-02 on the 30 samples and the 341 validation photos for the model that ships. dynamic-range
# (int8 weights) changes some answers by design: reported, not checked (make bench gives its accuracy).
TOLERANCE = {"float32": 1e-4, "float16": 5e-2}


def set_quantization(converter, quantization: str) -> None:
    """Configure post-training quantization on a ``tf.lite.TFLiteConverter``.

    ``float32``: none (weights and activations stay float32). ``dynamic``: dynamic-range quantization, weights stored
    as int8 (about 4x smaller), activations quantized on the fly where kernels support it. ``float16``: weights stored
    as float16 (about 2x smaller), computed in float32. Source: TensorFlow's post-training quantization guide,
    https://ai.google.dev/edge/litert/models/post_training_quantization

    Raises:
        ValueError: an unknown ``quantization``.
    """
    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}; expected one of {QUANTIZATIONS}")
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]


def convert(keras_path: Path, tflite_path: Path, quantization: str = "float32") -> int:
    """Convert a ``.keras`` model to a ``.tflite`` flatbuffer; float32 unless ``quantization`` says otherwise.

    Args:
        keras_path: the Keras model file (``models/clothing-model.keras``).
        tflite_path: where to write the TF-Lite model; a file already there is replaced.
        quantization: one of ``QUANTIZATIONS`` (see ``set_quantization``).

    Returns:
        size of the written file in bytes (an int).

    Raises:
        ValueError: an unknown ``quantization`` (see ``set_quantization``).
    """
    import keras
    import tensorflow as tf

    # TODO: convert the Keras model at keras_path to a TF-Lite model with the given quantization (float32: none), write it to tflite_path (replacing any file there), and return the written file's size in bytes.
    raise NotImplementedError("convert the Keras model at keras_path to a TF-Lite model with the given quantization (float32: none), write it to tflite_path (replacing any file there), and return the written file's size in bytes.")


def tflite_logits(tflite_path: Path, x: np.ndarray) -> np.ndarray:
    """Run the TF-Lite model with LiteRT, one image at a time (the converted model takes a batch of one).

    Args:
        tflite_path: the ``.tflite`` model file.
        x: preprocessed images, float32, shape (n, h, w, 3) (``load_batch``), n >= 1.

    Returns:
        the logits, float32, shape (n, classes): row i for image i.
    """
    from ai_edge_litert.interpreter import Interpreter

    # TODO: run the TF-Lite model at tflite_path with LiteRT's Interpreter on each image of x, in order, and return their logits as one float32 array of shape (n, 10).
    raise NotImplementedError("run the TF-Lite model at tflite_path with LiteRT's Interpreter on each image of x, in order, and return their logits as one float32 array of shape (n, 10).")


def parity(keras_path: Path, tflite_path: Path, paths: list[Path]) -> dict:
    """Compare Keras and TF-Lite logits on real images.

    Returns:
        {"n_images": int, "top1_agreement": fraction in [0, 1], "max_abs_logit_diff": float}
    """
    import keras

    model = keras.models.load_model(keras_path, compile=False)
    x = load_batch(paths, model.input_shape[1])
    keras_out = model.predict(x, verbose=0)
    lite_out = tflite_logits(tflite_path, x)
    return {
        "n_images": len(paths),
        "top1_agreement": float((keras_out.argmax(1) == lite_out.argmax(1)).mean()),
        "max_abs_logit_diff": float(np.abs(keras_out - lite_out).max()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keras-model", type=Path, default=KERAS_MODEL)
    parser.add_argument("--output", type=Path, default=TFLITE_MODEL)
    parser.add_argument("--data-dir", type=Path, default=None, help="also check on <data-dir>/validation")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="largest allowed absolute logit difference (default: TOLERANCE for the quantization)")
    parser.add_argument("--check-only", action="store_true", help="do not convert, only compare")
    parser.add_argument("--quantization", choices=QUANTIZATIONS, default="float32",
                        help="post-training quantization (dynamic: int8 weights; float16: float16 weights, the "
                             "file that ships); a dynamic-range model is only reported, not checked")
    args = parser.parse_args(argv)

    if not args.check_only:
        size = convert(args.keras_model, args.output, args.quantization)
        print(f"Wrote {args.output} ({size / 1e6:.2f} MB, {args.quantization})")
    folders = [SAMPLES_DIR] + ([args.data_dir / "validation"] if args.data_dir else [])
    result = parity(args.keras_model, args.output, find_images(*folders))
    print(f"Parity on {result['n_images']} images: top-1 agreement {result['top1_agreement']:.3f}, "
          f"largest absolute logit difference {result['max_abs_logit_diff']:.2e}")
    tolerance = args.tolerance if args.tolerance is not None else TOLERANCE.get(args.quantization)
    if tolerance is None:
        print("A dynamic-range model answers differently by design: see make bench for its accuracy.")
        return 0
    ok = result["top1_agreement"] == 1.0 and result["max_abs_logit_diff"] <= tolerance
    if not ok:
        print(f"FAILED: expected agreement 1.0 and difference <= {tolerance}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
