"""Chapter 05, step 1 and 2: the ECR repository that holds the function's image, and the image pushed into it.

The repository is created once (tagged as this project's, tags immutable, a lifecycle policy that expires only images
no version can need). Every deploy builds chapter 04's image (the reference Dockerfile, or the learner's with
``--dockerfile``) with ``docker build`` for the function's architecture and pushes it under a tag of its own
(``unique_tag``: the git commit and the time), after a ``docker login`` with a token from
``ecr.get_authorization_token``. The function then runs it pinned by digest (``image_digest``), and each published
version keeps naming its own image, so ``make rollback`` can go back to any version whose image is still there.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import botocore.exceptions

from tutorial_support import docker_image
from tutorial_support.deployment import PROJECT_TAGS, DeployError, error_code, is_ours, not_ours
from tutorial_support.paths import REPO_ROOT

# Tags are immutable: a tag names one image for good, so a version's tag in `make versions` is the image it runs, and
# no push can move a tag off an image that a version needs (https://docs.aws.amazon.com/AmazonECR/latest/userguide/
# image-tag-mutability.html).
TAG_MUTABILITY = "IMMUTABLE"
# The lifecycle policy expires untagged images only, this many days after their push. Why not "keep the last N":
# every published version pins its image by digest, and a version whose image is gone enters the Failed state
# (https://docs.aws.amazon.com/lambda/latest/dg/invocation-images.html), so expiring older tagged images would break
# rolling back to the versions that run them. Every image a deploy pushes is tagged (unique_tag), and tags are
# immutable, so an image becomes untagged only when a push was interrupted or a tag was deleted by hand: no version
# can need it. Storage ($0.10 per GB-month) grows by one image a deploy; `make destroy` removes them all.
UNTAGGED_EXPIRY_DAYS = 1


def lifecycle_policy(days: int = UNTAGGED_EXPIRY_DAYS) -> dict:
    """An ECR lifecycle policy that expires untagged images ``days`` days after their push, and nothing else."""
    return {"rules": [{"rulePriority": 1, "description": f"expire untagged images {days} day(s) after their push",
                       "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                                     "countNumber": days},
                       "action": {"type": "expire"}}]}


REGISTRY_SCANNING_COMMAND = (
    "aws ecr put-registry-scanning-configuration --scan-type BASIC --rules "
    "'[{\"scanFrequency\": \"SCAN_ON_PUSH\", \"repositoryFilters\": [{\"filter\": \"*\", "
    "\"filterType\": \"WILDCARD\"}]}]'")


def registry_scanning_note(ecr, name: str) -> str:
    """Whether the registry's scanning configuration scans pushes to repository ``name``, in words, with the command
    that turns it on when not. Nothing is changed: it is a setting of the whole registry (every repository of the
    account in this region), which is the learner's to decide.

    Repository-level ``scanOnPush`` is deprecated in favour of the registry's scanning configuration
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning.html), so the repository sets none.
    """
    try:
        rules = ecr.get_registry_scanning_configuration()["scanningConfiguration"].get("rules", [])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # no permission, say
        return f"registry scanning: could not be read ({error_code(e) or type(e).__name__})"
    for rule in rules:
        for flt in rule.get("repositoryFilters", []):
            pattern = re.escape(flt.get("filter", "")).replace(r"\*", ".*")
            if re.fullmatch(pattern, name):
                return f"registry scanning: {rule.get('scanFrequency', '?')} covers {name}"
    return (f"registry scanning: off for {name} (images are not scanned for vulnerabilities); the registry-wide "
            f"setting is yours to change: {REGISTRY_SCANNING_COMMAND}")


def ensure_repository(ecr, name: str) -> str:
    """Create the ECR repository ``name`` unless it exists (immutable tags, tagged as ours), make an existing one of
    ours immutable, set its lifecycle policy (``lifecycle_policy``), and say whether registry scanning covers it.

    Returns:
        the repository URI (``ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME``).

    Raises:
        DeployError: a repository of that name exists without this project's tag.
        botocore.exceptions.ClientError: an AWS call failed (access denied, ...).
    """
    try:
        repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        tags = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
        if not is_ours(tags):
            raise not_ours("ECR repository", name)
        print(f"  ECR repository {name}: exists")
        if repository.get("imageTagMutability") != TAG_MUTABILITY:  # made by an older deploy, which pushed `latest`
            ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability=TAG_MUTABILITY)
            print(f"  ECR repository {name}: tags made {TAG_MUTABILITY}")
    except ecr.exceptions.RepositoryNotFoundException:
        # No imageScanningConfiguration: repository-level scan on push is deprecated (registry_scanning_note).
        repository = ecr.create_repository(
            repositoryName=name, imageTagMutability=TAG_MUTABILITY,
            tags=[{"Key": k, "Value": v} for k, v in PROJECT_TAGS.items()])["repository"]
        print(f"  ECR repository {name}: created (tags {TAG_MUTABILITY})")
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(lifecycle_policy()))
    print(f"  {registry_scanning_note(ecr, name)}")
    return repository["repositoryUri"]


def git_commit(root: Path = REPO_ROOT) -> str:
    """The checkout's commit, 12 hex digits, with ``-dirty`` when files differ from it (your own chapter code, for
    instance); ``nogit`` outside a git checkout or without git."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "nogit"
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "nogit"
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def unique_tag(commit: str | None = None, now: datetime | None = None) -> str:
    """A tag for one deploy's image: ``COMMIT-YYYYMMDDTHHMMSSZ`` (``git_commit()`` and the UTC time), for instance
    ``0123abcd4567-20261130T201808Z``: unique per deploy, and it says what was built and when. ECR allows letters,
    digits, ``-``, ``_`` and ``.``."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{commit or git_commit()}-{now:%Y%m%dT%H%M%SZ}"


def shipped_files(dockerfile: Path) -> tuple[str, list[str]]:
    """What an image built from ``dockerfile`` ships of the learner's work, read from its ``CMD`` and ``COPY`` lines
    (``tutorial_support.task_root.parse``): the handler (``module.function``) and the files copied from the build
    context (the repository root), in order.

    Raises:
        DeployError: the Dockerfile cannot be read, has no ``CMD``, or copies no ``.py`` file named by it (a
            chapter 04 starter that is not done yet).
    """
    from tutorial_support import task_root  # needs dockerfile-parse (ImportError without it: describe_build)

    shown = _shown(dockerfile)
    try:
        image = task_root.parse(dockerfile)
    except (OSError, ValueError) as e:
        raise DeployError(f"cannot read the Dockerfile {shown}: {e}.") from None
    files = [source for sources, _ in image.copies for source in sources]
    command = image.cmd[0] if isinstance(image.cmd, list) and image.cmd else image.cmd
    module = command.rsplit(".", 1)[0] if isinstance(command, str) and "." in command else None
    if module is None or not any(Path(f).name == f"{module}.py" for f in files):
        raise DeployError(f"the Dockerfile {shown} names no handler that it copies (its CMD should be "
                          "[\"lambda_function.lambda_handler\"] and a COPY line should copy lambda_function.py): is "
                          "chapter 04's exercise done? `make check CHAPTER=04` checks it; without DOCKERFILE=, "
                          "`make deploy` ships the reference solution.")
    return command, files


def _shown(path: Path) -> str:
    """``path`` relative to the repository root when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def describe_build(dockerfile: Path) -> str:
    """One line for the plan: which Dockerfile, whose handler, which files it ships (``shipped_files``).

    Raises:
        DeployError: as ``shipped_files``.
    """
    try:
        command, files = shipped_files(dockerfile)
    except ImportError:  # dockerfile-parse is in the tutorial's environment (requirements/dev.txt), not deploy.txt
        return f"built from {_shown(dockerfile)} (pip install dockerfile-parse to list what it ships)"
    whose = ("the reference solution's" if all(f.startswith("solutions/") for f in files if f.endswith(".py"))
             else "your own")
    return f"built from {_shown(dockerfile)}: {whose} handler {command}, shipping {', '.join(files)}"


