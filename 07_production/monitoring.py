"""Chapter 07: CloudWatch alarms and a dashboard for the deployed function (``make alarms``), from one list of metric
definitions: each alarm below is also a widget of the dashboard, drawn with its threshold, and the SAM template
declares the same alarms (tests/test_sam_template.py keeps them agreeing).

Lambda sends its metrics to CloudWatch by itself, every minute, at no charge, in the namespace ``AWS/Lambda``, with
three dimensions (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html):
- ``FunctionName``: every version and alias of the function together;
- ``Resource``: one version or alias (``NAME:live``);
- ``ExecutedVersion``: with ``FunctionName`` and ``Resource``, the version that ran an alias's invocation: "compare
  error rates for two versions of a function that are both targets of a weighted alias", which a canary is.

The alarms (``alarm_name(NAME, kind)``; every one treats missing data as fine: no traffic is no trouble):
- the whole function: ``5xx-rate`` (``100 * Errors / Invocations``, metric math: a function error reaches chapter
  06's API as a 500), ``p95-duration``, ``throttles``, ``concurrency-near-cap`` (``ConcurrentExecutions`` against
  the cap ``tutorial_support.deployment.read_concurrency_cap`` finds: the reservation, else the account's pool);
- a canary's version only (``canary.py``): ``canary-errors`` and ``canary-p95-duration``, on
  ``ExecutedVersion`` of the alias ``live``. ``make canary`` points them at the version it releases.

Alarms and the dashboard carry the project's tags; ``make destroy`` removes them
(``tutorial_support.deployment.remove_monitoring``). Prices: ``tutorial_support.prices`` (CloudWatch).

    python solutions/07_production/monitoring.py [--region R] [--name N] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field

from tutorial_support import prices
from tutorial_support.deployment import (
    ALIAS,
    PROJECT_TAGS,
    DeployError,
    add_common_arguments,
    alarm_name,
    dashboard_name,
    is_ours,
    not_ours,
    run_safely,
    session_for,
)

NAMESPACE = "AWS/Lambda"
PERIOD_S = 60  # Lambda sends its metrics every minute: the shortest period of a standard-resolution alarm
# The whole function's error rate that alarms, percent of invocations in a minute, in 2 of 3 minutes running.
FIVE_XX_RATE_PERCENT = 5.0
# A warm prediction takes milliseconds (benchmarks/results.md) plus the photo's download, which the handler gives up on
# after 10 s (safe_download.FETCH_TIMEOUT_S); a p95 over 5 s means downloads crawl or the CPU is starved (too little
# memory), long before requests reach the function's 30 s timeout.
P95_DURATION_MS = 5_000
# ConcurrentExecutions this close to the cap (fraction of the copies that may run at once) for 3 minutes alarms
# before requests are throttled; the throttles alarm says when they are.
NEAR_CAP_FRACTION = 0.8


@dataclass(frozen=True)
class Metric:
    """One Lambda metric: ``name`` (``"Errors"``, ``"Duration"``...) with statistic ``stat`` (``"Sum"``,
    ``"Maximum"``, ``"p95"``) over ``dimensions`` (``(("FunctionName", NAME), ...)``); ``id`` names it in metric
    math."""

    id: str
    name: str
    stat: str
    dimensions: tuple[tuple[str, str], ...]

    def dimension_list(self) -> list[dict]:
        return [{"Name": key, "Value": value} for key, value in self.dimensions]


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm, and the dashboard widget that shows it.

    Attributes:
        kind: the alarm's name after ``NAME-`` (``alarm_name``).
        title: what it watches, in words (the widget's title).
        metrics: the metrics; one, or the inputs of ``expression``.
        expression: metric math over the metrics' ids (None: the one metric itself).
        threshold, comparison: alarm when the value is ``comparison`` (``GreaterThanThreshold``...) ``threshold``.
        evaluation_periods, datapoints: alarm when ``datapoints`` of the last ``evaluation_periods`` minutes breach.
        unit: the value's unit, for the widget's axis.
        advice: what to do when it fires (the alarm's description).
    """

    kind: str
    title: str
    metrics: tuple[Metric, ...]
    threshold: float
    comparison: str
    evaluation_periods: int
    datapoints: int
    unit: str
    advice: str
    expression: str | None = None
    treat_missing_data: str = field(default="notBreaching")


