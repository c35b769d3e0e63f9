"""Read a Lambda Dockerfile and build its task root in a folder, without Docker (chapter 04).

    python -m tutorial_support.task_root OUT [--dockerfile F] [--arch x86_64|arm64]

What a ``docker build`` of the Dockerfile would put in the image is put under ``OUT`` (which stands for the image's
``/``; the task root, ``/var/task`` or ``${LAMBDA_TASK_ROOT}``, is ``OUT/var/task``). The instructions are followed in
order, as Docker follows them: ``COPY`` copies from the build context (the repository root), honouring the root
``.dockerignore``, with Docker's rules for the destination (a file copied to a folder that exists, or to a path that
ends with ``/``, goes into it; otherwise the destination is the file's new name); a ``RUN pip install`` installs the
same wheels pip would pick inside the image (``lambda_wheels.install``), into ``--target`` or, without it, into the
runtime's site-packages; a ``RUN chmod`` changes the modes it names; other ``RUN`` commands are listed as not
reproduced. The base image's own folders (``/var/task``, ``/var/runtime``, the runtime's site-packages, ``/tmp``)
exist from the start, and its variables (``LAMBDA_TASK_ROOT``, ``LAMBDA_RUNTIME_DIR``) and working directory
(``WORKDIR /var/task``) are set, so relative paths in ``COPY`` and ``RUN`` are read from there. The tests run the
handler from such a folder under Python 3.13 through ``awslambdaric``, the runtime interface client of the base image
(``tutorial_support/lambda_runtime.py``).

File modes are Docker's: ``COPY`` keeps the mode each file has in the build context (a checkout made under umask 077
has ``-rw-------`` files; ``reproduce(checkout_umask=0o077)`` copies as if the context had been checked out so),
unless ``--chmod`` gives one; folders ``COPY`` creates for a destination are ``drwxr-xr-x``; ``pip install`` runs
under umask 022, as a ``RUN`` does. Lambda runs the function as a non-root user, which can read only what "other"
may read (``unreadable``), while a local run as root (the base image's emulator) reads everything.

Only what a Lambda Dockerfile of this tutorial needs is understood: one stage, ``FROM`` (with a tag and a digest),
``ARG``/``ENV`` (``${VAR}`` and ``$VAR``), ``WORKDIR``, ``COPY``/``ADD`` of local files (wildcards too, ``--chmod``),
``RUN`` (``pip install`` and ``chmod``), ``CMD``, ``ENTRYPOINT``.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import posixpath
import re
import shlex
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager
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
# Where `pip install --user` would put packages when the build runs as root (not on Lambda's sys.path).
USER_SITE = f"/root/.local/lib/python{lambda_wheels.LAMBDA_PYTHON}/site-packages"
BASE_FOLDERS = (TASK_ROOT, BASE_ENV["LAMBDA_RUNTIME_DIR"], SITE_PACKAGES, "/tmp")  # folders the base image has
FOLDER_MODE = 0o755  # what Docker gives the folders it creates for a COPY destination, and the base image's own
RUN_UMASK = 0o022  # the umask of a RUN step (what pip install's files get)
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_GLOB = re.compile(r"[*?\[]")
_CHMOD_OPTIONS = {"-R": "recursive", "--recursive": "recursive", "-f": None, "--silent": None, "--quiet": None,
                  "-v": None, "--verbose": None, "-c": None, "--changes": None, "--preserve-root": None,
                  "--no-preserve-root": None}
_SYMBOLIC_MODE = re.compile(r"[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+")
# pip install options that take a value (the value is not a package name); the paths among them are made absolute.
_PIP_PATH_OPTIONS = {"-r": "--requirement", "--requirement": "--requirement", "-c": "--constraint",
                     "--constraint": "--constraint", "-t": "--target", "--target": "--target", "--prefix": "--prefix",
                     "--root": "--root", "-e": "--editable", "--editable": "--editable"}
_PIP_VALUE_OPTIONS = {"--platform", "--python-version", "--implementation", "--abi", "--src", "--upgrade-strategy",
                      "-C", "--config-settings", "--global-option", "--no-binary", "--only-binary", "--progress-bar",
                      "--root-user-action", "--report", "-i", "--index-url", "--extra-index-url", "-f",
                      "--find-links", "--log", "--log-file", "--local-log", "--proxy", "--retries", "--timeout",
                      "--exists-action", "--trusted-host", "--cert", "--client-cert", "--cache-dir", "--python",
                      "--keyring-provider", "--use-feature", "--use-deprecated", "--group"}


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
        base: the ``FROM`` image's name and tag (``public.ecr.aws/lambda/python:3.13``), without its digest;
            ``None`` when there is no ``FROM``.
        digest: the digest the ``FROM`` pins the image to (``sha256:...``, written ``name:tag@sha256:...``), or None.
        instructions: every instruction, in order, variables expanded.
        copies: ``(sources, destination)`` of each ``COPY``/``ADD``, sources relative to the build context,
            destination an absolute path in the image (ending with ``/`` when it was written so).
        copy_modes: the ``--chmod`` of each ``COPY``/``ADD`` (``"0644"``, ``"a+rX"``), in the order of ``copies``;
            None where it has none (the files keep the build context's modes).
        chmods: ``(mode, paths, recursive)`` of each ``chmod`` in a ``RUN``: the mode as written, the paths absolute
            (read from the ``WORKDIR`` of their ``RUN``; shell wildcards kept), ``-R`` given.
        pip_installs: the argv (after ``install``) of each ``pip install`` in a ``RUN``; the paths given to
            ``--requirement``, ``--constraint``, ``--target``, ``--prefix``, ``--root`` are absolute (read from the
            ``WORKDIR`` of their ``RUN``), each option and its value two words.
        steps: ``(kind, index, line)`` in Dockerfile order, ``kind`` ``"copy"`` (``copies[index]``), ``"pip"``
            (``pip_installs[index]``) or ``"chmod"`` (``chmods[index]``).
        cmd: the ``CMD`` as a list (exec form) or a string (shell form); ``None`` when absent.
        entrypoint: the ``ENTRYPOINT`` likewise.
        env: the variables the Dockerfile's ``ENV`` instructions set (they stay in the image, for the function),
            ``{name: value}``; not the base image's own, not ``ARG`` (build time only).
        workdir: the working directory at the end (``/var/task`` unless ``WORKDIR`` changes it).
        not_reproduced: the ``RUN`` commands ``assemble`` does not reproduce.
    """

    base: str | None = None
    digest: str | None = None
    instructions: list[Instruction] = field(default_factory=list)
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    copy_modes: list[str | None] = field(default_factory=list)
    chmods: list[tuple[str, list[str], bool]] = field(default_factory=list)
    pip_installs: list[list[str]] = field(default_factory=list)
    steps: list[tuple[str, int, int]] = field(default_factory=list)
    cmd: list[str] | str | None = None
    entrypoint: list[str] | str | None = None
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = TASK_ROOT
    not_reproduced: list[str] = field(default_factory=list)


