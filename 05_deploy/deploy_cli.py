"""The command line of chapter 05 (``make deploy``, ``make destroy``, ``make versions``, ``make rollback``): print
the plan, then deploy, tear down, list the versions, or point ``live`` back.

    python solutions/05_deploy/deploy_cli.py deploy   [--region R] [--name N] [--memory MB] [--timeout S] [--arch A]
                                                      [--max-concurrency N] [--image-tag T] [--no-build]
                                                      [--dockerfile F] [--url IMAGE_URL] [--dry-run]
    python solutions/05_deploy/deploy_cli.py destroy  [--region R] [--name N] [--dry-run]
    python solutions/05_deploy/deploy_cli.py versions [--region R] [--name N]
    python solutions/05_deploy/deploy_cli.py rollback [--region R] [--name N] [--version V]

``deploy`` runs ``deploy.run_deploy`` (the steps are described there); ``destroy`` runs ``destroy.destroy``;
``versions`` and ``rollback`` are ``releases.py``'s. AWS errors end in one paragraph that says what to do
(``tutorial_support.deployment.explain``), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import botocore.exceptions
from deploy import run_deploy
from destroy import destroy
from ecr import TAG_MUTABILITY, UNTAGGED_EXPIRY_DAYS, describe_build
from releases import run_rollback, run_versions

from tutorial_support import deployment, docker_image
from tutorial_support.deployment import (
    ALIAS,
    LOG_RETENTION_DAYS,
    PROJECT_TAGS,
    add_common_arguments,
    explain,
    role_name,
    run_safely,
    session_for,
)
from tutorial_support.paths import REPO_ROOT


def read_cap(args, session) -> tuple[deployment.ConcurrencyCap, str | None]:
    """The concurrency cap for this account (``deployment.read_concurrency_cap``: read-only calls), and, when the
    account's limits cannot be read, why (the cap is then the reservation asked for, tried at deploy time)."""
    try:
        return deployment.read_concurrency_cap(session.client("lambda"), args.name, args.max_concurrency,
                                               args.timeout), None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        why = explain(e).removeprefix("error: ").split(". ")[0]
        return deployment.concurrency_cap(None, None, args.max_concurrency), why


def deploy_plan(args, session) -> tuple[list[str], deployment.ConcurrencyCap]:
    """What ``deploy`` will create or update, in words, one line per resource, with the concurrency cap it chose and
    the worst case a flood can cost at that cap (before anything is created).

    Raises:
        DeployError: the Dockerfile to build ships no handler (``ecr.describe_build``).
    """
    if args.no_build:
        image = (f"the image already tagged {args.image_tag!r}" if args.image_tag
                 else "the newest image already in the repository")
    else:
        image = (f"{describe_build(args.dockerfile)}; built for {args.arch} and pushed as "
                 + (repr(args.image_tag) if args.image_tag else "a tag of its own (commit and time)"))
    cap, unread = read_cap(args, session)
    month = deployment.flood_cost(cap.rate, args.memory, args.timeout, cap.copies)
    day, month = (month[p]["total"][args.arch] for p in ("day", "month"))
    return [f"region {session.region_name}; every resource tagged "
            + ", ".join(f"{k}={v}" for k, v in PROJECT_TAGS.items()),
            f"ECR repository {args.name} (tags {TAG_MUTABILITY}; untagged images expire after {UNTAGGED_EXPIRY_DAYS} "
            "day(s)), if absent",
            f"image: {image}, pinned by digest",
            f"IAM role {role_name(args.name)} (trusted by lambda.amazonaws.com, AWSLambdaBasicExecutionRole only), "
            "if absent",
            f"CloudWatch log group /aws/lambda/{args.name} (logs kept {LOG_RETENTION_DAYS} days), if absent",
            f"Lambda function {args.name}: {args.memory} MB, {args.timeout} s timeout, {args.arch} (created, or code "
            "and configuration updated)",
            "concurrency: " + cap.describe() + (f" (the account's limits could not be read: {unread})" if unread
                                                else ""),
            f"worst case if flooded through `make api` ({cap.rate:.3g} requests/s, at most "
            f"{min(cap.copies, cap.rate * args.timeout):g} copies busy): ${day:,.2f} a day, ${month:,.2f} a "
            f"{deployment.DAYS_A_MONTH}-day month ({args.arch}, before the free tier)",
            f"a new version of it, and the alias {ALIAS!r} pointed at that version",
            f"one invocation of {args.name}:{ALIAS} with {args.url}"], cap


