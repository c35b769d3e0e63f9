"""Chapter 04: the Lambda container image, proven without a Docker engine, and built for real where one answers.

Without an engine: hadolint, the Dockerfile read with dockerfile-parse, the build context, the image's requirements
resolved to wheels for Lambda on x86_64 and arm64 with the glibc they need (objdump -T), and the task root run under
Python 3.13 through awslambdaric (see also tests/graded/test_04_docker.py). With an engine (`docker info` works):
build, run, invoke through the base image's emulator, remove the container.
"""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grading.checks import chapter04 as checks
from grading.checks.common import KNOWN_SAMPLES, LOCAL_USE, sample_url, served_samples
from grading.outcomes import Incorrect
from tutorial_support import docker_image as image
from tutorial_support import lambda_runtime, lambda_wheels, task_root
from tutorial_support.image_server import serve_directory
from tutorial_support.paths import REPO_ROOT, SAMPLES_DIR

CHAPTER = REPO_ROOT / "solutions" / "04_docker"
DOCKERFILE = CHAPTER / "Dockerfile"

NETWORK_ERRORS = ("NewConnectionError", "Max retries", "Temporary failure in name resolution", "No route to host",
                  "Network is unreachable", "Could not fetch URL", "connection")


def pip_or_skip(call, *args, **kwargs):
    """Run a pip-backed call; skip the test when the package index cannot be reached, fail on anything else."""
    try:
        return call(*args, **kwargs)
    except RuntimeError as e:
        if any(word.lower() in str(e).lower() for word in NETWORK_ERRORS):
            pytest.skip(f"the package index cannot be reached: {str(e).splitlines()[-1]}")
        raise


