"""Checks of chapter 08's tabular exercises: the handler's input validation (``08_explore_more/tabular_handler.py``,
``validate_features``) and the ONNX export of a scikit-learn pipeline (``08_explore_more/tabular_onnx.py``,
``export_onnx``). ``grading.checks.chapter08`` re-exports both.

What they grade is what the handler's docstring and ``ERRORS`` document: a request's features become the float32
``(1, n_features)`` batch the models take, in the model's feature order; every bad value is refused with a 400 and the
code that names it (bools and NaN included: ``True`` is an int in Python, and ``json.loads`` reads ``NaN``), never
another exception (a 500). An export must take float32 input of any batch size and the model's width, and answer the
class probabilities as a float32 tensor equal to the pipeline's own to ``PARITY_TOLERANCE``.

The student's code gets plain values only (dicts, lists, numbers, the path of a model saved with joblib: the grading
sandbox carries no scikit-learn objects), and only its own ``RequestError`` is read (``status``, ``code``). The ONNX
bytes it returns are parsed by ``onnx`` and run by ONNX Runtime in the grader's process: an ONNX model is data (no
custom operators are registered), not code.
"""

from __future__ import annotations

import functools
import json
import math
import tempfile
from pathlib import Path

import numpy as np

from grading import hints
from grading.outcomes import exercise
from grading.sandbox import SandboxError
from tutorial_support.paths import TABULAR_MODELS_DIR

CHAPTER = "08_explore_more"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request
FEATURES_FILE = TABULAR_MODELS_DIR / "features.json"  # what tabular_train.py wrote: names, classes, ranges
# The largest difference of a probability allowed between ONNX Runtime and scikit-learn: the figure of
# solutions/08_explore_more/tabular_train.py (PARITY_TOLERANCE, where it is justified; a test keeps the two equal).
PARITY_TOLERANCE = 1e-5
PASS_THROUGH = (NotImplementedError, SandboxError)  # not a verdict: the stub, or the sandbox's own failure


