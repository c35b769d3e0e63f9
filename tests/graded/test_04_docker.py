"""Graded exercises of chapter 04 (``Dockerfile``): the Lambda container image, proven without a Docker engine."""

import pytest

from grading.checks import chapter04 as checks


@pytest.mark.graded(chapter="04_docker", exercise="dockerfile")
def test_dockerfile(target):
    checks.check_dockerfile(target.path("04_docker", "Dockerfile"), target.root)


@pytest.mark.graded(chapter="04_docker", exercise="task_root")
def test_task_root(target):
    if target.kind != "starters" and (reason := checks.task_root_unavailable()):
        pytest.skip(reason)
    checks.check_task_root(target.path("04_docker", "Dockerfile"), target.root)