@dataclass
class PipOptions:
    """What one ``pip install`` asks for (``pip_options``).

    Attributes:
        requirements: the ``--requirement`` files, absolute paths in the image.
        packages: the packages named on the command line (``numpy==2.2.1``, ``pillow``), editables included.
        target: the ``--target`` folder (absolute), or None.
        no_cache_dir: ``--no-cache-dir`` is given.
        user: ``--user`` is given.
        prefix: the ``--prefix`` or ``--root`` folder (absolute), or None.
        platforms: the ``--platform`` tags (``manylinux2014_aarch64``): wheels for another machine than the build's.
    """

    requirements: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    target: str | None = None
    no_cache_dir: bool = False
    user: bool = False
    prefix: str | None = None
    platforms: list[str] = field(default_factory=list)

    @property
    def architecture(self) -> str | None:
        """The Lambda architecture the ``--platform`` tags pin the wheels to (``"x86_64"``, ``"arm64"``), or None."""
        for platform in self.platforms:
            for architecture, machine in lambda_wheels.MACHINES.items():
                if platform.endswith(machine):
                    return architecture
        return None


@dataclass
class Build:
    """What ``reproduce`` made of an ``Image``.

    Attributes:
        root: the folder standing for the image's ``/``.
        problems: why ``docker build`` would fail, or copy less than the Dockerfile means, one sentence each
            (``"line N: ..."``); empty when the build goes through.
        sources: ``{absolute path in the image: path in the build context}`` of every file ``COPY`` put there.
        lines: ``{absolute path in the image: line of the COPY that put it there}``, for the same files.
    """

    root: Path
    problems: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def task_root(self) -> Path:
        """The folder standing for ``/var/task``."""
        return in_root(self.root, TASK_ROOT)


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


