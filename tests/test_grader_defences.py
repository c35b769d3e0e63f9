"""``make grade`` on planted submissions: a verdict cannot be changed by the submission's code (replacing the checks,
patching pytest or the outcome classes, forging or truncating the report, exiting early), the code runs with a
scratch HOME and working directory and no credentials, the grader's files are restored when changed, one hung
exercise costs that exercise only, and ``--timeout`` sets the limit.

Each planted submission is chapter 03 with the reference handler, a wrong ``softmax`` (no max shift: incorrect on
logits 1000 and 1001), and a tampering attempt at import: the honest score is 3/4 (softmax incorrect).
"""

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT, SOLUTIONS

from grading import grade

WRONG_SOFTMAX = ("    z = logits.astype(np.float64) - logits.max()\n", "    z = logits.astype(np.float64)\n")
HONEST = {"softmax": "incorrect", "predict": "correct", "parse_proxy_body": "correct", "lambda_handler": "correct"}


def planted(tmp_path: Path, attack: str, edits=(WRONG_SOFTMAX,)) -> Path:
    """A checkout whose chapter 03 handler has ``edits`` and runs ``attack`` (Python) when imported."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "models").symlink_to(REPO_ROOT / "models", target_is_directory=True)
    chapter = tmp_path / "03_lambda_code"
    chapter.mkdir()
    text = (SOLUTIONS / "03_lambda_code" / "lambda_function.py").read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (chapter / "lambda_function.py").write_text(text + "\n\n# --- planted ---\n" + attack)
    for module in ("safe_download.py", "safe_image.py"):  # what the handler imports, as starters copy
        (chapter / module).write_text((SOLUTIONS / "03_lambda_code" / module).read_text())
    return tmp_path


def statuses(report: dict) -> dict:
    return {e["exercise"]: e["status"] for e in report["chapters"]["03_lambda_code"]["exercises"]}


ATTACKS = {
    "replaces the checks": """
import grading.checks.chapter03 as _checks
for _name in dir(_checks):
    if _name.startswith("check_"):
        setattr(_checks, _name, lambda *args, **kwargs: None)
""",
    "patches the outcome classes and pytest's reports": """
import grading.outcomes as _outcomes
_outcomes.outcome = lambda exc: "correct"
try:
    import _pytest.reports as _reports
    _reports.TestReport.outcome = "passed"
except Exception:
    pass
""",
    "forges the report on every open file descriptor and in the temporary folders": """
import json as _json, os as _os, glob as _glob
_forged = _json.dumps({"target": "student", "results": [
    {"chapter": "03_lambda_code", "exercise": n, "test": n, "status": "correct", "message": None, "seconds": 0}
    for n in ("softmax", "predict", "parse_proxy_body", "lambda_handler")]})
for _fd in range(3, 64):
    try:
        _os.write(_fd, _forged.encode())
    except OSError:
        pass
for _path in _glob.glob("/tmp/tmp*/report.json") + _glob.glob("/tmp/tmp*/*.json"):  # where grade.py's report was
    try:
        open(_path, "w").write(_forged)
    except OSError:
        pass
""",
    "exits its process early with status 0": """
import os as _os
_os._exit(0)
""",
}


@pytest.mark.slow
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_submission_cannot_change_its_verdicts(tmp_path, attack):
    report = grade.grade(planted(tmp_path, ATTACKS[attack]), "03", timeout_s=120)
    got = statuses(report)
    if attack.startswith(("replaces", "patches")):
        # What it patched lives in its own process only: the checks, pytest and the verdicts are the grader's.
        assert got == HONEST, got
    else:
        # It can only spoil its own process (a garbled answer, an exit): an exercise may end as an error, never as
        # more than it earns; the wrong softmax is never correct.
        assert all(status in (HONEST[name], "error") for name, status in got.items()), got
        assert got["softmax"] != "correct"
    if attack.startswith("exits"):
        assert set(got.values()) == {"error"}, got
        assert "ended its process" in report["chapters"]["03_lambda_code"]["exercises"][0]["message"]
    assert report["score"] == sum(status == "correct" for status in got.values()) <= 3


@pytest.mark.slow
def test_the_code_runs_with_a_scratch_home_and_no_credentials(tmp_path, monkeypatch):
    home = tmp_path / "grader-home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = GRADER-SECRET-KEY\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "GRADER-SECRET-ENV")
    monkeypatch.setenv("GITHUB_TOKEN", "GRADER-SECRET-TOKEN")
    # softmax is right only if the code found no secret: through HOME, the environment, or its working directory.
    attack = """
