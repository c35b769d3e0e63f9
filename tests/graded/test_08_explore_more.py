"""Graded exercises of chapter 08 (``08_explore_more/``): the Google Cloud Run functions adapter, served by the
Functions Framework (``google_cloud_function.py``); the tabular handler's input validation (``tabular_handler.py``);
the ONNX export of the tabular model (``tabular_onnx.py``)."""

import pytest

from grading.checks import chapter08 as checks

CHAPTER = "08_explore_more"


@pytest.mark.graded(chapter=CHAPTER, exercise="classify_request")
def test_classify_request(target):
    checks.check_classify_request(target.path(CHAPTER, "google_cloud_function.py"))


@pytest.mark.graded(chapter=CHAPTER, exercise="validate_features")
def test_validate_features(target):
    checks.check_validate_features(target.module(CHAPTER, "tabular_handler.py"))


@pytest.mark.graded(chapter=CHAPTER, exercise="export_onnx")
def test_export_onnx(target):
    checks.check_export_onnx(target.module(CHAPTER, "tabular_onnx.py"))
