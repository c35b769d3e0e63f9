"""Chapter 04: the image as Lambda runs it, with the file modes a learner's checkout gives it.

``COPY`` keeps the build context's file modes, and a clone made under umask 077 (hardened Linux, some university
machines) has ``-rw-------`` files; Lambda runs the image as a non-root user, which cannot read them, while a local
run as root (the base image's emulator, or the task root run by the same user that copied the files) reads them fine.
Here a checkout is made under umask 077 (each file written anew, as git writes it), the task root is assembled from
it with Docker's modes, and the handler is run as ``nobody``: the Dockerfile without its ``chmod`` lines fails to
start, as it would on Lambda, and the reference starts and classifies. Running as another user needs root; elsewhere
those tests are skipped with the reason.
"""

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from grading.checks import chapter04 as checks
from grading.checks.common import KNOWN_SAMPLES, LOCAL_USE, sample_url, served_samples
from grading.outcomes import Incorrect
from tutorial_support import lambda_runtime, task_root
from tutorial_support.paths import REPO_ROOT, SOLUTIONS

DOCKERFILE = SOLUTIONS / "04_docker" / "Dockerfile"
# The reference before the fix: plain COPY, no chmod (each RUN chmod instruction and its continuation lines removed).
PLAIN_COPY = re.sub(r"^RUN chmod (?:[^\n]*\\\n)*[^\n]*\n", "", DOCKERFILE.read_text(), flags=re.M)
NETWORK_ERRORS = ("NewConnectionError", "Max retries", "Temporary failure in name resolution", "No route to host",
                  "Network is unreachable", "Could not fetch URL")


def test_the_plain_copy_dockerfile_differs_from_the_reference_only_by_its_chmod_lines():
    reference, plain = task_root.parse(DOCKERFILE), task_root.parse(PLAIN_COPY)
    assert len(reference.chmods) == 2 and not plain.chmods and not plain.not_reproduced[1:]
    assert plain.copies == reference.copies and plain.copy_modes == reference.copy_modes == [None] * 3
    assert [i.keyword for i in reference.instructions if i.keyword != "RUN"] == \
        [i.keyword for i in plain.instructions if i.keyword != "RUN"]


@pytest.fixture(scope="module")
def strict_checkout(tmp_path_factory) -> Path:
    """A build context holding what the Dockerfile copies and the .dockerignore, each file created anew under umask
    077, as a clone made under that umask has them (``-rw-------``, folders ``drwx------``)."""
    context = tmp_path_factory.mktemp("checkout-umask-077")
    names = {source for sources, _ in task_root.parse(DOCKERFILE).copies for source in sources} | {".dockerignore"}
    previous = os.umask(0o077)
    try:
        for name in sorted(names):
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_ROOT / name, context / name)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((context / "solutions/03_lambda_code/lambda_function.py").stat().st_mode) == 0o600
    return context


@pytest.fixture
def roots():
    """``roots()``: an empty folder for an image's ``/`` that any user can reach (pytest's own tmp folders are
    drwx------), removed after the test."""
    made = []

    def make() -> Path:
        made.append(Path(tempfile.mkdtemp(prefix="image-modes-")))
        return made[-1]
    yield make
    for root in made:
        shutil.rmtree(root, ignore_errors=True)


# --- modes, without running anything ---

def test_copy_keeps_the_checkouts_modes_and_the_references_chmod_makes_them_readable(strict_checkout, roots):
    plain = task_root.reproduce(task_root.parse(PLAIN_COPY), strict_checkout, roots(), install=False)
    assert not plain.problems
    for name in ("lambda_function.py", "safe_download.py", "safe_image.py", "clothing-model.tflite", "labels.txt"):
        assert stat.filemode((plain.task_root / name).stat().st_mode) == "-rw-------", name
        assert task_root.unreadable(plain.root, f"/var/task/{name}") == f"/var/task/{name} is -rw-------"
    fixed = task_root.reproduce(task_root.parse(DOCKERFILE), strict_checkout, roots(), install=False)
    assert not fixed.problems
    for name in ("lambda_function.py", "safe_download.py", "safe_image.py", "clothing-model.tflite", "labels.txt"):
        assert stat.filemode((fixed.task_root / name).stat().st_mode) == "-rw-r--r--", name
        assert task_root.unreadable(fixed.root, f"/var/task/{name}") is None
    # the image's own folders are drwxr-xr-x whatever this process's umask
    assert stat.filemode(fixed.root.stat().st_mode) == stat.filemode((fixed.root / "var" / "task").stat().st_mode) \
        == "drwxr-xr-x"


