"""Chapter 08's tabular models on Lambda: training (reproducible, the committed files its output), the valid ranges,
the ONNX exports' parity with their libraries, the handler on every backend (its answers, every bad input a
documented 4xx, never a 500, one JSON log line), its task root as each Dockerfile assembles it, the Dockerfiles
(hadolint, their own ignore files, the pins), the benchmark's functions on a tiny run and its committed results, and
what the checks share with the reference."""

import ast
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from importlib.metadata import version

import numpy as np
import pytest
import tabular_bench
import tabular_handler
import tabular_onnx
import tabular_train
from conftest import REPO_ROOT, SOLUTIONS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grading.checks import chapter04, chapter08_tabular
from tutorial_support import prices, task_root
from tutorial_support.events import proxy_event
from tutorial_support.paths import TABULAR_MODELS_DIR

CHAPTER = SOLUTIONS / "08_explore_more"
HANDLER = CHAPTER / "tabular_handler.py"
TABULAR = TABULAR_MODELS_DIR
DOCKERFILES = {name: CHAPTER / name for name in ("tabular-library.Dockerfile", "tabular-onnx.Dockerfile")}
SPLIT = tabular_train.load_split()
GOOD = SPLIT.x_test[0].tolist()  # a held-out wine


class Serving:
    """``tabular_handler`` as a function deployed with ``TABULAR_BACKEND=backend`` serves: the backend's model is
    loaded once (``load_backend``, what the module does at import from the variable), and each ``lambda_handler`` call
    runs with the module's ``BACKEND`` and ``predict_proba`` set to it. Every other name is the module's own. (The
    backend chosen by the variable at import is tested in fresh processes:
    ``test_each_image_task_root_serves_its_backend_through_load_handler``.)"""

    def __init__(self, backend: str):
        self.backend = backend
        self.predict_proba = tabular_handler.load_backend(backend, tabular_handler.MODEL_DIR)

    def __getattr__(self, name):
        return getattr(tabular_handler, name)

    def lambda_handler(self, event, context):
        saved = tabular_handler.BACKEND, tabular_handler.predict_proba
        tabular_handler.BACKEND, tabular_handler.predict_proba = self.backend, self.predict_proba
        try:
            return tabular_handler.lambda_handler(event, context)
        finally:
            tabular_handler.BACKEND, tabular_handler.predict_proba = saved


@pytest.fixture(scope="module")
def handlers():
    """{backend: the handler serving it}."""
    return {backend: Serving(backend) for backend in tabular_handler.BACKENDS}


@contextmanager
def captured_log():
    """The JSON lines the handler logs while in this block (``tabular.requests``, whichever module logs them)."""
    log = logging.getLogger("tabular.requests")
    lines, handler, level = [], logging.Handler(), log.level
    handler.emit = lambda record: lines.append(record.getMessage())
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield lines
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def ask(module, payload, shape: str = "http-v2") -> tuple[int, dict]:
    """(status, answer) of the handler for ``payload``: a direct event, or the JSON body of a proxy event."""
    if shape == "direct":
        answer = module.lambda_handler(payload, None)
        return (answer["error"]["status"] if "error" in answer else 200), answer
    response = module.lambda_handler(proxy_event(shape, json.dumps(payload)), None)
    assert response["headers"] == {"Content-Type": "application/json"} and isinstance(response["body"], str)
    return response["statusCode"], json.loads(response["body"])


# ------------------------------------------------------------------------------------------------------- training

def test_training_is_fast_and_reproduces_the_committed_files(tmp_path):
    started = time.perf_counter()
    metrics = tabular_train.train(tmp_path)
    assert time.perf_counter() - started < 60  # seconds on 2 cores; a minute is a regression, not noise
    committed_metrics = json.loads((TABULAR / "metrics.json").read_text())
    assert (tmp_path / "features.json").read_bytes() == (TABULAR / "features.json").read_bytes()
    if metrics["versions"] == committed_metrics["versions"]:  # the libraries that made the committed files
        for name in tabular_train.FILES.values():
            if name != tabular_train.FILES["sklearn"]:  # a pickle's bytes depend on which objects happen to be shared
                assert (tmp_path / name).read_bytes() == (TABULAR / name).read_bytes(), name
    fresh, committed = tabular_train.load_models(tmp_path), tabular_train.load_models(TABULAR)
    for name in ("sklearn", "xgboost"):
        x = SPLIT.x_test.astype(np.float32)
        assert np.allclose(fresh[name][0].predict_proba(x), committed[name][0].predict_proba(x), atol=1e-6), name
    for result in metrics["held_out"].values():
        assert result["accuracy"] >= 0.9 and result["log_loss"] < 0.3
    assert all(size < 1_000_000 for size in (p.stat().st_size for p in TABULAR.iterdir()))  # small enough to commit


