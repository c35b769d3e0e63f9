"""AWS prices this tutorial computes with: Lambda and the API Gateway HTTP API, us-east-1, in dollars.

The one copy of them: chapter 01's exercise (``lambda_monthly_cost``), the benchmarks' cost table, chapter 05's
cost of a million predictions and chapter 06's flood-cost table all import them from here.

Sources, as of late 2026 (the figures as the pricing pages state them, recorded in the project's field notes):
- AWS Lambda pricing, https://aws.amazon.com/lambda/pricing/ (us-east-1): $0.0000166667 per GB-second on x86_64,
  $0.0000133334 on arm64 (first pricing tier: the first 6 billion GB-seconds a month), $0.20 per million requests;
  the free tier: 1 million requests and 400,000 GB-seconds a month, per account. Duration is billed per 1 ms,
  rounded up; 1 GB = 1,024 MB.
- Amazon API Gateway pricing, https://aws.amazon.com/api-gateway/pricing/ (us-east-1): HTTP API requests $1.00 per
  million for the first 300 million a month, metered in 512 KB increments (our requests and answers are far smaller).
"""

from __future__ import annotations

import math

PRICES_AS_OF = "late 2026"  # when the figures below were read from the pricing pages
LAMBDA_PRICING_URL = "https://aws.amazon.com/lambda/pricing/"
API_GATEWAY_PRICING_URL = "https://aws.amazon.com/api-gateway/pricing/"

PRICE_PER_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}  # dollars per GB-second of duration
PRICE_PER_MILLION_REQUESTS = 0.20  # dollars per million Lambda requests
FREE_TIER_REQUESTS = 1_000_000  # Lambda requests a month, per account
FREE_TIER_GB_SECONDS = 400_000  # Lambda GB-seconds a month, per account
HTTP_API_PRICE_PER_MILLION = 1.00  # dollars per million HTTP API requests (first 300 M a month)
# Amazon CloudWatch pricing, https://aws.amazon.com/cloudwatch/pricing/ (us-east-1, late 2026): a standard-resolution
# alarm costs $0.10 a month per metric it lists (a metric-math alarm counts each of its metrics), a custom dashboard
# $3.00 a month; the free tier: 10 alarm metrics and 3 dashboards (up to 50 metrics each) a month, per account.
# Lambda's own metrics are free. Chapter 07's `make alarms` (solutions/07_production/monitoring.py).
CLOUDWATCH_PRICING_URL = "https://aws.amazon.com/cloudwatch/pricing/"
ALARM_METRIC_PRICE_PER_MONTH = 0.10  # dollars per standard-resolution alarm metric a month
DASHBOARD_PRICE_PER_MONTH = 3.00  # dollars per custom dashboard a month
FREE_TIER_ALARM_METRICS, FREE_TIER_DASHBOARDS = 10, 3  # a month, per account
# Lambda gives one full vCPU at 1,769 MB (docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
FULL_VCPU_MB = 1769


def scaled_duration_ms(duration_ms: float, memory_mb: float) -> float:
    """A single-threaded duration measured on one full CPU core, as Lambda would take it at ``memory_mb``: unchanged
    from ``FULL_VCPU_MB`` (one full vCPU) up, ``duration_ms * FULL_VCPU_MB / memory_mb`` below, where a function gets
    that fraction of a vCPU (AWS Lambda docs, "Configuring memory": CPU is allocated in proportion to memory, a full
    vCPU at 1,769 MB). An assumption: one core of the measuring machine is taken as one Lambda vCPU."""
    return duration_ms * max(1.0, FULL_VCPU_MB / memory_mb)


def lambda_cost(invocations: float, duration_ms: float, memory_mb: float, architecture: str = "x86_64",
                free_tier: bool = False) -> float:
    """The Lambda bill, in dollars, for ``invocations`` of ``duration_ms`` each at ``memory_mb`` in one month.

    GB-seconds = invocations x ceil(duration_ms) / 1000 x memory_mb / 1024 (duration billed per 1 ms, rounded up;
    1 GB = 1,024 MB); dollars = GB-seconds x ``PRICE_PER_GB_SECOND[architecture]`` + invocations / 10^6 x
    ``PRICE_PER_MILLION_REQUESTS``; with ``free_tier``, ``FREE_TIER_GB_SECONDS`` and ``FREE_TIER_REQUESTS`` are
    subtracted first, never below zero (https://aws.amazon.com/lambda/pricing/). Chapter 01's exercise asks a student
    to write this; the benchmarks and chapters 05 and 06 use this copy.

    Raises:
        KeyError: an architecture Lambda does not have (not ``"x86_64"`` or ``"arm64"``).
    """
    gb_seconds = invocations * math.ceil(duration_ms) / 1000 * memory_mb / 1024
    requests = invocations
    if free_tier:
        gb_seconds = max(0.0, gb_seconds - FREE_TIER_GB_SECONDS)
        requests = max(0, requests - FREE_TIER_REQUESTS)
    return float(gb_seconds * PRICE_PER_GB_SECOND[architecture] + requests / 1e6 * PRICE_PER_MILLION_REQUESTS)
