"""Chapter 06: an API Gateway HTTP API in front of the deployed function (``make api``).

``create`` does every step, each idempotent (``api_cli.py`` is its command line): the HTTP API ``NAME-api`` (tagged
as this project's), a Lambda proxy integration with payload format 2.0 on the function's ``live`` alias (chapter 05),
the route ``POST /predict``, who may call it (``--auth``: ``AUTH_MODES``: anyone, IAM principals with SigV4-signed
requests, or holders of a JWT from one issuer; running it again with another mode switches the same route), the
``$default`` stage, deployed automatically on every change and throttled, and a resource-based permission that lets
this API, and only this API, invoke the alias. With ``--cors-origin``, the API's CORS configuration lets the web page
(``web/index.html``) served from that origin call ``POST /predict`` from a browser (``ensure_cors``); without it, the
API has none. ``destroy_api.py`` takes the API down; ``security_tables.py`` writes the README's tables of who can
call and what a flood costs.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.parse

from tutorial_support.deployment import (
    ALIAS,
    DEFAULT_BURST,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RATE,
    PROJECT_TAGS,
    UNRESERVED_BURST,
    DeployError,
    is_ours,
    unreserved_rate,
)

ROUTE_KEY = "POST /predict"
STAGE = "$default"  # the stage served at the API's root URL: https://ID.execute-api.REGION.amazonaws.com/predict
# Throttling of every route of the stage: at most DEFAULT_RATE requests a second on average, DEFAULT_BURST at once
# (5 and 10: plenty for a tutorial), shared with chapter 05 (tutorial_support/deployment.py). With the function's
# reserved concurrency they cap what strangers who find the URL can spend (`deployment.flood_cost`, the README's
# table: `make security-tables`). Where the account could not reserve any, `default_throttle` lowers them
# (UNRESERVED_BURST, `unreserved_rate`). Over the limits, API Gateway answers 429 without invoking the function.
PERMISSION_ID = "allow-http-api"  # the statement id of the permission in the function's resource policy

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

# CORS (``--cors-origin``): what a browser lets the page of another origin do with POST /predict, and nothing more.
# The page sends one request, POST with a Content-Type header (the photo's image/jpeg, image/png or image/webp, or
# application/json for an address); those types are not CORS-safelisted, so the browser first asks with a preflight
# OPTIONS, which API Gateway answers itself from this configuration (no OPTIONS route, no call to the function), and
# it ignores any CORS header the function returns. The page sends no cookies, so credentials are not allowed.
# Source: docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html.
CORS_METHODS = ("POST",)  # ROUTE_KEY's method, the page's only request
CORS_HEADERS = ("content-type",)
CORS_JWT_HEADERS = ("authorization",)  # added for --auth jwt: a page that has a token sends it there
# How long a browser may reuse a preflight's answer, in seconds: 5 minutes, so that a narrowed or removed origin
# takes effect within minutes. Browsers cap it anyway: Firefox at 86,400 s, Chromium at 7,200 s
# (developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Access-Control-Max-Age).
CORS_MAX_AGE_S = 300
DEFAULT_PORTS = {"http": 80, "https": 443}  # a browser's Origin header leaves these out (the URL standard)
WILDCARD_REFUSED = (
    "a wildcard origin ({origin!r}) is refused: `*` (or API Gateway's `https://*` and `http://*`) would let every "
    "web page on the internet call your API from its visitors' browsers, each request spending your Lambda and API "
    "Gateway money and a share of the throttle and of the function's concurrency cap, so that your own page gets "
    "429s. CORS does not stop curl or scripts (they ignore it; only AUTH=iam or AUTH=jwt does), but it decides which "
    "pages can borrow other people's browsers. Name the page's own origin, as the browser's address bar shows it: "
    "--cors-origin http://127.0.0.1:8080 for make serve, or https://your-static-host.example.")


def check_cors_origin(origin: str) -> str:
    """``origin`` as a browser sends it in its ``Origin`` header: ``scheme://host[:port]``, scheme and host in lower
    case, a default port (80 for http, 443 for https) and one trailing ``/`` left out. ``https`` anywhere; ``http``
    only on this machine (``localhost``, a loopback address), where ``make serve`` runs: a page served over plain
    http from elsewhere can be rewritten by anyone on the way, who would then hold the allowed origin.

    Returns:
        the origin, normalised.

    Raises:
        ValueError: a wildcard (``WILDCARD_REFUSED``), ``null`` (the origin of every sandboxed frame and ``file://``
            page), a path, query, fragment or user name, another scheme, an invalid host or port, or ``http`` for
            a host other than this machine; each with what to pass instead.
    """
    text = origin.strip()
    if "*" in text:
        raise ValueError(WILDCARD_REFUSED.format(origin=origin))
    if text.lower() == "null":
        raise ValueError("the origin 'null' is refused: browsers send it for pages opened from file://, sandboxed "
                         "frames and some redirects, so any web page can make itself 'null'. Serve the page over "
                         "http on this machine (make serve) or from an https host, and name that origin.")
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"--cors-origin {origin!r} is not an origin ({error}): expected scheme://host[:port], "
                         "such as http://127.0.0.1:8080 or https://example.com") from None
    host = parts.hostname or ""
    if parts.scheme.lower() not in DEFAULT_PORTS or not host:
        raise ValueError(f"--cors-origin {origin!r} is not an origin: expected http:// or https://, a host and "
                         "optionally a port, such as http://127.0.0.1:8080 or https://example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError(f"--cors-origin {origin!r} has a path, query or fragment: an origin is only "
                         f"scheme://host[:port] (here {parts.scheme}://{parts.netloc}); the browser sends no path")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"--cors-origin {origin!r} has a user name: an origin is only scheme://host[:port]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
        if not all(label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
                   and not label.startswith("-") and not label.endswith("-") for label in host.split(".")):
            raise ValueError(f"--cors-origin {origin!r}: {host!r} is not a host name (letters, digits, '-' and "
                             "'.'; an internationalised name in its xn-- form)") from None
    else:
        if address.version == 6 and f"[{host}]" not in parts.netloc:
            raise ValueError(f"--cors-origin {origin!r}: an IPv6 address goes in brackets, http://[{host}]:PORT")
    scheme = parts.scheme.lower()
    on_this_machine = host == "localhost" or (address is not None and address.is_loopback)
    if scheme == "http" and not on_this_machine:
        raise ValueError(f"--cors-origin {origin!r} is refused: http is allowed only on this machine (localhost, "
                         "127.0.0.1, [::1]), where make serve runs. Anyone between a browser and a plain-http page "
                         "elsewhere can rewrite the page, and with it use the allowed origin; serve it over https "
                         f"(https://{host}).")
    if port == 0:
        raise ValueError(f"--cors-origin {origin!r}: port 0 is not a port a page can be served from")
    shown = f"[{host}]" if address is not None and address.version == 6 else host
    return f"{scheme}://{shown}" + ("" if port in (None, DEFAULT_PORTS[scheme]) else f":{port}")


def cors_configuration(origins, mode: str = "none") -> dict | None:
    """The API's ``CorsConfiguration`` for the pages served from ``origins`` (each checked by ``check_cors_origin``,
    duplicates dropped) and auth ``mode``: exactly those origins, ``CORS_METHODS``, ``CORS_HEADERS`` (and
    ``CORS_JWT_HEADERS`` for ``jwt``), no credentials, nothing exposed, preflights cached ``CORS_MAX_AGE_S``.

    Returns:
        the configuration, or None for no origins (no CORS: browsers refuse the page of any other origin).

    Raises:
        ValueError: an origin ``check_cors_origin`` refuses; or CORS with ``mode`` ``iam``, which no page can use.
    """
    checked = list(dict.fromkeys(check_cors_origin(origin) for origin in origins))
    if not checked:
        return None
    if mode == "iam":
        raise ValueError(
            "--cors-origin cannot go with --auth iam: every request must then be signed with SigV4 using AWS "
            "credentials, and the web page has none (it sends no credentials at all); handing AWS keys to a page "
            "would give them to everyone who opens it. Use --auth none for the page (throttled, public), or --auth "
            "jwt with a page that signs its users in; predict.py --auth iam is the client for an iam API.")
    headers = CORS_HEADERS + (CORS_JWT_HEADERS if mode == "jwt" else ())
    return {"AllowOrigins": checked, "AllowMethods": list(CORS_METHODS), "AllowHeaders": list(headers),
            "AllowCredentials": False, "MaxAge": CORS_MAX_AGE_S}


def same_cors(current: dict | None, wanted: dict | None) -> bool:
    """Whether the API's ``current`` CORS configuration (``get_api``) is ``wanted``: origins and methods as sets
    (methods in upper case), header names without regard to case, a missing list as empty, missing credentials as
    False. An empty configuration (``{}``) is a configuration, not none (anomalyco/sst#6748)."""
    if current is None or wanted is None:
        return current is None and wanted is None

    def shape(config: dict) -> tuple:
        return (frozenset(config.get("AllowOrigins") or ()),
                frozenset(m.upper() for m in config.get("AllowMethods") or ()),
                frozenset(h.lower() for h in config.get("AllowHeaders") or ()),
                frozenset(h.lower() for h in config.get("ExposeHeaders") or ()),
                bool(config.get("AllowCredentials")), config.get("MaxAge"))

    return shape(current) == shape(wanted)


def ensure_cors(apigw, api_id: str, origins=(), mode: str = "none") -> dict | None:
    """The API's CORS configuration: ``cors_configuration(origins, mode)``, set when it differs, or removed
    (``delete_cors_configuration``) when there are no origins, so that rerunning ``make api`` without
    ``--cors-origin`` takes CORS away. A differing configuration is deleted before the new one is set, since AWS
    does not document whether ``update_api`` keeps the fields a new configuration leaves out.

    Returns:
        the API's ``CorsConfiguration`` as it now is (``get_api``), or None.

    Raises:
        ValueError: as ``cors_configuration``, before anything is changed.
    """
    wanted = cors_configuration(origins, mode)
    current = apigw.get_api(ApiId=api_id).get("CorsConfiguration")
    if same_cors(current, wanted):
        return current
    if current is not None:
        apigw.delete_cors_configuration(ApiId=api_id)
    if wanted is not None:
        apigw.update_api(ApiId=api_id, CorsConfiguration=wanted)
    return apigw.get_api(ApiId=api_id).get("CorsConfiguration")


def api_name(name: str) -> str:
    """The HTTP API's name for deployment ``name``."""
    return f"{name}-api"


def find_api(apigw, name: str) -> dict | None:
    """The HTTP API called ``name`` and tagged as this project's, or None."""
    paginator = apigw.get_paginator("get_apis")
    for page in paginator.paginate():
        for api in page["Items"]:
            if api["Name"] == name and api.get("ProtocolType") == "HTTP" and is_ours(api.get("Tags")):
                return api
    return None


def ensure_api(apigw, name: str) -> dict:
    """The HTTP API ``name`` (``get_apis``), created with this project's tags when absent. Returns it."""
    api = find_api(apigw, name)
    if api is None:
        api = apigw.create_api(Name=name, ProtocolType="HTTP", Tags=dict(PROJECT_TAGS),
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
    # TODO: make sure the API has one Lambda proxy integration of `function_arn` (payload format 2.0) and one route ROUTE_KEY targeting it, reusing what exists and pointing the route at the new function when it changes; leave the API's other routes alone. Return (integration id, route id).
    raise NotImplementedError("make sure the API has one Lambda proxy integration of `function_arn` (payload format 2.0) and one route ROUTE_KEY targeting it, reusing what exists and pointing the route at the new function when it changes; leave the API's other routes alone. Return (integration id, route id).")


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
    # TODO: make sure the API has the stage STAGE, deployed automatically and throttled to `rate` requests a second with bursts of `burst`: created when absent, updated when its settings differ. Return the stage.
    raise NotImplementedError('make sure the API has the stage STAGE, deployed automatically and throttled to `rate` requests a second with bursts of `burst`: created when absent, updated when its settings differ. Return the stage.')


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
    # TODO: make sure the resource-based policy of `function_name:qualifier` has one statement PERMISSION_ID letting API Gateway invoke it for requests to `api_source_arn` only (replaced when it names another source; other statements left alone). Return that statement as it is in the policy.
    raise NotImplementedError('make sure the resource-based policy of `function_name:qualifier` has one statement PERMISSION_ID letting API Gateway invoke it for requests to `api_source_arn` only (replaced when it names another source; other statements left alone). Return that statement as it is in the policy.')


def default_throttle(lambda_client, name: str) -> tuple[int, float, str]:
    """The stage's throttle for function ``name`` when ``make api`` is given none: ``DEFAULT_BURST``/``DEFAULT_RATE``
    when the function has reserved concurrency (it caps the copies); else (an account whose limit left nothing to
    reserve: chapter 05) ``UNRESERVED_BURST`` and ``unreserved_rate`` of the function's timeout, so that at most
    ``DEFAULT_MAX_CONCURRENCY`` requests are in flight however slow each one is.

    Returns:
        (burst, rate in requests a second, why: a sentence for the printout).
    """
    reserved = lambda_client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
    if reserved:
        return DEFAULT_BURST, DEFAULT_RATE, f"the function has {reserved} reserved concurrent executions"
    timeout = lambda_client.get_function_configuration(FunctionName=name, Qualifier=ALIAS)["Timeout"]
    return UNRESERVED_BURST, unreserved_rate(timeout), (
        "the function has no reserved concurrency (the account's concurrency limit left none to reserve): lowered "
        f"so that at most {DEFAULT_MAX_CONCURRENCY} requests of up to {timeout} s are in flight")


def create(session, name: str, burst: int | None = None, rate: float | None = None, auth: str = "none",
           issuer: str | None = None, audience: list[str] | tuple[str, ...] = (), cors_origins=()) -> str:
    """Every step of ``make api`` for deployment ``name`` (whose function and alias chapter 05 created).

    Args:
        burst, rate: the stage's throttle (requests at once, requests a second); None: ``default_throttle``.
        auth, issuer, audience: who may call the route (``ensure_auth``).
        cors_origins: the origins whose pages a browser lets call the route (``ensure_cors``); none: no CORS.

    Returns:
        the invoke URL of ``POST /predict``.

    Raises:
        DeployError: the function or its alias does not exist (run ``make deploy`` first).
        ValueError: ``auth`` is unknown, or ``jwt`` lacks an issuer or audience; a CORS origin is refused, or CORS
            goes with ``iam`` (``cors_configuration``): checked before anything is changed.
        botocore.exceptions.ClientError: an AWS call failed.
    """
    cors_configuration(cors_origins, auth)  # refuses a bad origin, or iam with CORS, before any change
    apigw, lambda_client = session.client("apigatewayv2"), session.client("lambda")
    try:
        alias_arn = lambda_client.get_alias(FunctionName=name, Name=ALIAS)["AliasArn"]
    except lambda_client.exceptions.ResourceNotFoundException:
        raise DeployError(f"the function {name} has no alias {ALIAS!r} in {session.region_name}: "
                                 "run `make deploy` first (same --name and --region).") from None
    if burst is None or rate is None:
        default_burst, default_rate, why = default_throttle(lambda_client, name)
        burst, rate = default_burst if burst is None else burst, default_rate if rate is None else rate
        print(f"  throttle: {rate:.3g} requests/s, bursts of {burst}: {why}")
    api = ensure_api(apigw, api_name(name))
    integration_id, route_id = ensure_route(apigw, api["ApiId"], alias_arn)
    print(f"  route {ROUTE_KEY} -> integration {integration_id} (Lambda proxy, payload 2.0) -> {alias_arn}")
    route = ensure_auth(apigw, api["ApiId"], route_id, auth, issuer, audience)
    print(f"  auth {auth}: AuthorizationType {route.get('AuthorizationType', 'NONE')}; "
          + who_can_call(auth, source_arn(alias_arn, api["ApiId"]), issuer, audience))
    cors = ensure_cors(apigw, api["ApiId"], cors_origins, auth)
    print("  CORS: " + (f"pages from {', '.join(cors['AllowOrigins'])} may send {', '.join(cors['AllowMethods'])} "
                        f"with {', '.join(cors['AllowHeaders'])} (preflight cached {cors.get('MaxAge')} s)" if cors
                        else "none (browsers refuse pages of other origins; make api ARGS='--cors-origin ORIGIN')"))
    stage = ensure_stage(apigw, api["ApiId"], burst, rate)
    limits = stage["DefaultRouteSettings"]
    print(f"  stage {STAGE}: auto-deploy, throttled to {limits['ThrottlingRateLimit']:.3g} requests/s, "
          f"bursts of {limits['ThrottlingBurstLimit']}")
    statement = allow_invoke(lambda_client, name, ALIAS, source_arn(alias_arn, api["ApiId"]))
    print(f"  permission {statement['Sid']}: apigateway.amazonaws.com may invoke {name}:{ALIAS} for "
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