def test_feature_ranges_widen_the_training_range_and_hold_every_wine():
    spec = json.loads((TABULAR / "features.json").read_text())
    assert [f["name"] for f in spec["features"]] == SPLIT.feature_names and spec["classes"] == SPLIT.class_names
    for feature, column in zip(spec["features"], SPLIT.x_train.T):
        span = column.max() - column.min()
        assert feature["high"] == pytest.approx(column.max() + 0.5 * span, abs=1e-4)
        assert feature["low"] == pytest.approx(max(0.0, column.min() - 0.5 * span), abs=1e-4)
    low = np.array([f["low"] for f in spec["features"]])
    high = np.array([f["high"] for f in spec["features"]])
    every_wine = np.vstack([SPLIT.x_train, SPLIT.x_test])  # the benchmark sends all 178
    assert ((every_wine >= low) & (every_wine <= high)).all()


def test_xgboost_is_saved_in_its_own_json_format_never_pickled():
    document = json.loads((TABULAR / "xgboost.json").read_text())
    assert document["learner"]["objective"]["name"] == "multi:softprob"
    assert not any(p.suffix in (".pkl", ".pickle") for p in TABULAR.iterdir())


# --------------------------------------------------------------------------------------------------- ONNX parity

@pytest.mark.parametrize("name", ["sklearn", "xgboost"])
def test_onnx_export_answers_as_its_library(name):
    model, exported = tabular_train.load_models()[name]
    ranges = json.loads((TABULAR / "features.json").read_text())["features"]
    for rows in (SPLIT.x_test, tabular_train.random_rows(ranges, n=500, seed=7)):
        result = tabular_onnx.parity(model, exported, rows)
        assert result["same_class"] == result["rows"] == len(rows)
        assert result["max_abs_diff"] <= tabular_train.PARITY_TOLERANCE  # measured 4.5e-7: see PARITY_TOLERANCE


def test_parity_sees_a_wrong_export():
    model, _ = tabular_train.load_models()["sklearn"]
    without_scaler = tabular_onnx.export_onnx(model.steps[-1][1], SPLIT.x_test.shape[1])
    result = tabular_onnx.parity(model, without_scaler, SPLIT.x_test)
    assert result["max_abs_diff"] > 100 * tabular_train.PARITY_TOLERANCE and result["same_class"] < result["rows"]


def test_the_exports_take_float32_of_any_batch_size():
    import onnx

    for name in ("sklearn.onnx", "xgboost.onnx"):
        graph = onnx.load(TABULAR / name).graph
        (only,) = graph.input
        dims = only.type.tensor_type.shape.dim
        assert only.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert not dims[0].HasField("dim_value") and dims[1].dim_value == 13
        assert "probabilities" in [output.name for output in graph.output]


# ------------------------------------------------------------------------------------------------------- handler

@pytest.mark.parametrize("backend", list(tabular_handler.BACKENDS))
def test_every_backend_answers_the_held_out_wines_as_its_library(handlers, backend):
    models = tabular_train.load_models()
    library = models["xgboost" if backend.startswith("xgboost") else "sklearn"][0]
    expected = library.predict_proba(SPLIT.x_test.astype(np.float32))
    for row, probabilities in zip(SPLIT.x_test.tolist(), expected):
        status, answer = ask(handlers[backend], {"features": row}, "direct")
        assert status == 200 and answer["backend"] == backend
        assert list(answer["probabilities"]) == SPLIT.class_names
        assert all(type(p) is float for p in answer["probabilities"].values())
        assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-6)
        assert answer["top_class"] == SPLIT.class_names[int(probabilities.argmax())]
        assert answer["probability"] == max(answer["probabilities"].values())
        assert np.allclose(list(answer["probabilities"].values()), probabilities, atol=tabular_train.PARITY_TOLERANCE)