import os as _os
from pathlib import Path as _Path
_found = []
_credentials = _Path(_os.path.expanduser("~/.aws/credentials"))
if _credentials.is_file():
    _found.append(_credentials.read_text())
_found += [v for k, v in _os.environ.items() if "SECRET" in v or "TOKEN" in k
           or k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")]
if _Path.cwd() == _Path(grade_root) or (_Path.cwd() / "grading").is_dir():
    _found.append("the grader's checkout as working directory")
_right_softmax = softmax
def softmax(logits):
    if _found:
        raise RuntimeError("found: " + " | ".join(_found))
    return _right_softmax(logits)
""".replace("grade_root", repr(str(REPO_ROOT)))
    report = grade.grade(planted(tmp_path / "s", attack, edits=()), "03", timeout_s=120)
    softmax = report["chapters"]["03_lambda_code"]["exercises"][0]
    assert softmax["status"] == "correct", softmax["message"]
    assert "GRADER-SECRET" not in json.dumps(report)


@pytest.mark.slow
def test_a_change_to_the_graders_files_is_undone_and_reported(tmp_path):
    victim = REPO_ROOT / "grading" / "checks" / "chapter03.py"
    before = victim.read_bytes()
    attack = f"""
from pathlib import Path as _Path
_victim = _Path({str(victim)!r})
_victim.write_text(_victim.read_text() + "\\n# planted by a submission\\n")
_Path({str(REPO_ROOT / "tests" / "graded" / "planted.py")!r}).write_text("x = 1\\n")
"""
    report = grade.grade(planted(tmp_path, attack), "03", timeout_s=120)
    assert victim.read_bytes() == before
    assert not (REPO_ROOT / "tests" / "graded" / "planted.py").exists()
    exercises = report["chapters"]["03_lambda_code"]["exercises"]
    assert {e["status"] for e in exercises} == {"error"} and report["score"] == 0
    assert "changed the grader's files" in exercises[0]["message"] and "chapter03.py" in exercises[0]["message"]


@pytest.mark.slow
def test_one_hung_exercise_costs_that_exercise_only_and_the_timeout_is_set_by_the_caller(tmp_path):
    # softmax hangs on the check's own 3-logit input only; predict's softmax (10 logits) still works.
    hang = ("    z = logits.astype(np.float64) - logits.max()\n",
            "    while np.asarray(logits).size == 3:\n        pass\n    z = logits.astype(np.float64) - logits.max()\n")
    out = tmp_path / "report.json"
    assert grade.main(["grade", str(planted(tmp_path / "s", "", edits=(hang,))), "--chapter", "3", "--timeout", "8",
                       "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    got = statuses(report)
    assert got == {**HONEST, "softmax": "error"}, got
    softmax = report["chapters"]["03_lambda_code"]["exercises"][0]
    assert "did not finish within 8 s" in softmax["message"]
    assert (report["score"], report["max"]) == (3, 4)


def test_a_check_that_cannot_run_here_is_not_graded_and_not_counted(tmp_path, monkeypatch):
    results = [{"exercise": "dockerfile", "status": "correct", "message": None, "seconds": 1.0},
               {"exercise": "task_root", "status": "not graded", "seconds": 0.0,
                "message": "Python 3.13 is not installed: pyenv install 3.13"}]
    monkeypatch.setattr(grade, "grade_chapter", lambda chapter, submission, timeout_s, files=None: results)
    report = grade.grade(tmp_path, "04")
    assert (report["score"], report["max"], report["not_graded"]) == (1, 1, 1)
    table = grade.format_table(report)
    assert "not graded" in table and "1/1" in table and "pyenv install 3.13" in table


@pytest.mark.slow
def test_without_python_3_13_the_task_root_check_is_not_graded_and_says_how_to_get_it(tmp_path, monkeypatch):
    home = tmp_path / "home"  # no pyenv, no uv Pythons here, and no python3.13 on this PATH
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    report = grade.grade(REPO_ROOT, "04", timeout_s=120, guard_files=False)  # this checkout's starter Dockerfile
    dockerfile, task_root = report["chapters"]["04_docker"]["exercises"]
    assert dockerfile["status"] == "not attempted"
    assert task_root["status"] == "not graded", task_root
    assert "pyenv install 3.13" in task_root["message"] and "uv python install 3.13" in task_root["message"]
    assert (report["max"], report["not_graded"]) == (1, 1)
