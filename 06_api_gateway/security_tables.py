"""The README's security tables (``make security-tables``): who can call the endpoint in each auth mode, and the
worst bill a flood of requests can run up at the caps of chapters 05 and 06.

    python solutions/06_api_gateway/security_tables.py   # rewrites the README between its table markers

Needs only boto3 (``requirements/deploy.txt``), not TensorFlow: the prices are ``tutorial_support.prices``.
"""

from __future__ import annotations

import sys

from api import AUTH_MODES, DEFAULT_RATE

from tutorial_support import prices
from tutorial_support.deployment import DEFAULT_MAX_CONCURRENCY, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S
from tutorial_support.readme import update_readme

DAYS_A_MONTH = 30  # the month of the flood-cost table


def flood_cost(rate: float = DEFAULT_RATE, memory_mb: int = DEFAULT_MEMORY_MB, timeout_s: int = DEFAULT_TIMEOUT_S,
               max_concurrency: int = DEFAULT_MAX_CONCURRENCY, days: int = DAYS_A_MONTH) -> dict:
    """The worst bill a flood of requests can run up at the caps, before the free tier, in dollars.

    The model: the stage lets through at most ``rate`` requests a second (``rate`` x seconds API requests, each one
    Lambda invocation), and at most ``max_concurrency`` copies of the function run at once, each billed for
    ``memory_mb`` all the time (every request as slow as the ``timeout_s`` allows; a copy is busy only while a
    request lasts, so no more than ``rate`` x ``timeout_s`` copies can be busy).

    Args:
        rate: requests a second let through by the stage (``DEFAULT_RATE``).
        memory_mb, timeout_s, max_concurrency: the function's settings (chapter 05's defaults).
        days: the length of the month.

    Returns:
        ``{"day": ..., "month": ...}``, each a dict: ``api_requests`` and ``lambda_requests`` (counts),
        ``gb_seconds``, and dollars: ``api``, ``lambda_requests_cost``, ``compute`` and ``total`` (the last two
        dicts keyed by architecture, the keys of ``tutorial_support.prices.PRICE_PER_GB_SECOND``).
        Prices: ``tutorial_support.prices`` (Lambda and HTTP API, us-east-1).

    Raises:
        ValueError: a rate, memory, timeout, concurrency or number of days that is not positive.
    """
    if min(rate, memory_mb, timeout_s, max_concurrency, days) <= 0:
        raise ValueError("rate, memory_mb, timeout_s, max_concurrency and days must all be positive")
    busy = min(max_concurrency, rate * timeout_s)  # copies of the function that can be busy at once
    out = {}
    for period, seconds in (("day", 24 * 3600), ("month", days * 24 * 3600)):
        requests = rate * seconds
        gb_seconds = busy * memory_mb / 1024 * seconds
        api_dollars = requests / 1e6 * prices.HTTP_API_PRICE_PER_MILLION
        lambda_requests = requests / 1e6 * prices.PRICE_PER_MILLION_REQUESTS
        compute = {arch: gb_seconds * price for arch, price in prices.PRICE_PER_GB_SECOND.items()}
        out[period] = {"api_requests": requests, "lambda_requests": requests, "gb_seconds": gb_seconds,
                       "api": api_dollars, "lambda_requests_cost": lambda_requests, "compute": compute,
                       "total": {arch: api_dollars + lambda_requests + c for arch, c in compute.items()}}
    return out


def render_flood_cost(cost: dict, rate: float = DEFAULT_RATE, memory_mb: int = DEFAULT_MEMORY_MB,
                      timeout_s: int = DEFAULT_TIMEOUT_S,
                      max_concurrency: int = DEFAULT_MAX_CONCURRENCY, days: int = DAYS_A_MONTH) -> str:
    """The README's flood-cost table (markdown) of ``flood_cost(...)``'s result, computed with the same settings."""
    archs = list(cost["month"]["compute"])
    lines = ["| worst case | API requests | HTTP API | Lambda requests | "
             + " | ".join(f"Lambda compute, {a}" for a in archs) + " | " + " | ".join(f"total, {a}" for a in archs)
             + " |", "|---" * (4 + 2 * len(archs)) + "|"]
    for period, label in (("day", "a day"), ("month", f"a {days}-day month")):
        c = cost[period]
        lines.append(f"| {label} | {c['api_requests']:,.0f} | ${c['api']:,.2f} | ${c['lambda_requests_cost']:,.2f} | "
                     + " | ".join(f"${c['compute'][a]:,.2f}" for a in archs) + " | "
                     + " | ".join(f"**${c['total'][a]:,.2f}**" for a in archs) + " |")
    busy = min(max_concurrency, rate * timeout_s)
    lines += ["", f"At most {rate:g} requests a second pass the stage's throttle (`api.py`), each invoking the "
              f"function once; at most {max_concurrency:g} copies of it run at once, {memory_mb:,} MB each, with a "
              f"{timeout_s} s timeout (`tutorial_support/deployment.py`): all {busy:g} busy all the time "
              f"({cost['month']['gb_seconds']:,.0f} GB-s a month). Prices in us-east-1, before the free tier, as of "
              f"{prices.PRICES_AS_OF}: Lambda's and the HTTP API's ${prices.HTTP_API_PRICE_PER_MILLION:.2f} per "
              "million (`tutorial_support/prices.py`). Written by `make security-tables` (`flood_cost` in "
              "`solutions/06_api_gateway/security_tables.py`)."]
    return "\n".join(lines) + "\n"


def render_auth_modes() -> str:
    """The README's table of who can call the endpoint: ``make serve``, then each mode of ``AUTH_MODES``."""
    lines = ["| mode | route `AuthorizationType` | who can call | how to call |", "|---|---|---|---|",
             "| `make serve` (no AWS) | - | only this machine: it listens on 127.0.0.1 | "
             "`predict.py http://127.0.0.1:8080/predict IMAGE_URL` |"]
    for mode, spec in AUTH_MODES.items():
        make = "`make api`" if mode == "none" else f"`make api AUTH={mode}`"
        lines.append(f"| {make} | `{spec['authorization_type']}` | {spec['who']} | {spec['how']} |")
    return "\n".join(lines) + "\n"


def write_readme() -> list[str]:
    """Render the security tables (``render_auth_modes``, ``render_flood_cost``) into the README between their
    ``auth-modes`` and ``flood-cost`` markers.

    Returns:
        the markdown written, one string per table.

    Raises:
        RuntimeError: the README lacks a table's markers.
    """
    tables = [("auth-modes", render_auth_modes()), ("flood-cost", render_flood_cost(flood_cost()))]
    for marker, markdown in tables:
        if not update_readme(markdown, marker=marker):
            raise RuntimeError(f"README.md has no <!-- {marker}:begin --> / <!-- {marker}:end --> markers")
    return [markdown for _, markdown in tables]


def main() -> int:
    """Write the tables into the README and print them."""
    print("\n".join(write_readme()) + "README.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
