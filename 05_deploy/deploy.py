"""Deploy the chapter 04 image to AWS Lambda with boto3, and take it all down again (chapter 05).

    python solutions/05_deploy/deploy.py deploy  [--region R] [--name N] [--memory MB] [--timeout S] [--arch A]
                                                 [--image-tag T] [--no-build] [--url IMAGE_URL] [--dry-run]
    python solutions/05_deploy/deploy.py destroy [--region R] [--name N] [--dry-run]

``deploy`` prints its plan, then, each step idempotent (run it again to roll out a new image or new settings):
1. the ECR repository ``NAME`` (created if absent: scan on push, a lifecycle policy keeping the last images);
2. the image: built with chapter 04's ``docker build`` command, tagged and pushed after a ``docker login`` with a
   token from ``ecr.get_authorization_token`` (``--no-build`` uses the image already in the repository instead);
3. the execution role ``NAME-role``: trusted by ``lambda.amazonaws.com``, with ``AWSLambdaBasicExecutionRole`` only
   (write its logs to CloudWatch; nothing else);
4. the function ``NAME``: created from the image pinned by digest, or its code and configuration updated;
5. a new version, and the alias ``live`` pointed at it (roll back by pointing ``live`` at an older version);
6. one invocation of ``live`` with a real image URL, whose answer is printed.

Every resource gets the tag ``project=serverless-dl-clothing``. ``destroy`` deletes what ``deploy`` created (found
by name, and only when it carries that tag), in reverse order. ``AWS_ENDPOINT_URL`` (read by boto3 itself) points
every call at another endpoint, such as a moto server in the tests. ``make deploy`` and ``make destroy`` run this.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import botocore.exceptions
from botocore.config import Config

PROJECT_TAGS = {"project": "serverless-dl-clothing"}  # on every resource we create; destroy deletes only those
DEFAULT_NAME = "clothing-classifier"
ALIAS = "live"
# 1,024 MB: Lambda gives CPU in proportion to memory (one full vCPU at 1,769 MB), and this handler is CPU-bound
# (decoding, resizing, inference), so below 1,769 MB its duration falls as memory rises and the cost per request
# hardly changes (the cost table of `make bench`, in benchmarks/results.md) while the latency halves.
# Its peak memory is about 100 MB, so more than 1,769 MB would only buy idle memory.
DEFAULT_MEMORY_MB = 1024
# 30 s: the 3 s default is too short for a cold start (pulling the image, loading LiteRT and the model) plus a slow
# image host (FETCH_TIMEOUT_S, 5 s per read); and API Gateway (chapter 06) gives up after 30 s anyway.
DEFAULT_TIMEOUT_S = 30
# Reserved concurrency: at most this many copies run at once, so at most this many GB-seconds are billed per second
# however many requests arrive (the very worst case, all of them busy all day: chapter 06's `flood_cost`, the
# README's flood-cost table).
DEFAULT_MAX_CONCURRENCY = 5
KEEP_IMAGES = 5  # the ECR lifecycle policy expires older images: storage is what an idle deployment costs
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# A pants photo of clothing-dataset-small's test split (CC0), the same that chapter 01's course uses.
DEFAULT_URL = ("https://raw.githubusercontent.com/alexeygrigorev/clothing-dataset-small/master/test/pants/"
               "4aabd82c-82e1-4181-a84d-d0c6e550d26d.jpg")
ROLE_PROPAGATION_ATTEMPTS, ROLE_PROPAGATION_DELAY_S = 10, 3.0


class DeployError(RuntimeError):
    """A step cannot go on; the message says why and what to do. Raised for our own checks, not AWS errors."""


# --------------------------------------------------------------------------------------------- helpers


def role_name(name: str) -> str:
    """The execution role's name for deployment ``name``."""
    return f"{name}-role"


def is_ours(tags: dict | list | None) -> bool:
    """True when ``tags`` (a dict, or ECR/IAM's list of ``{"Key", "Value"}``) carry this project's tag."""
    if isinstance(tags, list):
        tags = {tag["Key"]: tag["Value"] for tag in tags}
    return all((tags or {}).get(key) == value for key, value in PROJECT_TAGS.items())


def _not_ours(kind: str, name: str) -> DeployError:
    tag = ", ".join(f"{k}={v}" for k, v in PROJECT_TAGS.items())
    return DeployError(f"a {kind} named {name!r} already exists and is not tagged {tag}, so it is not this "
                       "project's: it is left alone. Choose another name with --name (make deploy NAME=...).")


