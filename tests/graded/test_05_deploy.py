"""Graded exercises of chapter 05 (``deploy.py``): the execution role, the function, its version and alias.
Each runs against a fresh moto account (no AWS, no Docker)."""

import pytest

from grading.checks import chapter05 as checks

SCRIPT = "deploy.py"


@pytest.mark.graded(chapter="05_deploy", exercise="ensure_role")
def test_ensure_role(target):
    checks.check_ensure_role(target.module("05_deploy", SCRIPT))


@pytest.mark.graded(chapter="05_deploy", exercise="ensure_function")
def test_ensure_function(target):
    checks.check_ensure_function(target.module("05_deploy", SCRIPT))


@pytest.mark.graded(chapter="05_deploy", exercise="publish_and_alias")
def test_publish_and_alias(target):
    checks.check_publish_and_alias(target.module("05_deploy", SCRIPT))
