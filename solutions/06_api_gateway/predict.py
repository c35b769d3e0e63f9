"""Send an image URL to the classifier's endpoint and print the answer: the deployed API or ``make serve``.

    python solutions/06_api_gateway/predict.py ENDPOINT IMAGE_URL [--auth iam [--region R]] [--token TOKEN]
    python solutions/06_api_gateway/predict.py ENDPOINT --file photo.jpg [...]   # sends the photo itself
    python solutions/06_api_gateway/predict.py https://abc123.execute-api.eu-west-1.amazonaws.com/predict \\
        https://raw.githubusercontent.com/alexeygrigorev/clothing-dataset-small/master/test/pants/4aabd82c-82e1-4181-a84d-d0c6e550d26d.jpg

With ``--file``, the body is the file's own bytes with its ``Content-Type`` (``image/jpeg``, ``image/png`` or
``image/webp``, told by its first bytes, not by its name: ``image_type``); API Gateway's HTTP API hands it to the
function base64-encoded, and the function answers 413 ``payload_too_large`` over its upload limit.

The API's auth mode (``make api AUTH=...``) decides how to call it: ``none``, as above; ``iam``, with ``--auth iam``
(the request is signed with SigV4 for ``execute-api`` with your AWS credentials, found as the AWS CLI finds them;
botocore is needed then, and only then); ``jwt``, with ``--token TOKEN`` or the environment variable
``CLOTHING_API_TOKEN`` (sent as ``Authorization: Bearer TOKEN``).

Exit status (``EXIT_*``): 0 for an answer, 1 for another HTTP error (4xx: the request, 5xx: the server), 2 for a bad
command line or no AWS credentials for ``--auth iam``, 3 when the endpoint cannot be reached, 4 for 401 (no valid
token), 5 for 403 (not allowed to invoke).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

EXIT_OK, EXIT_HTTP_ERROR, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_UNAUTHENTICATED, EXIT_FORBIDDEN = 0, 1, 2, 3, 4, 5
TOKEN_ENV = "CLOTHING_API_TOKEN"
# The invoke URL of an HTTP API: https://API_ID.execute-api.REGION.amazonaws.com[.cn]/...
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")

# What the errors that learners meet most often mean (API Gateway's own messages, not the handler's). For an HTTP API
# with a Lambda proxy integration, a throttled function (TooManyRequestsException: its reserved concurrency or the
# account's limit reached) reaches the client as 500 "Internal Server Error", like a missing permission; the access
# log's $context.integrationErrorMessage tells them apart
# (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-lambda.html). 503 "Service
# Unavailable" is API Gateway's own, passing: retry with a backoff.
HINTS = {
    401: "not authenticated: the route wants a JWT (make api AUTH=jwt); pass --token TOKEN or set "
         f"{TOKEN_ENV}. The token may be missing, expired, or issued by another issuer or for another audience.",
    403: "not allowed to invoke: with --auth iam, your credentials lack execute-api:Invoke on this API, or the "
         "signature does not match (region, clock); without it, the route may require IAM auth (make api "
         "AUTH=iam): add --auth iam. (A REST API also answers 403 'Missing Authentication Token' for a path or "
         "stage it does not have.)",
    404: "no such route: the path is /predict and the method POST (an HTTP API answers {\"message\":\"Not Found\"}).",
    429: "throttled: the stage's rate or burst limit was reached; wait a moment and try again.",
    500: "the function could not be invoked, or was throttled: an HTTP API answers 500 when Lambda refuses the "
         "invocation, for a missing permission (run make api again) or because the function's reserved concurrency "
         "or the account's concurrency limit is reached (wait and try again); its CloudWatch log says more.",
    502: "malformed proxy response: the function must return {\"statusCode\", \"headers\", \"body\": a string}; "
         "see its CloudWatch log.",
    503: "API Gateway itself is unavailable for a moment (not the function, whose throttling gives 500); wait a "
         "few seconds and try again.",
    504: "the function took longer than the integration's 30 s limit (a cold start with a slow image host?).",
}
EXIT_FOR_STATUS = {401: EXIT_UNAUTHENTICATED, 403: EXIT_FORBIDDEN}
# The magic numbers of the upload types the handler reads (safe_image.UPLOAD_TYPES; WebP's is split: image_type).
MAGIC_TYPES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


def image_type(data: bytes) -> str:
    """The media type of an image file by its first bytes (its magic number), not its name: ``image/jpeg``,
    ``image/png`` or ``image/webp`` (``RIFF....WEBP``).

    Raises:
        ValueError: the bytes are none of those (a HEIC photo from a phone, a GIF, a file that is not an image).
    """
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, media_type in MAGIC_TYPES:
        if data.startswith(magic):
            return media_type
    raise ValueError("the file is not a JPEG, PNG or WebP image (by its first bytes, whatever its name): convert it, "
                     "e.g. a phone's HEIC photo to JPEG")


class AuthSetupError(ValueError):
    """``--auth iam`` cannot sign: botocore is missing, there are no AWS credentials, or no region."""


def region_of(endpoint: str, region: str | None = None) -> str:
    """The AWS region to sign for: ``region`` when given, else the one in an invoke URL
    (``https://ID.execute-api.REGION.amazonaws.com/...``), else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``.

    Raises:
        AuthSetupError: none of them names a region.
    """
    if region:
        return region
    match = EXECUTE_API_HOST.match(urllib.parse.urlsplit(endpoint).hostname or "")
    found = match.group(1) if match else os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not found:
        raise AuthSetupError(f"cannot tell the AWS region of {endpoint} (not an execute-api URL): pass --region")
    return found


def sign_iam(method: str, endpoint: str, headers: dict, body: bytes, region: str) -> dict:
    """``headers`` plus SigV4 for service ``execute-api`` in ``region`` (``Authorization``, ``X-Amz-Date`` and, for
    temporary credentials, ``X-Amz-Security-Token``), signed with the default credential chain of botocore (the
    environment, ``~/.aws``, SSO, instance roles).

    Raises:
        AuthSetupError: botocore is not installed, or no credentials are found.
    """
    try:  # botocore only here: the client needs nothing outside the standard library otherwise
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
    except ImportError:
        raise AuthSetupError("--auth iam needs botocore: pip install -r requirements/deploy.txt") from None
    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise AuthSetupError("--auth iam found no AWS credentials: run `aws configure` or `aws sso login`, or set "
                             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)")
    request = AWSRequest(method=method, url=endpoint, data=body, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())


class PredictError(RuntimeError):
    """The endpoint answered with an HTTP error (``status`` set) or could not be reached (``status`` None)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def predict(endpoint: str, url: str | None, timeout_s: float = 35.0, auth: str = "none", token: str | None = None,
            region: str | None = None, image: bytes | None = None) -> dict:
    """POST ``{"url": url}`` as JSON to ``endpoint``, or, with ``image``, the image's bytes themselves.

    Args:
        image: an image file's bytes, sent as the body with its ``Content-Type`` (``image_type``) instead of a URL
            (``url`` then None); with ``auth="iam"`` the signature covers them (SigV4 hashes the body).
        auth: ``"iam"`` to sign the request with SigV4 (``sign_iam``), else ``"none"``.
        token: a JWT, sent as ``Authorization: Bearer TOKEN`` (not with ``auth="iam"``, which uses that header).
        region: the region to sign for with ``auth="iam"`` (default: ``region_of(endpoint)``).

    Returns:
        the decoded JSON answer (``top_class``, ``probability``, ``probabilities``).

    Raises:
        PredictError: an HTTP error (with the handler's or API Gateway's message) or a network error.
        AuthSetupError: ``auth="iam"`` cannot sign (no botocore, credentials or region).
        ValueError: an unknown ``auth``, or both ``auth="iam"`` and a ``token``; both or neither of ``url`` and
            ``image``; an ``image`` that is not a JPEG, PNG or WebP.
    """
    if auth not in ("none", "iam"):
        raise ValueError(f"unknown auth {auth!r}: expected 'none' or 'iam'")
    if auth == "iam" and token:
        raise ValueError("--auth iam and a token both need the Authorization header: use one of them")
    if (url is None) == (image is None):
        raise ValueError("give either an image URL or an image file (--file), not both")
    if image is None:
        body, content_type = json.dumps({"url": url}).encode(), "application/json"
    else:
        body, content_type = image, image_type(image)
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token.removeprefix('Bearer ').strip()}"
    if auth == "iam":
        headers = sign_iam("POST", endpoint, headers, body, region_of(endpoint, region))
    request = urllib.request.Request(endpoint, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        text, answer = e.read()[:2000].decode(errors="replace"), None
        try:
            answer = json.loads(text)
            error = answer.get("error", {})
            detail = f"{error['code']}: {error['message']}" if error else answer.get("message", text)
        except (ValueError, AttributeError, KeyError, TypeError):
            detail = text.strip() or e.reason
        # A JWT authorizer says why in this header (error_description="the token does not have a valid audience").
        why = re.search(r'error_description="([^"]*)"', e.headers.get("WWW-Authenticate", "") if e.headers else "")
        if why:
            detail += f" ({why.group(1)})"
        # The hints explain API Gateway's own answers ({"message": ...}); the handler's ({"error": {...}}, such as
        # its 503 lookups_busy) say what happened themselves.
        own_answer = isinstance(answer, dict) and isinstance(answer.get("error"), dict)
        hint = "" if (own_answer or e.code not in HINTS) else f" ({HINTS[e.code]})"
        raise PredictError(f"HTTP {e.code} from {endpoint}: {detail}{hint}", e.code) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise PredictError(f"cannot reach {endpoint}: {getattr(e, 'reason', e)}. Is the URL right (make api prints "
                           "it; make serve listens on http://127.0.0.1:8080/predict), and is the server up?") from None
    except ValueError:
        raise PredictError(f"{endpoint} did not answer with JSON: is it the /predict endpoint?") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("endpoint", help="the /predict URL: printed by make api, or http://127.0.0.1:8080/predict")
    parser.add_argument("url", nargs="?", help="the URL of a clothing photo (or --file)")
    parser.add_argument("--file", metavar="PATH", help="send this photo itself (JPEG, PNG or WebP) instead of a URL")
    parser.add_argument("--timeout", type=float, default=35.0, help="seconds to wait for the answer")
    parser.add_argument("--auth", choices=("none", "iam"), default="none",
                        help="iam: sign the request with your AWS credentials (an API made with make api AUTH=iam)")
    parser.add_argument("--region", help="--auth iam: the region to sign for (default: from the URL)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None,
                        help=f"a JWT for an API made with make api AUTH=jwt (default: ${TOKEN_ENV})")
    args = parser.parse_args(argv)
    if (args.url is None) == (args.file is None):
        parser.error("give an image URL or --file PATH (one of them)")
    image = None
    if args.file:
        try:
            image = open(args.file, "rb").read()
            image_type(image)
        except (OSError, ValueError) as e:
            parser.error(f"--file {args.file}: {e.strerror if isinstance(e, OSError) else e}")
    if args.auth == "iam" and args.token:
        parser.error(f"--auth iam signs the Authorization header, so it cannot also carry a token: drop --token "
                     f"(or unset {TOKEN_ENV})")
    try:
        answer = predict(args.endpoint, args.url, args.timeout, args.auth, args.token, args.region, image)
    except (AuthSetupError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except PredictError as e:
        print(f"error: {e}", file=sys.stderr)
        if e.status is None:
            return EXIT_UNREACHABLE
        return EXIT_FOR_STATUS.get(e.status, EXIT_HTTP_ERROR)
    print(json.dumps(answer, indent=2))
    if "top_class" in answer:
        print(f"{answer['top_class']} ({answer['probability']:.3f})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
