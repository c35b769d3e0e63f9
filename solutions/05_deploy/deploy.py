"""Chapter 05: the Lambda function, its execution role, its versions and the alias ``live``, with boto3.

``run_deploy`` is what ``make deploy`` does (``deploy_cli.py`` is its command line), each step idempotent, so running
it again rolls out a new image or new settings:
1. the ECR repository and the image in it, under a tag of its own (``ecr.py``);
2. the execution role ``NAME-role``: trusted by ``lambda.amazonaws.com``, with ``AWSLambdaBasicExecutionRole`` only
   (write its logs to CloudWatch; nothing else);
3. the function's log group ``/aws/lambda/NAME``, before the function (else Lambda makes it, kept forever, untagged):
   ``LOG_RETENTION_DAYS`` of retention, the project's tags;
4. the function ``NAME``: created from the image pinned by digest, or its code and configuration updated;
5. at most ``--max-concurrency`` copies of it at once (reserved concurrency), where the account's limit allows it
   (``tutorial_support.deployment.concurrency_cap``; else the account's limit caps it, and chapter 06's throttle);
6. a new version, and the alias ``live`` pointed at it (``make rollback`` points it back: ``releases.py``);
7. one invocation of ``live`` with a real image URL (a smoke test), whose answer is printed.

Every resource gets the tag ``project=serverless-dl-clothing`` (``tutorial_support.deployment``); ``destroy.py``
deletes only what carries it. ``AWS_ENDPOINT_URL`` (read by boto3 itself) points every call at another endpoint,
such as a moto server in the tests.
"""

from __future__ import annotations

import json
import sys
import time

import botocore.exceptions
from botocore.config import Config
from ecr import build_and_push, ensure_repository, image_digest, newest_image, unique_tag

from tutorial_support import deployment, docker_image
from tutorial_support.deployment import (
    ALIAS,
    LOG_RETENTION_DAYS,
    PROJECT_TAGS,
    DeployError,
    error_code,
    is_ours,
    not_ours,
    role_name,
)

BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
ROLE_PROPAGATION_ATTEMPTS, ROLE_PROPAGATION_DELAY_S = 10, 3.0


def trust_policy() -> dict:
    """The execution role's trust policy: only the Lambda service may assume the role."""
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]}


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
    # BEGIN SOLUTION
    # TASK: return the ARN of the execution role `name`, created when absent: trusted by Lambda only, tagged with
    # TASK: PROJECT_TAGS, with BASIC_EXECUTION_POLICY attached and nothing else. A role of that name without the
    # TASK: project's tag is someone else's: raise DeployError, change nothing.
    # HINT: iam.get_role(RoleName=name); when it exists, is_ours(iam.list_role_tags(RoleName=name)["Tags"]) or raise
    # HINT: not_ours("IAM role", name). On iam.exceptions.NoSuchEntityException, iam.create_role(RoleName=name,
    # HINT: AssumeRolePolicyDocument=json.dumps(trust_policy()), Tags=[{"Key": k, "Value": v} for k, v in
    # HINT: PROJECT_TAGS.items()]). In both cases iam.attach_role_policy(RoleName=name,
    # HINT: PolicyArn=BASIC_EXECUTION_POLICY) (harmless when attached), and return role["Arn"].
    try:
        role = iam.get_role(RoleName=name)["Role"]
        if not is_ours(iam.list_role_tags(RoleName=name)["Tags"]):
            raise not_ours("IAM role", name)
        print(f"  IAM role {name}: exists")
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy()),
                               Description="Execution role of the clothing classifier (serverless-dl tutorial)",
                               Tags=[{"Key": k, "Value": v} for k, v in PROJECT_TAGS.items()])["Role"]
        print(f"  IAM role {name}: created")
    iam.attach_role_policy(RoleName=name, PolicyArn=BASIC_EXECUTION_POLICY)  # idempotent
    return role["Arn"]
    # END SOLUTION