def test_event_shapes_and_an_object_of_features_give_the_same_answer(handlers):
    module = handlers["sklearn"]
    by_name = dict(reversed(list(zip(module.FEATURE_NAMES, GOOD))))
    _, direct = ask(module, {"features": GOOD}, "direct")
    for shape in ("http-v2", "rest-v1"):
        assert ask(module, {"features": GOOD}, shape) == (200, direct)
        assert ask(module, {"features": by_name}, shape) == (200, direct)
    import base64

    event = proxy_event("http-v2", base64.b64encode(json.dumps({"features": GOOD}).encode()).decode(), True)
    assert json.loads(module.lambda_handler(event, None)["body"]) == direct


def _row(index: int, value) -> str:
    """A JSON body whose features are GOOD with ``value`` (JSON text) at ``index``."""
    values = [json.dumps(v) for v in GOOD]
    values[index] = value
    return '{"features": [' + ", ".join(values) + "]}"


BAD_BODIES = {
    "not JSON": ("{features: [1, 2]", "invalid_json"),
    "a JSON list": (json.dumps([GOOD]), "invalid_json"),
    "no features": (json.dumps({"url": "https://example.com"}), "missing_features"),
    "features null": ('{"features": null}', "missing_features"),
    "features a string": ('{"features": "14.2, 1.7"}', "invalid_features"),
    "12 numbers": (json.dumps({"features": GOOD[:12]}), "wrong_feature_count"),
    "an unknown name": (json.dumps({"features": {**dict(zip(tabular_handler.FEATURE_NAMES, GOOD)), "x": 1}}),
                        "wrong_feature_names"),
    "a string value": (_row(0, '"13.2"'), "not_a_number"),
    "true (an int in Python)": (_row(12, "true"), "not_a_number"),
    "null": (_row(3, "null"), "not_a_number"),
    "NaN (json.loads reads it)": (_row(0, "NaN"), "not_a_number"),
    "Infinity": (_row(0, "Infinity"), "not_a_number"),
    "1e999 (read as inf)": (_row(12, "1e999"), "not_a_number"),
    "below the range": (_row(0, "0.5"), "out_of_range"),
    "above the range": (_row(12, "99999"), "out_of_range"),
    "an integer of 400 digits": (_row(12, "1" + "0" * 400), "out_of_range"),
}


@pytest.mark.parametrize("body, code", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_input_is_a_documented_400_and_the_next_request_is_answered(handlers, body, code):
    for backend in ("sklearn", "xgboost-onnx"):
        module = handlers[backend]
        response = module.lambda_handler(proxy_event("http-v2", body), None)
        answer = json.loads(response["body"])
        assert response["statusCode"] == 400 == answer["error"]["status"] == module.ERRORS[code][0], answer
        assert answer["error"]["code"] == code and "Traceback" not in response["body"]
        assert ask(module, {"features": GOOD})[0] == 200


def test_a_fault_of_ours_is_a_500_without_a_stack_trace_and_one_log_line(handlers, monkeypatch, caplog):
    module = handlers["sklearn"]
    monkeypatch.setattr(module, "predict_proba", lambda x: 1 / 0)
    with captured_log() as lines:
        status, answer = ask(module, {"features": GOOD})
    assert (status, answer) == (500, {"error": {"status": 500, "code": "internal_error", "message": "internal error"}})
    assert [json.loads(line)["outcome"] for line in lines] == ["server_error"]
    assert "ZeroDivisionError" in caplog.text  # the stack trace goes to the log, never to the caller


def test_one_json_log_line_per_request_without_the_features(handlers):
    module = handlers["xgboost"]
    with captured_log() as lines:
        ask(module, {"features": GOOD})
        ask(module, {"features": GOOD[:3]}, "rest-v1")
        module.lambda_handler("not an object", None)
    records = [json.loads(line) for line in lines]
    assert [(r["status"], r["error_code"], r["event"]) for r in records] == [
        (200, None, "proxy"), (400, "wrong_feature_count", "proxy"), (400, "invalid_json", "direct")]
    assert all(r["backend"] == "xgboost" and r["duration_ms"] >= 0 for r in records)
    assert records[0]["top_class"] and records[0]["inference_ms"] > 0 and records[1]["inference_ms"] is None
    assert not any(str(GOOD[0]) in line for line in lines)


def test_an_unknown_backend_fails_the_start_with_the_backends_named():
    with pytest.raises(ValueError, match="TABULAR_BACKEND='onnx' is not a backend; expected one of sklearn, xgboost"):
        Serving("onnx")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=15) | st.dictionaries(st.text(max_size=12), children, max_size=15),
    max_leaves=40)
