"""Put an API Gateway HTTP API in front of the deployed function, or take it down (chapter 06).

    python solutions/06_api_gateway/api.py create  [--region R] [--name N] [--burst B] [--rate R] [--dry-run]
                                                   [--auth none|iam|jwt] [--jwt-issuer URL] [--jwt-audience ID ...]
    python solutions/06_api_gateway/api.py destroy [--region R] [--name N] [--dry-run]
    python solutions/06_api_gateway/api.py readme  # the README's tables: who can call, what a flood costs

``create`` (``make api``), each step idempotent: the HTTP API ``NAME-api`` (tagged as this project's), a Lambda proxy
integration with payload format 2.0 on the function's ``live`` alias (chapter 05), the route ``POST /predict``, the
``$default`` stage, deployed automatically on every change and throttled, and a resource-based permission that lets
this API, and only this API, invoke the alias. ``--auth`` chooses who may call the route (``AUTH_MODES``: anyone,
IAM principals with SigV4-signed requests, or holders of a JWT from one issuer); running it again with another mode
switches the same route. It prints the invoke URL. ``destroy`` deletes the API (``make
destroy`` runs it before chapter 05's). Credentials, region, tags and error messages are chapter 05's
(``deploy.py``), imported from the ``05_deploy`` folder beside this one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "05_deploy"))
import deploy  # noqa: E402

ROUTE_KEY = "POST /predict"
STAGE = "$default"  # the stage served at the API's root URL: https://ID.execute-api.REGION.amazonaws.com/predict
# Throttling of every route of the stage: at most RATE requests a second on average, BURST at once. 5 a second is
# plenty for a tutorial and caps what strangers who find the URL can spend, with the function's reserved concurrency
# (chapter 05): `flood_cost` below, the README's table (`make security-tables`). Over the limits, API Gateway answers
# 429 Too Many Requests without invoking the function.
DEFAULT_BURST, DEFAULT_RATE = 10, 5.0
PERMISSION_ID = "allow-http-api"  # the statement id of the permission in the function's resource policy
# HTTP API requests, us-east-1, first 300 M a month, in dollars per million: aws.amazon.com/api-gateway/pricing, as
# quoted in docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/
# cost-optimization.html (metered in 512 KB increments; our requests and answers are far smaller).
HTTP_API_PRICE_PER_MILLION = 1.00
DAYS_A_MONTH = 30  # the month of the flood-cost table

# Who may call POST /predict in each mode of `create --auth`: the route's AuthorizationType, who, and how to call.
# Sources: docs.aws.amazon.com/apigateway/latest/developerguide/http-api-access-control-iam.html (IAM) and
# .../http-api-jwt-authorizer.html (JWT).
AUTH_MODES = {
    "none": {"authorization_type": "NONE", "who": "anyone on the internet who knows the URL",
             "how": "`predict.py URL IMAGE_URL`, `curl`"},
    "iam": {"authorization_type": "AWS_IAM",
            "who": "IAM principals (users, roles) whose policies allow `execute-api:Invoke` on the API's ARN",
            "how": "requests signed with SigV4 for `execute-api`: `predict.py URL IMAGE_URL --auth iam`"},
    "jwt": {"authorization_type": "JWT",
            "who": "holders of a valid, unexpired token from the issuer for the audience (`--jwt-issuer`, "
                   "`--jwt-audience`)",
            "how": "`Authorization: Bearer TOKEN`: `predict.py URL IMAGE_URL --token TOKEN` (or `CLOTHING_API_TOKEN`)"},
}
AUTHORIZER_NAME = "predict-jwt"  # the JWT authorizer `create --auth jwt` makes; removed in the other modes
IDENTITY_SOURCE = "$request.header.Authorization"  # where the JWT authorizer reads the token


def api_name(name: str) -> str:
    """The HTTP API's name for deployment ``name``."""
    return f"{name}-api"


