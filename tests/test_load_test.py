"""``make load-test``: a short run against serve.py in a subprocess, the wrong-answer detector, and the README block."""

import json

import load_test
import pytest
from conftest import REPO_ROOT

ALL_KINDS = (*load_test.good_kinds(), *load_test.BAD_KINDS)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    output = tmp_path_factory.mktemp("load") / "load_test.json"
    assert load_test.main(["--requests", "150", "--concurrency", "4", "--output", str(output)]) == 0
    return json.loads(output.read_text())


def test_a_short_run_gets_no_wrong_answer_and_every_kind_its_expected_answer(report):
    assert report["wrong_answers"] == 0 and report["wrong_examples"] == []
    assert list(report["kinds"]) == [kind.name for kind in ALL_KINDS]  # every kind was sent
    assert sum(row["requests"] for row in report["kinds"].values()) == report["settings"]["requests"] == 150
    for kind in load_test.BAD_KINDS:
        row = report["kinds"][kind.name]
        assert 400 <= kind.status < 500
        assert row["answers"] == {str(kind.status): row["requests"]} and row["wrong"] == 0, kind.name
        assert row["expected"] == f"{kind.status} {kind.code}"
    for kind in load_test.good_kinds():
        row = report["kinds"][kind.name]
        assert row["answers"] == {"200": row["requests"]} and row["wrong"] == 0
    assert sum(report["status_counts"].values()) == 150


def test_the_report_has_throughput_latency_and_memory_figures(report):
    assert report["throughput_rps"] > 0 and report["seconds"] > 0
    for group in ("good", "bad"):
        latency = report["latency_ms"][group]
        assert latency["requests"] > 0 and 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    rss = report["rss_mb"]
    assert all(rss[key] > 0 for key in ("start", "after_warmup", "end", "max"))
    assert rss["max"] == max(mb for _, mb in rss["samples"])
    assert isinstance(rss["growth_after_warmup"], float)
    assert [done for done, _ in rss["samples"]] == [0, 15, 100, 150]  # start, warm-up (10 %), every 100, the end


def test_the_mix_is_fixed_by_the_seed_and_about_60_percent_photos():
    a, b = load_test.plan(500, seed=3), load_test.plan(500, seed=3)
    assert a == b != load_test.plan(500, seed=4)
    assert sum(kind.good for kind in a) == 300
    assert {kind.name for kind in load_test.plan(23, seed=0)} == {kind.name for kind in ALL_KINDS}


EXPECTED = {"top_class": "pants", "probabilities": {"pants": 0.9, "shoes": 0.1}}
PHOTO = load_test.good_kinds()[0]
NO_URL = next(kind for kind in load_test.BAD_KINDS if kind.code == "missing_url")
UNKNOWN_PATH = load_test.BAD_KINDS[-1]


@pytest.mark.parametrize("kind, status, answer", [
    (PHOTO, 200, {"top_class": "shoes", "probabilities": {"pants": 0.9, "shoes": 0.1}}),
    (PHOTO, 200, {"top_class": "pants", "probabilities": {"pants": 0.89, "shoes": 0.11}}),
    (PHOTO, 200, {"top_class": "pants", "probabilities": {"pants": 0.9}}),
    (PHOTO, 500, {"error": {"code": "internal_error"}}),
    (NO_URL, 500, {"error": {"code": "missing_url"}}),
    (NO_URL, 422, {"error": {"code": "missing_url"}}),
    (NO_URL, 400, {"error": {"code": "invalid_url"}}),
    (NO_URL, 200, EXPECTED),
    (UNKNOWN_PATH, 400, {}),
])
def test_the_detector_flags_wrong_answers(kind, status, answer):
    assert load_test.wrong_answer(kind, status, answer, EXPECTED if kind.good else None)


def test_the_detector_passes_right_answers():
    close = {"top_class": "pants", "probabilities": {"pants": 0.9 + 5e-7, "shoes": 0.1 - 5e-7}}
    assert load_test.wrong_answer(PHOTO, 200, close, EXPECTED) is None
    assert load_test.wrong_answer(NO_URL, 400, {"error": {"code": "missing_url"}}) is None
    assert load_test.wrong_answer(UNKNOWN_PATH, 404, {"message": "Not Found"}) is None


def test_readme_block_is_the_committed_run_rendered():
    report = json.loads(load_test.OUTPUT.read_text())
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("<!-- load-test:begin -->\n")[1].split("<!-- load-test:end -->")[0]
    assert block == load_test.render_markdown(report)
    assert report["command"].startswith("make load-test") and report["wrong_answers"] == 0
    assert report["settings"]["requests"] >= 1000 and sum(report["status_counts"].values()) == report["settings"][
        "requests"]
