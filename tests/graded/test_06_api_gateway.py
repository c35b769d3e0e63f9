"""Graded exercises of chapter 06 (``api.py``): the route and its integration, the throttled stage, the permission.
Each runs against a fresh moto account (no AWS)."""

import pytest

from grading.checks import chapter06 as checks

SCRIPT = "api.py"


@pytest.mark.graded(chapter="06_api_gateway", exercise="ensure_route")
def test_ensure_route(target):
    checks.check_ensure_route(target.module("06_api_gateway", SCRIPT))


@pytest.mark.graded(chapter="06_api_gateway", exercise="ensure_stage")
def test_ensure_stage(target):
    checks.check_ensure_stage(target.module("06_api_gateway", SCRIPT))


@pytest.mark.graded(chapter="06_api_gateway", exercise="allow_invoke")
def test_allow_invoke(target):
    checks.check_allow_invoke(target.module("06_api_gateway", SCRIPT))