def _absolute(path: str, workdir: str) -> str:
    """``path`` (absolute, or relative to ``workdir``) as a normalised absolute path; a trailing ``/`` is kept."""
    joined = posixpath.normpath(posixpath.join(workdir, path))
    return joined + ("/" if path.endswith("/") and joined != "/" else "")


def _pip_argv(words: list[str], workdir: str) -> list[str]:
    """The words after ``pip install``, with ``--opt=value`` and ``-rFILE`` split into two words, short path options
    spelt long, and their paths made absolute."""
    out: list[str] = []
    iterator = iter(words)
    for word in iterator:
        option, value = word, None
        if word.startswith("--") and "=" in word:
            option, value = word.split("=", 1)
        elif len(word) > 2 and word[:2] in ("-r", "-c", "-t", "-e") and not word.startswith("--"):
            option, value = word[:2], word[2:]
        if option in _PIP_PATH_OPTIONS:
            value = value if value is not None else next(iterator, "")
            long = _PIP_PATH_OPTIONS[option]
            out += [long, value if long == "--editable" else _absolute(value, workdir)]
        elif option in _PIP_VALUE_OPTIONS:
            out += [option, value if value is not None else next(iterator, "")]
        else:
            out.append(word)
    return out


def pip_options(argv: list[str]) -> PipOptions:
    """Read the argv of a ``pip install`` as ``Image.pip_installs`` holds it (see there)."""
    options, words = PipOptions(), iter(argv)
    for word in words:
        if word == "--requirement":
            options.requirements.append(next(words, ""))
        elif word == "--target":
            options.target = next(words, None)
        elif word in ("--prefix", "--root"):
            options.prefix = next(words, None)
        elif word == "--editable":
            options.packages.append(next(words, ""))
        elif word == "--platform":
            options.platforms.append(next(words, ""))
        elif word == "--constraint" or word in _PIP_VALUE_OPTIONS:
            next(words, None)
        elif word == "--no-cache-dir":
            options.no_cache_dir = True
        elif word == "--user":
            options.user = True
        elif not word.startswith("-"):
            options.packages.append(word)
    return options


def _pip_words(command: str) -> list[str] | None:
    """The words after ``install`` when ``command`` is a ``pip install`` (``pip``, ``pip3``, ``pip3.13``,
    ``python -m pip``, ``/var/lang/bin/python3.13 -m pip``); None otherwise."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if words and re.fullmatch(r"python(3(\.\d+)?)?", PurePosixPath(words[0]).name) and words[1:3] == ["-m", "pip"]:
        words = ["pip", *words[3:]]
    if words and re.fullmatch(r"pip(3(\.\d+)?)?", PurePosixPath(words[0]).name) and words[1:2] == ["install"]:
        return words[2:]
    return None


def _chmod_words(command: str) -> tuple[str, list[str], bool] | None:
    """``(mode, paths, recursive)`` when ``command`` is a ``chmod`` (``chmod``, ``/bin/chmod``) of a mode this reader
    understands (``chmod_mode``); None otherwise (``--reference``, a mode it cannot read: not reproduced)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words or PurePosixPath(words[0]).name != "chmod":
        return None
    recursive, rest = False, []
    for word in words[1:]:
        if word in _CHMOD_OPTIONS and not rest:
            recursive = recursive or _CHMOD_OPTIONS[word] == "recursive"
        elif word.startswith("--") and not rest:
            return None  # --reference=FILE and other options: not reproduced
        else:
            rest.append(word)
    if len(rest) < 2:
        return None
    try:
        chmod_mode(rest[0], 0o644, False)
    except ValueError:
        return None
    return rest[0], rest[1:], recursive