def _error_code(error: botocore.exceptions.ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def lifecycle_policy(keep: int = KEEP_IMAGES) -> dict:
    """An ECR lifecycle policy that expires all but the ``keep`` most recent images."""
    return {"rules": [{"rulePriority": 1, "description": f"keep the last {keep} images",
                       "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                       "action": {"type": "expire"}}]}


def trust_policy() -> dict:
    """The execution role's trust policy: only the Lambda service may assume the role."""
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]}


# --------------------------------------------------------------------------------------------- ECR and the image


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
            raise _not_ours("ECR repository", name)
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


def image_module():
    """Chapter 04's ``image.py`` (the Docker build command and the engine check), from ``solutions/04_docker``."""
    here = Path(__file__).resolve()
    path = next((p / "solutions" / "04_docker" / "image.py" for p in here.parents
                 if (p / "solutions" / "04_docker" / "image.py").is_file()), None)
    if path is None:
        raise DeployError("solutions/04_docker/image.py was not found above this script: run it from a checkout.")
    spec = importlib.util.spec_from_file_location("chapter04_image", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    image = image_module()
    reason = image.docker_available()
    if reason:
        raise DeployError(f"cannot build the image: {reason}. Start Docker (Docker Desktop, or `sudo systemctl "
                          "start docker`) and run again, or pass --no-build to deploy the image already in ECR.")
    local = f"{repository_uri.rsplit('/', 1)[1]}:{tag}"
    login, password = docker_login_command(ecr)
    for command, stdin in [(image.build_command(local, architecture), None), (login, password),
                           (["docker", "tag", local, f"{repository_uri}:{tag}"], None),
                           (["docker", "push", f"{repository_uri}:{tag}"], None)]:
        print("  $ " + " ".join(command), flush=True)
        if subprocess.run(command, input=stdin, text=True).returncode != 0:
            raise DeployError(f"`{' '.join(command[:2])}` failed (its output is above); fix that and run again.")


# --------------------------------------------------------------------------------------------- IAM and Lambda


def ensure_role(iam, name: str) -> str:
    """Create the execution role ``name`` unless it exists: trusted by Lambda, tagged, with the managed policy
    ``AWSLambdaBasicExecutionRole`` attached and nothing else.

    Returns:
        the role's ARN.

    Raises:
        DeployError: a role of that name exists without this project's tag.
        botocore.exceptions.ClientError: an AWS call failed.
    """
    # TODO: get_role, or create_role with json.dumps(trust_policy()) and Tags=[{"Key", "Value"}...] from PROJECT_TAGS when iam.exceptions.NoSuchEntityException; then attach_role_policy(BASIC_EXECUTION_POLICY).
    raise NotImplementedError('get_role, or create_role with json.dumps(trust_policy()) and Tags=[{"Key", "Value"}...] from PROJECT_TAGS when iam.exceptions.NoSuchEntityException; then attach_role_policy(BASIC_EXECUTION_POLICY).')


def _retry_while_role_propagates(call, **kwargs):
    """``call(**kwargs)``, retried while IAM has not yet propagated a new role to Lambda (seconds on AWS)."""
    for attempt in range(ROLE_PROPAGATION_ATTEMPTS):
        try:
            return call(**kwargs)
        except botocore.exceptions.ClientError as e:
            message = e.response.get("Error", {}).get("Message", "")
            if _error_code(e) != "InvalidParameterValueException" or "cannot be assumed" not in message \
                    or attempt == ROLE_PROPAGATION_ATTEMPTS - 1:
                raise
            time.sleep(ROLE_PROPAGATION_DELAY_S)


def _wait(lambda_client, waiter: str, name: str) -> None:
    """Wait with boto3's waiter ``waiter``; a function that ends Failed raises DeployError with Lambda's reason."""
    try:
        lambda_client.get_waiter(waiter).wait(FunctionName=name)
    except botocore.exceptions.WaiterError as e:
        config = (e.last_response or {}).get("Configuration", {})
        state = config.get("State") if waiter == "function_active_v2" else config.get("LastUpdateStatus")
        reason = config.get("StateReason") or config.get("LastUpdateStatusReason") or str(e)
        code = config.get("StateReasonCode") or config.get("LastUpdateStatusReasonCode") or "unknown"
        raise DeployError(f"the function {name} did not become ready (state {state}, {code}): {reason}. Check the "
                          "image (built for the --arch you deploy? pushed to this region?) and the role, then run "
                          "deploy again; `make destroy` removes everything.") from None


def ensure_function(lambda_client, name: str, image_uri: str, role_arn: str, memory_mb: int = DEFAULT_MEMORY_MB,
                    timeout_s: int = DEFAULT_TIMEOUT_S, architecture: str = "x86_64") -> dict:
    """Create the function ``name`` from a container image, or update its code and configuration when it exists,
    and wait until it is ready (boto3 waiters).

    Args:
        image_uri: ``REPOSITORY_URI@sha256:...``: pinned by digest, so the function runs exactly that image.
        role_arn: the execution role's ARN.
        memory_mb, timeout_s: the function's memory (MB) and timeout (s).
        architecture: ``"x86_64"`` or ``"arm64"``, the one the image was built for.

    Returns:
        the function's configuration (``get_function_configuration``).

    Raises:
        DeployError: a function of that name exists and is not this project's or not an image function, or it
            ends in a failed state.
        botocore.exceptions.ClientError: an AWS call failed.
    """
    # TODO: get_function; when lambda_client.exceptions.ResourceNotFoundException, create_function with PackageType="Image", Code={"ImageUri": ...}, Role, MemorySize, Timeout, Architectures=[...], Tags=PROJECT_TAGS and wait with _wait(lambda_client, "function_active_v2", name); else update_function_code (ImageUri, Architectures), wait "function_updated_v2", update_function_configuration, wait again.
    raise NotImplementedError('get_function; when lambda_client.exceptions.ResourceNotFoundException, create_function with PackageType="Image", Code={"ImageUri": ...}, Role, MemorySize, Timeout, Architectures=[...], Tags=PROJECT_TAGS and wait with _wait(lambda_client, "function_active_v2", name); else update_function_code (ImageUri, Architectures), wait "function_updated_v2", update_function_configuration, wait again.')


def limit_concurrency(lambda_client, name: str, maximum: int = DEFAULT_MAX_CONCURRENCY) -> int | None:
    """Reserve ``maximum`` concurrent executions for the function: never more copies at once, whatever the traffic.

    Returns:
        ``maximum``, or None when the account's own concurrency limit is too small to reserve any (new accounts
        start at 10, all unreserved): that limit then caps the function instead, and a warning is printed.
    """
    try:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=maximum)
        return maximum
    except botocore.exceptions.ClientError as e:
        if _error_code(e) != "InvalidParameterValueException":
            raise
        print(f"  warning: could not reserve {maximum} concurrent executions ({e.response['Error']['Message']}); "
              "the account's concurrency limit caps the function instead.")
        return None


def publish_and_alias(lambda_client, name: str, alias: str = ALIAS) -> tuple[str, str]:
    """Publish the function's current code and configuration as a new version and point ``alias`` at it
    (created the first time). Rolling back is pointing the alias at an older version.

    Returns:
        (the version published, the alias's ARN).

    Raises:
        botocore.exceptions.ClientError: an AWS call failed.
    """
    # TODO: publish_version, then update_alias(FunctionVersion=...) or, on ResourceNotFoundException, create_alias.
    raise NotImplementedError('publish_version, then update_alias(FunctionVersion=...) or, on ResourceNotFoundException, create_alias.')


def invoke(lambda_client, name: str, url: str, qualifier: str = ALIAS) -> tuple[dict, str | None]:
    """Invoke ``name:qualifier`` synchronously with the direct event ``{"url": url}``.

    Returns:
        (the decoded answer, Lambda's ``FunctionError`` or None): an unhandled exception in the function gives
        ``"Unhandled"`` and an answer with ``errorMessage``.
    """
    response = lambda_client.invoke(FunctionName=name, Qualifier=qualifier, Payload=json.dumps({"url": url}))
    return json.loads(response["Payload"].read() or b"null"), response.get("FunctionError")


# --------------------------------------------------------------------------------------------- the commands


def session_for(region: str | None) -> boto3.Session:
    """A boto3 session in ``region``, else in AWS_REGION / AWS_DEFAULT_REGION / the profile's region.

    Raises:
        botocore.exceptions.NoRegionError: none of them names a region.
    """
    session = boto3.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    if not session.region_name:
        raise botocore.exceptions.NoRegionError()
    return session


def deploy_plan(args, region: str) -> list[str]:
    """What ``deploy`` will create or update, in words, one line per resource."""
    image = ("the image already tagged " if args.no_build else "chapter 04's image, built for ") + (
        f"{args.image_tag!r}" if args.no_build else f"{args.arch} and pushed as {args.image_tag!r}")
    return [f"region {region}; every resource tagged " + ", ".join(f"{k}={v}" for k, v in PROJECT_TAGS.items()),
            f"ECR repository {args.name} (scan on push, keeps the last {KEEP_IMAGES} images), if absent",
            f"image: {image}, pinned by digest",
            f"IAM role {role_name(args.name)} (trusted by lambda.amazonaws.com, AWSLambdaBasicExecutionRole only), "
            "if absent",
            f"Lambda function {args.name}: {args.memory} MB, {args.timeout} s timeout, {args.arch}, at most "
            f"{args.max_concurrency} running at once (created, or code and configuration updated)",
            f"a new version of it, and the alias {ALIAS!r} pointed at that version",
            f"one invocation of {args.name}:{ALIAS} with {args.url}"]


def run_deploy(args, session: boto3.Session) -> int:
    """The ``deploy`` command: every step, printing what it does. Returns the exit status."""
    print(f"Deploying {args.name} to {session.region_name}:")
    ecr, iam = session.client("ecr"), session.client("iam")
    lambda_client = session.client("lambda", config=Config(read_timeout=args.timeout + 30))
    if not args.no_build:
        reason = image_module().docker_available()  # before creating anything
        if reason:
            raise DeployError(f"cannot build the image: {reason}. Start Docker and run again, or pass --no-build "
                              "to deploy the image already in ECR.")
    repository_uri = ensure_repository(ecr, args.name)
    if not args.no_build:
        build_and_push(ecr, repository_uri, args.image_tag, args.arch)
    image_uri = f"{repository_uri}@{image_digest(ecr, args.name, args.image_tag)}"
    print(f"  image: {image_uri}")
    role_arn = ensure_role(iam, role_name(args.name))
    config = ensure_function(lambda_client, args.name, image_uri, role_arn, args.memory, args.timeout, args.arch)
    print(f"  {config['MemorySize']} MB, {config['Timeout']} s, {config['Architectures'][0]}, state {config['State']}")
    limit_concurrency(lambda_client, args.name, args.max_concurrency)
    version, alias_arn = publish_and_alias(lambda_client, args.name)
    print(f"  version {version} published; alias {ALIAS} -> {version} ({alias_arn})")
    print(f"Invoking {args.name}:{ALIAS} with {args.url}")
    answer, function_error = invoke(lambda_client, args.name, args.url)
    print(json.dumps(answer, indent=2))
    if function_error or (isinstance(answer, dict) and "error" in answer):
        print(f"The function answered with an error ({function_error or answer['error'].get('code')}); its log is "
              f"in CloudWatch, log group /aws/lambda/{args.name}.", file=sys.stderr)
        return 1
    print(f"Deployed. Roll back with: aws lambda update-alias --function-name {args.name} --name {ALIAS} "
          "--function-version <an older version>")
    return 0


def destroy(session: boto3.Session, name: str, dry_run: bool = False) -> list[str]:
    """Delete what ``deploy`` created for ``name``, when tagged as this project's: the function (its versions and
    alias go with it), its log group, the role, the repository (with its images). Run chapter 06's ``api.py
    destroy`` first: the API invokes the function.

    Returns:
        one line per resource removed (or, with ``dry_run``, that would be removed); resources not found or not
        ours are reported and left alone.
    """
    lambda_client, logs, iam, ecr = (session.client(s) for s in ("lambda", "logs", "iam", "ecr"))
    done, verb = [], "would remove" if dry_run else "removed"
    try:
        function = lambda_client.get_function(FunctionName=name)
        if is_ours(function.get("Tags")):
            versions = [v["Version"] for v in lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
                        if v["Version"] != "$LATEST"]
            if not dry_run:
                lambda_client.delete_function(FunctionName=name)
            done.append(f"{verb} Lambda function {name} (versions {', '.join(versions) or 'none'}, alias {ALIAS})")
        else:
            print(f"  Lambda function {name} is not tagged as this project's: left alone")
    except lambda_client.exceptions.ResourceNotFoundException:
        pass
    group = f"/aws/lambda/{name}"  # created by Lambda at the first invocation, not tagged by us: matched by name
    if any(g["logGroupName"] == group for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]):
        if not dry_run:
            logs.delete_log_group(logGroupName=group)
        done.append(f"{verb} CloudWatch log group {group}")
    role = role_name(name)
    try:
        if is_ours(iam.list_role_tags(RoleName=role)["Tags"]):
            if not dry_run:
                for policy in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
                    iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
                for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                    iam.delete_role_policy(RoleName=role, PolicyName=policy)
                iam.delete_role(RoleName=role)
            done.append(f"{verb} IAM role {role}")
        else:
            print(f"  IAM role {role} is not tagged as this project's: left alone")
    except iam.exceptions.NoSuchEntityException:
        pass
    try:
        repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        if is_ours(ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]):
            images = len(ecr.list_images(repositoryName=name)["imageIds"])
            if not dry_run:
                ecr.delete_repository(repositoryName=name, force=True)
            done.append(f"{verb} ECR repository {name} ({images} image{'s' * (images != 1)})")
        else:
            print(f"  ECR repository {name} is not tagged as this project's: left alone")
    except ecr.exceptions.RepositoryNotFoundException:
        pass
    return done