def find_api(apigw, name: str) -> dict | None:
    """The HTTP API called ``name`` and tagged as this project's, or None."""
    paginator = apigw.get_paginator("get_apis")
    for page in paginator.paginate():
        for api in page["Items"]:
            if api["Name"] == name and api.get("ProtocolType") == "HTTP" and deploy.is_ours(api.get("Tags")):
                return api
    return None


def ensure_api(apigw, name: str) -> dict:
    """The HTTP API ``name`` (``get_apis``), created with this project's tags when absent. Returns it."""
    api = find_api(apigw, name)
    if api is None:
        api = apigw.create_api(Name=name, ProtocolType="HTTP", Tags=dict(deploy.PROJECT_TAGS),
                               Description="Clothing classifier (serverless-dl tutorial): POST /predict")
        print(f"  HTTP API {name}: created ({api['ApiId']})")
    else:
        print(f"  HTTP API {name}: exists ({api['ApiId']})")
    return api


def ensure_route(apigw, api_id: str, function_arn: str) -> tuple[str, str]:
    """The Lambda proxy integration of ``function_arn`` (payload format 2.0) and the route ``POST /predict`` to it,
    each created when absent or updated when it points elsewhere.

    Args:
        function_arn: the ARN of what the API invokes: the function's alias (``...:function:NAME:live``).

    Returns:
        (integration id, route id).
    """
    # TODO: get_integrations / create_integration(IntegrationType="AWS_PROXY", IntegrationUri=function_arn, PayloadFormatVersion="2.0"); get_routes / create_route(RouteKey=ROUTE_KEY, Target=f"integrations/{integration_id}") or update_route when its target differs.
    raise NotImplementedError('get_integrations / create_integration(IntegrationType="AWS_PROXY", IntegrationUri=function_arn, PayloadFormatVersion="2.0"); get_routes / create_route(RouteKey=ROUTE_KEY, Target=f"integrations/{integration_id}") or update_route when its target differs.')


def ensure_auth(apigw, api_id: str, route_id: str, mode: str = "none", issuer: str | None = None,
                audience: list[str] | tuple[str, ...] = ()) -> dict:
    """Who may call route ``route_id``: ``mode`` is a key of ``AUTH_MODES``. For ``jwt``, the JWT authorizer
    ``AUTHORIZER_NAME`` (token from the ``Authorization`` header, ``issuer``, ``audience``) is created, or updated when
    its configuration differs; in the other modes it is deleted once the route no longer uses it. The route is updated
    only when its ``AuthorizationType`` (or authorizer) differs, so a second run with the same mode changes nothing.

    Args:
        issuer: the token issuer's URL (``https://...``), for ``jwt`` only.
        audience: the accepted ``aud`` (or ``client_id``) values, for ``jwt`` only.

    Returns:
        the route as it now is (``get_route``).

    Raises:
        ValueError: an unknown ``mode``, or ``jwt`` without ``issuer`` or ``audience``.
    """
    if mode not in AUTH_MODES:
        raise ValueError(f"unknown auth mode {mode!r}; expected one of {', '.join(AUTH_MODES)}")
    if mode == "jwt" and (not issuer or not audience):
        raise ValueError("the jwt mode needs an issuer (--jwt-issuer URL) and an audience (--jwt-audience ID)")
    ours = [a for a in apigw.get_authorizers(ApiId=api_id)["Items"] if a.get("Name") == AUTHORIZER_NAME]
    authorizer_id = None
    if mode == "jwt":
        config = {"Issuer": issuer, "Audience": list(audience)}
        if not ours:
            authorizer_id = apigw.create_authorizer(ApiId=api_id, Name=AUTHORIZER_NAME, AuthorizerType="JWT",
                                                    IdentitySource=[IDENTITY_SOURCE],
                                                    JwtConfiguration=config)["AuthorizerId"]
        else:
            authorizer_id = ours.pop(0)["AuthorizerId"]
            current = apigw.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)
            if (current.get("JwtConfiguration", {}).get("Issuer") != issuer
                    or sorted(current.get("JwtConfiguration", {}).get("Audience", [])) != sorted(audience)
                    or current.get("IdentitySource") != [IDENTITY_SOURCE]):
                apigw.update_authorizer(ApiId=api_id, AuthorizerId=authorizer_id, AuthorizerType="JWT",
                                        IdentitySource=[IDENTITY_SOURCE], JwtConfiguration=config)
    route = apigw.get_route(ApiId=api_id, RouteId=route_id)
    authorization_type = AUTH_MODES[mode]["authorization_type"]
    if route.get("AuthorizationType", "NONE") != authorization_type or (
            mode == "jwt" and route.get("AuthorizerId") != authorizer_id):
        # The type goes with every update: AWS refuses an AuthorizerId without it, and an explicit NONE is what
        # detaches an authorizer (github.com/hashicorp/terraform-provider-aws/pull/35821, aws/aws-cdk/pull/14424).
        changes = {"AuthorizationType": authorization_type}
        if authorizer_id:
            changes["AuthorizerId"] = authorizer_id
        apigw.update_route(ApiId=api_id, RouteId=route_id, **changes)
    for stale in ours:  # only now: deleting an authorizer a route uses is a ConflictException (anomalyco/sst#5586)
        apigw.delete_authorizer(ApiId=api_id, AuthorizerId=stale["AuthorizerId"])
    return apigw.get_route(ApiId=api_id, RouteId=route_id)