def chmod_mode(spec: str, mode: int, is_folder: bool, umask: int = RUN_UMASK) -> int:
    """The permission bits a file of permission bits ``mode`` gets from ``chmod spec`` (or ``COPY --chmod=spec``).

    Args:
        spec: an octal mode (``644``, ``0644``, ``0755``), or a symbolic one as chmod(1) reads it (``a+r``,
            ``a+rX``, ``u=rw,go=r``; ``X`` adds execute only to folders and to files that have some execute bit;
            with no ``ugoa`` before the operator, the bits of ``umask`` are left alone).
        mode: the permission bits now (``st_mode & 0o7777``).
        is_folder: whether it is a folder (for ``X``).
        umask: the umask of the ``RUN`` (022 in Docker).

    Returns:
        the new permission bits.

    Raises:
        ValueError: ``spec`` is not a mode.

    Source: chmod(1), and https://docs.docker.com/reference/dockerfile/#copy---chmod (octal; symbolic since the
    Dockerfile frontend 1.14).
    """
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    mode &= 0o7777
    classes = {"u": 0o4700, "g": 0o2070, "o": 0o1007}
    for clause in spec.split(","):
        if not _SYMBOLIC_MODE.fullmatch(clause):
            raise ValueError(f"not a file mode: {spec!r}")
        who = re.match(r"[ugoa]*", clause)[0]
        affected = 0
        for letter in who.replace("a", "ugo"):
            affected |= classes[letter]
        for operator, perms in re.findall(r"([-+=])([ugo]|[rwxXst]*)", clause[len(who):]):
            if perms in ("u", "g", "o"):  # another class's bits: g=u
                triple = (mode >> {"u": 6, "g": 3, "o": 0}[perms]) & 0o7
                bits = triple * 0o111
            else:
                bits = 0
                for perm in perms:
                    if perm != "X" or is_folder or mode & 0o111:
                        bits |= {"r": 0o444, "w": 0o222, "x": 0o111, "X": 0o111, "s": 0o6000, "t": 0o1000}[perm]
            value = bits & affected if affected else bits & ~umask
            if operator == "+":
                mode |= value
            elif operator == "-":
                mode &= ~value
            else:  # =: the classes named lose every other bit (all of them when none is named)
                mode = (mode & ~affected & 0o7777 if affected else 0) | value
    return mode


def unreadable(root: Path, image_path: str) -> str | None:
    """Why Lambda's user could not read the file ``image_path`` of the image under ``root``, or None when it can.

    Lambda runs the function as a user that is neither the files' owner (root, who ran the build) nor in their group,
    so what counts is what "other" may do: search (``x``) every folder on the way, list (``r``) the folder of a Python
    module (the import system lists it), and read (``r``) the file ("The default Lambda user must be able to read all
    the files required to run your function code", docs.aws.amazon.com/lambda/latest/dg/images-create.html).

    Returns:
        ``"/var/task/lambda_function.py is -rw-------"`` (the first path on the way that stops it), or None.
    """
    path = PurePosixPath(posixpath.normpath(image_path))
    for folder in [*reversed(path.parents)]:
        local = in_root(root, str(folder))
        if not local.is_dir():
            return None  # not there at all: another check says so
        needed = stat.S_IXOTH | (stat.S_IROTH if folder == path.parent and path.suffix == ".py" else 0)
        if local.stat().st_mode & needed != needed:
            return f"{folder} is {stat.filemode(local.stat().st_mode)}"
    local = in_root(root, str(path))
    if local.exists() and not local.stat().st_mode & stat.S_IROTH:
        return f"{path} is {stat.filemode(local.stat().st_mode)}"
    return None


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
            words = [w for w in args.split() if not w.startswith("--")]  # FROM --platform=... image [AS name]
            image.base, _, digest = (words[0] if words else "").partition("@")
            image.digest = digest or None
        elif keyword in ("ENV", "ARG"):
            words = shlex.split(args)
            if keyword == "ENV" and words and "=" not in words[0]:  # the old form: ENV NAME value with spaces
                words = [f"{words[0]}={' '.join(words[1:])}"]
            for word in words:
                name, _, value = word.partition("=")
                if value or keyword == "ENV":
                    env[name] = value
                if keyword == "ENV":
                    image.env[name] = value
        elif keyword == "WORKDIR":
            workdir = _absolute(args.strip(), workdir).rstrip("/") or "/"
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
            absolute = _absolute(destination, workdir)
            if destination in (".", "./") or destination.endswith(("/.", "/")):
                absolute = absolute.rstrip("/") + "/"
            modes = [f.split("=", 1)[1] if "=" in f else "" for f in flags if f.split("=", 1)[0] == "--chmod"]
            image.steps.append(("copy", len(image.copies), line))
            image.copies.append(([posixpath.normpath(p) for p in paths[:-1]], absolute))
            image.copy_modes.append(modes[-1] if modes else None)
        elif keyword == "RUN":
            for command in re.split(r"\s*(?:&&|;|\|\|)\s*", args):
                words = _pip_words(command)
                chmod = _chmod_words(command)
                if words is not None:
                    image.steps.append(("pip", len(image.pip_installs), line))
                    image.pip_installs.append(_pip_argv(words, workdir))
                elif chmod is not None:
                    mode, paths, recursive = chmod
                    image.steps.append(("chmod", len(image.chmods), line))
                    image.chmods.append((mode, [_absolute(path, workdir) for path in paths], recursive))
                elif command.strip():
                    image.not_reproduced.append(command)
        elif keyword == "CMD":
            image.cmd = _exec_or_shell(args)
        elif keyword == "ENTRYPOINT":
            image.entrypoint = _exec_or_shell(args)
    image.workdir = workdir
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