def function_dimensions(name: str) -> tuple[tuple[str, str], ...]:
    """The dimensions of function ``name``'s metrics, all versions and aliases together."""
    return (("FunctionName", name),)


def version_dimensions(name: str, version: str, alias: str = ALIAS) -> tuple[tuple[str, str], ...]:
    """The dimensions of the invocations of ``name:alias`` that version ``version`` ran (``ExecutedVersion``)."""
    # TODO: return the dimensions, as ((name, value), ...) pairs, of Lambda's metrics for the invocations of the alias that version ran.
    raise NotImplementedError("return the dimensions, as ((name, value), ...) pairs, of Lambda's metrics for the invocations of the alias that version ran.")


def near_cap(copies: int) -> int:
    """The ``ConcurrentExecutions`` that alarms when at most ``copies`` can run at once: ``NEAR_CAP_FRACTION`` of
    them, rounded up, at least 1 (4 of 5 reserved; 8 of a new account's 10)."""
    return max(1, math.ceil(NEAR_CAP_FRACTION * copies))


def function_alarms(name: str, copies: int) -> list[AlarmSpec]:
    """The alarms on the whole function ``name``, which at most ``copies`` copies of can run at once."""
    dims = function_dimensions(name)
    return [
        AlarmSpec("5xx-rate", "Function errors, % of invocations (a 500 through the API)",
                  (Metric("errors", "Errors", "Sum", dims), Metric("invocations", "Invocations", "Sum", dims)),
                  FIVE_XX_RATE_PERCENT, "GreaterThanThreshold", 3, 2, "Percent",
                  "Unhandled errors, timeouts or crashes: read the function's log (/aws/lambda/NAME); `make rollback` "
                  "returns to the version before.", expression="100 * errors / invocations"),
        AlarmSpec("p95-duration", "Duration p95, ms", (Metric("duration", "Duration", "p95", dims),),
                  P95_DURATION_MS, "GreaterThanThreshold", 3, 2, "Milliseconds",
                  "Slow answers: slow photo hosts, or too little memory (CPU comes with memory); see the log."),
        AlarmSpec("throttles", "Throttled requests", (Metric("throttles", "Throttles", "Sum", dims),),
                  0, "GreaterThanThreshold", 1, 1, "Count",
                  "Requests refused at the concurrency cap (the API answers 500): more traffic than the cap allows."),
        AlarmSpec("concurrency-near-cap", f"Copies running at once (cap {copies})",
                  (Metric("concurrency", "ConcurrentExecutions", "Maximum", dims),),
                  near_cap(copies), "GreaterThanOrEqualToThreshold", 3, 3, "Count",
                  f"At least {near_cap(copies)} of the {copies} copies that may run at once are busy: throttling "
                  "is near. Raise the reservation (make deploy ARGS=--max-concurrency N) or the account's limit."),
    ]


def canary_alarms(name: str, version: str) -> list[AlarmSpec]:
    """The alarms on version ``version`` of ``name`` as the alias ``live`` runs it: its errors and latency, each
    minute (the canary's traffic is a share of the whole; one error is enough)."""
    dims = version_dimensions(name, version)
    return [
        AlarmSpec("canary-errors", f"Canary (version {version}): function errors",
                  (Metric("errors", "Errors", "Sum", dims),), 0, "GreaterThanThreshold", 1, 1, "Count",
                  f"Version {version}, released as a canary, failed: `make rollback` (or the canary's watch) "
                  "ends the canary."),
        AlarmSpec("canary-p95-duration", f"Canary (version {version}): duration p95, ms",
                  (Metric("duration", "Duration", "p95", dims),), P95_DURATION_MS, "GreaterThanThreshold", 1, 1,
                  "Milliseconds", f"Version {version}, released as a canary, answers slowly: `make rollback` ends "
                  "the canary."),
    ]


