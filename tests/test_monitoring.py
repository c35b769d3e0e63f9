"""Issue 17, chapter 07: the CloudWatch alarms and the dashboard of ``make alarms`` (solutions/07_production/
monitoring.py), against moto: what they watch (Lambda's metrics and their dimensions, as the Lambda docs name them:
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html), their thresholds, the concurrency cap of a new
account (limit 10) and of a reservation, the dashboard drawn from the same definitions, the tags, and ``make destroy``
removing exactly ours.

moto keeps alarms and dashboards but evaluates nothing (no metrics arrive): the alarms' states are set by hand where a
test needs one (``set_alarm_state``). moto 5.2.5 does not tag dashboards, which AWS does: ``tutorial_support.
moto_lifecycle.dashboard_tags`` fills that in.
"""

import json

import deploy
import deploy_cli
import ecr as ecr_steps
import monitoring
import pytest

from tutorial_support import deployment
from tutorial_support.deployment import DeployError
from tutorial_support.moto_account import lambda_role, mock_aws_account, put_fake_image

NAME, REGION = "mon-clothing", "us-east-1"
LAMBDA_METRIC_DIMENSIONS = {"FunctionName", "Resource", "ExecutedVersion"}  # the Lambda docs' three


def deployed(session, name: str = NAME, reserve: int | None = None) -> None:
    """Function ``name`` as make deploy leaves it (tagged, version 1, alias live), reserving ``reserve`` copies."""
    ecr, lam = session.client("ecr"), session.client("lambda")
    uri = ecr_steps.ensure_repository(ecr, name)
    image = f"{uri}@{put_fake_image(ecr, name, 'v1')}"
    lam.create_function(FunctionName=name, PackageType="Image", Code={"ImageUri": image},
                        Role=lambda_role(session, f"{name}-role"), Tags=dict(deployment.PROJECT_TAGS))
    while lam.get_function(FunctionName=name)["Configuration"]["State"] != "Active":
        pass  # each look moves moto's creation on (tutorial_support.moto_lifecycle): no waiter's delay
    if reserve:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserve)
    deploy.publish_and_alias(lam, name)


def alarms_by_kind(cloudwatch, name: str = NAME) -> dict:
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{name}-")["MetricAlarms"]
    return {a["AlarmName"].removeprefix(f"{name}-"): a for a in alarms}


def dimensions(metric: dict) -> dict:
    return {d["Name"]: d["Value"] for d in metric["Dimensions"]}