def in_root(root: Path, image_path: str) -> Path:
    """The path under ``root`` (standing for the image's ``/``) of the absolute image path ``image_path``."""
    return root / PurePosixPath(posixpath.normpath(image_path)).relative_to("/")


_in_root = in_root  # the name it had before


def _context_files(context: Path, source: str, rules: list[str]) -> tuple[list[tuple[str, list[str]]], str | None]:
    """What the ``COPY`` source ``source`` names in the build context: ``[(the path it names, [the files under it
    that .dockerignore admits, relative to the context])]`` (a file names itself), or a problem. A wildcard
    matches only what is in the context (what .dockerignore admits)."""
    source = source.lstrip("/")  # sources are read from the context's root, written absolute or not
    if source in ("", ".") or source.startswith(".."):
        return [], f"COPY {source or '/'}: copy the files the image needs by name, not the whole build context"
    wildcard = bool(_GLOB.search(source))
    names = sorted(p.relative_to(context).as_posix() for p in context.glob(source)) if wildcard else (
        [source] if (context / source).exists() else [])
    found, left_out = [], []
    for name in names:
        path = context / name
        files = sorted(p.relative_to(context).as_posix() for p in path.rglob("*") if p.is_file()) \
            if path.is_dir() else [name]
        files = [f for f in files if dockerignore_admits(f, rules)]
        if files:
            found.append((name, files))
        else:
            left_out.append(name)
    if left_out and not wildcard:
        what = "everything in it" if (context / source).is_dir() else "it"
        return [], f"COPY {source}: .dockerignore leaves {what} out of the build context"
    if not found:
        return [], f"COPY {source}: no such file in the build context {context}"
    return found, None


def _link_tree(source: Path, target: Path) -> None:
    """Copy the folder ``source`` into ``target`` (merged), hard-linking the files where the file system allows."""
    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    shutil.copytree(source, target, dirs_exist_ok=True, copy_function=link, symlinks=True)


