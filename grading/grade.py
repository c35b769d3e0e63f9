"""Grade the exercises of a checkout: ``make check`` for students, ``make grade`` for instructors.

    python -m grading.grade check [--chapter 02] [--timeout S]                  # this checkout's chapter folders
    python -m grading.grade grade PATH/TO/CLONE [--json FILE] [--timeout S]     # another checkout (a submission)

Each chapter's graded tests (``tests/graded/test_<chapter>.py``, from this repository, never from the submission) run
in a pytest subprocess of the grader's; the student's code runs only in processes of its own that the checks call
into (``grading.sandbox``: one per exercise, a scratch HOME and working directory, no credentials), so it cannot
change a verdict: the verdicts come back to this process through a pipe those processes do not inherit. An exercise
whose code takes longer than ``--timeout`` seconds (per load or call) or crashes is an error; the chapter's other
exercises are still graded. The grader's own files are checked after every chapter: a change made by the student's
code is undone and reported. Each exercise ends as one of: correct, not attempted (the stub is still there), incorrect
(with the check's message as a hint), error (the code raised something else, hung or crashed), or not graded (the
check cannot run on this machine; not counted in the maximum).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

from grading import checks, outcomes
from tutorial_support.paths import REPO_ROOT

GRADED_TESTS = REPO_ROOT / "tests" / "graded"
DEFAULT_TIMEOUT_S = 300
# Variables the grader's test subprocess keeps; everything else (AWS credentials, tokens...) is left out. The
# student's processes get less still (grading.sandbox.KEPT_ENV): not even HOME.
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")
# The grader's own files, checked after every chapter: the graded tests, the checks, the grader, the shared package,
# the reference solutions, the model and the photos the checks use, and the test runner's configuration.
GRADER_FILES = ("grading", "tests", "tutorial_support", "solutions", "models", "samples", "pyproject.toml")


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


class GraderFiles:
    """The grader's own files (``GRADER_FILES``), read once: ``changed()`` lists those that differ now (changed,
    added or deleted), ``restore()`` puts them back as they were."""

    def __init__(self, root: Path = REPO_ROOT):
        self.root = root
        self.files = self._read()

    def _paths(self):
        for name in GRADER_FILES:
            path = self.root / name
            candidates = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
            for candidate in candidates:
                if candidate.is_file() and not candidate.is_symlink() and "__pycache__" not in candidate.parts \
                        and ".ipynb_checkpoints" not in candidate.parts:
                    yield candidate

    def _read(self) -> dict[Path, bytes]:
        return {path: path.read_bytes() for path in self._paths()}

    def changed(self) -> list[str]:
        """The files that differ from what was read, relative to the checkout."""
        now = {path: hashlib.sha256(path.read_bytes()).digest() for path in self._paths()}
        before = {path: hashlib.sha256(data).digest() for path, data in self.files.items()}
        return sorted(str(path.relative_to(self.root)) for path in set(now) | set(before)
                      if now.get(path) != before.get(path))

    def restore(self) -> None:
        """Write back every file as it was read; delete files added since."""
        for path in set(self._paths()) - set(self.files):
            path.unlink()
        for path, data in self.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file() or path.read_bytes() != data:
                path.write_bytes(data)


def _read_all(fd: int, into: list) -> None:
    with os.fdopen(fd, "rb") as channel:
        into.append(channel.read())


def grade_chapter(chapter: str, submission: Path, timeout_s: float,
                  grader_files: GraderFiles | None = None) -> list[dict]:
    """Run one chapter's graded tests against ``submission``'s chapter folders.

    Args:
        timeout_s: the most the student's code may take to load, or to answer one call of a check (per exercise).
        grader_files: the grader's files as they were before; checked, and restored when changed.

    Returns:
        one dict per exercise of the chapter, in order: ``{"exercise", "status", "message", "seconds"}``; status is
        one of ``outcomes.CORRECT``, ``NOT_ATTEMPTED``, ``INCORRECT``, ``ERROR`` or ``NOT_GRADED``.
    """
    names = [check.name for check in checks.exercises()[chapter]]
    env = {key: os.environ[key] for key in KEPT_ENV if key in os.environ}
    env.update(PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    read_end, write_end = os.pipe()
    received: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(read_end, received), daemon=True)
    reader.start()
    # The chapter's own limit: every exercise may use its timeout twice (loading, then the check's calls), plus
    # pytest's start-up; the tests' own limit (pytest-timeout) is one exercise's share.
    limit = len(names) * 2 * timeout_s + 120
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pytest", str(GRADED_TESTS / f"test_{chapter}.py"), "-m", "graded",
                   "--target", "student", "--submission", str(submission), "--grading-report-fd", str(write_end),
                   "--exercise-timeout", str(timeout_s), "--timeout", str(int(2 * timeout_s + 60)),
                   "-p", "no:cacheprovider", "-q", "--no-header", "--basetemp", str(Path(tmp) / "t")]
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   pass_fds=(write_end,), start_new_session=True)
        os.close(write_end)
        try:
            output, _ = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        reader.join(timeout=30)
    try:
        results = json.loads(received[0])["results"] if received and received[0] else []
    except (json.JSONDecodeError, KeyError, TypeError):
        results = []
    tampered = grader_files.changed() if grader_files else []
    if tampered:
        grader_files.restore()
        message = ("the submission's code changed the grader's files (" + ", ".join(tampered[:5])
                   + (", ..." if len(tampered) > 5 else "") + "); they were restored and this chapter is not scored")
        return [{"exercise": name, "status": outcomes.ERROR, "seconds": 0.0, "message": message} for name in names]
    by_name = {result["exercise"]: result for result in results}
    tail = "\n".join(output.decode(errors="replace").strip().splitlines()[-5:])
    return [{"exercise": name, **{key: by_name[name][key] for key in ("status", "message", "seconds")}}
            if name in by_name else
            {"exercise": name, "status": outcomes.ERROR, "seconds": 0.0,
             "message": f"the graded test did not run (pytest exit {process.returncode}): {tail}"}
            for name in names]


def grade(submission: Path, selected: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
          guard_files: bool = True) -> dict:
    """Grade ``submission`` (a checkout of this repository), chapter by chapter.

    Returns:
        ``{"submission": str, "score": int, "max": int, "not_graded": int, "chapters": {chapter: {"score", "max",
        "exercises": [...]}}}``; an exercise scores 1 when correct, else 0; one that is not graded (its check cannot
        run on this machine) does not count in ``max``.

    Args:
        guard_files: check the grader's own files after every chapter, and undo a change the submission's code made
            (``make grade``); off for ``make check``, where the checkout is the student's own.
    """
    report = {"submission": str(submission), "score": 0, "max": 0, "not_graded": 0, "chapters": {}}
    grader_files = GraderFiles() if guard_files else None
    for chapter in chapters(selected):
        exercises = grade_chapter(chapter, submission, timeout_s, grader_files)
        score = sum(e["status"] == outcomes.CORRECT for e in exercises)
        counted = sum(e["status"] != outcomes.NOT_GRADED for e in exercises)
        report["chapters"][chapter] = {"score": score, "max": counted, "exercises": exercises}
        report["score"] += score
        report["max"] += counted
        report["not_graded"] += len(exercises) - counted
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
    if report.get("not_graded"):
        lines.append(f"({report['not_graded']} exercise(s) not graded on this machine: see their messages)")
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
        sub.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                         help="seconds the student's code may take per exercise, to load or to answer one call")
    args = parser.parse_args(argv)

    root = REPO_ROOT if args.command == "check" else args.submission.resolve()
    if not root.is_dir():
        parser.error(f"{root} is not a folder")
    try:
        # make check grades the student's own checkout: their own files, edited as they please, are not guarded.
        report = grade(root, args.chapter, args.timeout, guard_files=args.command == "grade")
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