def _retry_while_role_propagates(call, **kwargs):
    """``call(**kwargs)``, retried while IAM has not yet propagated a new role to Lambda (seconds on AWS)."""
    for attempt in range(ROLE_PROPAGATION_ATTEMPTS):
        try:
            return call(**kwargs)
        except botocore.exceptions.ClientError as e:
            message = e.response.get("Error", {}).get("Message", "")
            if error_code(e) != "InvalidParameterValueException" or "cannot be assumed" not in message \
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


def ensure_function(lambda_client, name: str, image_uri: str, role_arn: str,
                    memory_mb: int = deployment.DEFAULT_MEMORY_MB, timeout_s: int = deployment.DEFAULT_TIMEOUT_S,
                    architecture: str = "x86_64") -> dict:
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
    # BEGIN SOLUTION
    # TASK: create the image function `name` (tagged with PROJECT_TAGS) with these settings, or, when it exists and is
    # TASK: this project's, update its code and configuration in place (its versions stay); refuse a function without
    # TASK: the project's tag (DeployError). Wait until Lambda is done after each change; return the configuration.
    # HINT: lambda_client.get_function(FunctionName=name) (ResourceNotFoundException: absent). Absent:
    # HINT: create_function(FunctionName=name, PackageType="Image", Code={"ImageUri": image_uri}, Role=role_arn,
    # HINT: MemorySize=memory_mb, Timeout=timeout_s, Architectures=[architecture], Tags=dict(PROJECT_TAGS)) through
    # HINT: _retry_while_role_propagates, then _wait(lambda_client, "function_active_v2", name). Present: is_ours(
    # HINT: current.get("Tags")) or raise not_ours("Lambda function", name); _wait(..., "function_updated_v2", name);
    # HINT: update_function_code(FunctionName=name, ImageUri=image_uri, Architectures=[architecture]); wait again;
    # HINT: update_function_configuration(FunctionName=name, Role=..., MemorySize=..., Timeout=...); wait again.
    # HINT: Return lambda_client.get_function_configuration(FunctionName=name).
    settings = {"Role": role_arn, "MemorySize": memory_mb, "Timeout": timeout_s,
                "Description": "Clothing classifier (serverless-dl tutorial): POST {\"url\": ...}"}
    try:
        current = lambda_client.get_function(FunctionName=name)
    except lambda_client.exceptions.ResourceNotFoundException:
        current = None
    if current is None:
        _retry_while_role_propagates(lambda_client.create_function, FunctionName=name, PackageType="Image",
                                     Code={"ImageUri": image_uri}, Architectures=[architecture],
                                     Tags=dict(PROJECT_TAGS), **settings)
        print(f"  Lambda function {name}: created")
        _wait(lambda_client, "function_active_v2", name)
    else:
        if not is_ours(current.get("Tags")):
            raise not_ours("Lambda function", name)
        if current["Configuration"].get("PackageType") != "Image":
            raise DeployError(f"the function {name} is a .zip function; an image function needs another name.")
        _wait(lambda_client, "function_updated_v2", name)  # a previous update may still be in progress
        lambda_client.update_function_code(FunctionName=name, ImageUri=image_uri, Architectures=[architecture])
        _wait(lambda_client, "function_updated_v2", name)
        _retry_while_role_propagates(lambda_client.update_function_configuration, FunctionName=name, **settings)
        _wait(lambda_client, "function_updated_v2", name)
        print(f"  Lambda function {name}: code and configuration updated")
    return lambda_client.get_function_configuration(FunctionName=name)
    # END SOLUTION


def limit_concurrency(lambda_client, name: str, maximum: int = deployment.DEFAULT_MAX_CONCURRENCY) -> int | None:
    """Reserve ``maximum`` concurrent executions for the function: never more copies at once, whatever the traffic.

    Returns:
        ``maximum``, or None when the account's own concurrency limit is too small to reserve any (new accounts
        start at 10, all unreserved): that limit then caps the function instead, and a warning is printed.
    """
    try:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=maximum)
        return maximum
    except botocore.exceptions.ClientError as e:
        if error_code(e) != "InvalidParameterValueException":
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
    # BEGIN SOLUTION
    # TASK: publish the function as a new version and point the alias `alias` at it (created the first time, moved
    # TASK: afterwards); return (the version published, the alias's ARN).
    # HINT: version = lambda_client.publish_version(FunctionName=name)["Version"]; then
    # HINT: update_alias(FunctionName=name, Name=alias, FunctionVersion=version)["AliasArn"], or, when it raises
    # HINT: lambda_client.exceptions.ResourceNotFoundException, create_alias(...) with the same arguments.
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    try:
        arn = lambda_client.update_alias(FunctionName=name, Name=alias, FunctionVersion=version)["AliasArn"]
    except lambda_client.exceptions.ResourceNotFoundException:
        arn = lambda_client.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)["AliasArn"]
    return version, arn
    # END SOLUTION


