"""Where the repository's shared files are: the trained model, the sample photos, the handler's example events.

Every path is absolute, found from this package's own place in the checkout (``tutorial_support/`` at its root).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "models"
KERAS_MODEL = MODELS_DIR / "clothing-model.keras"
TFLITE_MODEL = MODELS_DIR / "clothing-model.tflite"
LABELS = MODELS_DIR / "labels.txt"
TABULAR_MODELS_DIR = MODELS_DIR / "tabular"  # chapter 08's wine models, their ONNX exports and features.json
SAMPLES_DIR = REPO_ROOT / "samples"
SOLUTIONS = REPO_ROOT / "solutions"
HANDLER_DIR = SOLUTIONS / "03_lambda_code"  # the reference handler's task root: lambda_function.py, safe_download.py
EVENTS_DIR = HANDLER_DIR / "events"  # example events: apigw-http-v2.json, apigw-rest-v1.json, direct.json
README = REPO_ROOT / "README.md"
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "clothing-dataset-small"  # the dataset, beside the checkout


def classes() -> list[str]:
    """The 10 class names in the order of the model's outputs (``models/labels.txt``)."""
    return LABELS.read_text().split()