@contextmanager
def _run_umask():
    """The umask of a ``RUN`` step (022) around a step reproduced in this process, whatever this process's own."""
    previous = os.umask(RUN_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def _make_folders(root: Path, image_folder: str) -> None:
    """Create the folder ``image_folder`` (absolute in the image) under ``root`` and each missing one above it,
    ``drwxr-xr-x`` as Docker creates them, whatever this process's umask."""
    path = in_root(root, image_folder)
    missing = [folder for folder in [path, *path.parents] if folder != root and root in folder.parents
               and not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir()
        folder.chmod(FOLDER_MODE)


def _own_copy(path: Path) -> None:
    """Give ``path`` a file of its own when it is hard-linked (from the install cache) before its mode changes, as
    a layer copies a file up before changing it."""
    if path.is_file() and not path.is_symlink() and path.stat().st_nlink > 1:
        copy = path.with_name(path.name + ".copy-up")
        shutil.copy2(path, copy)
        copy.replace(path)


def _chmod(build: Build, mode: str, paths: list[str], recursive: bool, line: int) -> None:
    """Reproduce ``RUN chmod [-R] mode paths`` in ``build.root``; a path that does not exist is a problem (chmod
    fails, so the RUN and the build stop)."""
    for image_path in paths:
        local = in_root(build.root, image_path)
        if _GLOB.search(image_path):  # the shell expands it; with no match chmod gets the pattern itself
            found = sorted(build.root.glob(PurePosixPath(posixpath.normpath(image_path)).relative_to("/").as_posix()))
        else:
            found = [local] if local.exists() or local.is_symlink() else []
        if not found:
            build.problems.append(f"line {line}: RUN chmod {mode} {image_path}: no such file or folder in the image "
                                  "at this step, so chmod fails and docker build stops there")
            continue
        for path in found:
            for item in ([path, *sorted(path.rglob("*"))] if recursive and path.is_dir() else [path]):
                if item.is_symlink():
                    continue  # chmod -R leaves symbolic links alone
                _own_copy(item)
                item.chmod(chmod_mode(mode, item.stat().st_mode, item.is_dir()))


def _checked_out_mode(source: Path, umask: int | None) -> int | None:
    """The permission bits ``source`` would have in a git checkout made under ``umask`` (git writes 0666 or, for an
    executable, 0777, less the umask), or None for ``umask`` None (its own bits)."""
    if umask is None:
        return None
    return (0o777 if source.stat().st_mode & 0o111 else 0o666) & ~umask


def _install(requirements: Path | None, packages: list[str], target: Path, architecture: str,
             cache: Path | None) -> None:
    """``lambda_wheels.install`` into ``target`` under a ``RUN``'s umask (022); with ``cache``, each distinct install
    is made once there and linked in after."""
    with _run_umask():
        _install_files(requirements, packages, target, architecture, cache)


def _install_files(requirements: Path | None, packages: list[str], target: Path, architecture: str,
                   cache: Path | None) -> None:
    if cache is None:
        lambda_wheels.install(requirements, target, architecture, extra=tuple(packages))
        return
    key = hashlib.sha256(json.dumps([requirements.read_text() if requirements else None, packages, architecture,
                                     lambda_wheels.LAMBDA_PYTHON]).encode()).hexdigest()[:20]
    done = cache / key
    if not done.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            lambda_wheels.install(requirements, Path(tmp) / "packages", architecture, extra=tuple(packages))
            (Path(tmp) / "packages").rename(done)
    _link_tree(done, target)


def reproduce(image: Image, context: Path, root: Path, architecture: str = "x86_64", install: bool = True,
              cache: Path | None = None, checkout_umask: int | None = None) -> Build:
    """Follow the ``COPY``, ``pip install`` and ``chmod`` steps of ``image`` in order, into ``root`` (the image's
    ``/``), with the file modes Docker would give, and say what ``docker build`` would stop on instead of stopping at
    the first.

    Args:
        image: the parsed Dockerfile (``parse``).
        context: the build context (files are copied from here, if ``.dockerignore`` admits them).
        root: an empty or missing folder that stands for the image's ``/`` (made when missing).
        architecture: ``"x86_64"`` or ``"arm64"``: the wheels installed are those for Lambda on it (unless a ``pip
            install --platform`` asks for another machine's).
        install: False to skip the ``pip install`` steps (only the files copied).
        cache: a folder where each distinct ``pip install`` is kept and reused (linked in), or None.
        checkout_umask: copy the build context's files with the modes a git checkout made under this umask would
            give them (``0o077``: ``-rw-------``, folders ``drwx------``), to see the image a learner with that
            umask builds; None: with the modes they have here.

    Returns:
        a ``Build``: its ``problems`` name each ``COPY`` source that does not exist or that ``.dockerignore``
        leaves out of the context, several sources copied to a destination that is not a folder, a ``--chmod`` that
        is not a mode, each ``pip install --requirement`` of a file that is not in the image at that step, and each
        ``chmod`` of a path that is not there.

    Raises:
        RuntimeError: pip failed (see ``lambda_wheels``).
    """
    context, build, rules = Path(context), Build(Path(root)), context_rules(Path(context))
    build.root.mkdir(parents=True, exist_ok=True)  # made here when it is not there yet (make image-size's work folder)
    build.root.chmod(FOLDER_MODE)  # an image's / is drwxr-xr-x
    for folder in BASE_FOLDERS:
        _make_folders(build.root, folder)
    for kind, index, line in image.steps:
        if kind == "chmod":
            _chmod(build, *image.chmods[index], line)
        elif kind == "copy":
            sources, destination = image.copies[index]
            copy_mode = image.copy_modes[index] if index < len(image.copy_modes) else None
            if copy_mode is not None:
                try:
                    chmod_mode(copy_mode, 0o644, False)
                except ValueError:
                    build.problems.append(f"line {line}: COPY --chmod={copy_mode}: not a file mode (an octal "
                                          "number such as 0644, or a symbolic mode such as a+rX)")
                    copy_mode = None
            target = in_root(build.root, destination)
            named = []
            for source in sources:
                found, problem = _context_files(context, source, rules)
                if problem:
                    build.problems.append(f"line {line}: {problem}")
                named += found
            into_folder = destination.endswith("/") or target.is_dir()
            if len(named) > 1 and not into_folder:
                build.problems.append(f"line {line}: COPY of several files to {destination}: a destination that "
                                      "is not a folder takes one file; end it with / to copy them into a folder")
                continue
            for name, files in named:
                for file in files:
                    if (context / name).is_dir():  # a folder's contents go into the destination
                        image_path = posixpath.join(destination, PurePosixPath(file).relative_to(name).as_posix())
                    else:
                        image_path = posixpath.join(destination, PurePosixPath(file).name) if into_folder \
                            else destination
                    dest = in_root(build.root, image_path)
                    if (context / name).is_dir():  # the folders inside the source keep their modes
                        _copy_folders(context / name, PurePosixPath(file).relative_to(name).parent, build.root,
                                      destination, copy_mode, checkout_umask)
                    else:
                        _make_folders(build.root, posixpath.dirname(image_path))
                    if dest.exists() or dest.is_symlink():
                        dest.unlink()  # never write through a hard link into the install cache
                    shutil.copy2(context / file, dest)
                    mode = _checked_out_mode(context / file, checkout_umask)
                    if copy_mode is not None:
                        mode = chmod_mode(copy_mode, dest.stat().st_mode if mode is None else mode, False)
                    if mode is not None:
                        dest.chmod(mode)
                    build.sources[posixpath.normpath(image_path)] = file
                    build.lines[posixpath.normpath(image_path)] = line
        else:
            argv = image.pip_installs[index]
            options = pip_options(argv)
            missing = [r for r in options.requirements if not in_root(build.root, r).is_file()]
            for requirements in missing:
                build.problems.append(
                    f"line {line}: pip install --requirement {requirements}: the image has no such file at this "
                    "step (COPY it there before this RUN; a relative path is read from the WORKDIR, /var/task "
                    "in the Lambda base image)")
            if not install or missing:
                continue
            site = options.target or options.prefix or (USER_SITE if options.user else SITE_PACKAGES)
            target = in_root(build.root, site)
            machine = options.architecture or architecture  # pip --platform pins the wheels, whatever the image's
            for requirements in options.requirements:
                _install(in_root(build.root, requirements), [], target, machine, cache)
            if options.packages:
                _install(None, options.packages, target, machine, cache)
    return build


def _copy_folders(source: Path, inside: PurePosixPath, root: Path, destination: str, copy_mode: str | None,
                  checkout_umask: int | None) -> None:
    """Create the folders of a folder ``COPY``: the destination (``drwxr-xr-x`` where missing), then each folder
    ``inside`` the source, with the source folder's mode (or the ``--chmod``, which Docker gives folders too)."""
    _make_folders(root, destination)
    folder, image_folder = source, PurePosixPath(posixpath.normpath(destination))
    for part in inside.parts:
        folder, image_folder = folder / part, image_folder / part
        local = in_root(root, str(image_folder))
        if local.is_dir():
            continue
        local.mkdir()
        mode = _checked_out_mode(folder, checkout_umask)
        mode = folder.stat().st_mode & 0o7777 if mode is None else mode
        local.chmod(chmod_mode(copy_mode, mode, True) if copy_mode is not None else mode)


def assemble(dockerfile: Path | str, context: Path, root: Path, architecture: str = "x86_64",
             install: bool = True, cache: Path | None = None,
             checkout_umask: int | None = None) -> tuple[Image, Path]:
    """Reproduce the Dockerfile's ``COPY``, ``pip install`` and ``chmod`` steps into ``root`` (the image's ``/``).

    Args:
        dockerfile: the Dockerfile (path or text).
        context: the build context (files are copied from here, if ``.dockerignore`` admits them).
        root: an empty folder that stands for the image's ``/``.
        architecture: ``"x86_64"`` or ``"arm64"``: the wheels installed are those for Lambda on it.
        install: False to skip the ``pip install`` steps (only the files copied).
        cache, checkout_umask: see ``reproduce``.

    Returns:
        (the parsed ``Image``, the task root: ``root/var/task``).

    Raises:
        DockerfileError: ``docker build`` would fail (``reproduce``'s problems, all of them, one a line).
        RuntimeError: pip failed (see ``lambda_wheels``).
    """
    image = parse(dockerfile)
    build = reproduce(image, Path(context), Path(root), architecture, install, cache, checkout_umask)
    if build.problems:
        raise DockerfileError("\n".join(build.problems))
    return image, build.task_root


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