def alarm_request(name: str, spec: AlarmSpec) -> dict:
    """The arguments of ``cloudwatch.put_metric_alarm`` for ``spec`` on deployment ``name``: one metric
    (``Statistic``, or ``ExtendedStatistic`` for a percentile), or metric math (``Metrics``)."""
    request = {"AlarmName": alarm_name(name, spec.kind), "AlarmDescription": f"{spec.title}. {spec.advice}",
               "Threshold": float(spec.threshold), "ComparisonOperator": spec.comparison,
               "EvaluationPeriods": spec.evaluation_periods, "DatapointsToAlarm": spec.datapoints,
               "TreatMissingData": spec.treat_missing_data,
               "Tags": [{"Key": k, "Value": v} for k, v in PROJECT_TAGS.items()]}
    if spec.expression is None:
        (metric,) = spec.metrics
        statistic = {"ExtendedStatistic": metric.stat} if metric.stat.startswith("p") else {"Statistic": metric.stat}
        return {**request, "Namespace": NAMESPACE, "MetricName": metric.name, "Dimensions": metric.dimension_list(),
                "Period": PERIOD_S, **statistic}
    queries = [{"Id": m.id, "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": m.name,
                                                      "Dimensions": m.dimension_list()},
                                           "Period": PERIOD_S, "Stat": m.stat}, "ReturnData": False}
               for m in spec.metrics]
    queries.append({"Id": "value", "Expression": spec.expression, "Label": spec.title, "ReturnData": True})
    return {**request, "Metrics": queries}


def widget(name: str, region: str, spec: AlarmSpec) -> dict:
    """The dashboard widget of ``spec``: its metric (or its metric math, the inputs hidden), a line at the alarm's
    threshold. The dashboard body's format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/
    CloudWatch-Dashboard-Body-Structure.html."""
    lines = [[NAMESPACE, m.name, *[part for pair in m.dimensions for part in pair],
              {"id": m.id, "stat": m.stat, "visible": spec.expression is None, "label": spec.title}]
             for m in spec.metrics]
    if spec.expression is not None:
        lines.append([{"id": "value", "expression": spec.expression, "label": spec.title}])
    return {"type": "metric", "width": 12, "height": 6,
            "properties": {"title": spec.title, "region": region, "view": "timeSeries", "stacked": False,
                           "period": PERIOD_S, "metrics": lines, "yAxis": {"left": {"min": 0, "label": spec.unit}},
                           "annotations": {"horizontal": [{"label": f"alarm {alarm_name(name, spec.kind)}",
                                                           "value": float(spec.threshold)}]}}}


def traffic_widget(name: str, region: str, versions: list[str]) -> dict:
    """Invocations of the alias ``live`` per version that ran them (``ExecutedVersion``): a canary's share."""
    lines = [[NAMESPACE, "Invocations", *[part for pair in version_dimensions(name, v) for part in pair],
              {"stat": "Sum", "label": f"version {v}"}] for v in versions]
    return {"type": "metric", "width": 12, "height": 6,
            "properties": {"title": f"Invocations of {ALIAS} per version", "region": region, "view": "timeSeries",
                           "stacked": True, "period": PERIOD_S, "metrics": lines}}