def test_checkout_umask_gives_the_modes_of_a_checkout_made_under_it(strict_checkout, roots):
    """What the chapter 04 check uses: the repository's own checkout, copied as if cloned under umask 077."""
    simulated = task_root.reproduce(task_root.parse(PLAIN_COPY), REPO_ROOT, roots(), install=False,
                                    checkout_umask=0o077)
    real = task_root.reproduce(task_root.parse(PLAIN_COPY), strict_checkout, roots(), install=False)
    modes = {path: stat.S_IMODE(task_root.in_root(simulated.root, path).stat().st_mode) for path in simulated.sources}
    assert modes == {path: stat.S_IMODE(task_root.in_root(real.root, path).stat().st_mode) for path in real.sources}
    assert set(modes.values()) == {0o600}


@pytest.mark.parametrize("spec, mode, folder, expected", [
    ("0644", 0o600, False, 0o644), ("644", 0o600, False, 0o644), ("a+r", 0o600, False, 0o644),
    ("a+rX", 0o600, False, 0o644), ("a+rX", 0o700, True, 0o755), ("a+rX", 0o700, False, 0o755),
    ("go+r", 0o600, False, 0o644), ("u=rw,go=r", 0o700, False, 0o644), ("+r", 0o600, False, 0o644),
    ("go-rwx", 0o644, False, 0o600), ("=r", 0o777, False, 0o444), ("g=u", 0o640, False, 0o660),
])
def test_chmod_mode_reads_octal_and_symbolic_modes_as_chmod_does(spec, mode, folder, expected):
    assert task_root.chmod_mode(spec, mode, folder) == expected
    with pytest.raises(ValueError):
        task_root.chmod_mode("rw", 0o644, False)


