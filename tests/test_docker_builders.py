"""``make image`` with each Docker builder a learner may have, answered by a fake ``docker`` CLI.

No Docker engine runs on these machines, so a small executable named ``docker``, first on ``PATH``, answers as each
builder does: the legacy builder (no buildx plugin: ``docker buildx`` is an unknown command and ``--provenance`` an
unknown flag), buildx 0.9 (before ``--provenance``), buildx 0.12 with the ``docker`` driver, buildx with a
``docker-container`` driver (the result stays in the build cache without ``--load``), a cross-architecture build on
Linux with and without QEMU registered, and Docker Desktop (QEMU in its VM). Each test asserts the argv
``docker_image`` runs and what it tells the learner.
"""

import json
import sys
from pathlib import Path

import pytest

from tutorial_support import docker_image
from tutorial_support.paths import REPO_ROOT

DOCKERFILE = str(docker_image.DOCKERFILE)
CONTEXT = str(REPO_ROOT)

FAKE_DOCKER = '''#!{python}
"""A fake docker CLI: answers as the builder described in behaviour.json beside it, and logs each call."""
import json, re, sys
from pathlib import Path

here = Path(__file__).parent
behaviour = json.loads((here / "behaviour.json").read_text())
args = sys.argv[1:]
with open(here / "calls.log", "a") as log:
    log.write(json.dumps(args) + "\\n")


def fail(message, code):
    sys.stderr.write(message + "\\n")
    sys.exit(code)


def version(text):
    return tuple(int(part) for part in re.search(r"(\\d+)\\.(\\d+)", text).groups())


buildx = behaviour.get("buildx")
if args[:1] == ["info"]:
    print(behaviour["version"]["Server"]["Version"])
elif args[:1] == ["version"]:
    print(json.dumps(behaviour["version"]) if "--format" in args else "Client: ...")
elif args[:1] == ["buildx"]:
    if buildx is None:
        fail(behaviour["no_buildx"], 1)
    if args[1:2] == ["version"]:
        print(buildx)
    elif args[1:2] == ["inspect"]:
        print(behaviour["inspect"])
    elif args[1:2] == ["build"]:
        if any(a.startswith("--provenance") for a in args) and version(buildx) < (0, 10):
            fail("unknown flag: --provenance\\nSee 'docker buildx build --help'.", 1)
        if "docker-container" in behaviour["inspect"] and "--load" not in args:
            sys.stderr.write("WARNING: No output specified with docker-container driver. Build result will only "
                             "remain in the build cache. To push result image into registry use --push or to load "
                             "image into docker use --load\\n")
        print("naming to docker.io/library/t:1 done")
elif args[:1] == ["build"]:
    legacy = buildx is None or version(behaviour["version"]["Client"]["Version"]) < (23, 0)
    if legacy and any(a.startswith("--provenance") for a in args):
        fail("unknown flag: --provenance\\nSee 'docker build --help'.", 125)
    if legacy:
        sys.stderr.write("DEPRECATED: The legacy builder is deprecated and will be removed in a future release.\\n")
    print("Successfully tagged t:1")
elif args[:1] == ["run"]:
    print("started")
else:
    fail("docker: unknown command: docker " + " ".join(args[:1]), 1)
'''

ENGINE = {"Client": {"Version": "28.2.2", "Os": "linux", "Arch": "amd64"},
          "Server": {"Version": "28.2.2", "Os": "linux", "Arch": "amd64",
                     "Platform": {"Name": "Docker Engine - Community"}}}
OLD_CLI = {**ENGINE, "Client": {"Version": "20.10.24", "Os": "linux", "Arch": "amd64"},
           "Server": {**ENGINE["Server"], "Version": "20.10.24"}}
DESKTOP = {**ENGINE, "Server": {**ENGINE["Server"], "Platform": {"Name": "Docker Desktop 4.41.2 (191736)"}}}
NO_BUILDX = "docker: unknown command: docker buildx\n\nRun 'docker --help' for more information"
OLD_NO_BUILDX = "docker: 'buildx' is not a docker command.\nSee 'docker --help'"


def inspect(driver: str, platforms: str = "linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/386") -> str:
    name = "default" if driver == "docker" else "container"
    return (f"Name:          {name}\nDriver:        {driver}\nLast Activity: 2026-11-20 10:00:00 +0000 UTC\n\n"
            f"Nodes:\nName:      {name}0\nEndpoint:  unix:///var/run/docker.sock\nStatus:    running\n"
            f"BuildKit:  v0.23.2\nPlatforms: {platforms}\n")


