"""What chapters 05 (``deploy.py``) and 06 (``api.py``) share: the deployment's names and ownership tag, the boto3
session, the command-line options every command takes, and the one-paragraph explanation of an AWS error that a
learner gets instead of a traceback.

Every resource the tutorial creates carries ``PROJECT_TAGS``; a resource of the same name without it is someone
else's and is left alone (``is_ours``, ``not_ours``).

What bounds a flood's bill is here too, for both chapters: the account's concurrency limit decides whether the function
can get reserved concurrency (``concurrency_cap``), and the API's throttle follows (``DEFAULT_BURST``/``DEFAULT_RATE``
with a reservation, ``UNRESERVED_BURST``/``unreserved_rate`` without one); ``flood_cost`` is the worst case at those
caps, which ``make deploy`` prints before it creates anything and ``make security-tables`` writes into the README.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, replace

import boto3
import botocore.exceptions

from tutorial_support import prices

PROJECT_TAGS = {"project": "serverless-dl-clothing"}  # on every resource we create; destroy deletes only those
DEFAULT_NAME = "clothing-classifier"  # the deployment's name: ECR repository, function, API (--name)
ALIAS = "live"  # the alias that callers (and the API) invoke; a release points it at a new version
# The function's settings (chapter 05's `make deploy`; chapter 06's flood cost is computed at them).
# 1,024 MB: Lambda gives CPU in proportion to memory (one full vCPU at 1,769 MB), and this handler is CPU-bound
# (decoding, resizing, inference), so below 1,769 MB its duration falls as memory rises and the cost per request
# hardly changes (the cost table of `make bench`, in benchmarks/results.md) while the latency halves.
# Its peak memory is about 100 MB, so more than 1,769 MB would only buy idle memory.
DEFAULT_MEMORY_MB = 1024
# 30 s: the 3 s default is too short for a cold start (pulling the image, loading LiteRT and the model) plus a slow
# image host (FETCH_TIMEOUT_S: the whole download may take 10 s); and API Gateway (chapter 06) gives up after 30 s.
DEFAULT_TIMEOUT_S = 30
# Reserved concurrency: at most this many copies run at once, so at most this many GB-seconds are billed per second
# however many requests arrive (the very worst case, all of them busy all day: `flood_cost` below, the README's
# flood-cost table). Where the account cannot reserve any (`concurrency_cap`), the API's throttle keeps this many busy.
DEFAULT_MAX_CONCURRENCY = 5
# Lambda keeps this many of the account's concurrent executions unreserved, or the whole limit when it is smaller:
# "You can reserve up to the Unreserved account concurrency value minus 100" (docs.aws.amazon.com/lambda/latest/dg/
# configuration-concurrency.html); an account whose limit is 10 (new accounts often are) is refused any reservation
# ("... decreases account's UnreservedConcurrentExecution below its minimum value of [10]").
UNRESERVED_MINIMUM = 100
NEW_ACCOUNT_LIMIT, DEFAULT_ACCOUNT_LIMIT = 10, 1000  # concurrent executions: a new account's often, and the default
# The HTTP API stage's throttle (chapter 06, api.py), per route: at most RATE requests a second on average, BURST at
# once; API Gateway answers 429 beyond, without invoking the function. With the function's reserved concurrency it
# caps what strangers who find the URL can spend (`flood_cost`); 5 a second is plenty for a tutorial.
DEFAULT_BURST, DEFAULT_RATE = 10, 5.0
# The throttle when the function has no reserved concurrency (the account's limit is too small to reserve any): then
# nothing but the throttle bounds the copies running at once, and a request may last the whole timeout, so at most
# rate x timeout are in flight: the rate is DEFAULT_MAX_CONCURRENCY / timeout (`unreserved_rate`; 1/6 a second at
# 30 s), bursts of DEFAULT_MAX_CONCURRENCY.
UNRESERVED_BURST = DEFAULT_MAX_CONCURRENCY
# Days CloudWatch Logs keeps the function's log group (/aws/lambda/NAME), created by deploy before the function so
# that Lambda does not create it with no retention (kept forever, billed per GB-month stored). 14 days cover a
# fortnight of debugging; valid values are CloudWatch's fixed list (logs PutRetentionPolicy: 1, 3, 5, 7, 14, 30, ...).
LOG_RETENTION_DAYS = 14
# A pants photo of clothing-dataset-small's test split (CC0), the same that chapter 01's course uses.
DEFAULT_URL = ("https://raw.githubusercontent.com/alexeygrigorev/clothing-dataset-small/master/test/pants/"
               "4aabd82c-82e1-4181-a84d-d0c6e550d26d.jpg")


DAYS_A_MONTH = 30  # the month of the worst-case costs (flood_cost)


def unreserved_rate(timeout_s: int = DEFAULT_TIMEOUT_S, copies: int = DEFAULT_MAX_CONCURRENCY) -> float:
    """The stage's rate (requests a second) that keeps at most ``copies`` requests of ``timeout_s`` seconds each in
    flight: the throttle of a function without reserved concurrency (``UNRESERVED_RATE`` at the default timeout)."""
    return copies / timeout_s


UNRESERVED_RATE = unreserved_rate()


@dataclass(frozen=True)
class ConcurrencyCap:
    """How many copies of the function can run at once in this account, and the API throttle that goes with it.

    Attributes:
        limit, unreserved: the account's ``ConcurrentExecutions`` and ``UnreservedConcurrentExecutions``
            (``lambda.get_account_settings()["AccountLimit"]``); None when they could not be read.
        reserved: the reserved concurrency to set, or None when the account cannot reserve any.
        copies: at most this many copies at once: the reservation, else the unreserved pool the function shares.
        burst, rate: the stage throttle ``make api`` sets by default: ``DEFAULT_BURST``/``DEFAULT_RATE`` with a
            reservation, else ``UNRESERVED_BURST``/``unreserved_rate(timeout)``, so that at most
            ``DEFAULT_MAX_CONCURRENCY`` requests are in flight whatever the account.
        wanted: the reservation asked for (``--max-concurrency``).
    """

    limit: int | None
    unreserved: int | None
    reserved: int | None
    copies: int
    burst: int
    rate: float
    wanted: int

    def describe(self) -> str:
        """One sentence for the plan: the cap and why."""
        throttle = (f"`make api` throttles the stage to {self.rate:.3g} requests/s, bursts of {self.burst}, so that at "
                    f"most {DEFAULT_MAX_CONCURRENCY} are busy. For a reservation, ask AWS for a higher limit (Service "
                    "Quotas, AWS Lambda, Concurrent executions)")
        if self.limit is None and self.reserved is not None:
            return f"at most {self.reserved} copies at once (reserved concurrency), if the account allows it"
        if self.limit is None:
            return f"Lambda refused the reservation: the account's concurrency limit caps the function; {throttle}"
        if self.reserved is not None:
            fewer = f", not {self.wanted}: the most this account can reserve" if self.reserved < self.wanted else ""
            return (f"at most {self.reserved} copies at once (reserved concurrency{fewer}; the account's limit is "
                    f"{self.limit:,}, {self.unreserved:,} unreserved)")
        return (f"nothing can be reserved: the account's concurrency limit is {self.limit:,} ({self.unreserved:,} "
                f"unreserved), and Lambda keeps {min(UNRESERVED_MINIMUM, self.limit):,} unreserved, so up to "
                f"{self.copies:,} copies can run at once; {throttle}")

    def unreserved_instead(self, timeout_s: int = DEFAULT_TIMEOUT_S) -> ConcurrencyCap:
        """This cap after Lambda refused its reservation: none reserved, the account's limit capping the copies
        (``copies`` stays what was asked: the account's limit is not known), the lowered throttle."""
        return replace(self, reserved=None, burst=UNRESERVED_BURST, rate=unreserved_rate(timeout_s))

    def worst_case(self, memory_mb: int = DEFAULT_MEMORY_MB, timeout_s: int = DEFAULT_TIMEOUT_S) -> dict:
        """``flood_cost`` at this cap and throttle."""
        return flood_cost(self.rate, memory_mb, timeout_s, self.copies)


def concurrency_cap(limit: int | None, unreserved: int | None, wanted: int = DEFAULT_MAX_CONCURRENCY,
                    own_reserved: int = 0, timeout_s: int = DEFAULT_TIMEOUT_S) -> ConcurrencyCap:
    """The cap on the function's copies in an account with these limits: reserve ``wanted`` where the account
    allows it (fewer where it allows fewer), else none, the account's unreserved pool capping the function and the
    API's throttle lowered (``unreserved_rate``).

    Args:
        limit, unreserved: ``AccountLimit.ConcurrentExecutions`` and ``UnreservedConcurrentExecutions``; None: not
            known (then ``wanted`` is tried, and refused by Lambda if the account cannot reserve it).
        wanted: copies to reserve (>= 1).
        own_reserved: what the function has reserved already (counted out of ``unreserved`` by Lambda).
        timeout_s: the function's timeout, for the lowered throttle.

    Lambda refuses a reservation that leaves fewer than ``min(UNRESERVED_MINIMUM, limit)`` unreserved (see
    ``UNRESERVED_MINIMUM``).
    """
    if limit is None or unreserved is None:
        return ConcurrencyCap(None, None, wanted, wanted, DEFAULT_BURST, DEFAULT_RATE, wanted)
    reservable = unreserved + own_reserved - min(UNRESERVED_MINIMUM, limit)
    if reservable >= 1:
        reserved = min(wanted, reservable)
        return ConcurrencyCap(limit, unreserved, reserved, reserved, DEFAULT_BURST, DEFAULT_RATE, wanted)
    return ConcurrencyCap(limit, unreserved, None, unreserved + own_reserved, UNRESERVED_BURST,
                          unreserved_rate(timeout_s), wanted)


def read_concurrency_cap(lambda_client, name: str, wanted: int = DEFAULT_MAX_CONCURRENCY,
                         timeout_s: int = DEFAULT_TIMEOUT_S) -> ConcurrencyCap:
    """``concurrency_cap`` for function ``name`` in the account of ``lambda_client``, from
    ``get_account_settings`` and the function's own reservation (``get_function_concurrency``; none when the
    function does not exist yet).

    Raises:
        botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError: an AWS call failed.
    """
    account = lambda_client.get_account_settings()["AccountLimit"]
    try:
        own = lambda_client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") or 0
    except lambda_client.exceptions.ResourceNotFoundException:
        own = 0
    return concurrency_cap(account["ConcurrentExecutions"], account["UnreservedConcurrentExecutions"], wanted, own,
                           timeout_s)


def flood_cost(rate: float = DEFAULT_RATE, memory_mb: int = DEFAULT_MEMORY_MB, timeout_s: int = DEFAULT_TIMEOUT_S,
               max_concurrency: int = DEFAULT_MAX_CONCURRENCY, days: int = DAYS_A_MONTH) -> dict:
    """The worst bill a flood of requests can run up at the caps, before the free tier, in dollars.

    The model: the stage lets through at most ``rate`` requests a second (``rate`` x seconds API requests, each one
    Lambda invocation), and at most ``max_concurrency`` copies of the function run at once, each billed for
    ``memory_mb`` all the time (every request as slow as the ``timeout_s`` allows; a copy is busy only while a
    request lasts, so no more than ``rate`` x ``timeout_s`` copies can be busy).

    Args:
        rate: requests a second let through by the stage (``DEFAULT_RATE``).
        memory_mb, timeout_s: the function's settings (chapter 05's defaults).
        max_concurrency: copies that can run at once (``ConcurrencyCap.copies``).
        days: the length of the month.

    Returns:
        ``{"day": ..., "month": ...}``, each a dict: ``api_requests`` and ``lambda_requests`` (counts),
        ``gb_seconds``, ``busy`` (copies busy at once), and dollars: ``api``, ``lambda_requests_cost``, ``compute``
        and ``total`` (the last two dicts keyed by architecture, the keys of
        ``tutorial_support.prices.PRICE_PER_GB_SECOND``). Prices: ``tutorial_support.prices`` (Lambda and HTTP API,
        us-east-1).

    Raises:
        ValueError: a rate, memory, timeout, concurrency or number of days that is not positive.
    """
    if min(rate, memory_mb, timeout_s, max_concurrency, days) <= 0:
        raise ValueError("rate, memory_mb, timeout_s, max_concurrency and days must all be positive")
    busy = min(max_concurrency, rate * timeout_s)  # copies of the function that can be busy at once
    out = {}
    for period, seconds in (("day", 24 * 3600), ("month", days * 24 * 3600)):
        requests = rate * seconds
        gb_seconds = busy * memory_mb / 1024 * seconds
        api_dollars = requests / 1e6 * prices.HTTP_API_PRICE_PER_MILLION
        lambda_requests = requests / 1e6 * prices.PRICE_PER_MILLION_REQUESTS
        compute = {arch: gb_seconds * price for arch, price in prices.PRICE_PER_GB_SECOND.items()}
        out[period] = {"api_requests": requests, "lambda_requests": requests, "gb_seconds": gb_seconds, "busy": busy,
                       "api": api_dollars, "lambda_requests_cost": lambda_requests, "compute": compute,
                       "total": {arch: api_dollars + lambda_requests + c for arch, c in compute.items()}}
    return out


class DeployError(RuntimeError):
    """A step cannot go on; the message says why and what to do. Raised for our own checks, not AWS errors."""


def role_name(name: str) -> str:
    """The execution role's name for deployment ``name``."""
    return f"{name}-role"


def log_group_name(name: str) -> str:
    """The function ``name``'s CloudWatch log group: Lambda's default, ``/aws/lambda/NAME``
    (docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html), which deploy creates before the function."""
    return f"/aws/lambda/{name}"


def is_ours(tags: dict | list | None) -> bool:
    """True when ``tags`` (a dict, or ECR/IAM's list of ``{"Key", "Value"}``) carry this project's tag."""
    if isinstance(tags, list):
        tags = {tag["Key"]: tag["Value"] for tag in tags}
    return all((tags or {}).get(key) == value for key, value in PROJECT_TAGS.items())


def not_ours(kind: str, name: str) -> DeployError:
    """The error for a ``kind`` of resource called ``name`` that exists without this project's tag."""
    tag = ", ".join(f"{k}={v}" for k, v in PROJECT_TAGS.items())
    return DeployError(f"a {kind} named {name!r} already exists and is not tagged {tag}, so it is not this "
                       "project's: it is left alone. Choose another name with --name (make deploy NAME=...).")


def alarm_name(name: str, kind: str) -> str:
    """The CloudWatch alarm ``kind`` (``"5xx-rate"``, ``"canary-errors"``...) of deployment ``name`` (chapter 07's
    ``monitoring.py`` creates them, ``make destroy`` removes them: ``remove_monitoring``)."""
    return f"{name}-{kind}"


def dashboard_name(name: str) -> str:
    """The CloudWatch dashboard of deployment ``name``: the name itself (a dashboard's name allows A-Z, a-z, 0-9, - and
    _, as the deployment's name does)."""
    return name


def watches_function(alarm: dict, name: str) -> bool:
    """True when every metric of ``alarm`` (``describe_alarms``' ``MetricAlarms`` item: one metric, or ``Metrics``
    of metric math) is one of function ``name``'s (dimension ``FunctionName``)."""
    metrics = [alarm] if alarm.get("MetricName") else [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", [])
                                                         if "MetricStat" in q]
    return bool(metrics) and all({"Name": "FunctionName", "Value": name} in m.get("Dimensions", []) for m in metrics)


def remove_monitoring(cloudwatch, name: str, dry_run: bool = False) -> list[str]:
    """Delete the CloudWatch alarms and the dashboard of deployment ``name`` that are this project's: alarms named
    ``alarm_name(name, ...)`` that watch function ``name`` and carry ``PROJECT_TAGS``, and ``dashboard_name(name)``
    when tagged so. Others are reported and left alone.

    Returns:
        one line per resource removed (with ``dry_run``: that would be removed).
    """
    done, verb, prefix = [], "would remove" if dry_run else "removed", alarm_name(name, "")
    ours, theirs = [], []
    pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"])
    for page in pages:
        for alarm in page["MetricAlarms"]:
            if not watches_function(alarm, name):
                continue  # another deployment's whose name starts with this one's (NAME-2-...)
            tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags")
            (ours if is_ours(tags) else theirs).append(alarm["AlarmName"])
    if ours:
        if not dry_run:
            for start in range(0, len(ours), 100):  # DeleteAlarms takes at most 100 names
                cloudwatch.delete_alarms(AlarmNames=ours[start:start + 100])
        done.append(f"{verb} CloudWatch alarms {', '.join(ours)}")
    for alarm in theirs:
        print(f"  CloudWatch alarm {alarm} is not tagged as this project's: left alone")
    dashboard = dashboard_name(name)
    for entry in cloudwatch.list_dashboards(DashboardNamePrefix=dashboard).get("DashboardEntries", []):
        if entry["DashboardName"] != dashboard:
            continue
        if is_ours(cloudwatch.list_tags_for_resource(ResourceARN=entry["DashboardArn"]).get("Tags")):
            if not dry_run:
                cloudwatch.delete_dashboards(DashboardNames=[dashboard])
            done.append(f"{verb} CloudWatch dashboard {dashboard}")
        else:
            print(f"  CloudWatch dashboard {dashboard} is not tagged as this project's: left alone")
    return done


def batch_names(name: str, account: str, region: str) -> dict:
    """Chapter 07's batch predictions on AWS (``batch_aws.py``) for deployment ``name``: the Step Functions state
    machine, its role, and the S3 bucket of manifests and results (bucket names are global: the account and the
    region make it unique; at most 63 characters, lower case)."""
    return {"state machine": f"{name}-batch", "role": f"{name}-batch-role",
            "bucket": f"{name}-batch-{account}-{region}".lower()[:63]}


def remove_role(iam, role: str, dry_run: bool = False) -> list[str]:
    """Delete the IAM role ``role`` when it is tagged as this project's, its policies first (managed ones detached,
    inline ones deleted: IAM refuses to delete a role that still has any); one that is not ours is reported and left
    alone, one that does not exist is skipped.

    Returns:
        ``["removed IAM role ROLE"]`` (with ``dry_run``: ``"would remove ..."``), or ``[]``.
    """
    try:
        if not is_ours(iam.list_role_tags(RoleName=role)["Tags"]):
            print(f"  IAM role {role} is not tagged as this project's: left alone")
            return []
        if not dry_run:
            for policy in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
            for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                iam.delete_role_policy(RoleName=role, PolicyName=policy)
            iam.delete_role(RoleName=role)
    except iam.exceptions.NoSuchEntityException:
        return []
    return [f"{'would remove' if dry_run else 'removed'} IAM role {role}"]


def remove_batch(session, name: str, dry_run: bool = False) -> list[str]:
    """Delete what ``batch_aws.py setup`` created for deployment ``name`` when tagged as this project's: the state
    machine, its role (with its inline policy) and the bucket (with every manifest and result in it). Others of
    the same names are reported and left alone.

    Returns:
        one line per resource removed (with ``dry_run``: that would be removed).
    """
    account = session.client("sts").get_caller_identity()["Account"]
    names = batch_names(name, account, session.region_name)
    sfn, iam, s3 = (session.client(s) for s in ("stepfunctions", "iam", "s3"))
    done, verb = [], "would remove" if dry_run else "removed"
    arn = f"arn:{session.get_partition_for_region(session.region_name)}:states:{session.region_name}:{account}:" \
          f"stateMachine:{names['state machine']}"
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
        if is_ours({t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=arn)["tags"]}):
            if not dry_run:
                sfn.delete_state_machine(stateMachineArn=arn)
            done.append(f"{verb} Step Functions state machine {names['state machine']}")
        else:
            print(f"  Step Functions state machine {names['state machine']} is not tagged as this project's: "
                  "left alone")
    except sfn.exceptions.StateMachineDoesNotExist:
        pass
    done += remove_role(iam, names["role"], dry_run)
    bucket = names["bucket"]
    try:
        tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except botocore.exceptions.ClientError as e:
        if error_code(e) in ("NoSuchBucket", "404"):
            return done
        if error_code(e) != "NoSuchTagSet":
            raise
        tags = []
    if is_ours(tags):
        objects = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            objects += len(keys)
            if keys and not dry_run:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        if not dry_run:
            s3.delete_bucket(Bucket=bucket)
        done.append(f"{verb} S3 bucket {bucket} ({objects} object{'s' * (objects != 1)})")
    else:
        print(f"  S3 bucket {bucket} is not tagged as this project's: left alone")
    return done


def error_code(error: botocore.exceptions.ClientError) -> str:
    """The AWS error code of a boto3 ``ClientError`` (``"ResourceNotFoundException"``, ...), or ``""``."""
    return error.response.get("Error", {}).get("Code", "")


def session_for(region: str | None) -> boto3.Session:
    """A boto3 session in ``region``, else in AWS_REGION / AWS_DEFAULT_REGION / the profile's region.

    Raises:
        botocore.exceptions.NoRegionError: none of them names a region.
    """
    session = boto3.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    if not session.region_name:
        raise botocore.exceptions.NoRegionError()
    return session


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
        code, message = error_code(error), error.response.get("Error", {}).get("Message", "")
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

