"""The image's requirements as wheels for the Lambda platform, checked without Docker (chapter 04).

    python -m tutorial_support.lambda_wheels              # the wheel pip picks for each requirement, x86_64 and
                                                           # arm64, and the newest glibc symbol each one needs

Lambda's Python 3.13 image runs Amazon Linux 2023, whose glibc is 2.34. A wheel tagged ``manylinux_2_X`` promises
to need no glibc newer than 2.X, and pip on that image accepts tags up to ``manylinux_2_34``; here, pip is told
the same with ``--python-version 3.13 --platform ...`` (it does not widen one manylinux tag to older ones, so
every tag is listed). The promise is then checked: ``objdump -T`` lists the versioned glibc symbols each shared
object imports (``GLIBC_2.29`` is what made ``tflite-runtime`` fail on Amazon Linux 2, glibc 2.26).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tutorial_support.paths import REPO_ROOT

IMAGE_REQUIREMENTS = REPO_ROOT / "requirements" / "image.txt"
LAMBDA_PYTHON = "3.13"  # the Python of public.ecr.aws/lambda/python:3.13
LAMBDA_GLIBC = (2, 34)  # Amazon Linux 2023
# Lambda's architecture names and the machine names in wheel tags.
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
_GLIBC_SYMBOL = re.compile(r"\bGLIBC_(\d+)\.(\d+)(?:\.(\d+))?\b")


def platform_tags(architecture: str = "x86_64", glibc: tuple[int, int] = LAMBDA_GLIBC) -> list[str]:
    """Every manylinux tag a glibc ``glibc`` Linux on ``architecture`` accepts, newest first (PEP 600, PEP 599).

    Raises:
        ValueError: an architecture Lambda does not have.
    """
    if architecture not in MACHINES:
        raise ValueError(f"unknown architecture {architecture!r}; Lambda has {sorted(MACHINES)}")
    machine = MACHINES[architecture]
    tags = [f"manylinux_{glibc[0]}_{minor}_{machine}" for minor in range(glibc[1], 16, -1)]
    return tags + [f"manylinux2014_{machine}"]  # the legacy alias of manylinux_2_17


def pip_platform_args(architecture: str = "x86_64", python_version: str = LAMBDA_PYTHON) -> list[str]:
    """pip options that make it choose wheels as pip inside the Lambda image would: CPython ``python_version``,
    the manylinux tags of ``platform_tags``, wheels only."""
    platforms = [arg for tag in platform_tags(architecture) for arg in ("--platform", tag)]
    return ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version, *platforms]


def _pip(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                            capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if not line.startswith("WARNING: Location")]
        raise RuntimeError(f"pip {args[0]} failed:\n" + "\n".join(lines[-15:]))
    return result


def resolve(requirements: Path = IMAGE_REQUIREMENTS, architecture: str = "x86_64") -> list[dict]:
    """The wheels pip would install from ``requirements`` for the Lambda platform (``pip install --dry-run --report``).

    Returns:
        one dict per distribution: ``{"name", "version", "wheel"}`` (the wheel's file name), sorted by name.

    Raises:
        RuntimeError: pip cannot resolve them (a requirement without a wheel for that platform, a wrong hash,
        no package index).
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        _pip("install", "--quiet", "--dry-run", "--ignore-installed", "--target", str(Path(tmp) / "target"),
             *pip_platform_args(architecture), "--report", str(report), "--requirement", str(requirements))
        installs = json.loads(report.read_text())["install"]
    return sorted(({"name": item["metadata"]["name"], "version": item["metadata"]["version"],
                    "wheel": item["download_info"]["url"].rsplit("/", 1)[-1]} for item in installs),
                  key=lambda item: item["name"].lower())


def download(requirements: Path, architecture: str, dest: Path) -> list[Path]:
    """Download the wheels of ``resolve`` into ``dest`` (pip's cache makes a second call cheap). Returns their paths."""
    dest.mkdir(parents=True, exist_ok=True)
    _pip("download", "--quiet", "--no-deps", "--dest", str(dest), *pip_platform_args(architecture),
         "--requirement", str(requirements))
    return sorted(dest.glob("*.whl"))


def install(requirements: Path, target: Path, architecture: str = "x86_64",
            python_version: str = LAMBDA_PYTHON, extra: tuple[str, ...] = ()) -> Path:
    """``pip install --target target`` the wheels pip would pick on Lambda (what the Dockerfile's ``RUN pip install``
    puts in the task root). No bytecode is compiled: this pip's Python is not Lambda's. Returns ``target``.

    Args:
        requirements: a requirements file (hashes are honoured), or None with ``extra`` naming the requirements.
        extra: more requirement specifiers (``"awslambdaric==4.2.2"``).
    """
    files = ["--requirement", str(requirements)] if requirements else []
    _pip("install", "--quiet", "--no-compile", "--ignore-installed", "--target", str(target),
         *pip_platform_args(architecture, python_version), *files, *extra)
    return target


def glibc_needed(shared_object: Path | bytes) -> tuple[int, int] | None:
    """The newest ``GLIBC_x.y`` version among the dynamic symbols ``objdump -T`` lists for a shared object.

    Args:
        shared_object: the path of an ELF file (x86_64 or aarch64: binutils reads both as elf64-little).

    Returns:
        (major, minor), or None when it imports no versioned glibc symbol.

    Raises:
        RuntimeError: objdump is missing or cannot read the file.
    """
    try:
        result = subprocess.run(["objdump", "-T", str(shared_object)], capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError("objdump is not installed (Debian/Ubuntu: apt install binutils)") from None
    if result.returncode != 0:
        raise RuntimeError(f"objdump -T {shared_object}: {result.stderr.strip()}")
    versions = {(int(m[1]), int(m[2])) for m in _GLIBC_SYMBOL.finditer(result.stdout)}
    return max(versions) if versions else None


def wheel_glibc(wheel: Path) -> dict[str, tuple[int, int] | None]:
    """``glibc_needed`` for every shared object (``*.so``, ``*.so.N``) inside ``wheel``: {member name: version}."""
    out = {}
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
        for member in archive.namelist():
            if re.search(r"\.so(\.\d+)*$", member):
                out[member] = glibc_needed(Path(archive.extract(member, tmp)))
    return out


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", type=Path, default=IMAGE_REQUIREMENTS)
    parser.add_argument("--arch", choices=sorted(MACHINES), action="append", help="default: both")
    args = parser.parse_args(argv)
    worst = (0, 0)
    for architecture in args.arch or sorted(MACHINES, reverse=True):
        print(f"\n{architecture}: CPython {LAMBDA_PYTHON}, manylinux up to 2_{LAMBDA_GLIBC[1]}")
        with tempfile.TemporaryDirectory() as tmp:
            wheels = {w.name: w for w in download(args.requirements, architecture, Path(tmp))}
            for item in resolve(args.requirements, architecture):
                needs = [v for v in wheel_glibc(wheels[item["wheel"]]).values() if v]
                newest = max(needs, default=None)
                worst = max(worst, newest or (0, 0))
                glibc = f"GLIBC_{newest[0]}.{newest[1]}" if newest else "-"
                print(f"  {item['wheel']:<80} {glibc}")
    ok = worst <= LAMBDA_GLIBC
    print(f"\nnewest glibc needed: {worst[0]}.{worst[1]}; Amazon Linux 2023 has {LAMBDA_GLIBC[0]}.{LAMBDA_GLIBC[1]}: "
          + ("fine" if ok else "TOO NEW"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