def image_digest(ecr, repository: str, tag: str) -> str:
    """The digest (``sha256:...``) of the image tagged ``tag`` in ``repository``.

    Raises:
        DeployError: there is no such image (build and push it first, or drop ``--no-build``).
    """
    try:
        details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
    except ecr.exceptions.ImageNotFoundException:
        details = []
    if not details:
        raise DeployError(f"the ECR repository {repository!r} has no image tagged {tag!r}: run deploy without "
                          "--no-build to build and push it.")
    return details[0]["imageDigest"]


def docker_login_command(ecr) -> tuple[list[str], str]:
    """The ``docker login`` argv for the account's registry and the password to give it on stdin.

    ``get_authorization_token`` returns base64 of ``AWS:<password>``, valid 12 hours (what ``aws ecr
    get-login-password`` prints; the CLI v1's ``aws ecr get-login`` no longer exists).
    """
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return ["docker", "login", "--username", user, "--password-stdin", data["proxyEndpoint"]], password


def newest_image(ecr, repository: str) -> str:
    """The tag of the image pushed last among the tagged images of ``repository`` (what ``--no-build`` deploys when
    no ``--image-tag`` is given).

    Raises:
        DeployError: the repository holds no tagged image.
    """
    details = [d for page in ecr.get_paginator("describe_images").paginate(
        repositoryName=repository, filter={"tagStatus": "TAGGED"}) for d in page["imageDetails"]]
    if not details:
        raise DeployError(f"the ECR repository {repository!r} has no image: run deploy without --no-build to build "
                          "and push one.")
    newest = max(details, key=lambda d: d["imagePushedAt"])
    return sorted(newest["imageTags"])[0]


def build_and_push(ecr, repository_uri: str, tag: str, architecture: str,
                   dockerfile: Path = docker_image.DOCKERFILE) -> None:
    """Build the image of ``dockerfile`` (chapter 04's reference by default; a learner's own with ``make deploy
    DOCKERFILE=04_docker/Dockerfile``) for ``architecture``, log Docker in to ECR, tag and push it as
    ``repository_uri:tag``.

    Raises:
        DeployError: no Docker engine answers, its builder cannot build this Dockerfile or architecture (the
            paragraph says what to install), or a docker command fails.
    """
    reason = docker_image.docker_available()
    if reason:
        raise DeployError(f"cannot build the image: {reason}. Start Docker (Docker Desktop, or `sudo systemctl "
                          "start docker`) and run again, or pass --no-build to deploy the image already in ECR.")
    local = f"{repository_uri.rsplit('/', 1)[1]}:{tag}"
    try:  # the command this Docker's builder needs (--load with a docker-container builder, ...), as make image runs
        build, notes = docker_image.plan_build(local, architecture, dockerfile=dockerfile)
    except docker_image.BuilderError as e:
        raise DeployError(str(e)) from None
    for note in notes:
        print(f"  note: {note}")
    login, password = docker_login_command(ecr)
    for command, stdin in [(build, None),
                           (login, password),
                           (["docker", "tag", local, f"{repository_uri}:{tag}"], None),
                           (["docker", "push", f"{repository_uri}:{tag}"], None)]:
        print("  $ " + " ".join(command), flush=True)
        if subprocess.run(command, input=stdin, text=True).returncode != 0:
            raise DeployError(f"`{' '.join(command[:2])}` failed (its output is above); fix that and run again.")