def ensure_stage(apigw, api_id: str, burst: int = DEFAULT_BURST, rate: float = DEFAULT_RATE) -> dict:
    """The ``$default`` stage: deployed automatically on every change, every route throttled to ``rate`` requests a
    second with bursts of ``burst``. Created when absent; updated when its settings differ.

    Returns:
        the stage (``get_stage``).
    """
    # TODO: get_stages; create_stage(StageName=STAGE, AutoDeploy=True, DefaultRouteSettings={"ThrottlingBurstLimit": burst, "ThrottlingRateLimit": rate}, Tags=...) when there is none, update_stage when its settings differ.
    raise NotImplementedError('get_stages; create_stage(StageName=STAGE, AutoDeploy=True, DefaultRouteSettings={"ThrottlingBurstLimit": burst, "ThrottlingRateLimit": rate}, Tags=...) when there is none, update_stage when its settings differ.')


def source_arn(function_arn: str, api_id: str) -> str:
    """The ARN of ``POST /predict`` on any stage of API ``api_id``, in the account and region of ``function_arn``."""
    _, partition, _, region, account = function_arn.split(":")[:5]
    return f"arn:{partition}:execute-api:{region}:{account}:{api_id}/*/POST/predict"


def allow_invoke(lambda_client, function_name: str, qualifier: str, api_source_arn: str) -> dict:
    """Let API Gateway invoke ``function_name:qualifier``, but only for requests to ``api_source_arn``: a statement
    ``PERMISSION_ID`` in the alias's resource-based policy, replaced when it names another source.

    Returns:
        the statement as it is in the policy (``get_policy``).
    """
    # TODO: read get_policy(FunctionName, Qualifier) (ResourceNotFoundException: no policy yet); when there is no statement with Sid PERMISSION_ID for this source, remove_permission it and add_permission(StatementId= PERMISSION_ID, Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com", SourceArn=...).
    raise NotImplementedError('read get_policy(FunctionName, Qualifier) (ResourceNotFoundException: no policy yet); when there is no statement with Sid PERMISSION_ID for this source, remove_permission it and add_permission(StatementId= PERMISSION_ID, Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com", SourceArn=...).')


