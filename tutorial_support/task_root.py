"""Read a Lambda Dockerfile and build its task root in a folder, without Docker (chapter 04).

    python -m tutorial_support.task_root OUT [--dockerfile F] [--arch x86_64|arm64]

What a ``docker build`` of the Dockerfile would put in ``/var/task`` (``${LAMBDA_TASK_ROOT}``) is put in ``OUT``:
``COPY`` copies from the build context (the repository root), honouring the root ``.dockerignore``; a
``RUN pip install`` installs the same wheels pip would pick inside the image (``lambda_wheels.install``); other
``RUN`` commands are listed as not reproduced. The tests run the handler from such a folder under Python 3.13
through ``awslambdaric``, the runtime interface client of the base image (``tutorial_support/lambda_runtime.py``).

Only what a Lambda Dockerfile of this tutorial needs is understood: one stage, ``FROM``, ``ARG``/``ENV``
(``${VAR}`` and ``$VAR``), ``WORKDIR``, ``COPY``/``ADD`` of local files, ``RUN``, ``CMD``, ``ENTRYPOINT``.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dockerfile_parse import DockerfileParser

from tutorial_support import lambda_wheels
from tutorial_support.paths import REPO_ROOT, SOLUTIONS

DOCKERFILE = SOLUTIONS / "04_docker" / "Dockerfile"  # the reference
TASK_ROOT = "/var/task"
# What public.ecr.aws/lambda/python sets before our Dockerfile runs (its own Dockerfile: ENV and WORKDIR).
BASE_ENV = {"LAMBDA_TASK_ROOT": TASK_ROOT, "LAMBDA_RUNTIME_DIR": "/var/runtime"}
# Where pip installs without --target inside the base image (the runtime's site-packages).
SITE_PACKAGES = f"/var/lang/lib/python{lambda_wheels.LAMBDA_PYTHON}/site-packages"
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


class DockerfileError(ValueError):
    """The Dockerfile uses something this reader does not reproduce, or refers to a file it cannot find."""


@dataclass
class Instruction:
    """One Dockerfile instruction: ``keyword`` (upper case), ``args`` (its text, variables expanded), ``line``
    (1-based)."""

    keyword: str
    args: str
    line: int


@dataclass
class Image:
    """What the reader learnt from a Dockerfile.

    Attributes:
        base: the ``FROM`` image reference; ``None`` when there is no ``FROM``.
        instructions: every instruction, in order, variables expanded.
        copies: ``(sources, destination)`` of each ``COPY``/``ADD``, sources relative to the build context,
            destination an absolute path in the image.
        pip_installs: the argv (after ``install``) of each ``pip install`` in a ``RUN``.
        cmd: the ``CMD`` as a list (exec form) or a string (shell form); ``None`` when absent.
        entrypoint: the ``ENTRYPOINT`` likewise.
        not_reproduced: the ``RUN`` commands ``assemble`` does not reproduce.
    """

    base: str | None = None
    instructions: list[Instruction] = field(default_factory=list)
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    pip_installs: list[list[str]] = field(default_factory=list)
    cmd: list[str] | str | None = None
    entrypoint: list[str] | str | None = None
    not_reproduced: list[str] = field(default_factory=list)


def _expand(text: str, env: dict[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m[1] or m[2], m[0]), text)


def _exec_or_shell(args: str) -> list[str] | str:
    if args.strip().startswith("["):
        try:
            value = json.loads(args)
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                return value
        except json.JSONDecodeError:
            pass
    return args.strip()


def parse(dockerfile: Path | str) -> Image:
    """Read a Dockerfile (a path, or its text) with ``dockerfile-parse``.

    Raises:
        DockerfileError: a multi-stage build, ``COPY --from``, or ``ADD`` of a URL.
    """
    text = Path(dockerfile).read_text() if isinstance(dockerfile, Path) else dockerfile
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False)
    image, env, workdir = Image(), dict(BASE_ENV), TASK_ROOT
    for item in parser.structure:
        keyword, line = item["instruction"].upper(), item["startline"] + 1
        if keyword == "COMMENT":
            continue
        args = _expand(item["value"], env)
        image.instructions.append(Instruction(keyword, args, line))
        if keyword == "FROM":
            if image.base is not None:
                raise DockerfileError(f"line {line}: a second FROM (multi-stage builds are not reproduced here)")
            image.base = args.split()[0]
        elif keyword in ("ENV", "ARG"):
            for word in shlex.split(args):
                name, _, value = word.partition("=")
                if value or keyword == "ENV":
                    env[name] = value
        elif keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / args.strip())
        elif keyword in ("COPY", "ADD"):
            words = _exec_or_shell(args)
            words = words if isinstance(words, list) else shlex.split(words)
            flags = [w for w in words if w.startswith("--")]
            if any(f.startswith("--from") for f in flags):
                raise DockerfileError(f"line {line}: COPY --from (multi-stage builds) is not reproduced here")
            paths = [w for w in words if not w.startswith("--")]
            if len(paths) < 2:
                raise DockerfileError(f"line {line}: {keyword} needs a source and a destination")
            if keyword == "ADD" and any(re.match(r"\w+://", p) for p in paths[:-1]):
                raise DockerfileError(f"line {line}: ADD of a URL; COPY files from the build context instead")
            destination = paths[-1]
            absolute = str(PurePosixPath(workdir) / destination) + ("/" if destination.endswith("/") else "")
            image.copies.append(([p.removeprefix("./") for p in paths[:-1]], absolute))
        elif keyword == "RUN":
            for command in re.split(r"\s*(?:&&|;|\|\|)\s*", args):
                words = shlex.split(command)
                if words[:3] == ["python", "-m", "pip"] or words[:3] == ["python3", "-m", "pip"]:
                    words = ["pip", *words[3:]]
                if words[:1] in (["pip"], ["pip3"]) and "install" in words[1:2]:
                    # Paths given to -r/-t are relative to WORKDIR: make them absolute now.
                    image.pip_installs.append([
                        str(PurePosixPath(workdir) / word) if before in ("-r", "--requirement", "-t", "--target")
                        else word for before, word in zip(["install", *words[2:]], words[2:])])
                elif words:
                    image.not_reproduced.append(command)
        elif keyword == "CMD":
            image.cmd = _exec_or_shell(args)
        elif keyword == "ENTRYPOINT":
            image.entrypoint = _exec_or_shell(args)
    return image


def dockerignore_admits(path: str, rules: list[str]) -> bool:
    """Whether a ``.dockerignore`` with ``rules`` lets ``path`` (relative to the context, ``/``-separated) into the
    build context. The last matching rule wins; ``!`` re-includes; a rule that matches a folder matches its
    contents. Patterns are matched per path component (``*``, ``?``, ``[...]``); ``**`` is not supported."""
    parts, admitted = PurePosixPath(path).parts, True
    for rule in rules:
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        exclude = not rule.startswith("!")
        pattern = PurePosixPath(rule.lstrip("!").strip("/")).parts
        if len(parts) >= len(pattern) and all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern)):
            admitted = not exclude
    return admitted


def context_rules(context: Path) -> list[str]:
    """The lines of ``context/.dockerignore`` (none when it does not exist)."""
    ignore = context / ".dockerignore"
    return ignore.read_text().splitlines() if ignore.is_file() else []


def _in_root(root: Path, image_path: str) -> Path:
    return root / PurePosixPath(image_path).relative_to("/")


def assemble(dockerfile: Path | str, context: Path, root: Path, architecture: str = "x86_64",
             install: bool = True) -> tuple[Image, Path]:
    """Reproduce the Dockerfile's ``COPY`` and ``pip install`` steps into ``root`` (the image's ``/``).

    Args:
        dockerfile: the Dockerfile (path or text).
        context: the build context (files are copied from here, if ``.dockerignore`` admits them).
        root: an empty folder that stands for the image's ``/``.
        architecture: ``"x86_64"`` or ``"arm64"``: the wheels installed are those for Lambda on it.
        install: False to skip the ``pip install`` steps (only the files copied).

    Returns:
        (the parsed ``Image``, the task root: ``root/var/task``).

    Raises:
        DockerfileError: a ``COPY`` source that does not exist or that ``.dockerignore`` leaves out of the context,
            or a ``pip install`` that is not from a requirements file copied into the image.
        RuntimeError: pip failed (see ``lambda_wheels``).
    """
    image, rules = parse(dockerfile), context_rules(context)
    for sources, destination in image.copies:
        target = _in_root(root, destination)
        into_folder = destination.endswith("/") or len(sources) > 1 or target.is_dir()
        for source in sources:
            path = context / source
            if not path.exists():
                raise DockerfileError(f"COPY {source}: no such file in the build context {context}")
            if not dockerignore_admits(source, rules):
                raise DockerfileError(f"COPY {source}: .dockerignore leaves it out of the build context")
            dest = target / path.name if into_folder else target
            dest.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True)
            else:
                shutil.copy2(path, dest)
    (root / TASK_ROOT.lstrip("/")).mkdir(parents=True, exist_ok=True)
    if install:
        for argv in image.pip_installs:
            requirement_files = [argv[i + 1] for i, w in enumerate(argv[:-1]) if w in ("-r", "--requirement")]
            requirement_files += [w.split("=", 1)[1] for w in argv if w.startswith("--requirement=")]
            targets = [argv[i + 1] for i, w in enumerate(argv[:-1]) if w in ("-t", "--target")]
            targets += [w.split("=", 1)[1] for w in argv if w.startswith("--target=")]
            if not requirement_files:
                raise DockerfileError(f"pip install {' '.join(argv)}: install from the pinned requirements file "
                                      "(--requirement), so the image gets exactly the tested versions")
            target = _in_root(root, targets[-1] if targets else SITE_PACKAGES)
            for requirements in requirement_files:
                copied = _in_root(root, str(PurePosixPath(TASK_ROOT) / requirements))  # relative: from WORKDIR
                if not copied.is_file():
                    raise DockerfileError(f"pip install --requirement {requirements}: the file is not in the image "
                                          "(COPY it first)")
                lambda_wheels.install(copied, target, architecture)
    return image, _in_root(root, TASK_ROOT)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="an empty folder for the image's / (the task root is OUT/var/task)")
    parser.add_argument("--dockerfile", type=Path, default=DOCKERFILE)
    parser.add_argument("--context", type=Path, default=REPO_ROOT)
    parser.add_argument("--arch", choices=sorted(lambda_wheels.MACHINES), default="x86_64")
    args = parser.parse_args(argv)
    image, task_root = assemble(args.dockerfile, args.context, args.out, args.arch)
    size = sum(p.stat().st_size for p in task_root.rglob("*") if p.is_file()) / 1e6
    print(f"{task_root}: {size:.0f} MB; CMD {image.cmd}")
    for command in image.not_reproduced:
        print(f"  not reproduced: RUN {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
