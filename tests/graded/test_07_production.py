"""Graded exercises of chapter 07: the latency percentile of make compare (``compare.py``), the resume of make batch
(``batch.py``), the dimensions of a canary's metrics (``monitoring.py``). No AWS, no model: each runs in a moment."""

import pytest

from grading.checks import chapter07 as checks

CHAPTER = "07_production"


@pytest.mark.graded(chapter=CHAPTER, exercise="percentile")
def test_percentile(target):
    checks.check_percentile(target.module(CHAPTER, "compare.py"))


@pytest.mark.graded(chapter=CHAPTER, exercise="read_finished")
def test_read_finished(target):
    checks.check_read_finished(target.module(CHAPTER, "batch.py"))


@pytest.mark.graded(chapter=CHAPTER, exercise="version_dimensions")
def test_version_dimensions(target):
    checks.check_version_dimensions(target.module(CHAPTER, "monitoring.py"))