CREDENTIAL_CODES = {"UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
                    "ExpiredTokenException", "InvalidSignatureException", "AuthFailure"}


def explain(error: Exception) -> str:
    """One paragraph for a learner: what went wrong and what to do. Never a traceback."""
    again = "Every step is idempotent: run the command again once this is fixed (or `make destroy` to clean up)."
    if isinstance(error, DeployError):
        return f"error: {error}"
    if isinstance(error, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return ("error: no AWS credentials were found. Configure them with `aws configure` (an access key) or "
                "`aws sso login` (IAM Identity Center), or set AWS_PROFILE to a profile that has them, then run the "
                "command again. Nothing was changed.")
    if isinstance(error, botocore.exceptions.NoRegionError):
        return ("error: no AWS region is set. Pass --region (make deploy REGION=eu-west-1), or set AWS_REGION, or "
                "run `aws configure set region eu-west-1`, then run the command again. Nothing was changed.")
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return (f"error: AWS could not be reached ({error}). Check your network connection and the region name "
                f"(and AWS_ENDPOINT_URL, if you set it). {again}")
    if isinstance(error, botocore.exceptions.ClientError):
        code, message = _error_code(error), error.response.get("Error", {}).get("Message", "")
        operation = error.operation_name
        if code in CREDENTIAL_CODES:
            return (f"error: AWS rejected your credentials ({code} in {operation}: {message}). They may be "
                    "mistyped, deactivated or expired: run `aws sts get-caller-identity` to check them, renew them "
                    f"(`aws configure` or `aws sso login`), and run the command again. {again}")
        if "AccessDenied" in code or code in {"UnauthorizedOperation", "AuthorizationError"}:
            return (f"error: access denied: your AWS identity may not call {operation} ({message}). Ask your "
                    "account's administrator for permissions on ECR, IAM roles, Lambda and API Gateway (for a "
                    "personal account, use an identity with AdministratorAccess, not the root user), then run the "
                    f"command again. {again}")
        return f"error: AWS refused {operation}: {code}: {message}. {again}"
    if isinstance(error, botocore.exceptions.BotoCoreError):
        return f"error: {error}. {again}"
    raise error


def run_safely(command, *args) -> int:
    """Run ``command(*args)``; print ``explain(error)`` on stderr and return 1 for the errors it explains."""
    try:
        return command(*args)
    except (DeployError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(explain(error), file=sys.stderr)
        return 1


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command of chapters 05 and 06 takes: ``--region``, ``--name``, ``--dry-run``."""
    parser.add_argument("--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's)")
    parser.add_argument("--name", default=DEFAULT_NAME,
                        help=f"the deployment's name: ECR repository, function, API ({DEFAULT_NAME})")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and touch nothing")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("deploy", help="create or update everything, then invoke the function once")
    down = commands.add_parser("destroy", help="delete what deploy created (tagged as this project's)")
    for sub in (up, down):
        add_common_arguments(sub)
    up.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB, help="function memory, MB (128-10240)")
    up.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S, help="function timeout, s (1-900)")
    up.add_argument("--arch", choices=("x86_64", "arm64"), default="x86_64", help="Lambda architecture of the image")
    up.add_argument("--max-concurrency", type=int, default=DEFAULT_MAX_CONCURRENCY,
                    help="reserved concurrency: copies that may run at once")
    up.add_argument("--image-tag", default="latest", help="tag of the image in ECR")
    up.add_argument("--no-build", action="store_true", help="deploy the image already in ECR under --image-tag")
    up.add_argument("--url", default=DEFAULT_URL, help="image URL for the test invocation")
    args = parser.parse_args(argv)
    if args.command == "deploy" and not (128 <= args.memory <= 10240 and 1 <= args.timeout <= 900):
        parser.error("--memory must be 128-10240 MB and --timeout 1-900 s (Lambda's limits)")

    def command() -> int:
        session = session_for(args.region)
        if args.command == "deploy":
            print("Plan:" + "".join(f"\n  - {line}" for line in deploy_plan(args, session.region_name)))
            if args.dry_run:
                print("Dry run: nothing was changed.")
                return 0
            return run_deploy(args, session)
        removed = destroy(session, args.name, args.dry_run)
        print("\n".join(removed) if removed else f"Nothing of {args.name!r} to remove in {session.region_name}.")
        return 0

    return run_safely(command)


if __name__ == "__main__":
    sys.exit(main())