VALUES = st.one_of(st.floats(), st.integers(), st.integers(min_value=2**1024), st.booleans(), st.none(),
                   st.text(max_size=5), st.lists(st.floats(), max_size=2))


def _one_changed(index: int, value, as_object: bool) -> dict:
    """A good held-out wine with ``value`` at ``index``: only that value decides the answer."""
    values = list(GOOD)
    values[index] = value
    return {"features": dict(zip(tabular_handler.FEATURE_NAMES, values)) if as_object else values}


PAYLOADS = st.one_of(
    JSON,
    st.builds(_one_changed, st.integers(0, 12), VALUES, st.booleans()),
    st.fixed_dictionaries({"features": JSON}),
    st.fixed_dictionaries({"features": st.lists(VALUES, min_size=12, max_size=14)}),
    st.fixed_dictionaries({"features": st.dictionaries(st.sampled_from([*tabular_handler.FEATURE_NAMES, "x"]),
                                                       VALUES, min_size=12, max_size=14)}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=PAYLOADS, shape=st.sampled_from(["direct", "http-v2", "rest-v1"]))
def test_any_json_payload_is_answered_200_or_a_documented_4xx_never_a_500(handlers, payload, shape):
    module = handlers["sklearn-onnx"]
    with captured_log() as lines:
        status, answer = ask(module, payload, shape)
    assert len(lines) == 1 and json.loads(lines[0])["status"] == status
    if status == 200:
        assert abs(sum(answer["probabilities"].values()) - 1) < 1e-6
    else:
        code = answer["error"]["code"]
        assert code != "internal_error" and module.ERRORS[code][0] == status == 400, answer


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fractions=st.lists(st.floats(0, 1), min_size=13, max_size=13))
def test_any_row_inside_the_valid_ranges_is_answered(handlers, fractions):
    module = handlers["sklearn"]
    row = [low + f * (high - low) for f, (low, high) in zip(fractions, module.RANGES.values())]
    status, answer = ask(module, {"features": row}, "direct")
    assert status == 200 and answer["top_class"] in module.CLASSES


# ------------------------------------------------------------------------------------------- task root, images

def test_the_handler_imports_nothing_of_the_repository():
    tree = ast.parse(HANDLER.read_text())
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert names <= set(sys.stdlib_module_names) | {"numpy", "joblib", "xgboost", "onnxruntime"}, names


