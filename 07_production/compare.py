"""Compare model versions from the handler's log (``make compare``): per version, the requests, the error rate by
error code, the latency percentiles and the distribution of predicted classes.

    python solutions/07_production/compare.py --log requests.log     # a local log: make serve > requests.log
    python solutions/07_production/compare.py --log - < requests.log  # the same, from standard input
    python solutions/07_production/compare.py [--region R] [--name N] [--hours 24]   # the deployed function's log

Each request writes one JSON line (``lambda_function.log_request``) naming the ``model_version`` and the Lambda
``function_version`` that answered; ``--by function_version`` compares Lambda versions instead (a canary whose new
image ships the same model has the same model version on both sides).

On AWS the lines come from the function's log group through a CloudWatch Logs Insights query (``start_query`` /
``get_query_results``, which returns at most ``INSIGHTS_LIMIT`` rows: a window that reaches it is split in two and
queried again). Locally they come from a file. Both feed the same ``summarize``: one copy of the arithmetic.
Insights bills by the data it scans ($0.005 per GB in us-east-1, aws.amazon.com/cloudwatch/pricing/): a day of a
tutorial's requests is kilobytes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable

from tutorial_support.deployment import DeployError, add_common_arguments, log_group_name, run_safely, session_for

PERCENTILES = (50, 95, 99)
GROUPINGS = ("model_version", "function_version")
# The most rows a Logs Insights query returns (its `limit` command's maximum; docs.aws.amazon.com/AmazonCloudWatch/
# latest/logs/CWL_QuerySyntax-Limit.html).
INSIGHTS_LIMIT = 10_000
# The request lines only (Lambda's START, END and REPORT lines have no model_version), oldest first.
QUERY = "fields @timestamp, @message | filter ispresent(model_version) | sort @timestamp asc | limit {limit}"
QUERY_TIMEOUT_S = 300  # Logs Insights stops a query after 60 minutes; a tutorial's log takes seconds
POLL_S = 1.0


def parse_line(text: str) -> dict | None:
    """The request record in one log line, or None for any other line (Lambda's START/END/REPORT lines, a stack
    trace, ``make serve``'s banner): a JSON object with a ``model_version`` and an integer ``status``."""
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or "model_version" not in record or not isinstance(record.get("status"), int):
        return None
    return record


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``: the smallest value with at least p % of
    the values at or below it. None for no values."""
    # TODO: return the nearest-rank p-th percentile of values (a value of the list, not an interpolation), or None for an empty list.
    raise NotImplementedError('return the nearest-rank p-th percentile of values (a value of the list, not an interpolation), or None for an empty list.')


def summarize(records: Iterable[dict], by: str = "model_version") -> dict[str, dict]:
    """Per value of the field ``by`` (``"model_version"`` or ``"function_version"``; a missing one is ``"-"``):

    - ``requests``: how many;
    - ``errors``: how many answered an error, ``error_rate`` their share, ``error_rate_by_code`` ``{code: share}``
      (most frequent first), shares of the version's requests in [0, 1];
    - ``latency_ms``: ``{"p50", "p95", "p99"}`` of ``duration_ms`` (the whole invocation, milliseconds; nearest rank);
    - ``classes``: ``{class: share of the version's predictions}``, most frequent first.

    Args:
        records: the log lines as dicts (``parse_line``).
        by: the field that names a version.

    Returns:
        ``{version: summary}``, versions in the order they first appear.
    """
    groups: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        groups[str(record.get(by) or "-")].append(record)
    summary = {}
    for version, rows in groups.items():
        codes = Counter(r["error_code"] for r in rows if r.get("error_code"))
        classes = Counter(r["top_class"] for r in rows if r.get("status") == 200 and r.get("top_class"))
        latencies = [r["duration_ms"] for r in rows if isinstance(r.get("duration_ms"), (int, float))]
        n, predictions = len(rows), sum(classes.values())
        summary[version] = {
            "requests": n,
            "errors": sum(codes.values()),
            "error_rate": sum(codes.values()) / n,
            "error_rate_by_code": {code: count / n for code, count in codes.most_common()},
            "latency_ms": {f"p{p}": percentile(latencies, p) for p in PERCENTILES},
            "classes": {name: count / predictions for name, count in classes.most_common()},
        }
    return summary


def records_from_lines(lines: Iterable[str]) -> list[dict]:
    """The request records among ``lines`` (a local log: ``make serve``'s standard output, the handler's lines)."""
    return [record for record in map(parse_line, lines) if record is not None]


def run_query(logs, group: str, start_s: int, end_s: int, limit: int = INSIGHTS_LIMIT,
              timeout_s: float = QUERY_TIMEOUT_S, sleep=time.sleep) -> list[dict]:
    """One Logs Insights query (``QUERY``) over ``group`` from ``start_s`` to ``end_s`` (epoch seconds).

    Returns:
        the result rows, each ``{field: value}`` (``@timestamp``, ``@message``, ``@ptr``).

    Raises:
        DeployError: the query failed, was cancelled or timed out, or took longer than ``timeout_s`` seconds.
        botocore.exceptions.ClientError: an AWS call failed (a missing log group: ResourceNotFoundException).
    """
    query_id = logs.start_query(logGroupName=group, startTime=start_s, endTime=end_s,
                                queryString=QUERY.format(limit=limit))["queryId"]
    waited = 0.0
    while True:
        response = logs.get_query_results(queryId=query_id)
        status = response["status"]
        if status == "Complete":
            return [{cell["field"]: cell["value"] for cell in row} for row in response["results"]]
        if status in ("Failed", "Cancelled", "Timeout") or waited >= timeout_s:
            raise DeployError(f"the Logs Insights query over {group} ended {status} after {waited:.0f} s; run the "
                              "command again, or ask for fewer hours (--hours).")
        sleep(POLL_S)
        waited += POLL_S


def query_messages(logs, group: str, start_s: int, end_s: int, limit: int = INSIGHTS_LIMIT, sleep=time.sleep,
                   warn=print) -> list[tuple[str, str]]:
    """``(@ptr, @message)`` of every request line in ``group`` from ``start_s`` to ``end_s`` (epoch seconds), oldest
    first: a window whose
    query returns ``limit`` rows (Insights' cap, so maybe not all) is split in two halves, queried again; the halves
    share their boundary second and rows are kept once each (by ``@ptr``). A one-second window still at the cap is
    kept as it is, and ``warn`` says so."""
    rows = run_query(logs, group, start_s, end_s, limit, sleep=sleep)
    if len(rows) >= limit and end_s - start_s > 1:
        middle = (start_s + end_s) // 2
        halves = (query_messages(logs, group, start_s, middle, limit, sleep, warn),
                  query_messages(logs, group, middle, end_s, limit, sleep, warn))
        seen, messages = set(), []
        for ptr, message in (item for half in halves for item in half):
            if ptr not in seen:
                seen.add(ptr)
                messages.append((ptr, message))
        return messages
    if len(rows) >= limit:
        warn(f"warning: more than {limit:,} request lines in one second at {start_s}: some are left out")
    return [(row.get("@ptr"), row.get("@message", "")) for row in rows]


def records_from_insights(logs, group: str, start_s: int, end_s: int, limit: int = INSIGHTS_LIMIT,
                          sleep=time.sleep) -> list[dict]:
    """The request records in the log group ``group`` from ``start_s`` to ``end_s`` (epoch seconds), through Logs
    Insights (``query_messages``)."""
    warn = lambda text: print(text, file=sys.stderr)  # noqa: E731
    return records_from_lines(message for _, message in query_messages(logs, group, start_s, end_s, limit, sleep,
                                                                       warn))


def render(summary: dict[str, dict], by: str = "model_version") -> str:
    """The summary as a text table, one row per version, then each version's classes."""
    if not summary:
        return "No request lines found: nothing to compare."
    header = f"{by:<16} {'requests':>8} {'errors':>7}  {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  errors by code"
    lines = [header, "-" * len(header)]
    for version, s in summary.items():
        latency = " ".join(f"{s['latency_ms'][f'p{p}']:>8.1f}" if s["latency_ms"][f"p{p}"] is not None
                           else f"{'-':>8}" for p in PERCENTILES)
        codes = ", ".join(f"{code} {rate:.1%}" for code, rate in s["error_rate_by_code"].items()) or "-"
        lines.append(f"{version:<16} {s['requests']:>8} {s['error_rate']:>7.1%}  {latency}  {codes}")
    lines.append("")
    lines.append("predicted classes (share of each version's predictions):")
    for version, s in summary.items():
        classes = ", ".join(f"{name} {share:.0%}" for name, share in s["classes"].items()) or "-"
        lines.append(f"  {version}: {classes}")
    return "\n".join(lines)


def run_compare(args, session=None, sleep=time.sleep) -> int:
    """The ``compare`` command. Returns the exit status: 0, or 1 when no request line was found."""
    if args.log is not None:
        try:
            stream = sys.stdin if args.log == "-" else open(args.log, encoding="utf-8", errors="replace")
        except OSError as e:
            print(f"error: cannot read the log {args.log} ({e.strerror}). Write one with `make serve > {args.log}` "
                  "(the handler's JSON lines go to standard output), send it some requests, and run this again.",
                  file=sys.stderr)
            return 1
        with stream:
            records = records_from_lines(stream)
        source = "standard input" if args.log == "-" else args.log
    else:
        session = session or session_for(args.region)
        group = log_group_name(args.name)
        end = int(time.time())
        logs = session.client("logs")
        try:
            records = records_from_insights(logs, group, end - int(args.hours * 3600), end, sleep=sleep)
        except logs.exceptions.ResourceNotFoundException:
            raise DeployError(f"there is no log group {group} in {session.region_name}: deploy first (make deploy), "
                              "or name your deployment (NAME=...) and region (REGION=...).") from None
        source = f"{group} ({session.region_name}, last {args.hours:g} h)"
    summary = summarize(records, args.by)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{len(records)} requests from {source}, by {args.by}:\n")
        print(render(summary, args.by))
    return 0 if records else 1


def main(argv=None, session=None, sleep=time.sleep) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--log", help="a local log file (make serve's output; - for standard input) instead of AWS")
    parser.add_argument("--hours", type=float, default=24, help="on AWS: how many hours back to read (24)")
    parser.add_argument("--by", choices=GROUPINGS, default="model_version", help="what a version is (model_version)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if args.log is not None:
        return run_compare(args)
    return run_safely(run_compare, args, session, sleep)


if __name__ == "__main__":
    sys.exit(main())
