"""Grade the exercises of a checkout: ``make check`` for students, ``make grade`` for instructors.

    python -m grading.grade check [--chapter 02]                  # this checkout's chapter folders
    python -m grading.grade grade PATH/TO/CLONE [--json FILE]     # another checkout (a student's submission)

Each chapter's graded tests (``tests/graded/test_<chapter>.py``, from this repository, never from the submission) run
in their own pytest subprocess, with a wall-clock timeout and an environment stripped of credentials; the student's
code runs only there. A chapter that hangs or crashes is scored as errors; the other chapters are still graded.
Each exercise ends as one of: correct, not attempted (the stub is still there), incorrect (with the check's message
as a hint), error (the code raised something else, or the chapter timed out).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from grading import checks, outcomes

REPO_ROOT = Path(__file__).resolve().parents[1]
GRADED_TESTS = REPO_ROOT / "tests" / "graded"
DEFAULT_TIMEOUT_S = 600
# Variables the test subprocess keeps; everything else (AWS credentials, tokens...) is left out.
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")


def chapters(selected: str | None = None) -> list[str]:
    """The graded chapters (``"01_intro"``, ...), or those whose name starts with ``selected`` (``"02"`` or ``"2"``).

    Raises:
        ValueError: no graded chapter matches ``selected``.
    """
    names = sorted(checks.exercises())
    if selected is None:
        return names
    prefix = selected.zfill(2) if selected.isdigit() else selected
    matched = [name for name in names if name.startswith(prefix)]
    if not matched:
        raise ValueError(f"no graded chapter matches {selected!r}; graded chapters: {', '.join(names)}")
    return matched


def grade_chapter(chapter: str, submission: Path, timeout_s: float) -> list[dict]:
    """Run one chapter's graded tests against ``submission``'s chapter folders in a subprocess.

    Returns:
        one dict per exercise of the chapter, in order: ``{"exercise", "status", "message", "seconds"}``; status is
        one of ``outcomes.CORRECT``, ``NOT_ATTEMPTED``, ``INCORRECT``, ``ERROR`` or ``"skipped"``.
    """
    names = [check.name for check in checks.exercises()[chapter]]
    env = {key: os.environ[key] for key in KEPT_ENV if key in os.environ}
    env.update(PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pytest", str(GRADED_TESTS / f"test_{chapter}.py"), "-m", "graded",
                   "--target", "student", "--submission", str(submission), "--grading-report", str(report),
                   "-p", "no:cacheprovider", "-q", "--no-header", "--basetemp", str(Path(tmp) / "t")]
        try:
            run = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return [{"exercise": name, "status": outcomes.ERROR, "seconds": timeout_s,
                     "message": f"chapter {chapter} did not finish within {timeout_s:g} s (an endless loop?)"}
                    for name in names]
        results = json.loads(report.read_text())["results"] if report.is_file() else []
    by_name = {result["exercise"]: result for result in results}
    tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-5:])
    return [{"exercise": name, **{key: by_name[name][key] for key in ("status", "message", "seconds")}}
            if name in by_name else
            {"exercise": name, "status": outcomes.ERROR, "seconds": 0.0,
             "message": f"the graded test did not run (pytest exit {run.returncode}): {tail}"}
            for name in names]


def grade(submission: Path, selected: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict:
    """Grade ``submission`` (a checkout of this repository), chapter by chapter.

    Returns:
        ``{"submission": str, "score": int, "max": int, "chapters": {chapter: {"score", "max", "exercises": [...]}}}``;
        an exercise scores 1 when correct, else 0.
    """
    report = {"submission": str(submission), "score": 0, "max": 0, "chapters": {}}
    for chapter in chapters(selected):
        exercises = grade_chapter(chapter, submission, timeout_s)
        score = sum(e["status"] == outcomes.CORRECT for e in exercises)
        report["chapters"][chapter] = {"score": score, "max": len(exercises), "exercises": exercises}
        report["score"] += score
        report["max"] += len(exercises)
    return report


def format_table(report: dict, width: int = 100) -> str:
    """The report as a text table: one row per exercise, its result, and the hint of a wrong or missing answer."""
    lines = [f"{'chapter':<16}{'exercise':<20}{'result':<15}score", "-" * 56]
    for chapter, result in report["chapters"].items():
        for e in result["exercises"]:
            lines.append(f"{chapter:<16}{e['exercise']:<20}{e['status']:<15}{int(e['status'] == outcomes.CORRECT)}")
            if e["status"] != outcomes.CORRECT and e["message"]:
                lines += textwrap.wrap(e["message"], width, initial_indent=" " * 4, subsequent_indent=" " * 4)
        lines.append(f"{chapter:<16}{'':<20}{'chapter total':<15}{result['score']}/{result['max']}")
    lines += ["-" * 56, f"{'total':<51}{report['score']}/{report['max']}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="grade this checkout's chapter folders; exit 1 unless all correct")
    check.add_argument("--chapter", default=None, help="only this chapter (02, 2 or 02_tflite)")
    submission = commands.add_parser("grade", help="grade another checkout; exit 0 once graded")
    submission.add_argument("submission", type=Path, help="the checkout to grade (a clone of this repository)")
    submission.add_argument("--chapter", default=None, help="only this chapter")
    submission.add_argument("--json", type=Path, default=None, help="also write the report as JSON to this file")
    for sub in (check, submission):
        sub.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds allowed per chapter")
    args = parser.parse_args(argv)

    root = REPO_ROOT if args.command == "check" else args.submission.resolve()
    if not root.is_dir():
        parser.error(f"{root} is not a folder")
    try:
        report = grade(root, args.chapter, args.timeout)
    except ValueError as e:
        parser.error(str(e))
    print(format_table(report))
    if args.command == "grade":
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
            print(f"\nWrote {args.json}")
        return 0
    return 0 if report["score"] == report["max"] else 1


if __name__ == "__main__":
    sys.exit(main())