def create(session, name: str, burst: int = DEFAULT_BURST, rate: float = DEFAULT_RATE, auth: str = "none",
           issuer: str | None = None, audience: list[str] | tuple[str, ...] = ()) -> str:
    """Every step of ``make api`` for deployment ``name`` (whose function and alias chapter 05 created).

    Args:
        auth, issuer, audience: who may call the route (``ensure_auth``).

    Returns:
        the invoke URL of ``POST /predict``.

    Raises:
        deploy.DeployError: the function or its alias does not exist (run ``make deploy`` first).
        ValueError: ``auth`` is unknown, or ``jwt`` lacks an issuer or audience.
        botocore.exceptions.ClientError: an AWS call failed.
    """
    apigw, lambda_client = session.client("apigatewayv2"), session.client("lambda")
    try:
        alias_arn = lambda_client.get_alias(FunctionName=name, Name=deploy.ALIAS)["AliasArn"]
    except lambda_client.exceptions.ResourceNotFoundException:
        raise deploy.DeployError(f"the function {name} has no alias {deploy.ALIAS!r} in {session.region_name}: "
                                 "run `make deploy` first (same --name and --region).") from None
    api = ensure_api(apigw, api_name(name))
    integration_id, route_id = ensure_route(apigw, api["ApiId"], alias_arn)
    print(f"  route {ROUTE_KEY} -> integration {integration_id} (Lambda proxy, payload 2.0) -> {alias_arn}")
    route = ensure_auth(apigw, api["ApiId"], route_id, auth, issuer, audience)
    print(f"  auth {auth}: AuthorizationType {route.get('AuthorizationType', 'NONE')}; "
          + who_can_call(auth, source_arn(alias_arn, api["ApiId"]), issuer, audience))
    stage = ensure_stage(apigw, api["ApiId"], burst, rate)
    limits = stage["DefaultRouteSettings"]
    print(f"  stage {STAGE}: auto-deploy, throttled to {limits['ThrottlingRateLimit']:g} requests/s, "
          f"bursts of {limits['ThrottlingBurstLimit']}")
    statement = allow_invoke(lambda_client, name, deploy.ALIAS, source_arn(alias_arn, api["ApiId"]))
    print(f"  permission {statement['Sid']}: apigateway.amazonaws.com may invoke {name}:{deploy.ALIAS} for "
          f"{statement['Condition']['ArnLike']['AWS:SourceArn']} only")
    return f"{api['ApiEndpoint']}/predict"


def who_can_call(mode: str, route_arn: str, issuer: str | None = None, audience=()) -> str:
    """One line for ``create``'s printout: who may call ``POST /predict`` in ``mode`` (a key of ``AUTH_MODES``).

    Args:
        route_arn: the route's execute-api ARN (``source_arn``), the resource an IAM policy must allow.
    """
    if mode == "iam":
        return f"callers: IAM principals allowed execute-api:Invoke on {route_arn}, requests signed with SigV4"
    if mode == "jwt":
        return (f"callers: holders of a valid token from {issuer} for audience {', '.join(audience)}, "
                "sent as 'Authorization: Bearer TOKEN'")
    return "callers: anyone on the internet who knows the URL (throttled; make api AUTH=iam or AUTH=jwt restricts it)"