BUILDERS = {
    "legacy": {"buildx": None, "no_buildx": NO_BUILDX, "version": ENGINE},
    "legacy_old_cli": {"buildx": None, "no_buildx": OLD_NO_BUILDX, "version": OLD_CLI},
    "buildx_0_9": {"buildx": "github.com/docker/buildx v0.9.1 ed00243", "inspect": inspect("docker"),
                   "version": OLD_CLI},
    "buildx_0_12_docker": {"buildx": "github.com/docker/buildx v0.12.1 30feaa1", "inspect": inspect("docker"),
                           "version": OLD_CLI},
    "buildx_docker_container": {"buildx": "github.com/docker/buildx v0.24.0 d0e5e86",
                                "inspect": inspect("docker-container"), "version": ENGINE},
    "desktop": {"buildx": "github.com/docker/buildx v0.23.0-desktop.1 3f7d1f2",
                "inspect": inspect("docker", "linux/amd64, linux/arm64, linux/386"), "version": DESKTOP},
}


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """``fake_docker(behaviour)``: a ``docker`` that answers as ``behaviour`` says, first on PATH; returns a function
    giving the argv of every call made to it. The host's QEMU handlers are read from an empty folder."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "docker"
    script.write_text(FAKE_DOCKER.format(python=sys.executable))
    script.chmod(0o755)
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    monkeypatch.setattr(docker_image, "BINFMT_MISC", binfmt, raising=False)
    monkeypatch.setattr(docker_image, "LINUX_HOST", True, raising=False)  # the engine runs here, on Linux

    def make(behaviour: dict):
        (folder / "behaviour.json").write_text(json.dumps(behaviour))

        def calls() -> list[list[str]]:
            log = folder / "calls.log"
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return calls
    make.binfmt = binfmt
    return make


def builds(calls) -> list[list[str]]:
    return [argv for argv in calls() if argv[:1] == ["build"] or argv[:2] == ["buildx", "build"]]


def test_legacy_builder_gets_no_provenance_flag_and_a_word_about_buildx(fake_docker, capsys):
    calls = fake_docker(BUILDERS["legacy"])
    assert docker_image.main(["build", "--tag", "t:1"]) == 0
    assert builds(calls) == [["build", "--platform", "linux/amd64", "--file", DOCKERFILE, "--tag", "t:1", CONTEXT]]
    out = capsys.readouterr().out
    assert "legacy builder" in out and "--provenance" in out and "docker-buildx-plugin" in out


def test_legacy_builder_of_an_old_cli_is_recognised_too(fake_docker, capsys):
    calls = fake_docker(BUILDERS["legacy_old_cli"])
    assert docker_image.main(["build", "--tag", "t:1"]) == 0
    assert builds(calls)[0][:3] == ["build", "--platform", "linux/amd64"]
    assert not any(word.startswith("--provenance") for word in builds(calls)[0])


def test_legacy_builder_with_a_buildkit_only_dockerfile_says_what_to_install(fake_docker, capsys, tmp_path):
    calls = fake_docker(BUILDERS["legacy"])
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM public.ecr.aws/lambda/python:3.13\n"
                          "COPY --chmod=0644 solutions/03_lambda_code/lambda_function.py ${LAMBDA_TASK_ROOT}/\n"
                          'CMD ["lambda_function.lambda_handler"]\n')
    assert docker_image.main(["build", "--tag", "t:1", "--dockerfile", str(dockerfile)]) == 1
    assert builds(calls) == []
    err = capsys.readouterr().err
    assert "line 2: COPY --chmod" in err and "only the legacy builder" in err
    assert 'which refuses it: it would stop with "the --chmod option requires BuildKit"' in err
    assert "docker-buildx-plugin" in err and "Traceback" not in err


def test_buildx_0_9_gets_no_provenance_flag(fake_docker, capsys):
    calls = fake_docker(BUILDERS["buildx_0_9"])
    assert docker_image.main(["build", "--tag", "t:1"]) == 0
    assert builds(calls) == [["buildx", "build", "--platform", "linux/amd64", "--file", DOCKERFILE, "--tag", "t:1",
                              CONTEXT]]
    assert "buildx 0.9.1 predates --provenance" in capsys.readouterr().out


def test_buildx_0_12_with_the_docker_driver_gets_provenance_false_through_buildx_build(fake_docker, capsys):
    """A Docker CLI older than 23 runs the legacy builder for ``docker build`` even with buildx installed, so the
    command names ``docker buildx build``."""
    calls = fake_docker(BUILDERS["buildx_0_12_docker"])
    assert docker_image.main(["build", "--tag", "t:1"]) == 0
    assert builds(calls) == [["buildx", "build", "--platform", "linux/amd64", "--provenance=false", "--file",
                              DOCKERFILE, "--tag", "t:1", CONTEXT]]
    assert "--load" not in builds(calls)[0]


def test_a_docker_container_builder_gets_load(fake_docker, capsys):
    calls = fake_docker(BUILDERS["buildx_docker_container"])
    assert docker_image.main(["build", "--tag", "t:1"]) == 0
    assert builds(calls) == [["buildx", "build", "--platform", "linux/amd64", "--provenance=false", "--load",
                              "--file", DOCKERFILE, "--tag", "t:1", CONTEXT]]
    captured = capsys.readouterr()
    assert "docker-container" in captured.out and "--load" in captured.out
    assert "No output specified" not in captured.err


def test_a_cross_build_on_linux_without_qemu_says_how_to_register_it(fake_docker, capsys):
    calls = fake_docker(BUILDERS["buildx_0_12_docker"])
    assert docker_image.main(["build", "--tag", "t:1", "--arch", "arm64"]) == 1
    assert builds(calls) == []
    err = capsys.readouterr().err
    assert "docker run --privileged --rm tonistiigi/binfmt --install arm64" in err
    assert "qemu-aarch64" in err and "ARCH=x86_64" in err and "Traceback" not in err


def test_running_the_other_architecture_without_qemu_is_refused_the_same_way(fake_docker, capsys):
    calls = fake_docker(BUILDERS["legacy"])
    assert docker_image.main(["run", "--arch", "arm64", "--tag", "t:1"]) == 1
    assert [argv for argv in calls() if argv[:1] == ["run"]] == []
    assert "tonistiigi/binfmt --install arm64" in capsys.readouterr().err


def test_a_cross_build_with_qemu_registered_goes_ahead(fake_docker, capsys):
    calls = fake_docker(BUILDERS["buildx_0_12_docker"])
    (fake_docker.binfmt / "qemu-aarch64").write_text("enabled\ninterpreter /usr/bin/qemu-aarch64-static\n")
    assert docker_image.main(["build", "--tag", "t:1", "--arch", "arm64"]) == 0
    assert builds(calls)[0][:4] == ["buildx", "build", "--platform", "linux/arm64"]


def test_a_disabled_qemu_handler_counts_as_missing(fake_docker, capsys):
    fake_docker(BUILDERS["buildx_0_12_docker"])
    (fake_docker.binfmt / "qemu-aarch64").write_text("disabled\ninterpreter /usr/bin/qemu-aarch64-static\n")
    assert docker_image.main(["build", "--tag", "t:1", "--arch", "arm64"]) == 1
    assert "tonistiigi/binfmt" in capsys.readouterr().err


def test_docker_desktop_builds_the_other_architecture_without_qemu_on_the_host(fake_docker, capsys):
    calls = fake_docker(BUILDERS["desktop"])
    assert docker_image.main(["build", "--tag", "t:1", "--arch", "arm64"]) == 0
    assert builds(calls) == [["buildx", "build", "--platform", "linux/arm64", "--provenance=false", "--file",
                              DOCKERFILE, "--tag", "t:1", CONTEXT]]


def test_the_builder_is_read_from_the_cli(fake_docker):
    fake_docker(BUILDERS["buildx_docker_container"])
    builder = docker_image.detect_builder()
    assert (builder.buildx, builder.driver, builder.engine_architecture) == ((0, 24, 0), "docker-container", "x86_64")
    assert builder.platforms[:2] == ["linux/amd64", "linux/amd64/v2"] and not builder.desktop
    fake_docker(BUILDERS["legacy"])
    assert docker_image.detect_builder().buildx is None
    fake_docker(BUILDERS["desktop"])
    desktop = docker_image.detect_builder()
    assert desktop.desktop and desktop.buildx == (0, 23, 0) and "linux/arm64" in desktop.platforms


def test_build_command_without_a_builder_is_the_command_it_always_was():
    """Callers that do not probe (chapter 05's deploy) get the command for buildx 0.10+ with the docker driver."""
    assert docker_image.build_command("t:1", "arm64") == [
        "docker", "build", "--platform", "linux/arm64", "--provenance=false", "--file", DOCKERFILE, "--tag", "t:1",
        CONTEXT]
    legacy = docker_image.Builder(buildx=None, driver=None)
    assert docker_image.build_command("t:1", "x86_64", builder=legacy, dockerfile=Path("D"), context=Path("C")) == [
        "docker", "build", "--platform", "linux/amd64", "--file", "D", "--tag", "t:1", "C"]
