"""Issue 17, chapter 07: canary releases (solutions/07_production/canary.py) against moto: ``make canary`` publishes a
version from the new image and routes a share of ``live`` to it (``AdditionalVersionWeights``), refusing a weight
outside (0, 1) and the version ``live`` serves; ``make promote`` moves everything to it; ``make rollback`` ends it;
and the watch rolls ``live`` back when a canary alarm goes to ALARM, saying which and why, or, quiet for the whole
window, says promote is next. The watch's clock and sleep are fakes: a ten-minute window takes milliseconds.

What moto cannot show (../shared/FACTS.md): invoking an alias ignores its weights (so no test sends traffic through
the split), CloudWatch evaluates no alarm (the tests set the states with ``set_alarm_state``), and CodeDeploy shifts
no traffic (template.yaml's DeploymentPreference is checked by tests/test_sam_template.py and cfn-lint, not run).
"""

import functools

import canary
import deploy
import deploy_cli
import ecr as ecr_steps
import pytest

from tutorial_support import deployment
from tutorial_support.deployment import DeployError
from tutorial_support.moto_account import lambda_role, mock_aws_account, put_fake_image

NAME, REGION = "can-clothing", "us-east-1"
AWS = ["--name", NAME, "--region", REGION]


def active(lam, name: str = NAME) -> None:
    """Look at the function until moto's change is done (each look moves it on: no waiter's delay)."""
    while lam.get_function(FunctionName=name)["Configuration"].get("LastUpdateStatus", "Successful") != "Successful" \
            or lam.get_function(FunctionName=name)["Configuration"]["State"] != "Active":
        pass


def deployed(session, tags=("v1", "v2")) -> list[str]:
    """make deploy's result with one version per image tag (live on the first); returns the versions."""
    ecr, lam = session.client("ecr"), session.client("lambda")
    uri = ecr_steps.ensure_repository(ecr, NAME)
    images = [f"{uri}@{put_fake_image(ecr, NAME, tag)}" for tag in tags]
    lam.create_function(FunctionName=NAME, PackageType="Image", Code={"ImageUri": images[0]},
                        Role=lambda_role(session, f"{NAME}-role"), Tags=dict(deployment.PROJECT_TAGS))
    active(lam)
    versions = [deploy.publish_and_alias(lam, NAME)[0]]
    for image in images[1:]:
        lam.update_function_code(FunctionName=NAME, ImageUri=image)
        active(lam)
        versions.append(lam.publish_version(FunctionName=NAME)["Version"])
    return versions


def routing(lam) -> tuple[str, dict]:
    alias = lam.get_alias(FunctionName=NAME, Name="live")
    return alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


class FakeTime:
    """A clock and a sleep that only move the clock; ``on_sleep(n)`` runs at the n-th sleep."""

    def __init__(self, on_sleep=None):
        self.now, self.sleeps, self.on_sleep = 1000.0, [], on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


def test_make_canary_releases_the_new_image_to_a_share_of_live_in_a_new_account(capsys, monkeypatch):
    # chapter 05's waits, without the waiters' one-second delays (tests/test_deploy*.py test them)
    monkeypatch.setattr(deploy, "_wait", lambda lam, waiter, name: active(lam, name))
    with mock_aws_account(REGION, concurrency_limit=10) as session:
        lam, cloudwatch = session.client("lambda"), session.client("cloudwatch")
        (first,) = deployed(session, tags=("v1",))
        put_fake_image(session.client("ecr"), NAME, "v2")  # the new image, as make canary's build pushes it
        capsys.readouterr()
        assert canary.main(["start", "--no-build", "--image-tag", "v2", "--weight", "0.2", *AWS]) == 0
        out = capsys.readouterr().out
        primary, weights = routing(lam)
        (version,) = weights
        assert (primary, weights) == (first, {version: 0.2}) and version != first
        image = lam.get_function(FunctionName=NAME, Qualifier=version)["Code"]["ImageUri"]
        assert image.endswith("@" + ecr_steps.image_digest(session.client("ecr"), NAME, "v2"))
        assert f"live serves version {first} and sends 20% of its requests to version {version}" in out
        alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
        errors = alarms[f"{NAME}-canary-errors"]
        assert {d["Name"]: d["Value"] for d in errors["Dimensions"]} == {
            "FunctionName": NAME, "Resource": f"{NAME}:live", "ExecutedVersion": version}
        assert alarms[f"{NAME}-concurrency-near-cap"]["Threshold"] == 8  # 8 of a new account's 10

        # live's own image again: a version running the image live serves is refused.
        assert canary.main(["start", "--no-build", "--image-tag", "v1", *AWS]) == 1
        err = capsys.readouterr().err
        assert f"runs the image that live serves already (version {first}" in err and "Traceback" not in err
        assert routing(lam) == (first, {version: 0.2})  # the running canary is untouched


@pytest.mark.parametrize("weight", ["0", "1", "1.5", "-0.1"])
def test_a_weight_outside_0_to_1_is_refused_before_anything_is_touched(weight, capsys):
    with pytest.raises(SystemExit) as stop:
        canary.main(["start", "--weight", weight, *AWS])
    assert stop.value.code == 2
    assert "between 0 and 1, exclusive" in capsys.readouterr().err
    with pytest.raises(DeployError, match="make promote"):
        canary.check_weight(float(weight))


