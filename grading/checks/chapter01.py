"""Checks of chapter 01 (``01_intro/01_intro.ipynb``): a month's Lambda bill, and classifying a photo with Keras."""

from __future__ import annotations

import functools
import json
import math
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from grading import hints
from grading.checks.common import CLASSES, INPUT_SIZE, KNOWN_SAMPLES, close, keras_model, reference_probabilities
from grading.outcomes import exercise

CHAPTER = "01_intro"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request

# The cases of lambda_monthly_cost, worked out by hand from the AWS Lambda pricing page, us-east-1
# (aws.amazon.com/lambda/pricing, tutorial_support/prices.py): $0.0000166667 per GB-second on x86_64, $0.0000133334 on
# arm64, $0.20 per million requests; duration billed per 1 ms, rounded up, per invocation; 1 GB = 1,024 MB; free tier
# 1,000,000 requests and 400,000 GB-seconds a month, each subtracted from its own part, never below zero.
# Each case: (args, kwargs, expected dollars, what, the working, {a wrong figure: the mistake that gives it}).
# The wrong figures are the same working with one step done wrong, also by hand.
COST_CASES = [
    ((1_000_000, 200, 1024), {}, 3.53334, "1,000,000 predictions of 200 ms at 1,024 MB on x86_64",
     "1 M x 0.200 s x 1 GB = 200,000 GB-s x $0.0000166667 = $3.33334, + 1 M requests x $0.20 per million",
     {
         # 1 M x 0.2 s x 1.024 GB = 204,800 GB-s x $0.0000166667 = $3.41334016, + $0.20
         3.61334016: "memory counts in GB = MB / 1024 (1,024 MB is 1 GB), not MB / 1000",
         # $3.33334 + 1 M x $0.20
         200_003.33334: "requests cost $0.20 per million (requests / 1e6 x PRICE_PER_MILLION_REQUESTS), not each",
         # the duration alone
         3.33334: "the requests are billed too: $0.20 per million, on top of the duration",
         # all inside the free tier
         0.0: "without free_tier (the default), nothing is free",
         # 200,000 GB-s x $0.0000133334 = $2.66668, + $0.20
         2.86668: "x86_64 is priced at PRICE_PER_GB_SECOND['x86_64'] ($0.0000166667 per GB-s), arm64 lower",
     }),
    ((1_000_000, 200, 1024), {"architecture": "arm64"}, 2.86668, "the same on arm64",
     "200,000 GB-s x $0.0000133334 = $2.66668, + $0.20 for the requests",
     {3.53334: "arm64 has its own, lower price: PRICE_PER_GB_SECOND[architecture] ($0.0000133334 per GB-s on arm64)"}),
    ((10_000, 0.1, 10_240), {}, 0.00366667, "10,000 predictions of 0.1 ms at 10,240 MB (the largest memory)",
     "each invocation bills at least 1 ms: 10,000 x 0.001 s x 10 GB = 100 GB-s -> $0.00166667, + $0.002",
     {
         # 10,000 x 0.0001 s x 10 GB = 10 GB-s -> $0.000166667, + $0.002; the same when the month's 1,000 ms are
         # rounded up once
         0.002166667: "each invocation's duration is billed per 1 ms, rounded up on its own (0.1 ms bills as 1 ms), "
                      "not left as it is nor rounded up once for the month",
         # round(0.1) = int(0.1) = 0 ms: 0 GB-s, + $0.002
         0.002: "duration is rounded UP to the next whole ms (math.ceil), not to the nearest or down "
                "(0.1 ms bills as 1 ms)",
         # 100 ms increments: 10,000 x 0.1 s x 10 GB = 10,000 GB-s -> $0.166667, + $0.002
         0.168667: "duration is billed per 1 ms, not in 100 ms increments (0.1 ms bills as 1 ms)",
     }),
    ((1_000, 100.2, 512), {}, 0.001041668335, "1,000 predictions of 100.2 ms at 512 MB",
     "billed per 1 ms, rounded up: 1,000 x 0.101 s x 0.5 GB = 50.5 GB-s -> $0.000841668335, + $0.0002",
     {
         # 1,000 x 0.1002 s x 0.5 GB = 50.1 GB-s x $0.0000166667 = $0.000835001670, + $0.0002
         0.00103500167: "each invocation's duration is billed per 1 ms, rounded up (100.2 ms bills as 101 ms)",
         # round(100.2) = 100 ms: 50 GB-s -> $0.000833335, + $0.0002
         0.001033335: "duration is rounded UP to the next whole ms (math.ceil), not to the nearest (100.2 -> 101)",
         # the old 100 ms increments: 200 ms -> 100 GB-s -> $0.00166667, + $0.0002
         0.00186667: "duration is billed per 1 ms, not in 100 ms increments (100.2 ms bills as 101 ms)",
     }),
    ((3_000_000, 200, 1024), {"free_tier": True}, 3.73334, "3,000,000 predictions of 200 ms at 1,024 MB, free tier",
     "600,000 GB-s - 400,000 free = 200,000 GB-s -> $3.33334; 3 M - 1 M free requests = 2 M -> $0.40",
     {
         # 600,000 GB-s -> $10.00002, + 2 M requests -> $0.40
         10.40002: "the free tier also covers 400,000 GB-seconds (FREE_TIER_GB_SECONDS): subtract them",
         # 200,000 GB-s -> $3.33334, + 3 M requests -> $0.60
         3.93334: "the free tier also covers 1,000,000 requests (FREE_TIER_REQUESTS): subtract them",
     }),
    ((100_000, 200, 1024), {"free_tier": True}, 0.0, "100,000 predictions of 200 ms at 1,024 MB, free tier",
     "20,000 GB-s and 100,000 requests are all inside the free tier", {}),
    ((500_000, 1000, 1024), {"free_tier": True}, 1.66667,
     "500,000 predictions of 1,000 ms at 1,024 MB, free tier (the GB-seconds go over it, the requests do not)",
     "500,000 GB-s - 400,000 free = 100,000 GB-s -> $1.66667; 500,000 requests, all free -> $0",
     {
         # $1.66667 + (500,000 - 1,000,000) / 1e6 x $0.20 = $1.66667 - $0.10
         1.56667: "each allowance is subtracted from its own part, never below zero: "
                  "the unused free requests do not pay for GB-seconds",
     }),
    ((10_000_000, 1, 128), {"free_tier": True}, 1.80,
     "10,000,000 predictions of 1 ms at 128 MB (the smallest memory), free tier (the requests go over it)",
     "10 M x 0.001 s x 0.125 GB = 1,250 GB-s, all free -> $0; 10 M - 1 M free requests = 9 M -> $1.80",
     {
         # (1,250 - 400,000) GB-s x $0.0000166667 + $1.80, clamped at zero as a whole
         0.0: "each allowance is subtracted from its own part, never below zero: "
              "the unused free GB-seconds do not pay for requests",
     }),
]