def test_copy_chmod_and_run_chmod_are_reproduced_and_a_chmod_of_nothing_stops_the_build(strict_checkout, roots):
    text = (f"FROM {checks.LAMBDA_BASE_IMAGE}\n"
            "COPY --chmod=a+rX models/labels.txt ${LAMBDA_TASK_ROOT}/\n"
            "COPY solutions/03_lambda_code/ /opt/code/\n"
            "RUN chmod -R go+rX /opt/code && chmod 0640 ${LAMBDA_TASK_ROOT}/labels.txt\n"
            "RUN chmod 0644 /var/task/not-there.txt\n")
    build = task_root.reproduce(task_root.parse(text), strict_checkout, roots(), install=False)
    assert stat.S_IMODE((build.task_root / "labels.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((build.root / "opt" / "code" / "safe_image.py").stat().st_mode) == 0o644
    assert build.lines["/opt/code/safe_image.py"] == 3
    assert build.problems == ["line 5: RUN chmod 0644 /var/task/not-there.txt: no such file or folder in the image "
                              "at this step, so chmod fails and docker build stops there"]


def test_a_chmod_of_a_file_linked_from_the_install_cache_leaves_the_cache_alone(tmp_path, roots):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "module.py").write_text("x = 1\n")
    (cache / "module.py").chmod(0o600)
    root = roots()
    task_root._make_folders(root, task_root.TASK_ROOT)
    os.link(cache / "module.py", root / "var" / "task" / "module.py")
    build = task_root.Build(root)
    task_root._chmod(build, "0644", ["/var/task/module.py"], False, 1)
    assert stat.S_IMODE((root / "var" / "task" / "module.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((cache / "module.py").stat().st_mode) == 0o600


def test_the_check_refuses_plain_copy_whatever_the_graders_checkout(tmp_path, capsys):
    """This checkout's files are -rw-r--r--, yet the check judges the image a umask-077 clone would build."""
    assert stat.S_IMODE((REPO_ROOT / "models" / "labels.txt").stat().st_mode) & stat.S_IROTH
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(PLAIN_COPY)
    with pytest.raises(Incorrect, match=re.escape("PermissionError: [Errno 13] Permission denied")) as failure:
        checks.check_dockerfile(dockerfile, REPO_ROOT)
    assert ("/var/task/clothing-model.tflite, /var/task/labels.txt, /var/task/lambda_function.py, "
            "/var/task/safe_download.py, /var/task/safe_image.py would be -rw-------") in str(failure.value)
    dockerfile.write_text(DOCKERFILE.read_text())
    assert checks.check_dockerfile(dockerfile, REPO_ROOT) is None
    assert "dockerfile: correct" in capsys.readouterr().out


# --- the task root run as Lambda runs it: as a user that owns none of its files ---

@pytest.fixture(scope="module")
def runnable():
    if reason := lambda_runtime.cannot_switch_user():
        pytest.skip(reason)
    if reason := checks.task_root_unavailable():
        pytest.skip(reason)
    return lambda_runtime.find_python("3.13")


@pytest.fixture(scope="module")
def install_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("packages")


def assembled(text: str, context: Path, root: Path, cache: Path) -> Path:
    try:
        return task_root.assemble(text, context, root, lambda_runtime.host_architecture(), cache=cache)[1]
    except RuntimeError as e:
        if any(word in str(e) for word in NETWORK_ERRORS):
            pytest.skip(f"the package index cannot be reached: {str(e).splitlines()[-1]}")
        raise


def test_plain_copy_from_a_umask_077_checkout_fails_to_start_as_lambdas_user_but_not_as_root(
        runnable, strict_checkout, install_cache, roots):
    root = assembled(PLAIN_COPY, strict_checkout, roots(), install_cache)
    handler = task_root.parse(PLAIN_COPY).cmd[0]
    with lambda_runtime.run_task_root(root, handler, runnable, user=lambda_runtime.NOBODY) as api:
        with pytest.raises(lambda_runtime.InitError) as failure:
            api.invoke({})
    error = failure.value.error
    assert error["errorType"] == "PermissionError"
    assert error["errorMessage"].startswith("[Errno 13] Permission denied")
    assert error["errorMessage"].endswith("/var/task/lambda_function.py'")
    # the same task root run as its owner (what a local run as root does) starts: it cannot show the fault
    with served_samples() as base, lambda_runtime.run_task_root(root, handler, runnable, environment=LOCAL_USE) as api:
        kind, answer = api.invoke({"url": sample_url(base, KNOWN_SAMPLES["pants"])})
    assert (kind, answer["top_class"]) == ("response", "pants")


def test_the_reference_from_a_umask_077_checkout_runs_as_lambdas_user(runnable, strict_checkout, install_cache,
                                                                      roots):
    root = assembled(DOCKERFILE.read_text(), strict_checkout, roots(), install_cache)
    with served_samples() as base, lambda_runtime.run_task_root(
            root, task_root.parse(DOCKERFILE).cmd[0], runnable, environment=LOCAL_USE,
            user=lambda_runtime.NOBODY) as api:
        kind, answer = api.invoke({"url": sample_url(base, KNOWN_SAMPLES["pants"])})
        assert (kind, answer["top_class"]) == ("response", "pants")
        kind, answer = api.invoke({"url": "ftp://example.com/x.jpg"})
        assert answer["error"]["status"] == 400


def test_the_function_runs_as_nobody_not_as_root(runnable, roots):
    root = roots()
    root.chmod(0o755)
    task_root._make_folders(root, task_root.TASK_ROOT)
    (root / "var" / "task" / "whoami.py").write_text(
        "import os\n\ndef lambda_handler(event, context):\n    return [os.getuid(), os.getgid(), os.getgroups()]\n")
    with lambda_runtime.run_task_root(root / "var" / "task", "whoami.lambda_handler", runnable,
                                      user=lambda_runtime.NOBODY) as api:
        assert api.invoke({}) == ("response", [lambda_runtime.NOBODY, lambda_runtime.NOBODY, []])


def test_a_process_that_is_not_root_is_told_why_it_cannot_switch_user(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = lambda_runtime.cannot_switch_user()
    assert reason and "not root" in reason
    with pytest.raises(PermissionError, match="not root"):
        with lambda_runtime.run_task_root(tmp_path, "lambda_function.lambda_handler", "python3.13",
                                          user=lambda_runtime.NOBODY):
            pass


def test_the_task_root_check_runs_the_function_as_lambdas_user(runnable, strict_checkout, tmp_path):
    """Built from the umask-077 checkout, plain COPY passes nothing to Lambda's user: the check's own run says so."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(PLAIN_COPY)
    try:
        with pytest.raises(Incorrect) as failure:
            checks.check_task_root(dockerfile, strict_checkout)
    except RuntimeError as e:
        if any(word in str(e) for word in NETWORK_ERRORS):
            pytest.skip(f"the package index cannot be reached: {str(e).splitlines()[-1]}")
        raise
    message = str(failure.value)
    assert "PermissionError: [Errno 13] Permission denied: '/var/task/lambda_function.py'" in message
    assert "Lambda runs the function as a non-root user" in message and "Traceback" not in message