def log_group_name(name: str) -> str:
    """The log group Lambda writes function ``name``'s logs to."""
    return f"/aws/lambda/{name}"


def ensure_log_group(logs, lambda_client, name: str, retention_days: int = LOG_RETENTION_DAYS) -> str:
    """Create the function's log group ``/aws/lambda/NAME`` before the function, tagged as ours, and set its
    retention to ``retention_days``. Without it, Lambda creates the group at the first invocation with no retention
    (logs kept, and billed, forever) and no tags. A group of that name made by Lambda for our function earlier
    (untagged, while the function ``name`` is ours) is adopted: tagged and given the retention.

    Returns:
        the log group's name.

    Raises:
        DeployError: a log group of that name exists, is not tagged as ours, and the function ``name`` is not ours
            (or does not exist).
        botocore.exceptions.ClientError: an AWS call failed.
    """
    group = log_group_name(name)
    found = [g for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] if g["logGroupName"] == group]
    if not found:
        logs.create_log_group(logGroupName=group, tags=dict(PROJECT_TAGS))
        print(f"  CloudWatch log group {group}: created")
    else:
        arn = found[0].get("logGroupArn") or found[0]["arn"].removesuffix(":*")
        if not is_ours(logs.list_tags_for_resource(resourceArn=arn).get("tags")):
            try:
                function_is_ours = is_ours(lambda_client.get_function(FunctionName=name).get("Tags"))
            except lambda_client.exceptions.ResourceNotFoundException:
                function_is_ours = False
            if not function_is_ours:
                raise not_ours("CloudWatch log group", group)
            logs.tag_resource(resourceArn=arn, tags=dict(PROJECT_TAGS))  # made by Lambda for our function
            print(f"  CloudWatch log group {group}: exists (made by Lambda for {name}): tagged as ours")
        else:
            print(f"  CloudWatch log group {group}: exists")
    logs.put_retention_policy(logGroupName=group, retentionInDays=retention_days)
    return group


def reserve(lambda_client, name: str, cap: deployment.ConcurrencyCap,
            timeout_s: int = deployment.DEFAULT_TIMEOUT_S) -> deployment.ConcurrencyCap:
    """Set the reservation ``cap`` plans (``limit_concurrency``), or none where the account cannot reserve any; print
    the cap that holds. Returns it: ``cap``, or, when Lambda refused a reservation the plan could not foresee (the
    account's limits were not readable), the cap of an account that reserves nothing (``cap.unreserved_instead``)."""
    if cap.reserved is not None and limit_concurrency(lambda_client, name, cap.reserved) is None:
        cap = cap.unreserved_instead(timeout_s)
    if cap.reserved is not None:
        print(f"  concurrency: at most {cap.reserved} copies at once (reserved)")
    else:
        print(f"  concurrency: no reserved concurrency; {cap.describe()}")
    return cap


# Error codes of the handler's answer (solutions/03_lambda_code/safe_download.py) that say the photo could not be
# fetched from its host: a smoke test that gets one proves the function runs, not that it fails.
PHOTO_HOST_CODES = frozenset({"fetch_failed", "fetch_timeout", "upstream_http_error"})


def smoke_test_verdict(answer, function_error: str | None) -> str:
    """What the smoke test's answer says about the deployment: ``"ok"`` (a prediction), ``"photo_host"`` (the handler
    ran, and the photo's host refused or failed: ``PHOTO_HOST_CODES``), or ``"failed"`` (an unhandled error, or
    another error code: the handler, the image or the model is broken)."""
    if function_error:
        return "failed"
    error = answer.get("error") if isinstance(answer, dict) else None
    if error is None:
        return "ok"
    return "photo_host" if isinstance(error, dict) and error.get("code") in PHOTO_HOST_CODES else "failed"


