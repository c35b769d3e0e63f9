"""Checks of chapter 01 (``01_intro/01_intro.ipynb``): a month's Lambda bill, and classifying a photo with Keras."""

from __future__ import annotations

import functools

import numpy as np

from grading import hints
from grading.checks.common import CLASSES, KNOWN_SAMPLES, close, keras_model, reference_probabilities
from grading.outcomes import exercise

CHAPTER = "01_intro"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request


@exercise("01_intro", "lambda_monthly_cost")
def check_lambda_monthly_cost(fn):
    """Check ``fn(predictions, duration_ms, memory_mb, architecture="x86_64", free_tier=False) -> dollars``.

    Prices: AWS Lambda pricing page, us-east-1 (aws.amazon.com/lambda/pricing): $0.0000166667 per GB-second on
    x86_64, $0.0000133334 on arm64, $0.20 per million requests; free tier 1 M requests and 400,000 GB-s a month.
    """
    cases = [
        ((1_000_000, 200, 1024), {}, 3.53334, "1,000,000 predictions of 200 ms at 1,024 MB on x86_64",
         "1 M x 0.200 s x 1 GB = 200,000 GB-s x $0.0000166667 = $3.33334, + 1 M requests x $0.20 / M"),
        ((1_000_000, 200, 1024), {"architecture": "arm64"}, 2.86668, "the same on arm64",
         "200,000 GB-s x $0.0000133334 = $2.66668, + $0.20 for the requests"),
        ((1_000, 100.2, 512), {}, 0.001041668335, "1,000 predictions of 100.2 ms at 512 MB",
         "billed per 1 ms, rounded up: 1,000 x 0.101 s x 0.5 GB = 50.5 GB-s -> $0.000841668, + $0.0002"),
        ((3_000_000, 200, 1024), {"free_tier": True}, 3.73334, "3,000,000 predictions of 200 ms at 1,024 MB, free tier",
         "600,000 GB-s - 400,000 free = 200,000 GB-s -> $3.33334; 3 M - 1 M free requests = 2 M -> $0.40"),
        ((100_000, 200, 1024), {"free_tier": True}, 0.0, "100,000 predictions of 200 ms at 1,024 MB, free tier",
         "20,000 GB-s and 100,000 requests are all inside the free tier"),
    ]
    for args, kwargs, expected, what, working in cases:
        got = fn(*args, **kwargs)
        assert close(got, expected), f"for {what}, expected ${expected:.6f} ({working}), got {got!r}."


@exercise("01_intro", "classify")
def check_classify(fn):
    """Check ``fn(model, image_path, classes) -> {class: probability}`` against the Keras model on three samples."""
    paths = list(KNOWN_SAMPLES.values())
    expected = reference_probabilities(paths)
    for path, true_class, row in zip(paths, KNOWN_SAMPLES, expected):
        got = fn(keras_model(), path, CLASSES)
        assert isinstance(got, dict), f"classify should return a dict of class -> probability, got {type(got).__name__}"
        assert sorted(got) == sorted(CLASSES), f"the keys should be the 10 class names, got {sorted(got)}"
        values = np.array([got[name] for name in CLASSES], dtype=np.float64)
        assert abs(values.sum() - 1) < 1e-4, (
            f"probabilities should sum to 1 (softmax of the logits), got {values.sum():.4f}")
        assert np.allclose(values, row, atol=1e-3), (
            f"for {path.name} ({true_class}) expected {dict(zip(CLASSES, row.round(3)))}, got "
            f"{dict(zip(CLASSES, values.round(3)))}; is the preprocessing the same as in training?")
        assert max(got, key=got.get) == true_class, f"{path.name} should be classified as {true_class}"
