"""Issue 17: every answer and log line names the model version; the log line is a CloudWatch embedded metric format
(EMF) document, valid against the schema AWS publishes (tests/emf-schema.json), with few, bounded dimensions."""

import hashlib
import json
import time
from pathlib import Path

import jsonschema
import lambda_function
import pytest
from conftest import PANTS, captured_request_log

from tutorial_support.events import url_event

EMF_SCHEMA = json.loads((Path(__file__).parent / "emf-schema.json").read_text())
# The published schema names no draft; its "$id": "#/properties/..." fragments are draft 6/7 style (2019-09 and later
# refuse them), so it is read as draft 7.
EMF_VALIDATOR = jsonschema.Draft7Validator(EMF_SCHEMA)


class Context:
    aws_request_id = "c0ffee00-0000-4000-8000-000000000017"
    function_version = "7"


def spec_errors(line: dict) -> list[str]:
    """What the EMF specification requires that its JSON schema does not check: every metric a root member with a
    number (or up to 100 numbers), every dimension a root member with a string, at most 100 metrics a directive."""
    errors = []
    for directive in line["_aws"]["CloudWatchMetrics"]:
        if len(directive["Metrics"]) > 100:
            errors.append("more than 100 metrics in a directive")
        for metric in directive["Metrics"]:
            value = line.get(metric["Name"])
            numbers = value if isinstance(value, list) and len(value) <= 100 else [value]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
                errors.append(f"metric {metric['Name']} is {value!r}, not a number")
        for dimension in (name for dimension_set in directive["Dimensions"] for name in dimension_set):
            if not isinstance(line.get(dimension), str):
                errors.append(f"dimension {dimension} is {line.get(dimension)!r}, not a string")
    return errors


def assert_valid_emf(line: dict) -> None:
    EMF_VALIDATOR.validate(line)
    assert not spec_errors(line), spec_errors(line)


@pytest.fixture(scope="module")
def logged(image_host):
    """(answers, log lines as dicts) of the real handler: two sample photos, direct and proxy, and four errors."""
    requests = [
        {"url": f"{image_host}/samples/{PANTS}"},
        url_event(f"{image_host}/samples/{PANTS}"),
        {"url": f"{image_host}/missing.jpg"},  # 422 upstream_http_error
        {},  # 400 missing_url
        url_event("not a url"),  # 400 invalid_url
        {"requestContext": {"requestId": "r"}, "body": "{"},  # 400 invalid_json
    ]
    with pytest.MonkeyPatch.context() as patch, captured_request_log() as lines:
        patch.setenv("ALLOW_PRIVATE_URLS", "1")  # the image host is on 127.0.0.1
        answers = [lambda_function.lambda_handler(event, Context()) for event in requests]
    answers = [json.loads(a["body"]) if "statusCode" in a else a for a in answers]
    return answers, [json.loads(line) for line in lines]


def test_every_answer_and_log_line_names_the_model_version(logged):
    answers, lines = logged
    assert len(lines) == len(answers) == 6
    assert answers[0]["top_class"] == answers[1]["top_class"] and "error" in answers[2] and "error" in answers[5]
    assert [a["model_version"] for a in answers] == [lambda_function.MODEL_VERSION] * 6
    assert [line["model_version"] for line in lines] == [lambda_function.MODEL_VERSION] * 6
    assert [line["function_version"] for line in lines] == [Context.function_version] * 6


def test_the_default_model_version_is_the_model_files_hash_and_the_environment_overrides_it(monkeypatch):
    monkeypatch.delenv("MODEL_VERSION", raising=False)
    digest = hashlib.sha256(lambda_function.MODEL_PATH.read_bytes()).hexdigest()
    assert lambda_function.model_version() == digest[:12]
    monkeypatch.setenv("MODEL_VERSION", "efficientnet-lite0-v2")
    assert lambda_function.model_version() == "efficientnet-lite0-v2"


def test_every_log_line_is_a_valid_emf_document(logged):
    jsonschema.Draft7Validator.check_schema(EMF_SCHEMA)
    _, lines = logged
    now_ms = time.time() * 1000
    for line in lines:
        assert_valid_emf(line)
        assert now_ms - 600_000 < line["_aws"]["Timestamp"] <= now_ms  # milliseconds since 1970, not seconds


