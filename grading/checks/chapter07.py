"""Checks of chapter 07 (running it in production): the latency percentile of ``make compare`` (``compare.py``), the
resume of ``make batch`` (``batch.py``), and the dimensions of a canary's metrics (``monitoring.py``).

Expected values are worked out by hand in the comments below, from the definitions they cite; none is computed by a
second copy of the solution.
"""

from __future__ import annotations

import functools
import json
import tempfile
from contextlib import contextmanager
from pathlib import Path

from grading import hints
from grading.outcomes import exercise

CHAPTER = "07_production"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request


@contextmanager
def student_errors(what: str, advice: str = ""):
    """While in this block (a call of the student's code), an exception it raises (other than the stub's
    ``NotImplementedError``) becomes an AssertionError naming the call, so that a crash on an input it must handle
    is graded incorrect, with a message, rather than reported as an error."""
    try:
        yield
    except (NotImplementedError, AssertionError):
        raise
    except Exception as e:  # noqa: BLE001 -- any crash of the student's code on a case it must handle
        raise AssertionError(f"{what} raised {type(e).__name__}: {e}" + (f" ({advice})" if advice else "")) from None


# ------------------------------------------------------------------------------------------------ percentile

# (values, p, expected): the nearest-rank percentile is the value at rank ceil(p / 100 * n) of the sorted values,
# ranks counted from 1 (NIST's and Wikipedia's "nearest-rank method"); the list given unsorted where it matters.
PERCENTILE_CASES = [
    (list(range(1, 101)), 50, 50),  # rank ceil(50) = 50: the 50th value
    (list(range(1, 101)), 95, 95),  # rank 95 (an index of int(0.95 * 100) = 95 is the 96th value: off by one)
    (list(range(1, 101)), 99, 99),
    (list(range(1, 101)), 100, 100),  # the largest
    ([4.0, 1.0, 3.0, 2.0], 50, 2.0),  # rank ceil(2) = 2 of 1, 2, 3, 4: 2 (interpolating gives 2.5)
    ([4.0, 1.0, 3.0, 2.0], 30, 2.0),  # rank ceil(1.2) = 2 (rounding the rank gives 1: the smallest)
    ([30.5, 10.25, 20.0], 50, 20.0),  # rank ceil(1.5) = 2: the middle value once sorted
    ([30.5, 10.25, 20.0], 95, 30.5),  # rank ceil(2.85) = 3
    ([12.0, 80.0], 1, 12.0),  # rank ceil(0.02) = 1: the smallest, never index -1
    ([7.5], 99, 7.5),  # one value is every percentile of itself
    ([5, 1, 9, 3, 7, 2, 8, 4, 6, 10], 90, 9),  # rank ceil(9) = 9 of 1..10, given out of order
]


@exercise("07_production", "percentile")
def check_percentile(module):
    """Check ``module.percentile(values, p)``: the nearest-rank percentile (a value of the list), None for none."""
    with student_errors("percentile([], 95)", "no values: return None, as compare.summarize reports '-'"):
        empty = module.percentile([], 95)
    assert empty is None, f"percentile([], 95) should be None (no requests, no latency), got {empty!r}"
    for values, p, expected in PERCENTILE_CASES:
        shown = values if len(values) <= 10 else "[1, 2, ..., 100]"
        with student_errors(f"percentile({shown}, {p})"):
            got = module.percentile(list(values), p)
        assert isinstance(got, (int, float)) and not isinstance(got, bool), (
            f"percentile({shown}, {p}) should be a number, got {got!r}")
        if got != expected and got not in values:
            raise AssertionError(
                f"percentile({shown}, {p}) gave {got!r}, which is not one of the values: the nearest-rank percentile "
                f"is a value of the list ({expected!r} here), not an interpolation between two")
        assert got == expected, (
            f"percentile({shown}, {p}) should be {expected!r}, got {got!r}: sort the values, and take the one at "
            f"rank ceil(p / 100 * n) counted from 1 (index rank - 1)")


# ------------------------------------------------------------------------------------------------ read_finished

# A results file as an interrupted `make batch` leaves it: what each line is, and whether it is finished.
GOOD_A = {"input": "pants/a.jpg", "top_class": "pants", "probability": 0.8}
ERROR_B = {"input": "bad.txt", "error": {"status": 422, "code": "not_an_image", "message": "not an image"}}
AGAIN_A = {"input": "pants/a.jpg", "top_class": "shirt", "probability": 0.4}  # a repeat: the first line is kept
GOOD_C = {"input": "http://127.0.0.1:8000/hat.jpg", "top_class": "hat", "probability": 0.7}
TORN_D = {"input": "shoes/d.jpg", "top_class": "shoes", "probability": 0.9}  # written whole, but not its "\n"
RESULTS_LINES = [json.dumps(GOOD_A), json.dumps(ERROR_B), json.dumps(AGAIN_A), "{\"input\": \"shorts/e.jp",
                 "[1, 2, 3]", json.dumps({"input": 42, "top_class": "hat"}), json.dumps(GOOD_C)]


def _results_file(folder: Path, lines: list[str], torn: str | None) -> Path:
    path = folder / "results.jsonl"
    path.write_text("".join(line + "\n" for line in lines) + (torn or ""), encoding="utf-8")
    return path


def _lines_of(path: Path) -> tuple[str, list]:
    """(the file's text, its lines as JSON values, None for a line that is not JSON)."""
    text = path.read_text(encoding="utf-8")
    values = []
    for line in text.splitlines():
        try:
            values.append(json.loads(line))
        except ValueError:
            values.append(None)
    return text, values