def test_a_new_account_gets_every_alarm_tagged_with_the_concurrency_alarm_at_8_of_10(capsys):
    with mock_aws_account(REGION, concurrency_limit=10) as session:
        deployed(session)
        capsys.readouterr()
        assert monitoring.main(["--name", NAME, "--region", REGION]) == 0
        out = capsys.readouterr().out
        cloudwatch = session.client("cloudwatch")
        alarms = alarms_by_kind(cloudwatch)
        assert set(alarms) == {"5xx-rate", "p95-duration", "throttles", "concurrency-near-cap"}
        assert "at 8 of the 10 copies" in out and f"dashboards/dashboard/{NAME}" in out
        near = alarms["concurrency-near-cap"]
        assert (near["MetricName"], near["Statistic"], near["Threshold"]) == ("ConcurrentExecutions", "Maximum", 8)
        assert near["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        for alarm in alarms.values():
            tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
            assert deployment.is_ours(tags) and alarm["TreatMissingData"] == "notBreaching"
            assert deployment.watches_function(alarm, NAME)

        # 5xx rate: metric math, errors over invocations of the whole function (FunctionName only), in percent.
        rate = alarms["5xx-rate"]
        (expression,) = [q for q in rate["Metrics"] if "Expression" in q]
        assert expression["Expression"] == "100 * errors / invocations" and expression["ReturnData"] is True
        inputs = {q["Id"]: q["MetricStat"] for q in rate["Metrics"] if "MetricStat" in q}
        assert {i: (s["Metric"]["MetricName"], s["Stat"]) for i, s in inputs.items()} == {
            "errors": ("Errors", "Sum"), "invocations": ("Invocations", "Sum")}
        assert all(dimensions(s["Metric"]) == {"FunctionName": NAME} for s in inputs.values())
        assert rate["Threshold"] == monitoring.FIVE_XX_RATE_PERCENT
        p95 = alarms["p95-duration"]
        assert (p95["MetricName"], p95["ExtendedStatistic"], p95["Threshold"]) == ("Duration", "p95",
                                                                                   monitoring.P95_DURATION_MS)
        throttles = alarms["throttles"]
        assert (throttles["MetricName"], throttles["Threshold"], throttles["ComparisonOperator"]) == (
            "Throttles", 0, "GreaterThanThreshold")  # a single throttled request alarms


def test_a_reservation_of_5_puts_the_concurrency_alarm_at_4_and_rerunning_updates_in_place(capsys):
    with mock_aws_account(REGION) as session:
        deployed(session, reserve=5)
        made = monitoring.ensure_monitoring(session, NAME)
        assert made["copies"] == 5
        cloudwatch = session.client("cloudwatch")
        assert alarms_by_kind(cloudwatch)["concurrency-near-cap"]["Threshold"] == 4
        monitoring.ensure_monitoring(session, NAME, canary_version="1")
        alarms = alarms_by_kind(cloudwatch)
        assert len(alarms) == 6 and len(cloudwatch.list_dashboards()["DashboardEntries"]) == 1
        # The canary's alarms watch one version of the alias live: Lambda's three dimensions.
        for kind in ("canary-errors", "canary-p95-duration"):
            assert dimensions(alarms[kind]) == {"FunctionName": NAME, "Resource": f"{NAME}:live",
                                                "ExecutedVersion": "1"}
        assert {d for a in alarms.values() for d in dimensions(a)} <= LAMBDA_METRIC_DIMENSIONS


@pytest.mark.parametrize("copies, threshold", [(1, 1), (2, 2), (5, 4), (10, 8), (100, 80)])
def test_near_the_cap_is_80_percent_rounded_up_never_0(copies, threshold):
    assert monitoring.near_cap(copies) == threshold


def widget_view(widget: dict) -> dict:
    """A dashboard widget as (metrics, expression, threshold): what it draws, read back from the body's JSON."""
    properties = widget["properties"]
    metrics, expression = [], None
    for line in properties["metrics"]:
        if isinstance(line[0], dict):
            expression = line[0]["expression"]
            continue
        namespace, name, *rest = line
        options = rest.pop() if rest and isinstance(rest[-1], dict) else {}
        metrics.append((namespace, name, options.get("stat"), dict(zip(rest[::2], rest[1::2]))))
    (line,) = properties["annotations"]["horizontal"]
    return {"metrics": sorted(metrics), "expression": expression, "threshold": line["value"]}


def alarm_view(alarm: dict) -> dict:
    """An alarm (describe_alarms) as ``widget_view`` has a widget."""
    if "MetricName" in alarm:
        stat = alarm.get("ExtendedStatistic") or alarm["Statistic"]
        return {"metrics": [(alarm["Namespace"], alarm["MetricName"], stat, dimensions(alarm))], "expression": None,
                "threshold": alarm["Threshold"]}
    stats = [q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q]
    (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
    return {"metrics": sorted((s["Metric"]["Namespace"], s["Metric"]["MetricName"], s["Stat"],
                               dimensions(s["Metric"])) for s in stats),
            "expression": expression, "threshold": alarm["Threshold"]}


def test_the_dashboard_draws_each_alarm_from_the_same_definitions_and_is_tagged(monkeypatch):
    monkeypatch.setattr(monitoring, "P95_DURATION_MS", 7_000)  # one copy: the alarm and its widget both follow
    with mock_aws_account(REGION) as session:
        deployed(session, reserve=5)
        lam, cloudwatch = session.client("lambda"), session.client("cloudwatch")
        lam.publish_version(FunctionName=NAME)  # (no new code: still version 1)
        made = monitoring.ensure_monitoring(session, NAME, canary_version="1")
        body = json.loads(cloudwatch.get_dashboard(DashboardName=NAME)["DashboardBody"])
        widgets = {w["properties"]["title"]: w for w in body["widgets"]}
        alarms = alarms_by_kind(cloudwatch)
        specs = monitoring.function_alarms(NAME, 5) + monitoring.canary_alarms(NAME, "1")
        assert len(widgets) == len(specs)  # no traffic widget: live routes to one version only
        for spec in specs:
            drawn = widget_view(widgets[spec.title])
            assert drawn == alarm_view(alarms[spec.kind]), spec.kind
            assert widgets[spec.title]["properties"]["region"] == REGION
        assert alarms["p95-duration"]["Threshold"] == 7_000
        tags = cloudwatch.list_tags_for_resource(ResourceARN=made["dashboard"])["Tags"]
        assert deployment.is_ours(tags)
        assert all(0 <= w["x"] < 24 and w["x"] + w["width"] <= 24 for w in body["widgets"])


def test_the_dashboard_shows_the_traffic_per_version_while_a_canary_runs():
    body = monitoring.dashboard_body(NAME, REGION, monitoring.function_alarms(NAME, 5), ["3", "4"])
    traffic = body["widgets"][-1]["properties"]
    assert [line[1] for line in traffic["metrics"]] == ["Invocations", "Invocations"]
    assert [line[line.index("ExecutedVersion") + 1] for line in traffic["metrics"]] == ["3", "4"]


def test_an_alarm_or_dashboard_of_our_name_that_is_not_ours_is_left_alone(capsys):
    with mock_aws_account(REGION) as session:
        deployed(session, reserve=5)
        cloudwatch = session.client("cloudwatch")
        cloudwatch.put_metric_alarm(AlarmName=f"{NAME}-throttles", Namespace="AWS/Lambda", MetricName="Throttles",
                                    Dimensions=[{"Name": "FunctionName", "Value": NAME}], Statistic="Sum",
                                    Period=300, EvaluationPeriods=1, Threshold=100,
                                    ComparisonOperator="GreaterThanThreshold")
        with pytest.raises(DeployError, match="not tagged"):
            monitoring.ensure_monitoring(session, NAME)
        assert alarms_by_kind(cloudwatch)["throttles"]["Threshold"] == 100  # not replaced
        assert monitoring.main(["--name", NAME, "--region", REGION]) == 1
        err = capsys.readouterr().err
        assert f"{NAME}-throttles" in err and "Traceback" not in err


def test_make_destroy_removes_our_alarms_and_dashboard_only(capsys):
    with mock_aws_account(REGION) as session:
        deployed(session, reserve=5)
        deployed(session, name=f"{NAME}-2", reserve=5)  # another deployment whose name starts with ours
        cloudwatch = session.client("cloudwatch")
        monitoring.ensure_monitoring(session, NAME, canary_version="1")
        monitoring.ensure_monitoring(session, f"{NAME}-2")
        cloudwatch.put_metric_alarm(AlarmName=f"{NAME}-someones", Namespace="AWS/Lambda", MetricName="Errors",
                                    Dimensions=[{"Name": "FunctionName", "Value": NAME}], Statistic="Sum",
                                    Period=60, EvaluationPeriods=1, Threshold=1,
                                    ComparisonOperator="GreaterThanThreshold")
        capsys.readouterr()
        assert deploy_cli.main(["destroy", "--name", NAME, "--region", REGION, "--dry-run"]) == 0
        assert f"would remove CloudWatch dashboard {NAME}" in capsys.readouterr().out
        assert len(alarms_by_kind(cloudwatch)) == 7 + 4
        assert deploy_cli.main(["destroy", "--name", NAME, "--region", REGION]) == 0
        out = capsys.readouterr().out
        assert f"removed CloudWatch alarms {NAME}-5xx-rate" in out and f"{NAME}-canary-errors" in out
        assert f"CloudWatch alarm {NAME}-someones is not tagged as this project's: left alone" in out
        left = sorted(a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"])
        assert left == sorted([f"{NAME}-someones"] + [f"{NAME}-2-{k}" for k in
                                                      ("5xx-rate", "p95-duration", "throttles",
                                                       "concurrency-near-cap")])
        assert [d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]] == [f"{NAME}-2"]


def test_moto_tags_dashboards_as_aws_does_and_drops_the_tags_with_them():
    with mock_aws_account(REGION) as session:
        cloudwatch = session.client("cloudwatch")
        cloudwatch.put_dashboard(DashboardName="d", DashboardBody=json.dumps({"widgets": []}))
        (entry,) = cloudwatch.list_dashboards()["DashboardEntries"]
        cloudwatch.tag_resource(ResourceARN=entry["DashboardArn"], Tags=[{"Key": "k", "Value": "v"}])
        assert cloudwatch.list_tags_for_resource(ResourceARN=entry["DashboardArn"])["Tags"] == [
            {"Key": "k", "Value": "v"}]
        cloudwatch.delete_dashboards(DashboardNames=["d"])
        cloudwatch.put_dashboard(DashboardName="d", DashboardBody=json.dumps({"widgets": []}))
        assert cloudwatch.list_tags_for_resource(ResourceARN=entry["DashboardArn"])["Tags"] == []


def test_make_alarms_without_a_deployment_says_to_deploy_first(capsys):
    with mock_aws_account(REGION):
        assert monitoring.main(["--name", NAME, "--region", REGION]) == 1
        err = capsys.readouterr().err
        assert "make deploy" in err and "Traceback" not in err


def test_the_readme_states_the_alarms_thresholds_and_cost_as_the_code_has_them():
    from tutorial_support.paths import REPO_ROOT

    section = (REPO_ROOT / "README.md").read_text().split("### Canary releases, alarms and automatic rollback")[1]
    section = section.split("\n### ")[0]
    specs = monitoring.function_alarms(NAME, 5) + monitoring.canary_alarms(NAME, "2")
    cost = monitoring.monthly_cost(specs)
    assert f"({cost['alarm_metrics']} alarm metrics) and the dashboard cost ${cost['total']:.2f} a month" in section
    assert monitoring.monthly_cost(specs, free_tier=True)["total"] == 0  # "nothing within the free tier"
    assert f"over {monitoring.FIVE_XX_RATE_PERCENT:g} %" in section
    assert f"over {monitoring.P95_DURATION_MS:,} ms" in section
    assert f"{monitoring.near_cap(5)} of the 5 reserved, {monitoring.near_cap(10)} of a new account's 10" in section
    assert all(f"`NAME-{spec.kind}`" in section for spec in specs)
