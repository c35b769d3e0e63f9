"""The command line of chapter 05 (``make deploy``, ``make destroy``): print the plan, then deploy or tear down.

    python solutions/05_deploy/deploy_cli.py deploy  [--region R] [--name N] [--memory MB] [--timeout S] [--arch A]
                                                     [--max-concurrency N] [--image-tag T] [--no-build]
                                                     [--url IMAGE_URL] [--dry-run]
    python solutions/05_deploy/deploy_cli.py destroy [--region R] [--name N] [--dry-run]

``deploy`` runs ``deploy.run_deploy`` (the steps are described there); ``destroy`` runs ``destroy.destroy``. AWS
errors end in one paragraph that says what to do (``tutorial_support.deployment.explain``), never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from deploy import run_deploy
from destroy import destroy
from ecr import KEEP_IMAGES

from tutorial_support import deployment
from tutorial_support.deployment import ALIAS, PROJECT_TAGS, add_common_arguments, role_name, run_safely, session_for


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


def main(argv=None) -> int:
    """Parse ``argv`` (default: the command line) and run the command. Returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("deploy", help="create or update everything, then invoke the function once")
    down = commands.add_parser("destroy", help="delete what deploy created (tagged as this project's)")
    for sub in (up, down):
        add_common_arguments(sub)
    up.add_argument("--memory", type=int, default=deployment.DEFAULT_MEMORY_MB,
                    help="function memory, MB (128-10240)")
    up.add_argument("--timeout", type=int, default=deployment.DEFAULT_TIMEOUT_S, help="function timeout, s (1-900)")
    up.add_argument("--arch", choices=("x86_64", "arm64"), default="x86_64", help="Lambda architecture of the image")
    up.add_argument("--max-concurrency", type=int, default=deployment.DEFAULT_MAX_CONCURRENCY,
                    help="reserved concurrency: copies that may run at once")
    up.add_argument("--image-tag", default="latest", help="tag of the image in ECR")
    up.add_argument("--no-build", action="store_true", help="deploy the image already in ECR under --image-tag")
    up.add_argument("--url", default=deployment.DEFAULT_URL, help="image URL for the test invocation")
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
