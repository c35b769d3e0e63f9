"""The committed model artifacts: training metrics, and Keras vs TF-Lite parity on real images."""

import json

import numpy as np
import pytest
from conftest import MODELS_DIR, SAMPLES_DIR

pytest.importorskip("tensorflow", reason="Keras/TF-Lite parity needs TensorFlow (requirements/dev.txt)")
import convert  # noqa: E402

METRICS = json.loads((MODELS_DIR / "metrics.json").read_text())


def test_validation_accuracy_meets_the_bar():
    assert METRICS["validation"]["accuracy"] >= 0.80


def test_metrics_are_consistent_with_their_confusion_matrix():
    matrix = np.array(METRICS["validation"]["confusion_matrix"])
    classes = METRICS["classes"]
    assert matrix.shape == (len(classes), len(classes)) == (10, 10)
    assert matrix.sum() == METRICS["validation"]["n_images"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(METRICS["validation"]["accuracy"])
    for i, name in enumerate(classes):
        per_class = METRICS["validation"]["per_class"][name]
        assert per_class["support"] == matrix[i].sum()
        assert per_class["recall"] == pytest.approx(matrix[i, i] / matrix[i].sum())
    assert max(METRICS["history"]["val_accuracy"]) == pytest.approx(METRICS["validation"]["accuracy"], abs=1e-3)
    assert (MODELS_DIR / "labels.txt").read_text().split() == classes


def test_keras_and_tflite_agree_on_the_bundled_images():
    paths = convert.find_images(SAMPLES_DIR)
    assert len(paths) == 30
    result = convert.parity(MODELS_DIR / "clothing-model.keras", MODELS_DIR / "clothing-model.tflite", paths)
    assert result["top1_agreement"] == 1.0
    # The committed file is float16 (make convert): its logits move by about 1e-2, more than float32's 1e-5
    assert 1e-4 < result["max_abs_logit_diff"] < convert.TOLERANCE["float16"]


@pytest.mark.slow
def test_conversion_writes_an_equivalent_float32_model(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    out = tmp_path / "model.tflite"
    size = convert.convert(MODELS_DIR / "clothing-model.keras", out)
    assert size == out.stat().st_size > 1_000_000
    interpreter = Interpreter(model_path=str(out))
    details = interpreter.get_input_details()[0]
    assert details["dtype"] == np.float32
    assert list(details["shape"]) == [1, METRICS["input_size"], METRICS["input_size"], 3]
    result = convert.parity(MODELS_DIR / "clothing-model.keras", out, convert.find_images(SAMPLES_DIR)[:5])
    assert result["top1_agreement"] == 1.0 and result["max_abs_logit_diff"] < 1e-4
