"""Graded exercises of chapter 03 (``lambda_function.py``): the Lambda handler."""

import pytest

from grading.checks import chapter03 as checks

HANDLER = "lambda_function.py"


@pytest.mark.graded(chapter="03_lambda_code", exercise="softmax")
def test_softmax(target):
    checks.check_softmax(target.module("03_lambda_code", HANDLER).softmax)


@pytest.mark.graded(chapter="03_lambda_code", exercise="predict")
def test_predict(target):
    checks.check_predict(target.module("03_lambda_code", HANDLER))


@pytest.mark.graded(chapter="03_lambda_code", exercise="parse_proxy_body")
def test_parse_proxy_body(target):
    checks.check_parse_proxy_body(target.module("03_lambda_code", HANDLER))


@pytest.mark.graded(chapter="03_lambda_code", exercise="lambda_handler")
def test_lambda_handler(target):
    checks.check_lambda_handler(target.module("03_lambda_code", HANDLER))
