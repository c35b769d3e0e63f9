"""Build, run and invoke the Lambda container image with the Docker CLI (chapter 04).

    python -m tutorial_support.docker_image build [--arch x86_64|arm64] [--tag clothing-model:latest] [--dockerfile F]
    python -m tutorial_support.docker_image run [--port 9000]          # the emulator (aws-lambda-rie) in the base image
    python -m tutorial_support.docker_image invoke URL [--port 9000]   # POST {"url": URL} to it and print the answer

The same commands work on x86_64 and on Apple silicon: the image is built for the Lambda architecture you choose
(``--platform``), not for the machine you build on, and without an OCI index (``--provenance=false``), which Lambda
rejects. ``make image``, ``make image-run`` and ``make image-invoke URL=...`` call this script.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tutorial_support.paths import REPO_ROOT, SOLUTIONS

DOCKERFILE = SOLUTIONS / "04_docker" / "Dockerfile"  # the reference; a student's is 04_docker/Dockerfile
CONTEXT = REPO_ROOT  # the build context: the Dockerfile copies models/ and the handler from the repository
DEFAULT_TAG = "clothing-model:latest"
# Lambda's architecture names and the Docker platform each one needs.
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
EMULATOR_PATH = "/2015-03-31/functions/function/invocations"  # the emulator's Invoke API path
CONTAINER_PORT = 8080  # where aws-lambda-rie listens inside the container


class DockerError(RuntimeError):
    """The Docker CLI is missing, its engine does not answer, or a docker command failed."""


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


def build_command(tag: str = DEFAULT_TAG, architecture: str = "x86_64", dockerfile: Path = DOCKERFILE,
                  context: Path = CONTEXT) -> list[str]:
    """The ``docker build`` argv for a Lambda image.

    Args:
        tag: image name and tag.
        architecture: Lambda's name for it, ``"x86_64"`` or ``"arm64"``; the function must be created with the same.
        dockerfile: the Dockerfile (the reference by default; a student passes ``04_docker/Dockerfile``).
        context: the build context (the repository root).

    Raises:
        ValueError: an unknown architecture.
    """
    if architecture not in PLATFORMS:
        raise ValueError(f"unknown architecture {architecture!r}; Lambda has {sorted(PLATFORMS)}")
    return ["docker", "build", "--platform", PLATFORMS[architecture], "--provenance=false",
            "--file", str(dockerfile), "--tag", tag, str(context)]


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
    command = (build_command(args.tag, args.arch, args.dockerfile) if args.command == "build"
               else run_command(args.tag, args.port, args.arch, allow_private_urls=args.allow_private_urls))
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main())
