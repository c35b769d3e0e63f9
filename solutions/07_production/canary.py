"""Chapter 07: canary releases of the function, with alarms and automatic rollback.

A canary sends a small share of real traffic to a new version while the alias ``live`` keeps serving the old one, so
a broken release hurts a few requests instead of all of them. Lambda does the split itself: an alias may point at two
versions, the second with a weight (``RoutingConfig.AdditionalVersionWeights``,
https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html), and chapter 06's API invokes ``live``.

- ``make canary [WEIGHT=0.1]``: chapter 05's deploy steps without moving ``live``: the image built and pushed under
  a tag of its own (or, with ``ARGS=--no-build``, the newest image in ECR), the function's code updated, a version
  published; then ``live`` keeps its version and sends ``WEIGHT`` of its requests to the new one, and the canary's
  alarms (``monitoring.canary_alarms``: its errors and p95 latency, Lambda's metrics by ``ExecutedVersion``) watch
  it. ``VERSION=N`` releases an existing version instead. Refused: a weight outside (0, 1), and a version that is the
  one ``live`` serves (unchanged code publishes no new version).
- ``make canary WATCH=600`` (or ``make canary-watch``): poll the canary's alarms for that many seconds; one in ALARM
  rolls ``live`` back (the routing cleared: every request on the old version) and says which alarm and why (its
  ``StateReason``). Quiet for the whole window: ``make promote`` is next.
- ``make promote``: all of ``live``'s traffic to the canary's version. ``make rollback`` (chapter 05's
  ``releases.py``) ends a canary too.

The AWS-native equivalent is in template.yaml: ``DeploymentPreference`` (CodeDeploy's ``Canary10Percent5Minutes``)
with the same alarms, which CodeDeploy watches and rolls back on.

In the tests (tests/test_canary.py), moto stores the alias's weights but invoking the alias ignores them, and its
CodeDeploy shifts no traffic (../shared/FACTS.md): the tests check the routing the scripts set and the alarms they
read, not the traffic split itself.

    PYTHONPATH=solutions/05_deploy python solutions/07_production/canary.py start [--weight W] [--watch S]
        [--version N] [--no-build] [--image-tag T] [--dockerfile F] [--region R] [--name N] [--dry-run]
    ... canary.py watch [--seconds S] [--region R] [--name N]
    ... canary.py promote [--region R] [--name N]

It imports chapter 05's deploy steps (``ecr.py``, ``deploy.py``, ``releases.py``): ``make canary`` puts
solutions/05_deploy on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta, timezone

import monitoring
from deploy import ensure_function
from deploy_cli import dockerfile_path
from ecr import build_and_push, ensure_repository, image_digest, newest_image, unique_tag
from releases import NO_CANARY, canary_weights, live_version, published_versions, version_image

from tutorial_support import docker_image
from tutorial_support.deployment import ALIAS, DeployError, add_common_arguments, alarm_name, run_safely, session_for

DEFAULT_WEIGHT = 0.1  # the canary's share of live's requests: CodeDeploy's Canary10Percent5Minutes sends 10 %
POLL_S = 20.0  # how often the watch reads the alarms; Lambda's metrics and the alarms move once a minute
# make canary-watch's window: CodeDeploy's Canary10Percent5Minutes (template.yaml) watches its alarms for 5 minutes
DEFAULT_WATCH_S = 300


def check_weight(weight: float) -> float:
    """``weight`` when it is a share a canary can have: strictly between 0 and 1.

    Raises:
        DeployError: 0 or less (no traffic: nothing would be tested), 1 or more (all traffic: that is ``make
            promote``), or not a number.
    """
    if not 0 < weight < 1:
        raise DeployError(f"WEIGHT={weight:g} is not a canary's share: it must be between 0 and 1, exclusive (0.1 "
                          "sends 10 % of live's requests to the new version). 0 would send it nothing; 1 is all of "
                          "them: that is `make promote`.")
    return weight


def deploy_new_version(session, args) -> str:
    """Chapter 05's deploy steps without moving ``live``: the image (built and pushed under a tag of its own; with
    ``args.no_build``, ``args.image_tag`` or the newest image in ECR) becomes the function's code, with its settings
    (memory, timeout, role, architecture) kept, and a version is published.

    Returns:
        the version published (an existing one when the image and settings are unchanged: Lambda publishes no
        duplicate).

    Raises:
        DeployError: no function (run ``make deploy`` first), no image, or the build failed.
    """
    lambda_client, ecr = session.client("lambda"), session.client("ecr")
    try:
        config = lambda_client.get_function_configuration(FunctionName=args.name)
    except lambda_client.exceptions.ResourceNotFoundException:
        raise DeployError(f"there is no function {args.name!r} here: run `make deploy` first (same NAME= and "
                          "REGION=); a canary releases a new version of a deployed function.") from None
    architecture = config.get("Architectures", ["x86_64"])[0]
    repository_uri = ensure_repository(ecr, args.name)
    if args.no_build:
        tag = args.image_tag or newest_image(ecr, args.name)
    else:
        tag = args.image_tag or unique_tag()
        build_and_push(ecr, repository_uri, tag, architecture, args.dockerfile)
    image_uri = f"{repository_uri}@{image_digest(ecr, args.name, tag)}"
    print(f"  image {tag}: {image_uri}")
    ensure_function(lambda_client, args.name, image_uri, config["Role"], config["MemorySize"], config["Timeout"],
                    architecture)
    version = lambda_client.publish_version(FunctionName=args.name)["Version"]
    print(f"  version {version} published ({ALIAS} not moved)")
    return version


def start_canary(lambda_client, name: str, version: str, weight: float) -> tuple[str, dict[str, float]]:
    """Keep ``live`` on its version and send ``weight`` of its requests to ``version``.

    Returns:
        (the version ``live`` serves, the canary routing that was replaced: empty when none ran).

    Raises:
        DeployError: a weight outside (0, 1), no alias ``live``, no such published version, or ``version`` is the
            one ``live`` serves or runs the same image (``live`` is not changed).
    """
    check_weight(weight)
    primary = live_version(lambda_client, name)
    if primary is None:
        raise DeployError(f"the function {name} has no alias {ALIAS!r}: run `make deploy` first.")
    versions = published_versions(lambda_client, name)
    if str(version) not in versions:
        raise DeployError(f"the function {name} has no version {version}: it has {', '.join(versions)} (`make "
                          "versions`).")
    if str(version) == primary:
        raise DeployError(f"version {version} is the one {ALIAS} serves already, so a canary of it would test "
                          "nothing. Lambda publishes no new version when the image and settings are unchanged: "
                          "change the code (or deploy another image), then `make canary` again; `make versions` "
                          "lists the versions.")
    image, live_image = (version_image(lambda_client, name, v)["uri"] for v in (str(version), primary))
    if image == live_image:
        raise DeployError(f"version {version} runs the image that {ALIAS} serves already (version {primary}: "
                          f"{image}), so a canary of it would test nothing. Change the code, then `make canary` "
                          "again; `make versions` lists the versions and their images.")
    replaced = canary_weights(lambda_client, name)
    lambda_client.update_alias(FunctionName=name, Name=ALIAS, FunctionVersion=primary,
                               RoutingConfig={"AdditionalVersionWeights": {str(version): float(weight)}})
    return primary, {v: w for v, w in replaced.items() if v != str(version)}


def promote(lambda_client, name: str) -> tuple[str, str]:
    """All of ``live``'s traffic to the canary's version: ``live`` points at it, the routing is cleared.

    Returns:
        (the version ``live`` served, the canary's version it serves now).

    Raises:
        DeployError: no alias ``live``, or no canary runs.
    """
    primary = live_version(lambda_client, name)
    if primary is None:
        raise DeployError(f"the function {name} has no alias {ALIAS!r}: run `make deploy` first.")
    weights = canary_weights(lambda_client, name)
    if not weights:
        raise DeployError(f"no canary runs: {ALIAS} sends all its requests to version {primary}. `make canary` "
                          "starts one.")
    (version,) = weights
    lambda_client.update_alias(FunctionName=name, Name=ALIAS, FunctionVersion=version, RoutingConfig=NO_CANARY)
    return primary, version


def canary_alarm_names(name: str, version: str) -> list[str]:
    """The names of the alarms that watch the canary ``version`` (``monitoring.canary_alarms``)."""
    return [alarm_name(name, spec.kind) for spec in monitoring.canary_alarms(name, version)]


def canary_invocations(cloudwatch, name: str, version: str, seconds: float) -> int:
    """How many invocations of ``live`` version ``version`` ran in the last ``seconds``, as CloudWatch has them
    (Lambda's ``Invocations`` by ``ExecutedVersion``; they arrive within minutes)."""
    end = datetime.now(timezone.utc)
    spec = monitoring.Metric("invocations", "Invocations", "Sum", monitoring.version_dimensions(name, version))
    points = cloudwatch.get_metric_statistics(
        Namespace=monitoring.NAMESPACE, MetricName=spec.name, Dimensions=spec.dimension_list(),
        StartTime=end - timedelta(seconds=max(seconds, monitoring.PERIOD_S)), EndTime=end,
        Period=monitoring.PERIOD_S, Statistics=["Sum"])["Datapoints"]
    return int(sum(point["Sum"] for point in points))


def watch(lambda_client, cloudwatch, name: str, version: str, seconds: float, poll_s: float = POLL_S,
          clock=time.monotonic, sleep=time.sleep, say=print) -> dict:
    """Poll the canary's alarms for ``seconds``; the first one in ALARM rolls ``live`` back (the canary's routing
    cleared: every request on the version ``live`` serves).

    Args:
        version: the canary's version (its alarms: ``canary_alarm_names``).
        seconds, poll_s: how long to watch, and how often to read the alarms (seconds).
        clock, sleep, say: the time source, the wait and the output (the tests pass fakes).

    Returns:
        ``{"outcome": "rolled_back" | "healthy" | "ended", "alarm": name or None, "reason": its StateReason or None,
        "primary": the version live serves}``; ``"ended"``: the canary was promoted or ended by someone else.

    Raises:
        DeployError: the canary's alarms are missing (``make canary`` or ``make alarms`` creates them).
    """
    names = canary_alarm_names(name, version)
    deadline, last = clock() + seconds, None
    while True:
        primary = live_version(lambda_client, name)
        if str(version) not in canary_weights(lambda_client, name):
            return {"outcome": "ended", "alarm": None, "reason": None, "primary": primary}
        alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
        missing = [n for n in names if n not in alarms]
        if missing:
            raise DeployError(f"the canary's alarm(s) {', '.join(missing)} do not exist, so nothing would stop a bad "
                              "release: `make alarms` creates them (or `make rollback` ends the canary).")
        states = {n: alarms[n]["StateValue"] for n in names}
        if states != last:
            say("  " + ", ".join(f"{n}: {state}" for n, state in states.items()))
            last = states
        firing = [n for n in names if states[n] == "ALARM"]
        if firing:
            lambda_client.update_alias(FunctionName=name, Name=ALIAS, FunctionVersion=primary,
                                       RoutingConfig=NO_CANARY)
            return {"outcome": "rolled_back", "alarm": firing[0], "reason": alarms[firing[0]].get("StateReason"),
                    "primary": primary}
        left = deadline - clock()
        if left <= 0:
            return {"outcome": "healthy", "alarm": None, "reason": None, "primary": primary}
        sleep(min(poll_s, left))


def report_watch(result: dict, name: str, version: str, seconds: float, cloudwatch) -> int:
    """Print what ``watch`` found and what to do next. Returns the exit status: 1 when the canary was rolled back."""
    if result["outcome"] == "rolled_back":
        print(f"Alarm {result['alarm']} is in ALARM: {result['reason']}\nRolled back: {ALIAS} sends every request to "
              f"version {result['primary']} again; version {version} gets none. Its log is in CloudWatch "
              f"(/aws/lambda/{name}); fix the code and `make canary` again.", file=sys.stderr)
        return 1
    if result["outcome"] == "ended":
        print(f"The canary of version {version} ended meanwhile ({ALIAS} serves version {result['primary']}, no "
              "canary): nothing left to watch.")
        return 0
    served = canary_invocations(cloudwatch, name, version, seconds)
    print(f"No alarm in {seconds:g} s: version {version} stayed healthy. `make promote` sends all of {ALIAS}'s "
          "requests to it next (`make rollback` ends the canary instead).")
    if served == 0:
        print(f"Note: CloudWatch has no invocation of version {version} in that time yet, so its alarms had "
              "nothing to judge (metrics arrive within minutes). Send requests through the API first, then "
              "`make canary-watch` again.")
    return 0


def run_start(args, session) -> int:
    """``make canary``: a new version (or ``args.version``), the routing, its alarms; then the watch if asked."""
    check_weight(args.weight)
    lambda_client, cloudwatch = session.client("lambda"), session.client("cloudwatch")
    if live_version(lambda_client, args.name) is None:
        raise DeployError(f"the function {args.name} has no alias {ALIAS!r} here: run `make deploy` first (same "
                          "NAME= and REGION=).")
    print(f"Canary of {args.name} in {session.region_name}:")
    version = str(args.version) if args.version else deploy_new_version(session, args)
    primary, replaced = start_canary(lambda_client, args.name, version, args.weight)
    if replaced:
        print(f"  replaces the canary of version {', '.join(replaced)}")
    made = monitoring.ensure_monitoring(session, args.name, canary_version=version)
    print(f"  alarms: {', '.join(canary_alarm_names(args.name, version))} (and {len(made['alarms']) - 2} on the "
          "whole function)")
    print(f"{ALIAS} serves version {primary} and sends {args.weight:.0%} of its requests to version {version}.")
    if args.watch > 0:
        print(f"Watching its alarms for {args.watch:g} s (every {POLL_S:g} s):")
        result = watch(lambda_client, cloudwatch, args.name, version, args.watch)
        return report_watch(result, args.name, version, args.watch, cloudwatch)
    print("`make canary-watch` watches its alarms and rolls back on one; `make promote` sends all traffic to it; "
          "`make rollback` ends it.")
    return 0


def run_watch(args, session) -> int:
    """``make canary-watch``: watch the running canary (its alarms created when missing)."""
    lambda_client, cloudwatch = session.client("lambda"), session.client("cloudwatch")
    weights = canary_weights(lambda_client, args.name)
    if not weights:
        primary = live_version(lambda_client, args.name)
        raise DeployError(f"no canary runs on {args.name}"
                          + (f": {ALIAS} sends every request to version {primary}" if primary else "")
                          + ". `make canary` starts one.")
    (version,) = weights
    names = canary_alarm_names(args.name, version)
    if len(cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]) < len(names):
        monitoring.ensure_monitoring(session, args.name, canary_version=version)
    print(f"Watching the canary of {args.name} (version {version}, {weights[version]:.0%} of {ALIAS}'s requests) "
          f"for {args.seconds:g} s:")
    result = watch(lambda_client, cloudwatch, args.name, version, args.seconds)
    return report_watch(result, args.name, version, args.seconds, cloudwatch)


def run_promote(args, session) -> int:
    """``make promote``."""
    before, after = promote(session.client("lambda"), args.name)
    print(f"{ALIAS}: {before} -> {after}: every request goes to version {after} of {args.name} now. "
          f"`make rollback` returns to version {before}.")
    return 0


def main(argv=None) -> int:
    """Parse ``argv`` and run the command. Returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help=f"release a new version to a share of {ALIAS}'s requests")
    looking = commands.add_parser("watch", help="watch the canary's alarms; roll back on one")
    forward = commands.add_parser("promote", help=f"send all of {ALIAS}'s requests to the canary's version")
    for sub in (start, looking, forward):
        add_common_arguments(sub)
    start.add_argument("--weight", type=float, default=DEFAULT_WEIGHT, help="the canary's share, 0 < W < 1 (0.1)")
    start.add_argument("--watch", type=float, default=0, help="then watch its alarms for this many seconds (0: no)")
    start.add_argument("--version", help="release this published version instead of deploying a new image")
    start.add_argument("--no-build", action="store_true", help="deploy an image already in ECR (--image-tag, or "
                                                               "the newest)")
    start.add_argument("--image-tag", help="the image's tag in ECR (default: building, a new one)")
    start.add_argument("--dockerfile", type=dockerfile_path, default=docker_image.DOCKERFILE,
                       help="the Dockerfile to build (yours: 04_docker/Dockerfile)")
    looking.add_argument("--seconds", type=float, default=DEFAULT_WATCH_S,
                         help=f"how long to watch, s ({DEFAULT_WATCH_S})")
    args = parser.parse_args(argv)
    if args.command == "start" and not 0 < args.weight < 1:
        parser.error(f"--weight {args.weight:g}: a canary's share must be between 0 and 1, exclusive (WEIGHT=0.1 "
                     "sends 10 %); 1 is all the traffic: `make promote`.")

    def command() -> int:
        session = session_for(args.region)
        if args.dry_run:
            print(f"Dry run: {args.command} of {args.name}'s canary in {session.region_name}; nothing was changed.")
            return 0
        return {"start": run_start, "watch": run_watch, "promote": run_promote}[args.command](args, session)

    return run_safely(command)


if __name__ == "__main__":
    sys.exit(main())
