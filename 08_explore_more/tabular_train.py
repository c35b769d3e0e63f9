"""Train chapter 08's tabular models on scikit-learn's bundled wine data, and export them for Lambda.

    make train-tabular      # = python solutions/08_explore_more/tabular_train.py (a few seconds, no download)

Why the wine data (``sklearn.datasets.load_wine``) rather than breast_cancer: it ships inside scikit-learn (no
download), its 13 features are chemical measurements a request can name and a person can type (alcohol, magnesium,
proline, ...), and its 3 classes (three cultivars) make the answer a real probability distribution, not one number.
178 wines: 133 to train, 45 held out (stratified).

Two models, fixed seeds: a scikit-learn pipeline (``StandardScaler`` + ``LogisticRegression``) and an XGBoost
classifier. Written to ``models/tabular/`` (each file is small, and committed):

- ``sklearn.joblib``: the pipeline, pickled by joblib (loading it runs code: load only your own files; scikit-learn
  loads a pickle only with the version that wrote it, pinned in ``requirements/tabular-sklearn.txt``);
- ``xgboost.json``: the classifier in XGBoost's own JSON format (never a pickle: the JSON loads in any later XGBoost);
- ``sklearn.onnx``, ``xgboost.onnx``: both as ONNX (``tabular_onnx.py``), for ONNX Runtime;
- ``features.json``: the feature names in input order, the class names, and each feature's valid range: the training
  data's range widened by ``RANGE_MARGIN`` of its span on each side (never below 0 for a feature that is never
  negative). The handler refuses a value outside it: a model extrapolates there without saying so;
- ``metrics.json``: held-out accuracy and log loss, and the parity of each ONNX export with its library.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tabular_onnx

from tutorial_support.paths import TABULAR_MODELS_DIR

MODELS_OUT = TABULAR_MODELS_DIR
SEED = 42
TEST_SIZE = 0.25
# A valid range is the training range widened by this fraction of its span on each side. It must hold real wines the
# model never saw, not only the training rows: with 0.25, one of the 45 held-out wines would be refused (flavanoids
# 5.08, the training maximum being 3.93, the bound 4.59); with 0.5 every wine of the data set is inside, while a value
# far from anything seen (proline 5,000, a negative concentration) is still refused.
RANGE_MARGIN = 0.5
RANDOM_ROWS = 2000  # rows drawn uniformly inside the valid ranges for the parity check, besides the held-out ones
# The largest difference of a probability allowed between ONNX Runtime (float32 arithmetic) and the library (float64
# from the same float32 rows). float32 keeps 24 bits (a relative step of 6e-8); a probability is a softmax of sums of
# 13 products (logistic regression) or of 3 x 100 leaf values (XGBoost, whose own arithmetic is float32 too), and
# rounding in those sums and in exp moves it by a few 1e-7 (measured, metrics.json: at most 4.5e-7 over 2,045 rows).
# 1e-5 leaves a factor of 20, while every real mistake of an export (the scaler left out, columns out of order, a
# model of the wrong width) moves probabilities by 1e-2 or more.
PARITY_TOLERANCE = 1e-5
FILES = {"sklearn": "sklearn.joblib", "xgboost": "xgboost.json", "sklearn-onnx": "sklearn.onnx",
         "xgboost-onnx": "xgboost.onnx", "features": "features.json", "metrics": "metrics.json"}


@dataclass
class Split:
    """The wine data split in two, stratified: float64 features ``(n, 13)``, integer labels ``(n,)``."""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    class_names: list[str]


def load_split(seed: int = SEED, test_size: float = TEST_SIZE) -> Split:
    """The bundled wine data (no download), split into training and held-out rows with ``seed``."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    data = load_wine()
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=test_size,
                                                        stratify=data.target, random_state=seed)
    return Split(x_train, x_test, y_train, y_test, list(data.feature_names), [str(c) for c in data.target_names])