def flood_cost(prices, rate: float = DEFAULT_RATE, memory_mb: int = deploy.DEFAULT_MEMORY_MB,
               timeout_s: int = deploy.DEFAULT_TIMEOUT_S, max_concurrency: int = deploy.DEFAULT_MAX_CONCURRENCY,
               days: int = DAYS_A_MONTH) -> dict:
    """The worst bill a flood of requests can run up at the caps, before the free tier, in dollars.

    The model: the stage lets through at most ``rate`` requests a second (``rate`` x seconds API requests, each one
    Lambda invocation), and at most ``max_concurrency`` copies of the function run at once, each billed for
    ``memory_mb`` all the time (every request as slow as the ``timeout_s`` allows; a copy is busy only while a
    request lasts, so no more than ``rate`` x ``timeout_s`` copies can be busy).

    Args:
        prices: chapter 01's price constants (``PRICE_PER_GB_SECOND`` per architecture, dollars per GB-second;
            ``PRICE_PER_MILLION_REQUESTS``, dollars), from ``lambda_prices()``.
        rate: requests a second let through by the stage (``DEFAULT_RATE``).
        memory_mb, timeout_s, max_concurrency: the function's settings (chapter 05's defaults).
        days: the length of the month.

    Returns:
        ``{"day": ..., "month": ...}``, each a dict: ``api_requests`` and ``lambda_requests`` (counts),
        ``gb_seconds``, and dollars: ``api``, ``lambda_requests_cost``, ``compute`` and ``total`` (the last two
        dicts keyed by architecture, the keys of ``prices.PRICE_PER_GB_SECOND``).

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
        api_dollars = requests / 1e6 * HTTP_API_PRICE_PER_MILLION
        lambda_requests = requests / 1e6 * prices.PRICE_PER_MILLION_REQUESTS
        compute = {arch: gb_seconds * price for arch, price in prices.PRICE_PER_GB_SECOND.items()}
        out[period] = {"api_requests": requests, "lambda_requests": requests, "gb_seconds": gb_seconds,
                       "api": api_dollars, "lambda_requests_cost": lambda_requests, "compute": compute,
                       "total": {arch: api_dollars + lambda_requests + c for arch, c in compute.items()}}
    return out


def lambda_prices():
    """Chapter 01's Lambda price constants (``PRICE_PER_GB_SECOND``, ``PRICE_PER_MILLION_REQUESTS``, with their
    source), run from its reference notebook. Needs the tutorial environment (``grading``, nbformat)."""
    root = _repo_root()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from grading.targets import Target

    return Target("solutions", root).notebook("01_intro", "01_intro.ipynb")


def _repo_root() -> Path:
    """The checkout this file is in (from ``solutions/06_api_gateway/`` or a student's ``06_api_gateway/``)."""
    return next(p for p in Path(__file__).resolve().parents if (p / "grading").is_dir())


def render_flood_cost(cost: dict, rate: float = DEFAULT_RATE, memory_mb: int = deploy.DEFAULT_MEMORY_MB,
                      timeout_s: int = deploy.DEFAULT_TIMEOUT_S,
                      max_concurrency: int = deploy.DEFAULT_MAX_CONCURRENCY, days: int = DAYS_A_MONTH) -> str:
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
              f"{timeout_s} s timeout (`deploy.py`): all {busy:g} busy all the time "
              f"({cost['month']['gb_seconds']:,.0f} GB-s a month). Prices in us-east-1, before the free tier: "
              f"Lambda from chapter 01, HTTP API ${HTTP_API_PRICE_PER_MILLION:.2f} per million (`api.py`). Written by "
              "`make security-tables` (`flood_cost` in `solutions/06_api_gateway/api.py`)."]
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


def destroy(session, name: str, dry_run: bool = False) -> list[str]:
    """Delete the HTTP API of deployment ``name`` (when tagged as this project's) and its permission on the alias.

    Returns:
        one line per resource removed (or that would be, with ``dry_run``).
    """
    apigw, lambda_client = session.client("apigatewayv2"), session.client("lambda")
    done, verb = [], "would remove" if dry_run else "removed"
    api = find_api(apigw, api_name(name))
    if api is not None:
        if not dry_run:
            apigw.delete_api(ApiId=api["ApiId"])
        done.append(f"{verb} HTTP API {api_name(name)} ({api['ApiEndpoint']})")
    try:
        if not dry_run:
            lambda_client.remove_permission(FunctionName=name, Qualifier=deploy.ALIAS, StatementId=PERMISSION_ID)
        else:
            policy = json.loads(lambda_client.get_policy(FunctionName=name, Qualifier=deploy.ALIAS)["Policy"])
            if not any(s.get("Sid") == PERMISSION_ID for s in policy["Statement"]):
                return done
        done.append(f"{verb} permission {PERMISSION_ID} of {name}:{deploy.ALIAS}")
    except lambda_client.exceptions.ResourceNotFoundException:
        pass
    return done