def invoke(lambda_client, name: str, url: str, qualifier: str = ALIAS) -> tuple[dict, str | None]:
    """Invoke ``name:qualifier`` synchronously with the direct event ``{"url": url}``.

    Returns:
        (the decoded answer, Lambda's ``FunctionError`` or None): an unhandled exception in the function gives
        ``"Unhandled"`` and an answer with ``errorMessage``.
    """
    response = lambda_client.invoke(FunctionName=name, Qualifier=qualifier, Payload=json.dumps({"url": url}))
    return json.loads(response["Payload"].read() or b"null"), response.get("FunctionError")


# --------------------------------------------------------------------------------------------- the commands


def run_deploy(args, session, cap: deployment.ConcurrencyCap | None = None) -> int:
    """The ``deploy`` command: every step, printing what it does. Returns the exit status.

    Args:
        args: ``deploy_cli``'s options (``name``, ``arch``, ``memory``, ``timeout``, ``max_concurrency``,
            ``image_tag``, ``no_build``, ``dockerfile``, ``url``).
        cap: the concurrency cap the plan chose (``deployment.read_concurrency_cap``); None: read it now.
    """
    print(f"Deploying {args.name} to {session.region_name}:")
    ecr, iam, logs = session.client("ecr"), session.client("iam"), session.client("logs")
    lambda_client = session.client("lambda", config=Config(read_timeout=args.timeout + 30))
    if cap is None:
        cap = deployment.read_concurrency_cap(lambda_client, args.name, args.max_concurrency, args.timeout)
    if not args.no_build:
        reason = docker_image.docker_available()  # before creating anything
        if reason:
            raise DeployError(f"cannot build the image: {reason}. Start Docker and run again, or pass --no-build "
                              "to deploy the image already in ECR.")
    repository_uri = ensure_repository(ecr, args.name)
    if args.no_build:
        tag = args.image_tag or newest_image(ecr, args.name)
    else:
        tag = args.image_tag or unique_tag()
        build_and_push(ecr, repository_uri, tag, args.arch, args.dockerfile)
    image_uri = f"{repository_uri}@{image_digest(ecr, args.name, tag)}"
    print(f"  image {tag}: {image_uri}")
    role_arn = ensure_role(iam, role_name(args.name))
    ensure_log_group(logs, lambda_client, args.name)
    config = ensure_function(lambda_client, args.name, image_uri, role_arn, args.memory, args.timeout, args.arch)
    print(f"  {config['MemorySize']} MB, {config['Timeout']} s, {config['Architectures'][0]}, state {config['State']}")
    reserve(lambda_client, args.name, cap, args.timeout)
    version, alias_arn = publish_and_alias(lambda_client, args.name)
    print(f"  version {version} published; alias {ALIAS} -> {version} ({alias_arn})")
    print(f"Invoking {args.name}:{ALIAS} with {args.url}")
    answer, function_error = invoke(lambda_client, args.name, args.url)
    print(json.dumps(answer, indent=2))
    verdict = smoke_test_verdict(answer, function_error)
    if verdict == "failed":
        code = function_error or (answer.get("error", {}).get("code") if isinstance(answer, dict) else None)
        print(f"The function answered with an error ({code}); its log is in CloudWatch, log group "
              f"{log_group_name(args.name)}. `make rollback` points {ALIAS} back at the version before.",
              file=sys.stderr)
        return 1
    if verdict == "photo_host":
        error = answer["error"]
        print(f"deployed; the smoke test's photo host refused ({error.get('code')}: {error.get('message')}): the "
              "function ran, but the photo's host did not serve it (hosts rate-limit, and some refuse AWS's "
              "addresses). Try another URL: `make predict URL=...` classifies it locally; through the deployed "
              "function, `make deploy ARGS='--no-build --url ...'` or, after `make api`, "
              "`predict.py INVOKE_URL IMAGE_URL`.")
    print(f"Deployed. `make versions` lists the versions and their images; `make rollback` points {ALIAS} back at "
          "the one before.")
    return 0
