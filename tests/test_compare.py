"""Issue 17: `make compare` reports, per model version, requests, error rate by code, latency percentiles and predicted
classes, from a local log or from the function's log group through Logs Insights (moto), with one summarize()."""

import io
import json
import subprocess
import time
from collections import Counter

import compare
import lambda_function
import pytest
from conftest import REPO_ROOT, captured_request_log

from tutorial_support.deployment import DeployError, log_group_name
from tutorial_support.moto_account import mock_aws_account

NAME = "test-clothing"
# What else a log holds: Lambda's own lines, a stack trace, make serve's banner, lines that are not request records.
NOISE = ["START RequestId: 1 Version: $LATEST", "END RequestId: 1",
         "REPORT RequestId: 1\tDuration: 80.1 ms\tBilled Duration: 81 ms", "Traceback (most recent call last):",
         "Serving the Lambda handler at http://127.0.0.1:8080/predict", '{"status": 200}', '{"model_version": "x"',
         "[1, 2]", ""]


@pytest.fixture(scope="module")
def handler_log(image_host, sample_images):
    """The real handler's log lines (strings) for the sample photos under two model versions (v1: the first 8
    photos, v2: the next 6) and Lambda versions "1" and "2", with errors: a missing photo (422) under each, a request
    without a URL (400) under v2; and each request's answer."""
    def ask(version: str, function_version: str, event: dict) -> dict:
        class Context:
            aws_request_id = f"request-{len(answers)}"

        Context.function_version = function_version
        patch.setattr(lambda_function, "MODEL_VERSION", version)
        answer = lambda_function.lambda_handler(event, Context())
        answers.append((version, answer))
        return answer

    photos = [f"{image_host}/samples/{path.relative_to(path.parents[1]).as_posix()}" for path, _ in sample_images]
    answers = []
    with pytest.MonkeyPatch.context() as patch, captured_request_log() as lines:
        patch.setenv("ALLOW_PRIVATE_URLS", "1")  # the image host is on 127.0.0.1
        for url in photos[:8]:
            ask("v1", "1", {"url": url})
        ask("v1", "1", {"url": f"{image_host}/missing.jpg"})
        for url in photos[8:14]:
            ask("v2", "2", {"url": url})
        ask("v2", "2", {"url": f"{image_host}/missing.jpg"})
        ask("v2", "2", {})
    return list(lines), answers


def expected(answers, version: str) -> dict:
    """What the summary must say of ``version``, from the answers themselves."""
    mine = [answer for v, answer in answers if v == version]
    classes = Counter(a["top_class"] for a in mine if "top_class" in a)
    codes = Counter(a["error"]["code"] for a in mine if "error" in a)
    return {"requests": len(mine), "errors": sum(codes.values()),
            "error_rate_by_code": {code: n / len(mine) for code, n in codes.items()},
            "classes": {name: n / sum(classes.values()) for name, n in classes.items()}}