@exercise("01_intro", "lambda_monthly_cost")
def check_lambda_monthly_cost(fn):
    """Check ``fn(predictions, duration_ms, memory_mb, architecture="x86_64", free_tier=False) -> dollars`` on the
    cases of ``COST_CASES``, worked out by hand from the AWS Lambda pricing page. A wrong answer that one plausible
    mistake gives (a wrong figure of the case) is named in the message."""
    for args, kwargs, expected, what, working, mistakes in COST_CASES:
        got = fn(*args, **kwargs)
        assert isinstance(got, (int, float, np.floating)) and not isinstance(got, bool), (
            f"lambda_monthly_cost should return the dollars as a float, got {type(got).__name__} {got!r}")
        if close(got, expected):
            continue
        message = f"for {what}, expected ${expected:.9g} ({working}), got {got!r}"
        mistake = next((why for wrong, why in mistakes.items() if close(got, wrong)), None)
        if mistake is None and float(got) < 0:
            mistake = "a bill is never negative: the free tier brings each part down to zero at most"
        if mistake is None and math.isclose(float(got), round(expected, 2), abs_tol=1e-12):
            mistake = "return the exact dollars, not rounded to cents"
        assert False, message + (f": {mistake}" if mistake else "")


def _grey_copy(path: Path, folder: Path) -> Path:
    """A greyscale (mode "L") PNG copy of the photo ``path``, written in ``folder``: one channel, not RGB."""
    out = folder / f"{path.stem}-grey.png"
    with Image.open(path) as image:
        image.convert("L").save(out)
    return out


