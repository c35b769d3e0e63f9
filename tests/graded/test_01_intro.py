"""Graded exercises of chapter 01 (notebook ``01_intro.ipynb``): Lambda's monthly cost, classifying with Keras."""

import pytest

from grading.checks import chapter01 as checks

NOTEBOOK = "01_intro.ipynb"


@pytest.mark.graded(chapter="01_intro", exercise="lambda_monthly_cost")
def test_lambda_monthly_cost(target):
    checks.check_lambda_monthly_cost(target.notebook("01_intro", NOTEBOOK).lambda_monthly_cost)


@pytest.mark.graded(chapter="01_intro", exercise="classify")
def test_classify(target):
    checks.check_classify(target.notebook("01_intro", NOTEBOOK).classify)