def test_canary_promote_and_rollback_move_the_routing(capsys):
    with mock_aws_account(REGION) as session:
        lam = session.client("lambda")
        first, second = deployed(session)
        assert canary.main(["start", "--version", first, *AWS]) == 1  # the one live serves
        assert "is the one live serves already" in capsys.readouterr().err
        assert canary.main(["start", "--version", "9", *AWS]) == 1
        assert "no version 9" in capsys.readouterr().err

        assert canary.main(["start", "--version", second, *AWS]) == 0
        assert routing(lam) == (first, {second: canary.DEFAULT_WEIGHT})
        # make rollback ends the canary: live keeps its version, the routing is cleared.
        capsys.readouterr()
        assert deploy_cli.main(["rollback", *AWS]) == 0
        assert routing(lam) == (first, {})
        assert "canary's share of the traffic (version 2 (10%)) is cleared" in capsys.readouterr().out

        assert canary.main(["promote", *AWS]) == 1  # no canary runs
        assert "no canary runs" in capsys.readouterr().err
        assert canary.main(["start", "--version", second, "--weight", "0.05", *AWS]) == 0
        assert canary.main(["promote", *AWS]) == 0
        assert routing(lam) == (second, {})
        assert f"live: {first} -> {second}" in capsys.readouterr().out
        # An explicit make rollback VERSION= also clears a canary's routing.
        lam.update_alias(FunctionName=NAME, Name="live", FunctionVersion=first,
                         RoutingConfig={"AdditionalVersionWeights": {second: 0.1}})
        assert deploy_cli.main(["rollback", "--version", second, *AWS]) == 0
        assert routing(lam) == (second, {})


def canary_running(session) -> tuple[str, str]:
    """A canary of version 2 (10 %) on live's version 1, with its alarms; returns (primary, canary)."""
    first, second = deployed(session)
    canary.start_canary(session.client("lambda"), NAME, second, 0.1)
    canary.monitoring.ensure_monitoring(session, NAME, canary_version=second)
    return first, second


REASON = ("Threshold Crossed: 1 out of the last 1 datapoints [3.0 (30/11/26 20:18:00)] was greater than the threshold "
          "(0.0)")


def test_an_alarm_during_the_watch_rolls_live_back_and_says_which_and_why(monkeypatch, capsys):
    with mock_aws_account(REGION) as session:
        lam, cloudwatch = session.client("lambda"), session.client("cloudwatch")
        first, second = canary_running(session)

        def fire(sleeps):
            if sleeps == 3:  # a minute in: the canary's errors alarm goes off
                cloudwatch.set_alarm_state(AlarmName=f"{NAME}-canary-errors", StateValue="ALARM",
                                           StateReason=REASON)

        fake = FakeTime(fire)
        monkeypatch.setattr(canary, "watch", functools.partial(canary.watch, clock=fake.clock, sleep=fake.sleep))
        capsys.readouterr()
        assert canary.main(["watch", "--seconds", "600", *AWS]) == 1
        err = capsys.readouterr().err
        assert f"Alarm {NAME}-canary-errors is in ALARM: {REASON}" in err
        assert f"Rolled back: live sends every request to version {first}" in err and "Traceback" not in err
        assert routing(lam) == (first, {})
        assert len(fake.sleeps) == 3 and fake.now - 1000.0 == 3 * canary.POLL_S  # stopped at once, in fake time


def test_a_quiet_window_keeps_the_canary_and_says_promote_is_next(monkeypatch, capsys):
    with mock_aws_account(REGION) as session:
        lam, cloudwatch = session.client("lambda"), session.client("cloudwatch")
        first, second = canary_running(session)
        fake = FakeTime(lambda n: cloudwatch.set_alarm_state(AlarmName=f"{NAME}-canary-p95-duration",
                                                             StateValue="OK", StateReason="fine"))
        monkeypatch.setattr(canary, "watch", functools.partial(canary.watch, clock=fake.clock, sleep=fake.sleep))
        capsys.readouterr()
        assert canary.main(["watch", "--seconds", "600", *AWS]) == 0
        out = capsys.readouterr().out
        assert "No alarm in 600 s" in out and "`make promote`" in out
        assert "no invocation of version 2" in out  # moto has no metrics: the alarms judged nothing
        assert routing(lam) == (first, {second: 0.1})
        assert fake.now - 1000.0 == 600 and len(fake.sleeps) == 30  # the whole window, polled every 20 s


def test_the_watch_stops_when_the_canary_ends_elsewhere_and_refuses_without_alarms():
    with mock_aws_account(REGION) as session:
        lam, cloudwatch = session.client("lambda"), session.client("cloudwatch")
        first, second = canary_running(session)
        fake = FakeTime(lambda n: canary.promote(lam, NAME))  # someone runs make promote meanwhile
        result = canary.watch(lam, cloudwatch, NAME, second, 600, clock=fake.clock, sleep=fake.sleep, say=str)
        assert result["outcome"] == "ended" and routing(lam) == (second, {})

        canary.start_canary(lam, NAME, first, 0.1)
        cloudwatch.delete_alarms(AlarmNames=[f"{NAME}-canary-errors"])
        with pytest.raises(DeployError, match="make alarms"):
            canary.watch(lam, cloudwatch, NAME, first, 600, clock=fake.clock, sleep=fake.sleep, say=str)