def dockerfile_path(value: str) -> Path:
    """``--dockerfile``: a path, read from the current folder, else from the repository root (``make deploy
    DOCKERFILE=04_docker/Dockerfile`` from anywhere)."""
    path = Path(value)
    if not path.is_absolute() and not path.exists() and (REPO_ROOT / path).exists():
        path = REPO_ROOT / path
    return path


def main(argv=None) -> int:
    """Parse ``argv`` (default: the command line) and run the command. Returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("deploy", help="create or update everything, then invoke the function once")
    down = commands.add_parser("destroy", help="delete what deploy created (tagged as this project's)")
    listing = commands.add_parser("versions", help="the published versions, their images, the one live serves")
    back = commands.add_parser("rollback", help=f"point {ALIAS} at an older version (default: the one before)")
    for sub in (up, down, listing, back):
        add_common_arguments(sub)
    back.add_argument("--version", help=f"the version to serve (default: the one before what {ALIAS} serves)")
    up.add_argument("--memory", type=int, default=deployment.DEFAULT_MEMORY_MB,
                    help="function memory, MB (128-10240)")
    up.add_argument("--timeout", type=int, default=deployment.DEFAULT_TIMEOUT_S, help="function timeout, s (1-900)")
    up.add_argument("--arch", choices=("x86_64", "arm64"), default="x86_64", help="Lambda architecture of the image")
    up.add_argument("--max-concurrency", type=int, default=deployment.DEFAULT_MAX_CONCURRENCY,
                    help="reserved concurrency: copies that may run at once")
    up.add_argument("--image-tag", help="tag of the image in ECR (default: building, a new tag, the commit and the "
                                        "time; with --no-build, the newest image); tags are immutable")
    up.add_argument("--no-build", action="store_true",
                    help="deploy an image already in ECR (--image-tag, or the newest)")
    up.add_argument("--dockerfile", type=dockerfile_path, default=docker_image.DOCKERFILE,
                    help="the Dockerfile to build: yours is 04_docker/Dockerfile (default: the reference, "
                         "solutions/04_docker/Dockerfile)")
    up.add_argument("--url", default=deployment.DEFAULT_URL, help="image URL for the test invocation")
    args = parser.parse_args(argv)
    if args.command == "deploy" and not (128 <= args.memory <= 10240 and 1 <= args.timeout <= 900):
        parser.error("--memory must be 128-10240 MB and --timeout 1-900 s (Lambda's limits)")
    if args.command == "deploy" and args.max_concurrency < 1:
        parser.error("--max-concurrency must be at least 1 (0 would throttle every call)")

    def command() -> int:
        session = session_for(args.region)
        if args.command == "deploy":
            plan, cap = deploy_plan(args, session)
            print("Plan:" + "".join(f"\n  - {line}" for line in plan))
            if args.dry_run:
                print("Dry run: nothing was changed.")
                return 0
            return run_deploy(args, session, cap)
        if args.command == "versions":
            return run_versions(args, session)
        if args.command == "rollback":
            if args.dry_run:
                print(f"Dry run: rollback would point {ALIAS} at version {args.version or '(the one before)'}; "
                      "nothing was changed.")
                return 0
            return run_rollback(args, session)
        removed = destroy(session, args.name, args.dry_run)
        print("\n".join(removed) if removed else f"Nothing of {args.name!r} to remove in {session.region_name}.")
        return 0

    return run_safely(command)



if __name__ == "__main__":
    sys.exit(main())