def normalise(name: str) -> str:
    """A distribution name as PEP 503 normalises it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """{normalised name: version} of the ``name==version`` lines of a requirements file."""
    found = re.findall(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", path.read_text(), flags=re.M)
    return {normalise(name): version for name, version in found}


# --- the Dockerfile, read without building it ---

def test_hadolint_reports_nothing_at_warning_level_or_above_and_does_catch_a_bad_dockerfile(tmp_path):
    assert checks.hadolint(DOCKERFILE) == []
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM public.ecr.aws/lambda/python:latest\nRUN pip install numpy\nCMD lambda_function.handler\n")
    codes = {finding.split()[2].rstrip(":") for finding in checks.hadolint(bad)}
    assert {"DL3007", "DL3013", "DL3042"} <= codes  # latest tag, unpinned pip install, pip cache kept


def test_dockerfile_base_image_cmd_and_copy_sources():
    parsed = task_root.parse(DOCKERFILE)
    assert parsed.base == "public.ecr.aws/lambda/python:3.13"
    assert parsed.entrypoint is None
    module, function = parsed.cmd[0].rsplit(".", 1)
    copied = {source for sources, _ in parsed.copies for source in sources}
    handler = next(source for source in copied if Path(source).name == f"{module}.py")
    assert function in {line.split("(")[0][4:] for line in (REPO_ROOT / handler).read_text().splitlines()
                        if line.startswith("def ")}
    for source in copied:
        assert (REPO_ROOT / source).is_file(), source
        assert task_root.dockerignore_admits(source, task_root.context_rules(REPO_ROOT)), source
    assert copied >= {"requirements/image.txt", "models/clothing-model.tflite", "models/labels.txt"}
    assert all("--no-cache-dir" in argv for argv in parsed.pip_installs) and parsed.pip_installs


def test_dockerignore_lets_in_only_what_the_dockerfiles_copy():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    rules = task_root.context_rules(REPO_ROOT)
    admitted = {path for path in tracked if task_root.dockerignore_admits(path, rules)}
    copied = {source for sources, _ in task_root.parse(DOCKERFILE).copies for source in sources}
    students = {"03_lambda_code/lambda_function.py", "03_lambda_code/safe_download.py",
                "03_lambda_code/safe_image.py"}  # for their Dockerfile
    assert admitted == copied | students
    assert sum((REPO_ROOT / path).stat().st_size for path in admitted) < 10e6
    assert not task_root.dockerignore_admits("models/clothing-model.keras", rules)


def test_dockerignore_rules_last_match_wins_and_folders_match_their_contents():
    rules = ["*", "!models/labels.txt", "docs/", "!keep/*.py"]
    assert task_root.dockerignore_admits("models/labels.txt", rules)
    assert not task_root.dockerignore_admits("models/x.keras", rules)
    assert not task_root.dockerignore_admits("docs/a/b.md", rules)
    assert task_root.dockerignore_admits("keep/a.py", rules)
    assert task_root.dockerignore_admits("anything", [])


def test_parse_refuses_what_it_cannot_reproduce():
    for text, problem in [("FROM a AS b\nFROM c\n", "second FROM"), ("FROM a\nCOPY --from=b /x /y\n", "--from"),
                          ("FROM a\nADD https://example.com/m.tflite /var/task/\n", "URL")]:
        with pytest.raises(task_root.DockerfileError, match=problem):
            task_root.parse(text)


@pytest.mark.parametrize("change, message", [
    (("public.ecr.aws/lambda/python:3.13", "python:3.13-slim"), "runtime interface client"),
    (("public.ecr.aws/lambda/python:3.13", "public.ecr.aws/lambda/python:3.11"), "glibc 2.26"),
    (('CMD ["lambda_function.lambda_handler"]', "CMD lambda_function.lambda_handler"), "exec form"),
    (('CMD ["lambda_function.lambda_handler"]', 'CMD ["lambda_function.handler"]'), "HandlerNotFound"),
    (("models/clothing-model.tflite models/labels.txt", "models/clothing-model.tflite"), "labels.txt"),
    (("--no-cache-dir ", ""), "--no-cache-dir"),
    (("solutions/03_lambda_code/lambda_function.py solutions", "lambda_function.py solutions"), "no such file"),
    ((" solutions/03_lambda_code/safe_download.py", ""), "imports safe_download.py, which is not in the task root"),
    (("models/labels.txt ${", "models/clothing-model.keras ${"), ".dockerignore leaves it out"),
])
def test_check_dockerfile_says_what_is_wrong(tmp_path, change, message):
    text = DOCKERFILE.read_text()
    assert change[0] in text
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text.replace(change[0], change[1]))
    with pytest.raises(Incorrect, match=re.escape(message)):
        checks.check_dockerfile(dockerfile, REPO_ROOT)


# --- the image's requirements: wheels for Lambda, and the glibc they need ---

def test_image_requirements_pin_the_versions_the_tests_use_with_hashes_and_no_tensorflow():
    image_pins = pins(REPO_ROOT / "requirements" / "image.txt")
    serve_pins = pins(REPO_ROOT / "requirements" / "serve.txt")
    assert {"ai-edge-litert", "keras-image-helper", "numpy", "pillow"} <= set(image_pins)
    assert {name: image_pins[name] for name in serve_pins if name in image_pins} == {
        name: version for name, version in serve_pins.items() if name in image_pins}
    assert not {name for name in image_pins if "tensorflow" in name or name in ("keras", "tf-keras")}
    requirements = re.split(r"\n(?=[A-Za-z])", (REPO_ROOT / "requirements" / "image.txt").read_text())
    assert all("--hash=sha256:" in block for block in requirements if "==" in block)


def test_platform_tags_cover_every_manylinux_tag_up_to_glibc_2_34():
    tags = lambda_wheels.platform_tags("arm64")
    assert tags[0] == "manylinux_2_34_aarch64" and tags[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert len(tags) == 34 - 17 + 2
    with pytest.raises(ValueError):
        lambda_wheels.platform_tags("sparc")


def test_glibc_needed_reads_versioned_symbols():
    import _ctypes  # an extension module of this Python: it imports versioned glibc symbols

    assert lambda_wheels.glibc_needed(Path(_ctypes.__file__)) >= (2, 2)


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_image_wheels_exist_for_lambda_and_need_glibc_2_34_at_most(architecture, tmp_path):
    resolved = pip_or_skip(lambda_wheels.resolve, lambda_wheels.IMAGE_REQUIREMENTS, architecture)
    wanted = {name for name in pins(lambda_wheels.IMAGE_REQUIREMENTS) if name != "colorama"}  # colorama: Windows only
    assert {normalise(item["name"]) for item in resolved} == wanted
    machine = lambda_wheels.MACHINES[architecture]
    for item in resolved:
        assert item["wheel"].endswith(("-none-any.whl", f"_{machine}.whl")), item["wheel"]
        assert re.search(r"-(cp313-cp313|cp3\d+-abi3|py3-none|py2.py3-none)-", item["wheel"]), item["wheel"]
    wheels = pip_or_skip(lambda_wheels.download, lambda_wheels.IMAGE_REQUIREMENTS, architecture, tmp_path)
    assert {w.name for w in wheels} == {item["wheel"] for item in resolved}
    needs = {f"{w.name}/{member}": version for w in wheels for member, version in lambda_wheels.wheel_glibc(w).items()}
    assert any("ai_edge_litert" in name for name in needs)  # the runtime's .so files were read
    too_new = {name: version for name, version in needs.items() if version and version > lambda_wheels.LAMBDA_GLIBC}
    assert not too_new, f"shared objects that need a glibc newer than Amazon Linux 2023's 2.34: {too_new}"


# --- the task root, run by awslambdaric under Python 3.13, and invoked through a local emulator ---

@pytest.fixture(scope="module")
def reference_task_root(tmp_path_factory):
    if reason := checks.task_root_unavailable():
        pytest.skip(reason)
    parsed, root = pip_or_skip(task_root.assemble, DOCKERFILE, REPO_ROOT, tmp_path_factory.mktemp("image"),
                               lambda_runtime.host_architecture())
    return parsed.cmd[0], root


def test_task_root_holds_the_handler_model_and_packages_but_no_tensorflow(reference_task_root):
    _, root = reference_task_root
    names = {p.name for p in root.iterdir()}
    assert {"lambda_function.py", "clothing-model.tflite", "labels.txt", "ai_edge_litert", "numpy", "PIL"} <= names
    assert not names & {"tensorflow", "keras"}


def test_image_py_invokes_the_function_through_an_emulator(reference_task_root):
    handler, root = reference_task_root
    python = lambda_runtime.find_python("3.13")
    with served_samples() as base, lambda_runtime.run_task_root(
            root, handler, python, environment=LOCAL_USE) as api:
        emulator = lambda_runtime.Emulator(api)
        import threading
        threading.Thread(target=emulator.serve_forever, daemon=True).start()
        try:
            url = sample_url(base, KNOWN_SAMPLES['shoes'])
            result = subprocess.run([sys.executable, "-m", "tutorial_support.docker_image", "invoke", url,
                                     "--port", str(emulator.port)], capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["top_class"] == "shoes"
            bad = subprocess.run([sys.executable, "-m", "tutorial_support.docker_image", "invoke", "ftp://x/y.jpg",
                                  "--port", str(emulator.port)], capture_output=True, text=True, timeout=120)
            assert bad.returncode == 1 and json.loads(bad.stdout)["error"]["code"] == "invalid_url"
        finally:
            emulator.shutdown()
            emulator.server_close()


def test_the_function_as_deployed_refuses_private_addresses_and_logs_json(reference_task_root):
    """The image's task root under Lambda's Python and runtime client, with the environment the deployed function has
    (no ALLOW_PRIVATE_URLS): the metadata address, loopback and a dripping host are refused, and each request leaves
    one JSON log line."""
    handler, root = reference_task_root
    python = lambda_runtime.find_python("3.13")
    with served_samples() as base, lambda_runtime.run_task_root(root, handler, python) as api:
        for url, code in [("http://169.254.169.254/latest/meta-data/", "destination_refused"),
                          ("http://[::ffff:127.0.0.1]/", "destination_refused"),
                          (sample_url(base, KNOWN_SAMPLES['shoes']),
                           "destination_refused")]:
            kind, answer = api.invoke({"url": url})
            assert (kind, answer.get("error", {}).get("code")) == ("response", code), answer
        logged = [json.loads(line) for line in api.output().splitlines() if line.startswith("{")]
        assert [record["error_code"] for record in logged] == ["destination_refused"] * 3


def test_a_task_root_without_labels_fails_to_start_and_the_check_says_so(tmp_path):
    if reason := checks.task_root_unavailable():
        pytest.skip(reason)
    dockerfile = tmp_path / "Dockerfile"
    # the labels neither copied nor chmodded (a chmod of a file the image lacks stops the build, as docker's would)
    dockerfile.write_text(DOCKERFILE.read_text().replace(" models/labels.txt", "")
                          .replace(' "${LAMBDA_TASK_ROOT}/labels.txt"', ""))
    with pytest.raises(Incorrect, match="failed to start") as failure:
        pip_or_skip(checks.check_task_root, dockerfile, REPO_ROOT)
    assert "labels.txt" in str(failure.value)


def test_invoke_says_when_no_emulator_answers(capsys):
    assert image.main(["invoke", "http://example.com/a.jpg", "--port", "9"]) == 1
    assert "make image-run" in capsys.readouterr().err


def test_docker_commands_target_lambda_from_any_machine():
    for architecture, platform in [("x86_64", "linux/amd64"), ("arm64", "linux/arm64")]:
        command = image.build_command("t:1", architecture)
        assert command[:2] == ["docker", "build"] and "--provenance=false" in command
        assert command[command.index("--platform") + 1] == platform
        assert command[command.index("--file") + 1] == str(DOCKERFILE) and command[-1] == str(REPO_ROOT)
    run = image.run_command("t:1", 9123, "arm64")
    assert run[run.index("--publish") + 1] == "127.0.0.1:9123:8080" and run[-1] == "t:1"
    assert "ALLOW_PRIVATE_URLS=1" not in run
    local = image.run_command("t:1", 9123, "arm64", allow_private_urls=True)
    assert local[local.index("--env") + 1] == "ALLOW_PRIVATE_URLS=1" and local[-1] == "t:1"


def test_the_image_never_allows_private_urls():
    """The deployed function must refuse private addresses: no instruction of the Dockerfile mentions the opt-in."""
    instructions = task_root.parse(DOCKERFILE).instructions
    assert any(i.keyword == "CMD" for i in instructions)
    assert not [i for i in instructions if "ALLOW_PRIVATE_URLS" in i.args]
    with pytest.raises(ValueError):
        image.build_command("t:1", "amd64")


# --- with a Docker engine ---

@pytest.mark.slow
def test_image_builds_runs_and_classifies_through_the_emulator():
    if reason := image.docker_available():
        pytest.skip(f"needs a Docker engine: {reason}")
    tag, name = "clothing-model:test", f"clothing-model-test-{int(time.time())}"
    architecture = lambda_runtime.host_architecture()
    subprocess.run(image.build_command(tag, architecture), check=True, timeout=1200)
    port = 9000 + int(time.time()) % 900
    subprocess.run(image.run_command(tag, port, architecture, name=name, detach=True, allow_private_urls=True),
                   check=True, timeout=120)
    try:
        with serve_directory(SAMPLES_DIR, host="0.0.0.0") as base:
            url = sample_url(base, KNOWN_SAMPLES['pants'])
            deadline = time.monotonic() + 60
            while True:
                try:
                    answer = image.invoke(url, port)
                    break
                except image.DockerError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
            assert answer["top_class"] == "pants", answer
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, timeout=60)
    assert shutil.which("docker")


# --- the image's expected size ---

def test_readme_size_table_is_the_committed_measurement_rendered():
    import image_size

    report = json.loads(image_size.OUTPUT.read_text())
    report["base_image"] = image_size.BASE_IMAGE
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("<!-- image-size:begin -->\n")[1].split("<!-- image-size:end -->")[0]
    assert block == image_size.render_markdown(report)
    litert, tensorflow = report["litert"]["layers"], report["tensorflow"]["layers"]
    assert set(litert) == set(tensorflow) == {"requirements", "model", "handler"}
    assert tensorflow["requirements"]["mb"] > 5 * litert["requirements"]["mb"] > 0
    assert report["litert"]["total"]["mb"] == pytest.approx(sum(layer["mb"] for layer in litert.values()), abs=0.1)


def test_measure_counts_files_on_disk_and_compressed(tmp_path):
    import image_size

    (tmp_path / "zeros.bin").write_bytes(bytes(2_000_000))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "random.bin").write_bytes(__import__("os").urandom(1_000_000))
    sizes = image_size.measure([tmp_path / "zeros.bin", tmp_path / "sub"], tmp_path)
    assert sizes["mb"] == 3.0
    assert 1.0 <= sizes["compressed_mb"] < 1.1  # the zeros compress to almost nothing, the random bytes not at all


def test_a_dockerfile_that_installs_into_site_packages_also_runs(tmp_path):
    """AWS's own samples run `pip install -r requirements.txt` without --target: the packages land in the runtime's
    site-packages, which is on Lambda's sys.path too. The check accepts that layout."""
    if reason := checks.task_root_unavailable():
        pytest.skip(reason)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DOCKERFILE.read_text().replace(' --target "${LAMBDA_TASK_ROOT}"', ""))
    assert "--target" not in dockerfile.read_text()
    pip_or_skip(checks.check_task_root, dockerfile, REPO_ROOT)