def dashboard_body(name: str, region: str, specs: list[AlarmSpec], versions: list[str] = ()) -> dict:
    """The dashboard: a widget per alarm of ``specs`` (``widget``), then, with ``versions`` (the versions ``live``
    serves), the traffic per version. CloudWatch lays the widgets out left to right, 24 units a row."""
    widgets = [widget(name, region, spec) for spec in specs]
    if versions:
        widgets.append(traffic_widget(name, region, list(versions)))
    for i, item in enumerate(widgets):
        item["x"], item["y"] = (i % 2) * 12, (i // 2) * 6
    return {"widgets": widgets}


def ensure_alarms(cloudwatch, name: str, specs: list[AlarmSpec]) -> list[str]:
    """Create or update (``put_metric_alarm`` replaces an alarm of the same name) the alarms ``specs``.

    Returns:
        their names.

    Raises:
        DeployError: an alarm of one of those names exists and is not tagged as this project's (nothing changed).
    """
    names = [alarm_name(name, spec.kind) for spec in specs]
    for existing in cloudwatch.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm"])["MetricAlarms"]:
        if not is_ours(cloudwatch.list_tags_for_resource(ResourceARN=existing["AlarmArn"]).get("Tags")):
            raise not_ours("CloudWatch alarm", existing["AlarmName"])
    for spec in specs:
        cloudwatch.put_metric_alarm(**alarm_request(name, spec))
    return names


def ensure_dashboard(cloudwatch, name: str, region: str, specs: list[AlarmSpec], versions: list[str] = ()) -> str:
    """Create or replace the dashboard ``dashboard_name(name)`` (``dashboard_body``), tagged as this project's.

    Returns:
        its ARN.

    Raises:
        DeployError: a dashboard of that name exists and is not tagged as this project's (nothing changed).
    """
    dashboard = dashboard_name(name)
    for entry in cloudwatch.list_dashboards(DashboardNamePrefix=dashboard).get("DashboardEntries", []):
        if entry["DashboardName"] == dashboard and not is_ours(
                cloudwatch.list_tags_for_resource(ResourceARN=entry["DashboardArn"]).get("Tags")):
            raise not_ours("CloudWatch dashboard", dashboard)
    cloudwatch.put_dashboard(DashboardName=dashboard,
                             DashboardBody=json.dumps(dashboard_body(name, region, specs, versions)))
    (entry,) = [e for e in cloudwatch.list_dashboards(DashboardNamePrefix=dashboard)["DashboardEntries"]
                if e["DashboardName"] == dashboard]
    cloudwatch.tag_resource(ResourceARN=entry["DashboardArn"],
                            Tags=[{"Key": k, "Value": v} for k, v in PROJECT_TAGS.items()])
    return entry["DashboardArn"]


def live_routing(lambda_client, name: str) -> tuple[str, dict[str, float]]:
    """(the version ``live`` serves, ``{canary version: its share}``: empty when no canary runs).

    Raises:
        lambda_client.exceptions.ResourceNotFoundException: no function ``name`` or no alias ``live``.
    """
    alias = lambda_client.get_alias(FunctionName=name, Name=ALIAS)
    return alias["FunctionVersion"], dict(alias.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {})


def function_copies(lambda_client, name: str) -> int:
    """How many copies of function ``name`` may run at once: its reserved concurrency, else the account's unreserved
    pool, which it shares (the cap ``make deploy`` sets: ``tutorial_support.deployment.concurrency_cap``; 10 in a
    new account that can reserve nothing)."""
    reserved = lambda_client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
    if reserved:
        return int(reserved)
    return int(lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"])


def ensure_monitoring(session, name: str, canary_version: str | None = None) -> dict:
    """Every alarm of deployment ``name`` (``function_alarms``, and ``canary_alarms`` of ``canary_version`` when
    given) and the dashboard showing them, created or updated.

    Returns:
        ``{"alarms": [names], "dashboard": ARN, "copies": the cap the concurrency alarm uses, "specs": the
        alarms' ``AlarmSpec``}``.

    Raises:
        DeployError: no function ``name``, or an alarm or the dashboard exists and is not this project's.
        botocore.exceptions.ClientError: an AWS call failed.
    """
    lambda_client, cloudwatch = session.client("lambda"), session.client("cloudwatch")
    try:
        lambda_client.get_function_configuration(FunctionName=name)
    except lambda_client.exceptions.ResourceNotFoundException:
        raise DeployError(f"there is no function {name!r} here: run `make deploy` first (same NAME= and REGION=); "
                          "the alarms watch its metrics.") from None
    copies = function_copies(lambda_client, name)
    specs = function_alarms(name, copies)
    versions: list[str] = []
    try:
        primary, weights = live_routing(lambda_client, name)
        versions = [primary, *weights]
    except lambda_client.exceptions.ResourceNotFoundException:
        pass
    if canary_version is not None:
        specs += canary_alarms(name, canary_version)
    names = ensure_alarms(cloudwatch, name, specs)
    arn = ensure_dashboard(cloudwatch, name, session.region_name, specs, versions if len(versions) > 1 else ())
    return {"alarms": names, "dashboard": arn, "copies": copies, "specs": specs}


def monthly_cost(specs: list[AlarmSpec], dashboards: int = 1, free_tier: bool = False) -> dict:
    """What the alarms ``specs`` and ``dashboards`` dashboards cost a month, in dollars: ``{"alarm_metrics",
    "alarms", "dashboards", "total"}``. An alarm is billed per metric it lists (metric math: each input), at
    ``prices.ALARM_METRIC_PRICE_PER_MONTH``; a dashboard at ``prices.DASHBOARD_PRICE_PER_MONTH``; with
    ``free_tier``, the account's free alarm metrics and dashboards are subtracted first (if nothing else uses them).
    Source: https://aws.amazon.com/cloudwatch/pricing/ (``tutorial_support.prices``)."""
    metrics = sum(len(spec.metrics) for spec in specs)
    billed_metrics = max(0, metrics - prices.FREE_TIER_ALARM_METRICS) if free_tier else metrics
    billed_dashboards = max(0, dashboards - prices.FREE_TIER_DASHBOARDS) if free_tier else dashboards
    alarms = billed_metrics * prices.ALARM_METRIC_PRICE_PER_MONTH
    boards = billed_dashboards * prices.DASHBOARD_PRICE_PER_MONTH
    return {"alarm_metrics": metrics, "alarms": alarms, "dashboards": boards, "total": alarms + boards}


def dashboard_url(region: str, name: str) -> str:
    """The dashboard in the CloudWatch console."""
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/" \
           f"{dashboard_name(name)}"


def main(argv=None) -> int:
    """``make alarms``: create or update the alarms and the dashboard; print them. Returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    args = parser.parse_args(argv)

    def command() -> int:
        session = session_for(args.region)
        if args.dry_run:
            specs = function_alarms(args.name, 0)
            print(f"Dry run: would create or update in {session.region_name} the alarms "
                  f"{', '.join(alarm_name(args.name, s.kind) for s in specs)} (and a canary's, while one runs) and "
                  f"the dashboard {dashboard_name(args.name)}; nothing was changed.")
            return 0
        lambda_client = session.client("lambda")
        try:
            _, weights = live_routing(lambda_client, args.name)
        except lambda_client.exceptions.ResourceNotFoundException:
            weights = {}
        made = ensure_monitoring(session, args.name, next(iter(weights), None))
        print(f"Alarms of {args.name} in {session.region_name} (tagged "
              + ", ".join(f"{k}={v}" for k, v in PROJECT_TAGS.items()) + "):")
        print("".join(f"\n  - {alarm}" for alarm in made["alarms"]).lstrip("\n"))
        print(f"Concurrency alarm: at {near_cap(made['copies'])} of the {made['copies']} copies that may run at once.")
        print(f"Dashboard: {dashboard_url(session.region_name, args.name)}")
        cost = monthly_cost(made["specs"])
        print(f"Cost: {cost['alarm_metrics']} alarm metrics and a dashboard, ${cost['total']:.2f} a month before "
              f"CloudWatch's free tier ({prices.FREE_TIER_ALARM_METRICS} alarm metrics and "
              f"{prices.FREE_TIER_DASHBOARDS} dashboards a month; {prices.CLOUDWATCH_PRICING_URL}).")
        print("No notification is sent: add an SNS topic to an alarm's actions to be told (aws cloudwatch "
              "put-metric-alarm ... --alarm-actions TOPIC_ARN). `make destroy` removes them.")
        return 0

    return run_safely(command)


if __name__ == "__main__":
    sys.exit(main())
