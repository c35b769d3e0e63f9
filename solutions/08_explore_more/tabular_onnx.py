"""Export the tabular models (chapter 08) to ONNX, and check that ONNX Runtime answers as the library does.

A scikit-learn pipeline goes through skl2onnx, an XGBoost classifier through onnxmltools; both exports take one
float32 input of shape ``(batch, n_features)``, the batch size left open, and give two outputs: ``label`` (int64,
shape ``(batch,)``) and ``probabilities`` (float32, shape ``(batch, n_classes)``), which is what the handler
(``tabular_handler.py``, backends ``sklearn-onnx`` and ``xgboost-onnx``) reads. ONNX Runtime then serves the model
without scikit-learn, SciPy or XGBoost in the image: see ``benchmarks/tabular_results.md`` for what that saves.
``tabular_train.py`` makes both exports and reports their ``parity`` with the library.
"""

from __future__ import annotations

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

PROBABILITIES = "probabilities"  # the output the handler reads: float32, (batch, n_classes)


def export_onnx(model, n_features: int) -> bytes:
    """The ONNX model (serialised ``ModelProto``) of a fitted scikit-learn classifier or pipeline, made by skl2onnx.

    Args:
        model: a fitted scikit-learn estimator with ``predict_proba`` (the whole pipeline: the scaler too).
        n_features: the number of input columns it was fitted on.

    Returns:
        the bytes of an ONNX model with one float32 input of shape ``[None, n_features]`` (any batch size) and the
        outputs ``label`` and ``probabilities`` (a float32 tensor, ``(batch, n_classes)``: no ZipMap).

    Raises:
        RuntimeError: skl2onnx cannot convert the model (an estimator it has no converter for, a width that is not
        the model's).
    """
    # BEGIN SOLUTION
    # TASK: return the bytes of model (a fitted scikit-learn pipeline) converted to ONNX with skl2onnx: one float32
    # TASK: input of shape [None, n_features] (any batch size), and the class probabilities as a float32 tensor
    # TASK: output named "probabilities", of shape (batch, n_classes), not the list of dicts skl2onnx makes by default.
    # HINT: onx = to_onnx(model, initial_types=[("features", FloatTensorType([None, n_features]))],
    # HINT: options={"zipmap": False}); return onx.SerializeToString(). None is the open batch dimension (not 1: the
    # HINT: model would then refuse a batch of 2); FloatTensorType, not DoubleTensorType (the handler sends float32);
    # HINT: n_features, not 13 (the check exports models of other widths); convert the whole pipeline, not its last
    # HINT: step (the scaler would be lost); zipmap False makes "probabilities" a tensor instead of a list of dicts.
    onx = to_onnx(model, initial_types=[("features", FloatTensorType([None, n_features]))],
                  options={"zipmap": False})
    return onx.SerializeToString()
    # END SOLUTION


def export_xgboost_onnx(model, n_features: int) -> bytes:
    """The ONNX model (serialised) of a fitted ``xgboost.XGBClassifier``, made by onnxmltools' ``convert_xgboost``:
    one float32 input ``[None, n_features]``, outputs ``label`` and ``probabilities`` (float32, (batch, n_classes)).

    The classifier must have been fitted on a numpy array (feature names f0, f1, ...): onnxmltools refuses feature
    names it cannot map to column numbers.

    Raises:
        RuntimeError: onnxmltools cannot convert it.
    """
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType as XGBoostFloatTensorType

    # name: the graph's name, else a random one (the same model would give different bytes on every run)
    onx = convert_xgboost(model, name="xgboost",
                          initial_types=[("features", XGBoostFloatTensorType([None, n_features]))])
    return onx.SerializeToString()


def export_onnx_from_file(path: str, n_features: int) -> bytes:
    """``export_onnx`` of the scikit-learn model saved with joblib at ``path`` (a model file of your own: joblib
    unpickles, which runs code). The grader calls this one: its sandbox sends only plain values, so it sends the
    model's file, not the model."""
    import joblib

    return export_onnx(joblib.load(path), n_features)


def onnx_probabilities(onnx_model: bytes, x: np.ndarray) -> np.ndarray:
    """The ``probabilities`` output of ``onnx_model`` (bytes) run by ONNX Runtime (CPU, one thread) on ``x``
    (float32, ``(n, n_features)``): float32, ``(n, n_classes)``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
    return session.run([PROBABILITIES], {session.get_inputs()[0].name: np.asarray(x, dtype=np.float32)})[0]


def parity(model, onnx_model: bytes, x: np.ndarray) -> dict:
    """How close ONNX Runtime's answers are to the library's on the rows ``x`` (``(n, n_features)``).

    Both get the same float32 rows (what the handler sends either backend); the library's ``predict_proba`` computes
    in float64, ONNX Runtime in float32.

    Returns:
        ``{"rows": n, "same_class": how many rows get the same most probable class, "max_abs_diff": the largest
        absolute difference of a probability, "mean_abs_diff": the mean one}``, plain Python numbers.
    """
    x = np.asarray(x, dtype=np.float32)
    expected = np.asarray(model.predict_proba(x), dtype=np.float64)
    got = onnx_probabilities(onnx_model, x).astype(np.float64)
    if got.shape != expected.shape:
        raise ValueError(f"ONNX Runtime gave probabilities of shape {got.shape}, the library {expected.shape}")
    difference = np.abs(got - expected)
    return {"rows": int(len(x)), "same_class": int((got.argmax(1) == expected.argmax(1)).sum()),
            "max_abs_diff": float(difference.max()), "mean_abs_diff": float(difference.mean())}