@pytest.mark.parametrize("backend", list(tabular_bench.DOCKERFILES))
def test_each_image_task_root_serves_its_backend_through_load_handler(tmp_path, backend):
    env = tabular_bench.assemble_task_root(backend, tmp_path / "var-task")
    assert env["TABULAR_BACKEND"] == backend
    names = sorted(p.name for p in (tmp_path / "var-task").iterdir())
    assert "tabular_handler.py" in names and "features.json" in names
    assert tabular_handler.BACKENDS[backend] in names
    script = ("import json, sys\n"
              "from tutorial_support.lambda_runtime import load_handler\n"
              "handler = load_handler(sys.argv[1], 'tabular_handler.lambda_handler')\n"
              "print(json.dumps([handler(json.loads(sys.argv[2]), None), handler.__module__,\n"
              "                  sys.modules['tabular_handler'].MODEL_DIR.as_posix()]))\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "var-task"), json.dumps({"features": GOOD})],
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    answer, module, model_dir = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["backend"] == backend and answer["top_class"] == SPLIT.class_names[SPLIT.y_test[0]]
    assert module == "tabular_handler" and model_dir == (tmp_path / "var-task").as_posix()


@pytest.mark.parametrize("dockerfile", DOCKERFILES.values(), ids=DOCKERFILES.keys())
def test_dockerfile_is_clean_pinned_like_chapter_04_and_its_ignore_file_admits_only_what_it_copies(dockerfile):
    assert chapter04.hadolint(dockerfile) == []
    image = task_root.parse(dockerfile)
    reference = task_root.parse(SOLUTIONS / "04_docker" / "Dockerfile")
    assert (image.base, image.digest) == (reference.base, reference.digest)  # one base image for the tutorial
    assert image.cmd == ["tabular_handler.lambda_handler"] and image.entrypoint is None
    rules = (dockerfile.parent / f"{dockerfile.name}.dockerignore").read_text().splitlines()
    copied = set()
    for backend in [b for b, (name, _) in tabular_bench.DOCKERFILES.items() if name == dockerfile.name]:
        for sources, _ in tabular_bench.image(backend).copies:
            copied |= set(sources)
    for source in copied:
        assert (REPO_ROOT / source).is_file() and task_root.dockerignore_admits(source, rules), source
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert {path for path in tracked if task_root.dockerignore_admits(path, rules)} <= copied


def test_image_requirements_pin_the_versions_that_trained_and_checked_the_models():
    trained = json.loads((TABULAR / "metrics.json").read_text())["versions"]
    for backend in tabular_bench.DOCKERFILES:
        path = tabular_bench.requirements_of(backend)
        pins = dict(re.findall(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", path.read_text(), flags=re.M))
        assert "--hash=sha256:" in path.read_text()
        for name in ("numpy", "scikit-learn", "xgboost-cpu", "onnxruntime"):
            if name in pins:
                assert pins[name] == trained[name], (path.name, name)
    # scikit-learn loads a pickle only with the version that wrote it: the one installed here must be that one too
    assert version("scikit-learn") == trained["scikit-learn"]


# ------------------------------------------------------------------------------------------------------ benchmark

def test_benchmark_worker_measures_a_backend_in_a_fresh_process():
    events = tabular_bench.wine_events()[:5]
    result = tabular_bench.measure("sklearn-onnx", sys.executable, events, runs=1, warm=30, max_seconds=5)
    assert result["warm_n"] == 30 and result["runs"] == 1
    for key in ("startup_s", "imports_s", "load_s", "first_s"):
        assert 0 < result[key]["median"] < result["cold_s"]["median"], key
    assert 0 < result["warm_p50_ms"]["median"] <= result["warm_p99_ms"]["median"]
    assert 20 < result["peak_rss_mb"]["median"] < 2000
    assert result["answers"] == ["class_0"] * 5  # the first wines of the data set are class_0
    assert set(result["task_root_files"]) == {"tabular_handler.py", "features.json", "sklearn.onnx"}


def test_cost_follows_the_billing_rules_and_the_memory_chosen_fits():
    result = {"warm_p50_ms": {"median": 0.3}, "peak_rss_mb": {"median": 100.0}}
    costs = tabular_bench.costs(result)
    assert costs["1024"]["billed_ms"] == 1 and costs["128"]["billed_ms"] == math.ceil(0.3 * prices.FULL_VCPU_MB / 128)
    assert costs["1024"]["dollars"] == prices.lambda_cost(1_000_000, 1, 1024)
    assert not costs["128"]["fits"] and costs["256"]["fits"]
    assert tabular_bench.choose_memory(costs) == 256


def test_committed_results_cover_every_backend_and_render_as_committed():
    report = json.loads((REPO_ROOT / "benchmarks" / "tabular_results.json").read_text())
    assert set(report["backends"]) == set(tabular_bench.DOCKERFILES) == set(tabular_handler.BACKENDS)
    for backend, result in report["backends"].items():
        assert "skipped" not in result and result["python"].startswith("3.13"), backend
        assert result["install_mb"] < tabular_bench.ZIP_LIMIT_MB
        assert result["warm_p50_ms"]["min"] <= result["warm_p50_ms"]["median"] <= result["warm_p50_ms"]["max"]
        assert result["chosen_memory_mb"] in tabular_bench.MEMORY_MB
    for export in ("sklearn-onnx", "xgboost-onnx"):
        assert report["backends"][export]["same_class_as_library"] == 1.0
    assert (REPO_ROOT / "benchmarks" / "tabular_results.md").read_text() == tabular_bench.render_markdown(report)


# ------------------------------------------------------------------------------------- what the checks share

def test_the_checks_read_the_reference_files_and_figures():
    assert chapter08_tabular.PARITY_TOLERANCE == tabular_train.PARITY_TOLERANCE
    assert chapter08_tabular.FEATURES_FILE == tabular_train.MODELS_OUT / tabular_train.FILES["features"]
    names, ranges = chapter08_tabular.feature_spec()
    assert names == tabular_handler.FEATURE_NAMES and ranges == tabular_handler.RANGES
    assert {b: tabular_train.FILES[b] for b in tabular_handler.BACKENDS} == tabular_handler.BACKENDS
    from sklearn.datasets import load_wine

    assert np.array_equal(np.array(chapter08_tabular.WINE, dtype=float), load_wine().data[0])  # the first wine