def _short(value, limit: int = 160) -> str:
    """``repr(value)`` on one line (runs of white space made one space), cut to ``limit`` characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit] + "..."


@functools.lru_cache(maxsize=1)
def feature_spec() -> tuple[list[str], dict[str, tuple[float, float]]]:
    """(feature names in input order, {name: (low, high)}) from ``models/tabular/features.json``."""
    spec = json.loads(FEATURES_FILE.read_text())
    return ([f["name"] for f in spec["features"]], {f["name"]: (f["low"], f["high"]) for f in spec["features"]})


# ---------------------------------------------------------------------------------------------- validate_features

# The first wine of sklearn.datasets.load_wine (class_0), as a client would type it: magnesium and proline are
# integers in the data, and JSON sends them as integers.
WINE = [14.23, 1.71, 2.43, 15.6, 127, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065]


def _good_payloads(names: list[str], ranges: dict) -> tuple[list, list]:
    """(what, payload, the values expected in input order, what it means when refused): requests validate_features
    must accept; the typical ones, then those on the bounds of the ranges."""
    by_name = dict(zip(names, WINE))
    lows, highs = [ranges[n][0] for n in names], [ranges[n][1] for n in names]
    order = ("take the values in the order of FEATURE_NAMES, not in the order of the client's object (a dict keeps "
             "the order it was written in)")
    bounds = ("bounds are included: compare each value as it came (an int or a Python float) with RANGES[name], "
              f"before any conversion to float32 (np.float32({lows[0]}) is {float(np.float32(lows[0]))!r}, below "
              f"{lows[0]})")
    typical = [("a list of 13 numbers (magnesium and proline as JSON integers)", {"features": list(WINE)}, WINE,
                "JSON has one kind of number: 127 and 1065 arrive as Python ints, and are numbers"),
               ("an object {name: number}, its names in reverse order", {"features": dict(reversed(by_name.items()))},
                WINE, order)]
    on_bounds = [("every feature at the low end of its range", {"features": lows}, lows, bounds),
                 ("every feature at the high end of its range, as an object", {"features": dict(zip(names, highs))},
                  highs, bounds)]
    return typical, on_bounds


def _bad_payloads(names: list[str], ranges: dict) -> list[tuple[str, dict, tuple[str, ...], str]]:
    """(what, payload, the codes accepted, what it means when it is accepted): requests validate_features must refuse
    with ``RequestError(400, code)``."""
    def row(index: int, value) -> list:
        values = list(WINE)
        values[index] = value
        return values

    def named(name: str, value) -> dict:
        return {"features": {**dict(zip(names, WINE)), name: value}}

    alcohol, proline = names.index("alcohol"), names.index("proline")
    low, high = ranges["alcohol"][0], ranges["proline"][1]
    malic = names.index("malic_acid")
    return [
        ("a request without features", {"url": "https://example.com/wine"}, ("missing_features",),
         "read payload.get('features') and refuse None"),
        ("features: null", {"features": None}, ("missing_features", "invalid_features"), "refuse None"),
        ("features as one string", {"features": "14.23, 1.71, 2.43"}, ("invalid_features",),
         "accept only a list or a dict (a string is iterable too)"),
        ("features as one number", {"features": 14.23}, ("invalid_features",), "accept only a list or a dict"),
        ("12 numbers", {"features": WINE[:12]}, ("wrong_feature_count",), "check len(features)"),
        ("14 numbers", {"features": [*WINE, 1.0]}, ("wrong_feature_count",), "check len(features)"),
        ("an empty list", {"features": []}, ("wrong_feature_count",), "check len(features)"),
        ("an object without proline", {"features": {n: v for n, v in zip(names, WINE) if n != "proline"}},
         ("wrong_feature_names",), "check that every name of FEATURE_NAMES is there"),
        ("an object with an unknown name besides the 13", named("colour", 3.0), ("wrong_feature_names",),
         "refuse names the model does not have (a typo would otherwise be ignored)"),
        ("an object with 'Alcohol' for 'alcohol'",
         {"features": {("Alcohol" if n == "alcohol" else n): v for n, v in zip(names, WINE)}},
         ("wrong_feature_names",), "names are case-sensitive"),
        ("the string '14.23' for alcohol", {"features": row(alcohol, "14.23")}, ("not_a_number",),
         "refuse strings: np.array(..., dtype=np.float32) would convert '14.23' silently"),
        ("true for proline", {"features": row(proline, True)}, ("not_a_number",),
         "refuse bools before ints: True is an int in Python (isinstance(True, int)), and float(True) is 1.0"),
        ("false for alcohol, in an object", named("alcohol", False), ("not_a_number",),
         "refuse bools: isinstance(False, int) is True"),
        ("null for alcohol", {"features": row(alcohol, None)}, ("not_a_number",), "refuse None"),
        ("a list [14.23] for alcohol", {"features": row(alcohol, [14.23])}, ("not_a_number",),
         "each value must be a number itself"),
        ("NaN for alcohol (json.loads reads NaN)", {"features": row(alcohol, math.nan)}, ("not_a_number",),
         "refuse NaN: math.isfinite(value) is False for NaN and Infinity (NaN fails every comparison, so a range "
         "check written as `if value < low or value > high` lets it through)"),
        ("Infinity for proline", {"features": row(proline, math.inf)}, ("not_a_number",),
         "refuse Infinity as not a number, before the range check: math.isfinite(value)"),
        ("-Infinity for alcohol, in an object", named("alcohol", -math.inf), ("not_a_number",),
         "refuse -Infinity as not a number, before the range check: math.isfinite(value)"),
        (f"alcohol {low - 1:g}, below its range", {"features": row(alcohol, low - 1)}, ("out_of_range",),
         "compare each value with RANGES[name]"),
        (f"proline {high * 2:g}, above its range, in an object", named("proline", high * 2), ("out_of_range",),
         "compare each value with RANGES[name]"),
        ("malic_acid -0.5 (never negative in training)", {"features": row(malic, -0.5)}, ("out_of_range",),
         "compare each value with RANGES[name]"),
        ("proline 10**400, a JSON integer too large for a float", {"features": row(proline, 10**400)},
         ("out_of_range",), "compare the value with the range before float() (float(10**400) raises OverflowError)"),
    ]


def _check_accepted(module, what: str, payload: dict, values: list, advice: str) -> None:
    """``module.validate_features(payload)`` is the float32 row ``(1, n)`` of ``values``; ``advice`` says what a
    refusal or other values mean."""
    try:
        got = module.validate_features(payload)
    except module.RequestError as e:
        raise AssertionError(f"{what}: validate_features raised RequestError {e.status} {e.code} ({_short(str(e))}) "
                             f"for a good request: {advice}") from None
    except PASS_THROUGH:
        raise
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"{what}: validate_features raised {type(e).__name__} ({_short(str(e))}) for a good "
                             f"request: {advice}") from None
    assert isinstance(got, np.ndarray), (
        f"{what}: validate_features should return a numpy array, got {type(got).__name__} {_short(got)}")
    assert got.shape == (1, len(values)), (
        f"{what}: expected shape (1, {len(values)}), a batch of one row, as the models take it (predict_proba, ONNX "
        f"Runtime); got shape {got.shape}: np.array([values], dtype=np.float32)")
    assert got.dtype == np.float32, (
        f"{what}: expected float32 (the ONNX models take float32: ONNX Runtime refuses float64 for a float input), "
        f"got {got.dtype}")
    expected = np.array([values], dtype=np.float32)
    assert np.array_equal(got, expected), f"{what}: expected {expected.tolist()}, got {got.tolist()}: {advice}"


def _check_refused(module, what: str, payload: dict, codes: tuple[str, ...], advice: str) -> None:
    """``module.validate_features(payload)`` raises ``RequestError(400, code)`` with a code of ``codes``."""
    try:
        got = module.validate_features(payload)
    except module.RequestError as e:
        assert e.status == 400 and e.code in codes, (
            f"{what}: expected RequestError 400 {' or '.join(codes)}, got {e.status} {e.code}: {advice}")
        return
    except PASS_THROUGH:
        raise
    except Exception as e:  # noqa: BLE001
        raise AssertionError(
            f"{what}: validate_features raised {type(e).__name__} ({_short(str(e))}); expected RequestError 400 "
            f"{' or '.join(codes)}: any other exception is a 500, a fault of ours, for the client's mistake; "
            f"{advice}") from None
    raise AssertionError(f"{what}: validate_features accepted it (returned {_short(got, 80)}); expected "
                         f"RequestError 400 {' or '.join(codes)}: {advice}")


@exercise(CHAPTER, "validate_features")
def check_validate_features(module):
    """Check ``module.validate_features(payload)``: good requests (a list with integers, an object in another order)
    give the float32 ``(1, 13)`` row in ``FEATURE_NAMES`` order; each bad one (no features, wrong type, count or
    names, strings, bools, None, nested lists, NaN, Infinity, values out of range, an integer too large for a float)
    raises ``RequestError`` 400 with the documented code, and nothing else; values on the bounds are accepted."""
    names, ranges = feature_spec()
    typical, on_bounds = _good_payloads(names, ranges)
    for what, payload, values, advice in typical:
        _check_accepted(module, what, payload, values, advice)
    for what, payload, codes, advice in _bad_payloads(names, ranges):
        _check_refused(module, what, payload, codes, advice)
    for what, payload, values, advice in on_bounds:
        _check_accepted(module, what, payload, values, advice)


# ---------------------------------------------------------------------------------------------------- export_onnx

ONNX_FLOAT, ONNX_DOUBLE = 1, 11  # onnx.TensorProto.FLOAT, DOUBLE


def _models() -> list[tuple[str, object, np.ndarray]]:
    """(what, a fitted StandardScaler + LogisticRegression pipeline, its float32 rows): the 13 wine features and 3
    classes; the first 5 features and 2 classes (class_0 or not), to catch a width or a class count written in."""
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_wine(return_X_y=True)
    out = []
    for what, columns, target in [("the wine pipeline (13 features, 3 classes)", slice(None), y),
                                  ("a pipeline of 5 features and 2 classes", slice(0, 5), (y == 0).astype(int))]:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x[:, columns], target)
        out.append((what, model, x[:, columns].astype(np.float32)))
    return out


def _exported(module, model, n_features: int, folder: Path, what: str) -> bytes:
    """What ``module.export_onnx`` makes of ``model``, through ``export_onnx_from_file`` (the model saved with
    joblib: the sandbox sends the student's process a path, not a scikit-learn object)."""
    import joblib

    path = folder / f"model-{n_features}.joblib"
    joblib.dump(model, path)
    try:
        got = module.export_onnx_from_file(str(path), n_features)
    except AttributeError as e:
        if "export_onnx_from_file" in str(e):
            raise AssertionError("tabular_onnx.py has no export_onnx_from_file: it is given code (the grader calls "
                                 "export_onnx through it); put it back as it was") from None
        raise AssertionError(f"export_onnx({what}, {n_features}) raised AttributeError ({_short(str(e))})") from None
    except PASS_THROUGH:
        raise
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"export_onnx({what}, {n_features}) raised {type(e).__name__} ({_short(str(e), 300)}): "
                             f"the input must be FloatTensorType([None, n_features]), here n_features = "
                             f"{n_features}") from None
    assert isinstance(got, bytes), (
        f"export_onnx should return the ONNX model's bytes (onx.SerializeToString()), got {type(got).__name__} "
        f"{_short(got, 80)}")
    return got