@pytest.mark.parametrize("break_it", [
    lambda line: line["_aws"].pop("Timestamp"),
    lambda line: line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="ms"),
    lambda line: line["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[]),
    lambda line: line.update(duration_ms=None),  # a metric without a number
    lambda line: line.update(model_version=None),  # a dimension without a string
], ids=["no timestamp", "unknown unit", "no dimension set", "null metric", "null dimension"])
def test_the_validation_catches_what_cloudwatch_would_reject(logged, break_it):
    line = json.loads(json.dumps(logged[1][0]))
    break_it(line)
    with pytest.raises((jsonschema.ValidationError, AssertionError)):
        assert_valid_emf(line)


def metrics_of(line: dict) -> set[tuple]:
    """The metrics a line publishes: (name, unit, ((dimension, value), ...)) for each dimension set."""
    return {(m["Name"], m.get("Unit"), tuple((d, line[d]) for d in dimensions))
            for directive in line["_aws"]["CloudWatchMetrics"] for dimensions in directive["Dimensions"]
            for m in directive["Metrics"]}


def test_the_metrics_are_predictions_errors_by_code_and_latency_by_model_version(logged):
    answers, (good, _, missing, no_url, *_) = logged[0], logged[1]
    version = (("model_version", lambda_function.MODEL_VERSION),)
    assert metrics_of(good) == {
        ("requests", "Count", version), ("errors", "Count", version),
        ("duration_ms", "Milliseconds", version), ("download_ms", "Milliseconds", version),
        ("inference_ms", "Milliseconds", version),
        ("predictions", "Count", (*version, ("top_class", answers[0]["top_class"])))}
    assert (good["requests"], good["errors"], good["predictions"]) == (1, 0, 1)
    assert metrics_of(missing) == {
        ("requests", "Count", version), ("duration_ms", "Milliseconds", version),
        ("download_ms", "Milliseconds", version), ("errors", "Count", version),
        ("errors", "Count", (*version, ("error_code", "upstream_http_error")))}
    assert (missing["errors"], "predictions" in missing) == (1, False)
    assert ("download_ms", "Milliseconds", version) not in metrics_of(no_url)  # no download: no number, no metric


def test_dimensions_are_few_and_bounded(logged):
    """Each combination of dimension values is a custom metric billed by the month: a model version makes at most
    5 + the classes + the error codes seen, and nothing per request (no ids, hosts or sizes)."""
    _, lines = logged
    published = set().union(*(metrics_of(line) for line in lines))
    codes = {line["error_code"] for line in lines if line["error_code"]}
    assert len(published) <= 5 + len(lambda_function.CLASSES) + len(codes)
    dimensions = {name for _, _, pairs in published for name, _ in pairs}
    assert dimensions == {"model_version", "top_class", "error_code"}
    assert {line["_aws"]["CloudWatchMetrics"][0]["Namespace"] for line in lines} == {lambda_function.EMF_NAMESPACE}


@pytest.mark.parametrize("status", [200, 500])
def test_the_worst_case_line_fits_the_bound(monkeypatch, status):
    """Every text field a megabyte long (the versions too), every number huge: the line, with its EMF block, still
    fits LOG_LINE_MAX_BYTES."""
    text = "\U0001f600" * 1_000_000
    monkeypatch.setattr(lambda_function, "MODEL_VERSION", text)

    class Huge:
        aws_request_id = function_version = text

    event = {"requestContext": {"requestId": text}, "body": "{}"}
    result = ({"top_class": text} if status == 200 else
              {"error": {"status": status, "code": text, "message": text}, "top_class": text})
    download = {"host": text, "redirects": 10**9, "bytes": 10**12, "width": 2**32, "height": 2**32,
                "download_ms": 1e300}
    with captured_request_log() as log:
        record = lambda_function.log_request(event, Huge(), status, result, download, 1e300)
    assert len(log) == 1 and len(log[0].encode()) <= lambda_function.LOG_LINE_MAX_BYTES, len(log[0].encode())
    assert record["model_version"].endswith(lambda_function.LOG_TRUNCATED)
    assert_valid_emf(json.loads(log[0]))
