"""Chapter 05, step 1 and 2: the ECR repository that holds the function's image, and the image pushed into it.

The repository is created once (scan on push, tagged as this project's, a lifecycle policy that expires old images:
storage is what an idle deployment costs). The image is chapter 04's, built with ``docker build`` for the function's
architecture and pushed after a ``docker login`` with a token from ``ecr.get_authorization_token``. The function then
runs it pinned by digest (``image_digest``), so a later push under the same tag does not change what it runs.
"""

from __future__ import annotations

import base64
import json
import subprocess

from tutorial_support import docker_image
from tutorial_support.deployment import PROJECT_TAGS, DeployError, is_ours, not_ours

KEEP_IMAGES = 5  # the ECR lifecycle policy expires older images: storage is what an idle deployment costs


def lifecycle_policy(keep: int = KEEP_IMAGES) -> dict:
    """An ECR lifecycle policy that expires all but the ``keep`` most recent images."""
    return {"rules": [{"rulePriority": 1, "description": f"keep the last {keep} images",
                       "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                       "action": {"type": "expire"}}]}


def ensure_repository(ecr, name: str, keep: int = KEEP_IMAGES) -> str:
    """Create the ECR repository ``name`` unless it exists (scan on push, tagged), and set its lifecycle policy.

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
    except ecr.exceptions.RepositoryNotFoundException:
        repository = ecr.create_repository(
            repositoryName=name, imageScanningConfiguration={"scanOnPush": True},
            tags=[{"Key": k, "Value": v} for k, v in PROJECT_TAGS.items()])["repository"]
        print(f"  ECR repository {name}: created")
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(lifecycle_policy(keep)))
    return repository["repositoryUri"]


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


def build_and_push(ecr, repository_uri: str, tag: str, architecture: str) -> None:
    """Build chapter 04's image for ``architecture``, log Docker in to ECR, tag and push it as ``repository_uri:tag``.

    Raises:
        DeployError: no Docker engine answers, or a docker command fails.
    """
    reason = docker_image.docker_available()
    if reason:
        raise DeployError(f"cannot build the image: {reason}. Start Docker (Docker Desktop, or `sudo systemctl "
                          "start docker`) and run again, or pass --no-build to deploy the image already in ECR.")
    local = f"{repository_uri.rsplit('/', 1)[1]}:{tag}"
    login, password = docker_login_command(ecr)
    for command, stdin in [(docker_image.build_command(local, architecture), None), (login, password),
                           (["docker", "tag", local, f"{repository_uri}:{tag}"], None),
                           (["docker", "push", f"{repository_uri}:{tag}"], None)]:
        print("  $ " + " ".join(command), flush=True)
        if subprocess.run(command, input=stdin, text=True).returncode != 0:
            raise DeployError(f"`{' '.join(command[:2])}` failed (its output is above); fix that and run again.")

