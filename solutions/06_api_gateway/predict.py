"""Send an image URL to the classifier's endpoint and print the answer: the deployed API or ``make serve``.

    python solutions/06_api_gateway/predict.py ENDPOINT IMAGE_URL
    python solutions/06_api_gateway/predict.py https://abc123.execute-api.eu-west-1.amazonaws.com/predict \\
        https://raw.githubusercontent.com/alexeygrigorev/clothing-dataset-small/master/test/pants/4aabd82c-82e1-4181-a84d-d0c6e550d26d.jpg

Exit status: 0 for an answer, 1 for an HTTP error (4xx: the request, 5xx: the server), 2 for a bad command line,
3 when the endpoint cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

# What the errors that learners meet most often mean (API Gateway's own messages, not the handler's).
HINTS = {
    403: "API Gateway answered 403: for an HTTP API this usually means a wrong URL (the path is /predict, POST "
         "only); a REST API says 'Missing Authentication Token' for a path or stage it does not have.",
    404: "no such route: the path is /predict and the method POST (an HTTP API answers {\"message\":\"Not Found\"}).",
    429: "throttled: the stage's rate or burst limit was reached; wait a moment and try again.",
    500: "the function failed or could not be invoked: check its permission (api.py create) and its CloudWatch log.",
    502: "malformed proxy response: the function must return {\"statusCode\", \"headers\", \"body\": a string}; "
         "see its CloudWatch log.",
    503: "the function is throttled or unavailable (reserved concurrency reached?); try again.",
    504: "the function took longer than the integration's 30 s limit (a cold start with a slow image host?).",
}


class PredictError(RuntimeError):
    """The endpoint answered with an HTTP error (``status`` set) or could not be reached (``status`` None)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def predict(endpoint: str, url: str, timeout_s: float = 35.0) -> dict:
    """POST ``{"url": url}`` as JSON to ``endpoint``.

    Returns:
        the decoded JSON answer (``top_class``, ``probability``, ``probabilities``).

    Raises:
        PredictError: an HTTP error (with the handler's or API Gateway's message) or a network error.
    """
    request = urllib.request.Request(endpoint, data=json.dumps({"url": url}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        text = e.read()[:2000].decode(errors="replace")
        try:
            body = json.loads(text)
            error = body.get("error", {})
            detail = f"{error['code']}: {error['message']}" if error else body.get("message", text)
        except (ValueError, AttributeError, KeyError, TypeError):
            detail = text.strip() or e.reason
        hint = "" if (e.code in (400, 422) or e.code not in HINTS) else f" ({HINTS[e.code]})"
        raise PredictError(f"HTTP {e.code} from {endpoint}: {detail}{hint}", e.code) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise PredictError(f"cannot reach {endpoint}: {getattr(e, 'reason', e)}. Is the URL right (make api prints "
                           "it; make serve listens on http://127.0.0.1:8080/predict), and is the server up?") from None
    except ValueError:
        raise PredictError(f"{endpoint} did not answer with JSON: is it the /predict endpoint?") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("endpoint", help="the /predict URL: printed by make api, or http://127.0.0.1:8080/predict")
    parser.add_argument("url", help="the URL of a clothing photo")
    parser.add_argument("--timeout", type=float, default=35.0, help="seconds to wait for the answer")
    args = parser.parse_args(argv)
    try:
        answer = predict(args.endpoint, args.url, args.timeout)
    except PredictError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3 if e.status is None else 1
    print(json.dumps(answer, indent=2))
    if "top_class" in answer:
        print(f"{answer['top_class']} ({answer['probability']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