def _check_signature(onx, n_features: int, what: str) -> None:
    """One float32 input ``[dynamic, n_features]``; a float32 tensor output ``probabilities``."""
    inputs = list(onx.graph.input)
    assert len(inputs) == 1, f"{what}: expected one input (the feature rows), got {len(inputs)}"
    tensor = inputs[0].type.tensor_type
    assert tensor.elem_type != ONNX_DOUBLE, (
        f"{what}: the input is double (DoubleTensorType); the handler sends float32 rows: use FloatTensorType")
    assert tensor.elem_type == ONNX_FLOAT, f"{what}: the input must be float32 (FloatTensorType)"
    dims = list(tensor.shape.dim)
    assert len(dims) == 2, f"{what}: the input must have 2 dimensions, [batch, features]; got {len(dims)}"
    assert not dims[0].HasField("dim_value"), (
        f"{what}: the batch dimension is fixed to {dims[0].dim_value}: write None for it, "
        "FloatTensorType([None, n_features]), so that the model takes any number of rows")
    assert dims[1].dim_value == n_features, (
        f"{what}: the input has {dims[1].dim_value or 'an open number of'} features; the model has {n_features}: "
        "FloatTensorType([None, n_features])")
    outputs = {output.name: output for output in onx.graph.output}
    assert "probabilities" in outputs, (
        f"{what}: no output named 'probabilities' (outputs: {', '.join(outputs)}): skl2onnx then wraps them in a "
        "ZipMap, a list of {class: probability} dicts; pass options={'zipmap': False} for a tensor")
    assert outputs["probabilities"].type.HasField("tensor_type"), (
        f"{what}: 'probabilities' is not a tensor; pass options={{'zipmap': False}}")


