"""Graded exercises of chapter 02 (``convert.py``): the conversion to TF-Lite and running it with LiteRT."""

import pytest

from grading.checks import chapter02 as checks


@pytest.mark.graded(chapter="02_tflite", exercise="convert")
def test_convert(target):
    checks.check_convert(target.module("02_tflite", "convert.py").convert)


@pytest.mark.graded(chapter="02_tflite", exercise="tflite_logits")
def test_tflite_logits(target):
    checks.check_tflite_logits(target.module("02_tflite", "convert.py").tflite_logits)