def check_summary(summary: dict, lines: list[str], answers) -> None:
    assert list(summary) == ["v1", "v2"]
    for version in ("v1", "v2"):
        got, want = summary[version], expected(answers, version)
        assert {key: got[key] for key in want} == want
        assert got["error_rate"] == want["errors"] / want["requests"]
        durations = sorted(json.loads(line)["duration_ms"] for line in lines
                           if json.loads(line)["model_version"] == version)
        assert got["latency_ms"]["p50"] == durations[(len(durations) + 1) // 2 - 1]
        assert got["latency_ms"]["p99"] == durations[-1]  # fewer than 100 requests: the largest
    assert summary["v2"]["error_rate_by_code"] == {"upstream_http_error": 1 / 8, "missing_url": 1 / 8}


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert [compare.percentile(values, p) for p in (50, 95, 99, 100)] == [50, 95, 99, 100]
    assert compare.percentile([3.0, 1.0, 2.0], 50) == 2.0 and compare.percentile([7.5], 99) == 7.5
    assert compare.percentile([], 50) is None


def test_a_local_log_compares_two_model_versions(handler_log, tmp_path, capsys):
    lines, answers = handler_log
    log = tmp_path / "requests.log"
    mixed = [line for pair in zip(lines, NOISE * 3) for line in pair] + lines[len(NOISE) * 3:]
    log.write_text("\n".join(mixed) + "\n")
    assert compare.main(["--log", str(log), "--json"]) == 0
    check_summary(json.loads(capsys.readouterr().out), lines, answers)


def test_standard_input_and_the_text_table(handler_log, monkeypatch, capsys):
    lines, answers = handler_log
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines)))
    assert compare.main(["--log", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{len(lines)} requests from standard input, by model_version")
    v2 = next(line for line in out.splitlines() if line.startswith("v2 "))
    assert v2.split()[1:3] == ["8", "25.0%"] and "upstream_http_error 12.5%" in v2 and "missing_url 12.5%" in v2
    top = Counter(a["top_class"] for v, a in answers if v == "v1" and "top_class" in a).most_common(1)[0][0]
    assert f"  v1: {top} " in out


def test_by_function_version(handler_log):
    lines, _ = handler_log
    summary = compare.summarize(compare.records_from_lines(lines), by="function_version")
    assert {version: s["requests"] for version, s in summary.items()} == {"1": 9, "2": 8}


def test_an_empty_or_missing_log_is_explained(tmp_path, capsys):
    empty = tmp_path / "empty.log"
    empty.write_text("\n".join(NOISE))
    assert compare.main(["--log", str(empty)]) == 1
    assert "No request lines found" in capsys.readouterr().out
    assert compare.main(["--log", str(tmp_path / "absent.log")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read the log {tmp_path / 'absent.log'}") and "make serve >" in err
    assert "Traceback" not in err


def put_lines(session, lines: list[str], start_ms: int, step_ms: int = 1000) -> None:
    """The lines in the function's log group as Lambda writes them, ``step_ms`` apart, with Lambda's own lines."""
    logs = session.client("logs")
    group = log_group_name(NAME)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2026/11/30/[1]abc")
    events = [{"timestamp": start_ms + i * step_ms, "message": line} for i, line in enumerate(lines + NOISE[:3])]
    logs.put_log_events(logGroupName=group, logStreamName="2026/11/30/[1]abc", logEvents=events)


def test_logs_insights_on_aws_gives_the_same_summary_as_the_local_log(handler_log, capsys):
    lines, answers = handler_log
    with mock_aws_account() as session:
        put_lines(session, lines, int(time.time() * 1000) - 600_000)
        assert compare.main(["--name", NAME, "--hours", "1", "--json"], session=session, sleep=lambda s: None) == 0
        check_summary(json.loads(capsys.readouterr().out), lines, answers)


def test_a_window_at_the_insights_cap_is_split_and_every_line_read_once(handler_log):
    lines, _ = handler_log
    start = int(time.time()) - 3600
    with mock_aws_account() as session:
        put_lines(session, lines, start * 1000)
        logs = session.client("logs")
        queries = []
        real_start = logs.start_query
        logs.start_query = lambda **kw: queries.append(kw) or real_start(**kw)
        records = compare.records_from_insights(logs, log_group_name(NAME), start, start + 3600, limit=4,
                                                sleep=lambda s: None)
    assert sorted(r["request_id"] for r in records) == sorted(json.loads(line)["request_id"] for line in lines)
    assert len(queries) > len(lines) // 4 and all("limit 4" in q["queryString"] for q in queries)


def test_a_missing_log_group_is_one_paragraph(capsys):
    with mock_aws_account() as session:
        assert compare.main(["--name", "nothing-here"], session=session, sleep=lambda s: None) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: there is no log group {log_group_name('nothing-here')}") and "make deploy" in err


def test_a_failed_query_is_an_error_not_a_wait():
    class Logs:
        def start_query(self, **kwargs):
            return {"queryId": "q"}

        def get_query_results(self, queryId):
            return {"status": "Failed", "results": []}

    with pytest.raises(DeployError, match="ended Failed"):
        compare.run_query(Logs(), "/aws/lambda/x", 0, 1, sleep=lambda s: None)


def test_make_compare_runs_the_script_with_the_log_or_on_aws():
    def plan(*args):
        return subprocess.run(["make", "-n", "compare", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout

    assert "solutions/07_production/compare.py --log requests.log" in plan("LOG=requests.log")
    assert "--region eu-west-1 --name x" in plan("REGION=eu-west-1", "NAME=x")
    help_text = subprocess.run(["make", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    assert "make compare" in help_text