def write_readme() -> list[str]:
    """Render the security tables (``render_auth_modes``, ``render_flood_cost``) into the README between their
    ``auth-modes`` and ``flood-cost`` markers, with chapter 02's ``update_readme``.

    Returns:
        the markdown written, one string per table.
    """
    sys.path.insert(0, str(_repo_root() / "solutions" / "02_tflite"))
    import bench  # chapter 02: the README writer

    tables = [("auth-modes", render_auth_modes()), ("flood-cost", render_flood_cost(flood_cost(lambda_prices())))]
    for marker, markdown in tables:
        if not bench.update_readme(markdown, marker=marker):
            raise deploy.DeployError(f"README.md has no <!-- {marker}:begin --> / <!-- {marker}:end --> markers")
    return [markdown for _, markdown in tables]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("create", help="create or update the HTTP API and print its invoke URL")
    down = commands.add_parser("destroy", help="delete the HTTP API")
    commands.add_parser("readme", help="write the README's security tables: who can call, what a flood costs")
    for sub in (up, down):
        deploy.add_common_arguments(sub)
    up.add_argument("--burst", type=int, default=DEFAULT_BURST, help="requests at once before throttling")
    up.add_argument("--rate", type=float, default=DEFAULT_RATE, help="requests a second, on average")
    up.add_argument("--auth", choices=tuple(AUTH_MODES), default="none",
                    help="who may call POST /predict: anyone (none), SigV4-signed IAM principals allowed "
                         "execute-api:Invoke (iam), holders of a JWT from --jwt-issuer for --jwt-audience (jwt)")
    up.add_argument("--jwt-issuer", metavar="URL", help="jwt: the token issuer, e.g. "
                    "https://cognito-idp.REGION.amazonaws.com/POOL_ID")
    up.add_argument("--jwt-audience", metavar="ID", action="append", default=[],
                    help="jwt: an accepted audience (aud or client_id claim); repeat for several")
    args = parser.parse_args(argv)
    if args.command == "create":
        if args.auth == "jwt":
            missing = [option for option, value in (("--jwt-issuer", args.jwt_issuer),
                                                    ("--jwt-audience", args.jwt_audience)) if not value]
            if missing:
                parser.error(f"--auth jwt needs {' and '.join(missing)} (the token issuer's URL and an audience: "
                             "make api AUTH=jwt ARGS='--jwt-issuer URL --jwt-audience ID')")
            if not args.jwt_issuer.startswith("https://"):
                parser.error(f"--jwt-issuer must be an https:// URL, got {args.jwt_issuer!r}")
        elif args.jwt_issuer or args.jwt_audience:
            parser.error(f"--jwt-issuer and --jwt-audience go with --auth jwt, not --auth {args.auth}")

    def command() -> int:
        if args.command == "readme":
            print("\n".join(write_readme()) + "README.md updated")
            return 0
        session = deploy.session_for(args.region)
        if args.command == "destroy":
            removed = destroy(session, args.name, args.dry_run)
            print("\n".join(removed) if removed else f"No API of {args.name!r} to remove in {session.region_name}.")
            return 0
        print(f"Plan: in {session.region_name}, the HTTP API {api_name(args.name)} (tagged "
              + ", ".join(f"{k}={v}" for k, v in deploy.PROJECT_TAGS.items())
              + f"), if absent; route {ROUTE_KEY} to {args.name}:{deploy.ALIAS} (Lambda proxy, payload 2.0), auth "
              f"{args.auth} ({AUTH_MODES[args.auth]['who']}); stage {STAGE} (auto-deploy, {args.rate:g} requests/s, "
              f"bursts of {args.burst}); permission for this API only to invoke {args.name}:{deploy.ALIAS}.")
        if args.dry_run:
            print("Dry run: nothing was changed.")
            return 0
        url = create(session, args.name, args.burst, args.rate, args.auth, args.jwt_issuer, args.jwt_audience)
        how = {"none": "", "iam": " --auth iam", "jwt": " --token TOKEN"}[args.auth]
        print(f"Invoke URL: {url}\nTry it: python solutions/06_api_gateway/predict.py {url} IMAGE_URL{how}")
        return 0

    return deploy.run_safely(command)


if __name__ == "__main__":
    sys.exit(main())
