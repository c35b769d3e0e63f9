"""The pytest side of grading: the ``--target`` option, the ``graded`` marker, strict failures on the starters,
and the per-exercise outcome report. Loaded for every pytest run (``-p grading.pytest_plugin`` in pyproject.toml).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grading import outcomes
from grading.sandbox import DEFAULT_TIMEOUT_S
from grading.targets import TARGETS, Target
from tutorial_support.paths import REPO_ROOT


def pytest_addoption(parser):
    group = parser.getgroup("grading", "graded exercises (tests marked graded)")
    group.addoption("--target", choices=TARGETS, default="student",
                    help="what the graded tests grade: the chapter folders (student, default), solutions/ "
                         "(solutions), or freshly generated starters, which must fail every graded test (starters)")
    group.addoption("--submission", type=Path, default=REPO_ROOT,
                    help="checkout whose chapter folders --target student grades (default: this one)")
    group.addoption("--grading-report", type=Path, default=None,
                    help="write each graded exercise's outcome (correct / not attempted / incorrect / error) as JSON")
    group.addoption("--grading-report-fd", type=int, default=None,
                    help="write the same JSON to this inherited file descriptor (a pipe of the grader's, which the "
                         "student's processes do not inherit)")
    group.addoption("--exercise-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                    help="seconds the student's code may take to load, or to answer one call of a check")


def pytest_configure(config):
    config._grading_results = []


def pytest_collection_modifyitems(config, items):
    if config.getoption("--target") != "starters":
        return
    for item in items:
        if item.get_closest_marker("graded"):
            # A pristine starter must fail each graded test because of its stub (NotImplementedError) or a wrong
            # answer (AssertionError): passing, or failing for another reason (an import error, a missing file), is red.
            item.add_marker(pytest.mark.xfail(strict=True, raises=(NotImplementedError, AssertionError),
                                              reason="pristine starter: the exercise is still a stub"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    marker = item.get_closest_marker("graded")
    if marker is None or (call.when != "call" and call.excinfo is None) or call.when == "teardown":
        return
    exc = call.excinfo.value if call.excinfo else None
    if call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
        status, message = outcomes.NOT_GRADED, str(exc)
    else:
        status = outcomes.outcome(exc)
        message = None if exc is None else f"{type(exc).__name__}: {exc}" if status == outcomes.ERROR else str(exc)
    item.config._grading_results.append(
        {"chapter": marker.kwargs["chapter"], "exercise": marker.kwargs["exercise"], "test": item.nodeid,
         "status": status, "message": message, "seconds": round(report.duration, 3)})


def pytest_sessionfinish(session):
    report = json.dumps({"target": session.config.getoption("--target"),
                         "results": session.config._grading_results}, indent=2) + "\n"
    path, fd = session.config.getoption("--grading-report"), session.config.getoption("--grading-report-fd")
    if path is not None:
        path.write_text(report)
    if fd is not None:
        with os.fdopen(fd, "w") as channel:
            channel.write(report)


@pytest.fixture(scope="session")
def target(request, tmp_path_factory) -> Target:
    """The chapter folders the graded tests grade (``--target``, ``--submission``)."""
    kind = request.config.getoption("--target")
    root = tmp_path_factory.mktemp("starters") if kind == "starters" else request.config.getoption("--submission")
    target = Target(kind, root, request.config.getoption("--exercise-timeout"))
    yield target
    target.close()


@pytest.fixture(autouse=True)
def _student_processes_stopped(request):
    """After each graded test, stop the processes its student's code ran in (and everything they started)."""
    yield
    if request.node.get_closest_marker("graded") is not None and "target" in request.fixturenames:
        request.getfixturevalue("target").close()