@exercise("07_production", "read_finished")
def check_read_finished(module):
    """Check ``module.read_finished(output, retry_errors)`` on a results file with every kind of line an interrupted
    run leaves, with and without ``retry_errors``, on a clean file, and on no file."""
    with tempfile.TemporaryDirectory(prefix="graded-batch-") as scratch:
        folder = Path(scratch)
        missing = folder / "none.jsonl"
        with student_errors("read_finished on a file that does not exist",
                            "the first run has no results yet: return {}"):
            got = module.read_finished(missing)
        assert got == {}, f"with no results file yet (a first run), return {{}}, got {got!r}"
        assert not missing.exists(), "with no results file yet, create nothing (the run creates it as it writes)"

        for retry in (False, True):
            path = _results_file(folder, RESULTS_LINES, json.dumps(TORN_D))
            call = f"read_finished(results, retry_errors={retry})"
            with student_errors(call, "a line that is not a JSON object with a string input is dropped, not fatal"):
                got = module.read_finished(path, retry)
            want = {GOOD_A["input"]: GOOD_A, GOOD_C["input"]: GOOD_C}
            if not retry:
                want = {GOOD_A["input"]: GOOD_A, ERROR_B["input"]: ERROR_B, GOOD_C["input"]: GOOD_C}
            assert isinstance(got, dict), f"{call}: return {{input: its line as a dict}}, got {got!r}"
            assert TORN_D["input"] not in got, (
                f"{call}: the last line, {json.dumps(TORN_D)!r}, has no final newline: the run stopped while "
                "writing it, so it is torn (even if it parses) and its input must be classified again; a line is "
                "finished only when it ends in \"\\n\"")
            assert got.get(GOOD_A["input"]) != AGAIN_A, (
                f"{call}: {GOOD_A['input']!r} has two lines; keep the first (the one already counted), got the "
                "second")
            if retry:
                assert ERROR_B["input"] not in got, (
                    f"{call}: with retry_errors, an error line is not finished (its input is classified again)")
            else:
                assert ERROR_B["input"] in got, (
                    f"{call}: without retry_errors, an error line is a finished answer (a bad input is not tried "
                    "again)")
            assert got == want, f"{call}: expected {want}, got {got}"
            others = sorted(p.name for p in folder.iterdir() if p != path)
            assert not others, f"{call}: leave no other file beside the results (found {others})"
            text, values = _lines_of(path)
            assert text.endswith("\n") and TORN_D["input"] not in text, (
                f"{call}: the file must be rewritten without the torn last line, else the next line appended is "
                f"glued onto it; it ends with {text[-60:]!r}")
            assert values == list(want.values()), (
                f"{call}: the file must hold the finished lines only, one JSON object a line, in their order "
                f"({[r['input'] for r in want.values()]}), got {values}")

        clean = [json.dumps(GOOD_A), json.dumps(ERROR_B), json.dumps(GOOD_C)]
        path = _results_file(folder, clean, None)
        with student_errors("read_finished on a file of finished lines"):
            got = module.read_finished(path)
        want = {r["input"]: r for r in (GOOD_A, ERROR_B, GOOD_C)}
        assert got == want, f"on a file whose lines are all finished, return them all: expected {want}, got {got}"
        assert _lines_of(path)[1] == list(want.values()), "a file whose lines are all finished must keep them all"


# ------------------------------------------------------------------------------------------------ version_dimensions

@exercise("07_production", "version_dimensions")
def check_version_dimensions(module):
    """Check ``module.version_dimensions(name, version, alias)``: the three dimensions of Lambda's per-version metrics
    of a weighted alias, in any order."""
    # docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html: metrics by ExecutedVersion come with the
    # dimensions FunctionName, Resource (function:alias) and ExecutedVersion; a metric matches only its exact set.
    cases = [(("clothing", "7", "live"), {"FunctionName": "clothing", "Resource": "clothing:live",
                                          "ExecutedVersion": "7"}),
             (("shop-model", 12, "staging"), {"FunctionName": "shop-model", "Resource": "shop-model:staging",
                                              "ExecutedVersion": "12"})]
    for args, want in cases:
        call = f"version_dimensions{args!r}"
        with student_errors(call):
            got = module.version_dimensions(*args)
        assert isinstance(got, (tuple, list)) and all(
            isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in got), (
            f"{call}: return the dimensions as (name, value) pairs, ((\"FunctionName\", ...), ...), got {got!r}")
        names = [pair[0] for pair in got]
        assert len(set(names)) == len(names), f"{call}: each dimension once, got {names}"
        dims = dict((pair[0], pair[1]) for pair in got)
        assert set(dims) == set(want), (
            f"{call}: Lambda publishes an alias's per-version metrics with exactly the dimensions "
            f"{sorted(want)}; a metric is matched by its whole set of dimensions, so with {sorted(dims)} the alarm "
            "would watch a metric that does not exist, and never fire")
        assert dims["FunctionName"] == want["FunctionName"], (
            f"{call}: FunctionName is the function's name, {want['FunctionName']!r}, got {dims['FunctionName']!r}")
        assert dims["Resource"] == want["Resource"], (
            f"{call}: Resource is the alias the requests went to, \"NAME:ALIAS\" = {want['Resource']!r} (the alias "
            f"given, not the version), got {dims['Resource']!r}")
        assert dims["ExecutedVersion"] == want["ExecutedVersion"], (
            f"{call}: ExecutedVersion is the version that ran, as a string (dimension values are strings): "
            f"{want['ExecutedVersion']!r}, got {dims['ExecutedVersion']!r}")