def train_sklearn(x: np.ndarray, y: np.ndarray):
    """A ``StandardScaler`` + ``LogisticRegression`` pipeline fitted on ``x`` (lbfgs: deterministic)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)


def train_xgboost(x: np.ndarray, y: np.ndarray, seed: int = SEED):
    """An ``xgboost.XGBClassifier`` (100 trees of depth 3, one thread: the same trees on every run) fitted on ``x``,
    a numpy array (onnxmltools needs the default feature names f0, f1, ...)."""
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=100, max_depth=3, learning_rate=0.1, random_state=seed, n_jobs=1,
                         tree_method="hist").fit(x, y)


def feature_ranges(x: np.ndarray, names: list[str], margin: float = RANGE_MARGIN) -> list[dict]:
    """Each feature's valid range: ``[min - margin x span, max + margin x span]`` of the training rows ``x``, the low
    end not below 0 when the training values never are; rounded to 4 decimals.

    Returns:
        ``[{"name", "low", "high", "train_min", "train_max"}]`` in input order, plain floats.
    """
    out = []
    for name, column in zip(names, np.asarray(x, dtype=np.float64).T):
        least, most = float(column.min()), float(column.max())
        span = most - least
        low, high = least - margin * span, most + margin * span
        if least >= 0:
            low = max(low, 0.0)
        out.append({"name": name, "low": round(low, 4), "high": round(high, 4),
                    "train_min": least, "train_max": most})
    return out


def random_rows(ranges: list[dict], n: int = RANDOM_ROWS, seed: int = SEED) -> np.ndarray:
    """``n`` rows drawn uniformly inside the valid ranges: float32, ``(n, len(ranges))``."""
    rng = np.random.default_rng(seed)
    low = np.array([r["low"] for r in ranges])
    high = np.array([r["high"] for r in ranges])
    return (low + rng.random((n, len(ranges))) * (high - low)).astype(np.float32)


def load_models(folder: Path = MODELS_OUT) -> dict:
    """``{"sklearn": (pipeline, ONNX bytes), "xgboost": (XGBClassifier, ONNX bytes)}`` as saved in ``folder``."""
    import joblib
    from xgboost import XGBClassifier

    xgboost_model = XGBClassifier()
    xgboost_model.load_model(folder / FILES["xgboost"])
    return {"sklearn": (joblib.load(folder / FILES["sklearn"]), (folder / FILES["sklearn-onnx"]).read_bytes()),
            "xgboost": (xgboost_model, (folder / FILES["xgboost-onnx"]).read_bytes())}


def versions() -> dict:
    """The versions of the libraries that trained, exported and checked the models."""
    from importlib.metadata import version

    return {name: version(name) for name in ("scikit-learn", "xgboost-cpu", "skl2onnx", "onnxmltools", "onnxruntime",
                                             "numpy")}


def train(output: Path = MODELS_OUT, seed: int = SEED) -> dict:
    """Train both models, export them to ONNX, check the parity, write every file of ``FILES`` under ``output``.

    Returns:
        the metrics written to ``metrics.json``.

    Raises:
        RuntimeError: an ONNX export disagrees with its library by more than ``PARITY_TOLERANCE`` or on a class.
    """
    import joblib
    from sklearn.metrics import accuracy_score, log_loss

    split = load_split(seed)
    n_features = split.x_train.shape[1]
    ranges = feature_ranges(split.x_train, split.feature_names)
    models = {"sklearn": train_sklearn(split.x_train, split.y_train),
              "xgboost": train_xgboost(split.x_train, split.y_train, seed)}
    exports = {"sklearn": tabular_onnx.export_onnx(models["sklearn"], n_features),
               "xgboost": tabular_onnx.export_xgboost_onnx(models["xgboost"], n_features)}
    metrics = {"dataset": "sklearn.datasets.load_wine", "seed": seed,
               "rows": {"train": len(split.y_train), "test": len(split.y_test)},
               "estimators": {"sklearn": "StandardScaler + LogisticRegression(max_iter=1000)",
                              "xgboost": "XGBClassifier(n_estimators=100, max_depth=3, learning_rate=0.1)"},
               "held_out": {}, "parity": {}, "parity_tolerance": PARITY_TOLERANCE, "versions": versions()}
    checked = {"held_out": split.x_test, "in_range_random": random_rows(ranges, seed=seed)}
    for name, model in models.items():
        probabilities = model.predict_proba(split.x_test.astype(np.float32))
        metrics["held_out"][name] = {
            "accuracy": float(accuracy_score(split.y_test, probabilities.argmax(1))),
            "log_loss": float(log_loss(split.y_test, probabilities, labels=range(len(split.class_names))))}
        metrics["parity"][name] = {rows: tabular_onnx.parity(model, exports[name], x) for rows, x in checked.items()}
        for rows, result in metrics["parity"][name].items():
            if result["same_class"] != result["rows"] or result["max_abs_diff"] > PARITY_TOLERANCE:
                raise RuntimeError(f"the ONNX export of {name} disagrees with the library on the {rows} rows: {result}")
    output.mkdir(parents=True, exist_ok=True)
    joblib.dump(models["sklearn"], output / FILES["sklearn"])
    models["xgboost"].save_model(output / FILES["xgboost"])  # .json: XGBoost's JSON format
    (output / FILES["sklearn-onnx"]).write_bytes(exports["sklearn"])
    (output / FILES["xgboost-onnx"]).write_bytes(exports["xgboost"])
    features = {"dataset": "wine (sklearn.datasets.load_wine): 13 chemical measurements of wines from 3 cultivars",
                "classes": split.class_names, "margin": RANGE_MARGIN,
                "rule": "valid range: the training range widened by margin x its span on each side, not below 0 "
                        "for a feature never negative in training; bounds included",
                "features": ranges}
    (output / FILES["features"]).write_text(json.dumps(features, indent=2) + "\n")
    (output / FILES["metrics"]).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=MODELS_OUT, help="where the model files go")
    args = parser.parse_args(argv)
    metrics = train(args.output)
    for name, result in metrics["held_out"].items():
        print(f"{name:<8} held-out accuracy {result['accuracy']:.3f}, log loss {result['log_loss']:.4f} "
              f"({metrics['rows']['test']} rows)")
        for rows, parity in metrics["parity"][name].items():
            print(f"         ONNX vs {name} on {parity['rows']} {rows} rows: same class {parity['same_class']}, "
                  f"largest probability difference {parity['max_abs_diff']:.1e}")
    print(f"Wrote {', '.join(FILES.values())} under {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
