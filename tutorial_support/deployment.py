"""What chapters 05 (``deploy.py``) and 06 (``api.py``) share: the deployment's names and ownership tag, the boto3
session, the command-line options every command takes, and the one-paragraph explanation of an AWS error that a
learner gets instead of a traceback.

Every resource the tutorial creates carries ``PROJECT_TAGS``; a resource of the same name without it is someone
else's and is left alone (``is_ours``, ``not_ours``).
"""

from __future__ import annotations

import argparse
import os
import sys

import boto3
import botocore.exceptions

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
# however many requests arrive (the very worst case, all of them busy all day: chapter 06's `flood_cost`, the
# README's flood-cost table).
DEFAULT_MAX_CONCURRENCY = 5
# A pants photo of clothing-dataset-small's test split (CC0), the same that chapter 01's course uses.
DEFAULT_URL = ("https://raw.githubusercontent.com/alexeygrigorev/clothing-dataset-small/master/test/pants/"
               "4aabd82c-82e1-4181-a84d-d0c6e550d26d.jpg")


class DeployError(RuntimeError):
    """A step cannot go on; the message says why and what to do. Raised for our own checks, not AWS errors."""


def role_name(name: str) -> str:
    """The execution role's name for deployment ``name``."""
    return f"{name}-role"


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