@exercise("01_intro", "classify")
def check_classify(fn):
    """Check ``fn(model, image_path, classes) -> {class: probability}`` against the Keras model's softmax on three
    photos (as ``pathlib.Path``, and one as ``str``) and on a greyscale PNG of one of them (which must be converted to
    RGB, as keras-image-helper does). Probabilities must be plain floats (JSON-serialisable), summing to 1."""
    with tempfile.TemporaryDirectory() as tmp:
        grey = _grey_copy(KNOWN_SAMPLES["shoes"], Path(tmp))
        photos = [(path, true_class, path) for true_class, path in KNOWN_SAMPLES.items()]
        photos[-1] = (photos[-1][0], photos[-1][1], str(photos[-1][0]))  # a str path works as well as a Path
        photos.append((grey, "shoes, in grey", grey))
        expected = reference_probabilities([path for path, _, _ in photos])
        for (path, true_class, argument), row in zip(photos, expected):
            try:
                got = fn(keras_model(), argument, list(CLASSES))
            except ValueError as e:  # what Keras raises on an input of the wrong shape or channels
                raise AssertionError(
                    f"classify raised ValueError on {path.name}: {e}; the model takes a batch of shape "
                    f"(1, {INPUT_SIZE}, {INPUT_SIZE}, 3): an RGB image resized to the model's input size") from None
            _check_probabilities(got, path, true_class, row)


def _check_probabilities(got, path: Path, true_class: str, row: np.ndarray) -> None:
    """Assert that ``got`` (what classify returned for ``path``) is the softmax ``row`` as {class: float}."""
    assert isinstance(got, dict), (
        f"classify should return a dict of class name -> probability, got {type(got).__name__}")
    assert sorted(got) == sorted(CLASSES), (
        f"classify should return a probability for every one of the 10 classes (the keys: {', '.join(CLASSES)}), "
        f"got the keys {sorted(got)}")
    kinds = sorted({type(value).__name__ for value in got.values() if not isinstance(value, float)})
    assert not kinds, (
        f"the probabilities should be plain Python floats (float(p)), got {', '.join(kinds)}: numpy's float32 is "
        f"not JSON-serialisable, and the handler of chapter 03 returns these as JSON")
    json.dumps(got)  # plain floats: serialisable
    values = np.array([got[name] for name in CLASSES], dtype=np.float64)
    assert abs(values.sum() - 1) < 1e-4, (
        f"the probabilities should sum to 1 (the softmax of the logits: exp(z - max z) / sum exp(z - max z)), "
        f"got a sum of {values.sum():.4f}; are these the raw logits, or a softmax over the wrong axis?")
    if not np.allclose(values, row, atol=1e-3):
        order = np.argsort(row)[::-1]
        same_values = np.allclose(np.sort(values), np.sort(row), atol=1e-3)
        assert not same_values, (
            f"for {path.name} the right probabilities are attached to the wrong classes: pair them with `classes` "
            f"in the order given (the order of the model's outputs, models/labels.txt)")
        assert False, (
            f"for {path.name} ({true_class}) expected {dict((CLASSES[i], round(float(row[i]), 3)) for i in order[:3])} "
            f"(top 3), got {dict((CLASSES[i], round(float(values[i]), 3)) for i in order[:3])}: preprocess as in "
            f"training, keras-image-helper's xception preprocessor: RGB, resized to the model's input size "
            f"({INPUT_SIZE} x {INPUT_SIZE}, nearest neighbour), pixels scaled as x / 127.5 - 1 into [-1, 1]")
