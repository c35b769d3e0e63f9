"""Build, run and invoke the Lambda container image with the Docker CLI (chapter 04).

    python -m tutorial_support.docker_image build [--arch x86_64|arm64] [--tag clothing-model:latest] [--dockerfile F]
    python -m tutorial_support.docker_image run [--port 9000]          # the emulator (aws-lambda-rie) in the base image
    python -m tutorial_support.docker_image invoke URL [--port 9000]   # POST {"url": URL} to it and print the answer

The same commands work on x86_64 and on Apple silicon: the image is built for the Lambda architecture you choose
(``--platform``), not for the machine you build on, and as a single image manifest, not an OCI index with an
attestation, which Lambda rejects. ``make image``, ``make image-run`` and ``make image-invoke URL=...`` call this
script.

Docker's builders differ in what they understand, so ``build`` first asks the Docker CLI which one it has
(``detect_builder``: ``docker buildx version``, ``docker buildx inspect``, ``docker version``) and runs what that one
needs (``plan_build``, ``build_command(..., builder=...)``):

- no buildx plugin, the legacy builder: ``docker build``, without ``--provenance`` (an unknown flag there; it makes a
  single manifest anyway). It refuses BuildKit-only Dockerfile syntax (``COPY --chmod``, ``RUN --mount``), so such a
  Dockerfile gets one paragraph saying how to install buildx instead.
- buildx before 0.10: ``docker buildx build`` without ``--provenance`` (added in 0.10, which also began to attach
  provenance attestations by default; before it there are none to turn off).
- buildx 0.10 or newer: ``docker buildx build --provenance=false``.
- a selected builder whose driver is not ``docker`` (``docker-container``, ``kubernetes``, ``remote``): ``--load``
  too, or the image stays in the builder's cache and ``docker run``, ``tag`` and ``push`` find nothing
  (docs.docker.com/build/builders/drivers/).

Building or running the other architecture runs its programs under emulation: Docker Desktop registers QEMU for that,
Docker Engine on Linux does not (docs.docker.com/build/building/multi-platform/#qemu). ``build`` and ``run`` check
``/proc/sys/fs/binfmt_misc`` first and, when the handler is missing, say how to register it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tutorial_support import lambda_runtime
from tutorial_support.paths import REPO_ROOT, SOLUTIONS

DOCKERFILE = SOLUTIONS / "04_docker" / "Dockerfile"  # the reference; a student's is 04_docker/Dockerfile
CONTEXT = REPO_ROOT  # the build context: the Dockerfile copies models/ and the handler from the repository
DEFAULT_TAG = "clothing-model:latest"
# Lambda's architecture names and the Docker platform each one needs.
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
EMULATOR_PATH = "/2015-03-31/functions/function/invocations"  # the emulator's Invoke API path
CONTAINER_PORT = 8080  # where aws-lambda-rie listens inside the container
# buildx 0.10.0 added --provenance, and provenance attestations by default (docs.docker.com/build/release-notes/).
PROVENANCE_SINCE = (0, 10)
# The kernel's table of interpreters for foreign binaries (binfmt_misc), and the QEMU handler each Lambda
# architecture needs there, with the name tonistiigi/binfmt --install takes for it.
BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")
QEMU = {"arm64": ("qemu-aarch64", "arm64"), "x86_64": ("qemu-x86_64", "amd64")}
LINUX_HOST = sys.platform.startswith("linux")  # a local engine runs on this kernel (not in Docker Desktop's VM)
# Docker's names for machines (docker version's Server.Arch) in Lambda's words.
DOCKER_ARCHITECTURES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}
INSTALL_BUILDX = ("install buildx, Docker's BuildKit builder: with Docker's own packages `sudo apt install "
                  "docker-buildx-plugin` (Debian, Ubuntu) or `sudo dnf install docker-buildx-plugin` (Fedora, RHEL); "
                  "with Debian's or Ubuntu's docker.io `sudo apt install docker-buildx`; Docker Desktop has it "
                  "(docs.docker.com/go/buildx/)")


class DockerError(RuntimeError):
    """The Docker CLI is missing, its engine does not answer, or a docker command failed."""


class BuilderError(DockerError):
    """This Docker cannot build or run the image as asked (a Dockerfile the legacy builder refuses, the other
    architecture without QEMU); the message says what to install or register, in one paragraph."""


@dataclass
class Builder:
    """What ``docker build`` runs on here (``detect_builder``).

    Attributes:
        buildx: the buildx plugin's version, ``(0, 12, 1)``; None when there is no buildx: the legacy builder.
        driver: the selected buildx builder's driver (``docker``, ``docker-container``, ``kubernetes``,
            ``remote``); None when unknown (or no buildx).
        name: the selected builder's name (``default``), or None.
        platforms: the platforms the selected builder says it can build for (``linux/amd64``, ...); empty when
            unknown (a builder that has not started yet lists none).
        engine_architecture: the engine's machine in Lambda's words (``x86_64``, ``arm64``), or None when unknown.
        desktop: the engine is Docker Desktop's (QEMU registered in its VM).
    """

    buildx: tuple[int, ...] | None
    driver: str | None = "docker"
    name: str | None = None
    platforms: list[str] = field(default_factory=list)
    engine_architecture: str | None = None
    desktop: bool = False

    def shown_buildx(self) -> str:
        """The buildx version as people write it (``0.12.1``), or ``none``."""
        return ".".join(map(str, self.buildx)) if self.buildx else "none"


def docker_available() -> str | None:
    """None when ``docker info`` succeeds (a CLI and an engine that answers), else the reason it does not, in words."""
    if shutil.which("docker") is None:
        return "no docker command on PATH (install Docker Desktop, or Docker Engine on Linux)"
    try:
        result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                                timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        return f"the Docker engine does not answer: {detail[-1] if detail else 'docker info failed'}"
    return None


def _docker(*args: str, timeout: float = 30) -> subprocess.CompletedProcess | None:
    """``docker *args``, its output captured; None when it cannot be run or does not answer in time."""
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _engine() -> tuple[str | None, bool]:
    """(the engine's machine in Lambda's words or None, whether it is Docker Desktop's), from ``docker version``."""
    answer = _docker("version", "--format", "{{json .}}")
    try:
        version = json.loads(answer.stdout) if answer and answer.stdout.strip() else {}
    except ValueError:
        version = {}
    server = (version or {}).get("Server") or {}
    platform = (server.get("Platform") or {}).get("Name") or ""
    return DOCKER_ARCHITECTURES.get(str(server.get("Arch", "")).lower()), "docker desktop" in platform.lower()


def detect_builder() -> Builder:
    """Ask the Docker CLI which builder ``docker build`` has here: ``docker buildx version`` (a non-zero exit: no
    buildx plugin, the legacy builder), ``docker buildx inspect`` (the selected builder's name, driver and
    platforms) and ``docker version`` (the engine's machine, Docker Desktop or not)."""
    architecture, desktop = _engine()
    answer = _docker("buildx", "version")
    found = re.search(r"\bv?(\d+)\.(\d+)(?:\.(\d+))?", answer.stdout) if answer and answer.returncode == 0 else None
    if found is None:
        return Builder(buildx=None, driver=None, engine_architecture=architecture, desktop=desktop)
    builder = Builder(buildx=tuple(int(part) for part in found.groups() if part is not None), driver=None,
                      engine_architecture=architecture, desktop=desktop)
    inspect = _docker("buildx", "inspect")
    if inspect and inspect.returncode == 0:
        for line in inspect.stdout.splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "Name" and builder.name is None:
                builder.name = value
            elif key == "Driver" and builder.driver is None:
                builder.driver = value
            elif key == "Platforms" and not builder.platforms:
                builder.platforms = [p.strip().rstrip("*") for p in value.split(",") if p.strip()]
    return builder


def build_command(tag: str = DEFAULT_TAG, architecture: str = "x86_64", dockerfile: Path = DOCKERFILE,
                  context: Path = CONTEXT, builder: Builder | None = None) -> list[str]:
    """The ``docker build`` argv for a Lambda image.

    Args:
        tag: image name and tag.
        architecture: Lambda's name for it, ``"x86_64"`` or ``"arm64"``; the function must be created with the same.
        dockerfile: the Dockerfile (the reference by default; a student passes ``04_docker/Dockerfile``).
        context: the build context (the repository root).
        builder: the builder to run it on (``detect_builder``): ``docker build`` without ``--provenance`` for the
            legacy builder; ``docker buildx build``, with ``--provenance=false`` from buildx 0.10 and ``--load`` for
            a driver other than ``docker``. None: the command for buildx 0.10 or newer with the ``docker`` driver
            (Docker Engine 23+ and Docker Desktop as installed), ``docker build --provenance=false``.

    Raises:
        ValueError: an unknown architecture.
    """
    if architecture not in PLATFORMS:
        raise ValueError(f"unknown architecture {architecture!r}; Lambda has {sorted(PLATFORMS)}")
    tail = ["--file", str(dockerfile), "--tag", tag, str(context)]
    if builder is None:
        return ["docker", "build", "--platform", PLATFORMS[architecture], "--provenance=false", *tail]
    if builder.buildx is None:
        return ["docker", "build", "--platform", PLATFORMS[architecture], *tail]
    return (["docker", "buildx", "build", "--platform", PLATFORMS[architecture]]
            + (["--provenance=false"] if builder.buildx >= PROVENANCE_SINCE else [])
            + (["--load"] if builder.driver != "docker" else []) + tail)


def buildkit_only(dockerfile: Path) -> list[str]:
    """The instructions of ``dockerfile`` that only BuildKit understands and the legacy builder refuses ("the
    --chmod option requires BuildKit"): ``COPY``/``ADD`` with ``--chmod``, ``--link``, ``--parents`` or
    ``--exclude``, ``RUN`` with ``--mount``, ``--network`` or ``--security``, and here-documents; as ``"line N:
    COPY --chmod"``. (Read line by line, continuation lines joined: ``make image`` runs where only the serving
    requirements are installed.)"""
    try:
        lines = Path(dockerfile).read_text().splitlines()
    except OSError:
        return []
    flags = {"COPY": ("--chmod", "--link", "--parents", "--exclude"), "ADD": ("--chmod", "--link"),
             "RUN": ("--mount", "--network", "--security")}
    found, start, text = [], 0, ""
    for number, line in enumerate(lines, 1):
        if not text and (not line.strip() or line.lstrip().startswith("#")):
            continue
        start, text = (start or number), text + " " + line.rstrip().removesuffix("\\")
        if line.rstrip().endswith("\\"):
            continue
        words = text.split()
        keyword = words[0].upper()
        used = [flag for flag in flags.get(keyword, ()) if any(w == flag or w.startswith(flag + "=") for w in words)]
        if keyword in ("RUN", "COPY") and "<<" in text:
            used.append("a here-document (<<)")
        found += [f"line {start}: {keyword} {flag}" for flag in used]
        start, text = 0, ""
    return found


def _remote_engine() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    return bool(host) and not host.startswith("unix://")


def emulation_problem(architecture: str, builder: Builder, action: str = "build") -> str | None:
    """Why ``action`` (``"build"`` or ``"run"``) of an image for ``architecture`` would fail here for want of QEMU,
    in one paragraph saying how to register it; None when the engine's own machine is ``architecture``, or the
    builder lists that platform, or QEMU's handler is registered, or this cannot be seen from here (Docker Desktop,
    a remote engine, a host that is not Linux).

    Source: docs.docker.com/build/building/multi-platform/#qemu (Docker Desktop has QEMU; on Linux it is installed
    with ``docker run --privileged --rm tonistiigi/binfmt --install ...``).
    """
    engine = builder.engine_architecture or lambda_runtime.host_architecture()
    target = PLATFORMS[architecture]
    if architecture == engine or builder.desktop or not LINUX_HOST or _remote_engine() or target in builder.platforms:
        return None
    handler_name, install_name = QEMU[architecture]
    handler = BINFMT_MISC / handler_name
    try:
        if handler.read_text().startswith("enabled"):
            return None
        state = f"{handler} is disabled"
    except OSError:
        state = f"there is no {handler}"
    what = ("building the image for {target} on this {engine} machine runs its RUN steps (pip install, chmod)"
            if action == "build" else "running an image built for {target} on this {engine} machine runs its "
            "programs").format(target=target, engine=engine)
    return (f"{what} under emulation, and Linux has no QEMU handler for {architecture} registered ({state}), so "
            "it would stop with \"exec format error\". Register QEMU once (it lasts until the next reboot): "
            f"docker run --privileged --rm tonistiigi/binfmt --install {install_name}, then run this again. Or use "
            f"this machine's own architecture, ARCH={engine} (make image ARCH={engine}), and create the Lambda "
            "function with the same. Docker Desktop registers QEMU by itself.")


def plan_build(tag: str = DEFAULT_TAG, architecture: str = "x86_64", dockerfile: Path = DOCKERFILE,
               context: Path = CONTEXT) -> tuple[list[str], list[str]]:
    """Ask Docker which builder it has (``detect_builder``), then return ``(the docker argv for it, notes for the
    learner)``: ``build_command(..., builder=...)`` and a sentence for each adaptation made.

    Raises:
        BuilderError: the legacy builder with a Dockerfile that needs BuildKit (say what to install), or the other
            architecture without QEMU (say how to register it).
        ValueError: an unknown architecture.
    """
    if architecture not in PLATFORMS:
        raise ValueError(f"unknown architecture {architecture!r}; Lambda has {sorted(PLATFORMS)}")
    builder, notes = detect_builder(), []
    if problem := emulation_problem(architecture, builder):
        raise BuilderError(problem)
    if builder.buildx is None:
        if needs := buildkit_only(dockerfile):
            flag = next((word for word in needs[0].split() if word.startswith("--")), None)
            stop = f"the {flag} option requires BuildKit" if flag else "it cannot parse the here-document"
            raise BuilderError(
                f"{dockerfile} needs BuildKit ({'; '.join(needs)}), and Docker here has only the legacy builder "
                f"(`docker buildx` is not a command), which refuses it: it would stop with \"{stop}\". To build it, "
                f"{INSTALL_BUILDX}; then run this again. Or write the Dockerfile for every builder: a RUN chmod after "
                "the COPY instead of COPY --chmod.")
        notes.append("the legacy builder (no buildx plugin): built without --provenance=false, a flag it does not "
                     "know; it makes a single image manifest, which Lambda accepts. It is deprecated since Docker 23: "
                     f"{INSTALL_BUILDX}.")
    elif builder.buildx < PROVENANCE_SINCE:
        notes.append(f"buildx {builder.shown_buildx()} predates --provenance (buildx 0.10): built without it; "
                     "before 0.10 buildx attaches no attestation, so the image is a single manifest, as Lambda needs.")
    if builder.buildx is not None and builder.driver != "docker":
        notes.append(f"the selected builder ({builder.name or 'unknown'}) uses the {builder.driver or 'unknown'} "
                     "driver, which keeps what it builds in its own cache: --load puts the image into Docker's "
                     "image store, where docker run, tag and push find it.")
    return build_command(tag, architecture, dockerfile, context, builder=builder), notes


def run_command(tag: str = DEFAULT_TAG, port: int = 9000, architecture: str = "x86_64",
                name: str | None = None, detach: bool = False, allow_private_urls: bool = False) -> list[str]:
    """The ``docker run`` argv that starts the image's emulator, published on 127.0.0.1:``port`` only.

    ``--add-host host.docker.internal:host-gateway`` lets the function fetch images served on the host
    (Docker Desktop has that name already; on Linux it maps to the host's bridge address). That address is private,
    so fetching from it needs ``allow_private_urls`` (``--env ALLOW_PRIVATE_URLS=1``, the handler's opt-in for local
    use; the image itself never sets it).
    """
    command = ["docker", "run", "--rm", "--platform", PLATFORMS[architecture], "--publish",
               f"127.0.0.1:{port}:{CONTAINER_PORT}", "--add-host", "host.docker.internal:host-gateway"]
    if allow_private_urls:
        command += ["--env", "ALLOW_PRIVATE_URLS=1"]
    if name:
        command += ["--name", name]
    if detach:
        command.append("--detach")
    return command + [tag]


def invoke(url: str, port: int = 9000, timeout_s: float = 60.0) -> dict:
    """Send the direct-invocation event ``{"url": url}`` to the emulator on 127.0.0.1:``port``.

    Returns:
        the handler's answer, decoded from JSON (a prediction, or ``{"error": {...}}`` for a bad request).

    Raises:
        DockerError: the emulator does not answer (is the container running?) or answers with an HTTP error.
    """
    request = urllib.request.Request(f"http://127.0.0.1:{port}{EMULATOR_PATH}", method="POST",
                                     data=json.dumps({"url": url}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise DockerError(f"the emulator answered HTTP {e.code}: {e.read()[:500].decode(errors='replace')}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise DockerError(f"nothing answers on 127.0.0.1:{port} ({getattr(e, 'reason', e)}); start the container "
                          "with `make image-run` in another terminal") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the image for Lambda")
    build.add_argument("--dockerfile", type=Path, default=DOCKERFILE)
    run = commands.add_parser("run", help="run the image's emulator on 127.0.0.1 (Ctrl-C stops it)")
    for sub in (build, run):
        sub.add_argument("--tag", default=DEFAULT_TAG)
        sub.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64", help="Lambda architecture")
    run.add_argument("--allow-private-urls", action="store_true",
                     help="let the function fetch from private addresses (photos served on this machine)")
    call = commands.add_parser("invoke", help="send an image URL to the running emulator and print the answer")
    call.add_argument("url")
    for sub in (run, call):
        sub.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)

    if args.command == "invoke":
        try:
            answer = invoke(args.url, args.port)
        except DockerError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(json.dumps(answer, indent=2))
        return 1 if "error" in answer else 0
    reason = docker_available()
    if reason:
        print(f"error: {reason}. Start Docker and try again.", file=sys.stderr)
        return 1
    notes: list[str] = []
    try:
        if args.command == "build":
            command, notes = plan_build(args.tag, args.arch, args.dockerfile)
        else:
            architecture, desktop = _engine()
            engine = Builder(buildx=None, driver=None, engine_architecture=architecture, desktop=desktop)
            if problem := emulation_problem(args.arch, engine, action="run"):
                raise BuilderError(problem)
            command = run_command(args.tag, args.port, args.arch, allow_private_urls=args.allow_private_urls)
    except BuilderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}")
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main())
