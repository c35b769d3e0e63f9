"""Chapter 07: what classifying 10 thousand and 10 million photos costs, in time and dollars, three ways on AWS.

    python solutions/07_production/batch_costs.py        # make batch-costs: the table (Markdown)

(a) Lambda + a Step Functions Distributed Map (``make batch-aws``: batch_aws.py, ``BatchStateMachine`` in
    template.yaml): one invocation per batch of ``batch_aws.ITEMS_PER_BATCH`` photos, ``batch_aws.MAX_CONCURRENCY``
    at once; Lambda's GB-seconds and requests, and Step Functions' state transitions (STANDARD child workflows, as
    batch_aws.py runs them) or requests and duration (EXPRESS child workflows, the alternative).
(b) S3 Batch Operations invoking the same function once per object (the photos must then be S3 objects, and the
    handler would need an S3 Batch Operations event branch, which it does not have): a fee per job and per object,
    plus Lambda.
(c) SageMaker Batch Transform (the course's serverless-ML workshop's choice): instance hours, including minutes of
    start-up per job.

Every price is a named constant below with its source and whether it was checked against the pricing page; every
other figure is the measured warm duration of the handler (``benchmarks/results.json``, the handler row, read at run
time: ``make bench`` writes it) or an assumption, named and stated. Nothing here is measured on AWS. Prices are
us-east-1, on-demand, with no free tier (a large job uses it up), in dollars.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import batch_aws

from tutorial_support import deployment, prices
from tutorial_support.paths import BENCHMARKS_DIR

BENCHMARK_RESULTS = BENCHMARKS_DIR / "results.json"
HANDLER_ROW = "Lambda handler (LiteRT)"  # benchmarks/bench.py's row for lambda_handler itself
SIZES = (10_000, 10_000_000)

# --- Step Functions: https://aws.amazon.com/step-functions/pricing/ (us-east-1) ---------------------------------
STEP_FUNCTIONS_PRICING_URL = "https://aws.amazon.com/step-functions/pricing/"
# Verified on the pricing page (as of late 2026): Standard workflows, $0.025 per 1,000 state transitions in
# US East (N. Virginia), retries counted as transitions; free tier 4,000 transitions a month (not applied here).
STATE_TRANSITION_PRICE = 0.025 / 1000
# Verified (docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html, as of late 2026): "When you use
# a Map state in Distributed mode, you are charged one state transition for each child workflow execution that the
# Distributed Map state starts"; a STANDARD child is then charged each state it runs (ours: the one Task, Classify).
DISTRIBUTED_MAP_BILLING_URL = "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html"
CHILD_START_TRANSITIONS = 1
CHILD_STATES = 1  # batch_aws.definition's child workflow runs one state (a retry would add one)
PARENT_TRANSITIONS = 1  # the execution's one state, the Map (assumption: its start and end are not billed apart)
# Express workflows: the page's text says requests are counted per execution started, duration "rounded up to the
# nearest 100ms" and memory "billed in 64-MB chunks" (verified); the dollar figures below were NOT verified there.
EXPRESS_PRICE_PER_REQUEST = 1.00 / 1_000_000  # not verified: $1.00 per million requests
EXPRESS_PRICE_PER_GB_SECOND = 0.00001667  # not verified: first 1,000 GB-hours a month
EXPRESS_ROUNDING_MS = 100
EXPRESS_MEMORY_MB = 64  # assumption: a one-state child with a small payload stays in the first 64-MB chunk

# --- S3 Batch Operations: https://aws.amazon.com/s3/pricing/ (Management & Insights) ----------------------------
S3_PRICING_URL = "https://aws.amazon.com/s3/pricing/"
S3_BATCH_PRICE_PER_JOB = 0.25  # NOT verified: $0.25 per job
S3_BATCH_PRICE_PER_OBJECT = 1.00 / 1_000_000  # NOT verified: $1.00 per million objects processed
S3_BATCH_STARTUP_S = 60.0  # assumption, not measured: reading the manifest and preparing the job before any task

# --- SageMaker Batch Transform: https://aws.amazon.com/sagemaker-ai/pricing/ ------------------------------------
SAGEMAKER_PRICING_URL = "https://aws.amazon.com/sagemaker-ai/pricing/"
SAGEMAKER_INSTANCE = "ml.m5.xlarge"
SAGEMAKER_PRICE_PER_HOUR = 0.23  # NOT verified: about $0.23 an hour, on-demand, Batch Transform, us-east-1
SAGEMAKER_VCPUS = 4  # an m5.xlarge has 4 vCPUs and 16 GiB
SAGEMAKER_STARTUP_MIN = 5.0  # assumption, not measured: provisioning, pulling the image and loading the model, per job

# --- What the Lambda options assume besides the measurement ---------------------------------------------------------
# The handler row fetches its photo from 127.0.0.1; a real photo comes from S3 or a web host in the same region.
FETCH_MS = 50.0  # assumption, not measured: a GET of a photo of about 50 KB in the same region


def handler_warm_ms(results: Path | None = None) -> float:
    """The handler's measured warm duration per photo, ms: the median over processes of the handler row's p50 in
    ``benchmarks/results.json`` (``make bench``: download from 127.0.0.1, decode, preprocess, inference, answer; one
    core of the machine it ran on).

    Raises:
        FileNotFoundError, KeyError: no benchmark results, or no handler row in them (run ``make bench``).
    """
    path = Path(results or BENCHMARK_RESULTS)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `make bench` first (it measures the handler).")
    variants = json.loads(path.read_text()).get("variants", {})
    if "warm_p50_ms" not in variants.get(HANDLER_ROW, {}):
        raise KeyError(f"{path} has no measured row {HANDLER_ROW!r}: rerun `make bench`.")
    return float(variants[HANDLER_ROW]["warm_p50_ms"]["median"])


def lambda_item_ms(warm_ms: float, memory_mb: float, fetch_ms: float | None = None) -> float:
    """One photo's billed duration in Lambda, ms: ``warm_ms`` (measured on one core) scaled by the vCPU share of
    ``memory_mb`` (``prices.scaled_duration_ms``, as benchmarks/bench.py's cost table), plus ``fetch_ms``
    (``FETCH_MS``) for the photo's download."""
    fetch_ms = FETCH_MS if fetch_ms is None else fetch_ms
    return prices.scaled_duration_ms(warm_ms, memory_mb) + fetch_ms


def _lambda_dollars(images: int, per_invocation: int, item_ms: float, memory_mb: float) -> tuple[int, float]:
    """(invocations, Lambda dollars) for ``images`` photos handed over ``per_invocation`` at a time."""
    full, rest = divmod(images, per_invocation)
    dollars = prices.lambda_cost(full, per_invocation * item_ms, memory_mb)
    if rest:
        dollars += prices.lambda_cost(1, rest * item_ms, memory_mb)
    return full + (1 if rest else 0), dollars


def distributed_map(images: int, item_ms: float, memory_mb: float | None = None, child: str = "STANDARD",
                    items_per_batch: int | None = None, concurrency: int | None = None) -> dict:
    """(a) Lambda + Distributed Map: ``images`` photos in invocations of ``items_per_batch``
    (``batch_aws.ITEMS_PER_BATCH``), ``concurrency`` at once (``batch_aws.MAX_CONCURRENCY``), each photo ``item_ms``
    (``lambda_item_ms``) in a function of ``memory_mb`` (``deployment.DEFAULT_MEMORY_MB``).

    Step Functions: a STANDARD child costs ``CHILD_START_TRANSITIONS + CHILD_STATES`` transitions; an EXPRESS child
    one transition (its start) plus a request and its duration (the invocation's, rounded up to 100 ms) at 64 MB.
    Time: batches run in waves of ``concurrency``; Step Functions' own scheduling is not counted.

    Returns:
        ``{"option", "images", "invocations", "hours", "dollars", "parts": {"lambda", "step functions"}}``.

    Raises:
        ValueError: ``child`` is neither ``"STANDARD"`` nor ``"EXPRESS"``.
    """
    memory_mb = memory_mb or deployment.DEFAULT_MEMORY_MB
    per = items_per_batch or batch_aws.ITEMS_PER_BATCH
    concurrency = concurrency or batch_aws.MAX_CONCURRENCY
    batches, lambda_dollars = _lambda_dollars(images, per, item_ms, memory_mb)
    batch_ms = per * item_ms if images >= per else images * item_ms
    if child == "STANDARD":
        transitions = PARENT_TRANSITIONS + batches * (CHILD_START_TRANSITIONS + CHILD_STATES)
        sfn = transitions * STATE_TRANSITION_PRICE
    elif child == "EXPRESS":
        transitions = PARENT_TRANSITIONS + batches * CHILD_START_TRANSITIONS
        billed_s = math.ceil(batch_ms / EXPRESS_ROUNDING_MS) * EXPRESS_ROUNDING_MS / 1000
        sfn = (transitions * STATE_TRANSITION_PRICE + batches * EXPRESS_PRICE_PER_REQUEST
               + batches * billed_s * EXPRESS_MEMORY_MB / 1024 * EXPRESS_PRICE_PER_GB_SECOND)
    else:
        raise ValueError(f"child must be STANDARD or EXPRESS, not {child!r}")
    seconds = math.ceil(batches / concurrency) * batch_ms / 1000
    return {"option": f"Lambda + Distributed Map ({child.lower()} children)", "images": images,
            "invocations": batches, "hours": seconds / 3600, "dollars": lambda_dollars + sfn,
            "parts": {"lambda": lambda_dollars, "step functions": sfn}}


def s3_batch_operations(images: int, item_ms: float, memory_mb: float | None = None, concurrency: int | None = None,
                        jobs: int = 1) -> dict:
    """(b) S3 Batch Operations invoking the function once per photo (one task, one invocation), ``concurrency`` at
    once (the function's reserved concurrency caps it too): ``jobs`` x ``S3_BATCH_PRICE_PER_JOB`` +
    ``images`` x ``S3_BATCH_PRICE_PER_OBJECT`` + Lambda; time: ``S3_BATCH_STARTUP_S`` + waves of ``concurrency``.

    Returns:
        ``{"option", "images", "invocations", "hours", "dollars", "parts": {"lambda", "s3 batch operations"}}``.
    """
    memory_mb = memory_mb or deployment.DEFAULT_MEMORY_MB
    concurrency = concurrency or batch_aws.MAX_CONCURRENCY
    invocations, lambda_dollars = _lambda_dollars(images, 1, item_ms, memory_mb)
    s3 = jobs * S3_BATCH_PRICE_PER_JOB + images * S3_BATCH_PRICE_PER_OBJECT
    seconds = S3_BATCH_STARTUP_S + math.ceil(images / concurrency) * item_ms / 1000
    return {"option": "S3 Batch Operations + Lambda", "images": images, "invocations": invocations,
            "hours": seconds / 3600, "dollars": lambda_dollars + s3,
            "parts": {"lambda": lambda_dollars, "s3 batch operations": s3}}


def batch_transform(images: int, warm_ms: float, instances: int = 1) -> dict:
    """(c) SageMaker Batch Transform on ``instances`` x ``SAGEMAKER_INSTANCE``: billed from start-up to the end,
    ``SAGEMAKER_STARTUP_MIN`` minutes + the work, at ``SAGEMAKER_PRICE_PER_HOUR`` an instance.

    Throughput assumption: each of an instance's ``SAGEMAKER_VCPUS`` vCPUs classifies one photo at a time as fast as
    the handler did on one core here (``warm_ms`` each, no vCPU scaling), with the photos' transfer from S3
    overlapping the work (not counted).

    Returns:
        ``{"option", "images", "invocations": None, "hours", "dollars", "parts": {"sagemaker"}}``.
    """
    per_second = instances * SAGEMAKER_VCPUS * 1000 / warm_ms
    seconds = SAGEMAKER_STARTUP_MIN * 60 + images / per_second
    dollars = instances * seconds / 3600 * SAGEMAKER_PRICE_PER_HOUR
    return {"option": f"SageMaker Batch Transform ({instances} x {SAGEMAKER_INSTANCE})", "images": images,
            "invocations": None, "hours": seconds / 3600, "dollars": dollars, "parts": {"sagemaker": dollars}}


def table(sizes=SIZES, warm_ms: float | None = None, memory_mb: float | None = None) -> list[dict]:
    """Every option for every size in ``sizes``, from the measured ``warm_ms`` (``handler_warm_ms()``) at the
    function's ``memory_mb`` (``deployment.DEFAULT_MEMORY_MB``): plain dicts, one a row (the notebook tabulates them).
    """
    warm_ms = handler_warm_ms() if warm_ms is None else warm_ms
    memory_mb = memory_mb or deployment.DEFAULT_MEMORY_MB
    item_ms = lambda_item_ms(warm_ms, memory_mb)
    rows = []
    for images in sizes:
        rows += [distributed_map(images, item_ms, memory_mb, "STANDARD"),
                 distributed_map(images, item_ms, memory_mb, "EXPRESS"),
                 s3_batch_operations(images, item_ms, memory_mb),
                 batch_transform(images, warm_ms)]
    return rows


def _hours(hours: float) -> str:
    return f"{hours * 60:,.1f} min" if hours < 1 else f"{hours:,.1f} h"


def render(rows: list[dict]) -> str:
    """The Markdown table of ``table()``'s rows."""
    lines = ["| images | option | invocations | time | dollars | of which |", "|---:|---|---:|---:|---:|---|"]
    for r in rows:
        parts = ", ".join(f"{k} ${v:,.4f}" for k, v in r["parts"].items())
        calls = "" if r["invocations"] is None else f"{r['invocations']:,}"
        lines.append(f"| {r['images']:,} | {r['option']} | {calls} | {_hours(r['hours'])} | ${r['dollars']:,.2f} "
                     f"| {parts} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=BENCHMARK_RESULTS, help="make bench's results.json")
    args = parser.parse_args(argv)
    try:
        warm_ms = handler_warm_ms(args.results)
    except (FileNotFoundError, KeyError) as e:
        print(f"batch_costs: {e.args[0]}", file=sys.stderr)
        return 1
    memory_mb = deployment.DEFAULT_MEMORY_MB
    print(render(table(warm_ms=warm_ms, memory_mb=memory_mb)))
    print(f"\nThe handler's measured warm duration {warm_ms:.1f} ms a photo ({args.results.name}, row "
          f"{HANDLER_ROW!r}); in Lambda at {memory_mb:g} MB {lambda_item_ms(warm_ms, memory_mb):.1f} ms with "
          f"{FETCH_MS:g} ms to fetch it (assumed); {batch_aws.ITEMS_PER_BATCH} photos an invocation, "
          f"{batch_aws.MAX_CONCURRENCY} at once. Assumed, not measured: S3 Batch Operations "
          f"{S3_BATCH_STARTUP_S:g} s to start, SageMaker {SAGEMAKER_STARTUP_MIN:g} min to start and "
          f"{SAGEMAKER_VCPUS} photos at a time. Not "
          "verified on the pricing pages: the S3 Batch Operations, SageMaker and Express workflow prices "
          "(solutions/07_production/batch_costs.py names each with its source).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