@exercise(CHAPTER, "export_onnx")
def check_export_onnx(module):
    """Check ``module.export_onnx(model, n_features)`` (called through ``export_onnx_from_file``) on two pipelines
    of different widths and class counts: bytes of a valid ONNX model whose one input is float32 ``[None,
    n_features]``, whose ``probabilities`` output is a float32 tensor, and whose probabilities, run by ONNX Runtime on
    every row and on a batch of one, equal the pipeline's ``predict_proba`` to ``PARITY_TOLERANCE``."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="check-export-onnx-") as tmp:
        for what, model, x in _models():
            n_features = x.shape[1]
            data = _exported(module, model, n_features, Path(tmp), what)
            try:
                onx = onnx.load_model_from_string(data)
                onnx.checker.check_model(onx)
            except Exception as e:  # noqa: BLE001 (onnx's DecodeError, ValidationError)
                raise AssertionError(f"{what}: the bytes are not a valid ONNX model ({_short(str(e))}): return "
                                     "onx.SerializeToString()") from None
            _check_signature(onx, n_features, what)
            session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            expected = model.predict_proba(x)
            for rows, batch in [(f"all {len(x)} rows", x), ("a batch of one row", x[:1])]:
                got = session.run(["probabilities"], {name: batch})[0]
                assert got.shape == (len(batch), expected.shape[1]), (
                    f"{what}, {rows}: probabilities of shape {got.shape}; expected {(len(batch), expected.shape[1])}")
                difference = float(np.abs(got - expected[:len(batch)]).max())
                assert difference <= PARITY_TOLERANCE, (
                    f"{what}, {rows}: ONNX Runtime's probabilities differ from the pipeline's predict_proba by up to "
                    f"{difference:.3g} (allowed {PARITY_TOLERANCE:g}): convert the whole pipeline, the scaler "
                    "included, not only its last step")
