"""Invoke the Lambda handler locally, as Lambda would, and print what it answers.

    python solutions/03_lambda_code/demo.py               # serve samples/ on 127.0.0.1 and classify each image
    python solutions/03_lambda_code/demo.py URL [URL...]  # classify any image URLs

Each URL goes to ``lambda_handler`` in an API Gateway HTTP API event (payload format 2.0), the way it arrives
once the function is behind API Gateway; ``--direct`` sends a direct-invocation event ``{"url": ...}`` instead.
``--log`` also prints the handler's JSON log line for each request.

The samples are served on 127.0.0.1, a private address the deployed function refuses: the demo opts in with
``ALLOW_PRIVATE_URLS=1`` for them (local use). URLs given on the command line are fetched as the deployed function
would, unless you set ``ALLOW_PRIVATE_URLS=1`` yourself.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import lambda_function

from tutorial_support.events import answer_of, url_event
from tutorial_support.image_server import serve_directory
from tutorial_support.paths import SAMPLES_DIR


def invoke(url: str, direct: bool = False) -> tuple[int, dict]:
    """Call ``lambda_handler`` with ``url`` in a direct or payload-2.0 event. Returns (HTTP status, answer dict)."""
    return answer_of(lambda_function.lambda_handler(url_event(url, "direct" if direct else "http-v2"), None))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", nargs="*", help="image URLs (default: the bundled samples, served locally)")
    parser.add_argument("--direct", action="store_true", help="send direct-invocation events instead of payload 2.0")
    parser.add_argument("--log", action="store_true", help="print the handler's JSON log line for each request")
    args = parser.parse_args(argv)
    lambda_function.request_log.setLevel(logging.INFO if args.log else logging.WARNING)

    if args.urls:
        failures = 0
        for url in args.urls:
            status, answer = invoke(url, args.direct)
            failures += status != 200
            print(json.dumps({"url": url, "status": status, **answer}, indent=2))
        return 1 if failures else 0

    samples = sorted(p for p in SAMPLES_DIR.rglob("*.jpg"))
    correct = 0
    os.environ["ALLOW_PRIVATE_URLS"] = "1"  # local use: the samples are served on 127.0.0.1
    with serve_directory(SAMPLES_DIR) as base:
        print(f"Serving {len(samples)} sample images at {base}; model {lambda_function.MODEL_PATH.name}\n")
        print(f"{'image':<52} {'true class':<11} {'predicted':<11} {'probability':>11}")
        for path in samples:
            true_class, name = path.parent.name, path.relative_to(SAMPLES_DIR).as_posix()
            status, answer = invoke(f"{base}/{name}", args.direct)
            predicted = answer.get("top_class", f"HTTP {status}")
            correct += predicted == true_class
            mark = "" if predicted == true_class else "  <- wrong"
            print(f"{name:<52} {true_class:<11} {predicted:<11} "
                  f"{answer.get('probability', 0.0):>11.3f}{mark}")
    print(f"\n{correct} of {len(samples)} correct ({correct / len(samples):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
