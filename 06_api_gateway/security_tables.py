"""The README's security tables (``make security-tables``): who can call the endpoint in each auth mode, and the
worst bill a flood of requests can run up at the caps of chapters 05 and 06, in a new account (concurrency limit 10:
nothing reserved, the throttle lowered) and in one with the default limit of 1,000.

    python solutions/06_api_gateway/security_tables.py   # rewrites the README between its table markers

Needs only boto3 (``requirements/deploy.txt``), not TensorFlow: the prices are ``tutorial_support.prices``.
"""

from __future__ import annotations

import sys

from api import AUTH_MODES

from tutorial_support import prices
from tutorial_support.deployment import (
    DAYS_A_MONTH,
    DEFAULT_ACCOUNT_LIMIT,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    NEW_ACCOUNT_LIMIT,
    UNRESERVED_MINIMUM,
    concurrency_cap,
    flood_cost,
)
from tutorial_support.readme import update_readme

__all__ = ["DAYS_A_MONTH", "flood_cost", "main", "render_auth_modes", "render_flood_cost", "write_readme"]
ACCOUNT_LIMITS = (NEW_ACCOUNT_LIMIT, DEFAULT_ACCOUNT_LIMIT)  # the accounts of the flood-cost table


def render_flood_cost(limits=ACCOUNT_LIMITS, memory_mb: int = DEFAULT_MEMORY_MB, timeout_s: int = DEFAULT_TIMEOUT_S,
                      wanted: int = DEFAULT_MAX_CONCURRENCY, days: int = DAYS_A_MONTH) -> str:
    """The README's flood-cost table (markdown): for each account concurrency limit of ``limits``, the cap
    ``make deploy`` and ``make api`` choose there (``deployment.concurrency_cap``: a reservation of ``wanted``, or,
    where none is possible, the lowered throttle) and ``flood_cost`` at that cap, a day and a month."""
    archs = list(prices.PRICE_PER_GB_SECOND)
    lines = ["| account's concurrency limit | worst case | API requests | HTTP API | Lambda requests | "
             + " | ".join(f"Lambda compute, {a}" for a in archs) + " | " + " | ".join(f"total, {a}" for a in archs)
             + " |", "|---" * (5 + 2 * len(archs)) + "|"]
    caps = []
    for limit in limits:
        cap = concurrency_cap(limit, limit, wanted, timeout_s=timeout_s)
        cost = flood_cost(cap.rate, memory_mb, timeout_s, cap.copies, days)
        account = (f"limit {limit:,} (new accounts often): nothing reserved, throttle {cap.rate:.3g}/s, bursts of "
                   f"{cap.burst}" if cap.reserved is None else
                   f"limit {limit:,} (the default): {cap.reserved} reserved, throttle {cap.rate:g}/s, bursts of "
                   f"{cap.burst}")
        for period, label in (("day", "a day"), ("month", f"a {days}-day month")):
            c = cost[period]
            lines.append(f"| {account} | {label} | {c['api_requests']:,.0f} | ${c['api']:,.2f} | "
                         f"${c['lambda_requests_cost']:,.2f} | "
                         + " | ".join(f"${c['compute'][a]:,.2f}" for a in archs) + " | "
                         + " | ".join(f"**${c['total'][a]:,.2f}**" for a in archs) + " |")
        caps.append((cap, cost["month"]))
    notes = []
    for cap, month in caps:
        if cap.reserved is not None:
            notes.append(f"with a limit of {cap.limit:,}, `make deploy` reserves {cap.reserved} copies and `make api` "
                         f"lets {cap.rate:g} requests a second through: all {month['busy']:g} copies busy all the "
                         f"time ({month['gb_seconds']:,.0f} GB-s a month)")
        else:
            notes.append(f"with a limit of {cap.limit:,}, Lambda keeps {min(UNRESERVED_MINIMUM, cap.limit):,} "
                         f"unreserved, so nothing can be reserved and up to {cap.copies:,} copies could run; "
                         f"`make api` then throttles to {cap.rate:.3g} requests a second (bursts of {cap.burst}), "
                         f"which keeps at most {month['busy']:g} busy ({month['gb_seconds']:,.0f} GB-s a month)")
    lines += ["", "Each request invokes the function once and lasts the whole timeout; " + "; ".join(notes)
              + f". {memory_mb:,} MB, {timeout_s} s timeout (`tutorial_support/deployment.py`). Prices in us-east-1, "
              f"before the free tier, as of {prices.PRICES_AS_OF}: Lambda's and the HTTP API's "
              f"${prices.HTTP_API_PRICE_PER_MILLION:.2f} per million (`tutorial_support/prices.py`). Written by `make "
              "security-tables` (`flood_cost` and `concurrency_cap` in `tutorial_support/deployment.py`)."]
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
    tables = [("auth-modes", render_auth_modes()), ("flood-cost", render_flood_cost())]
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
