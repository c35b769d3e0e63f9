"""Put an API Gateway HTTP API in front of the deployed function, or take it down (chapter 06).

    python solutions/06_api_gateway/api.py create  [--region R] [--name N] [--burst B] [--rate R] [--dry-run]
    python solutions/06_api_gateway/api.py destroy [--region R] [--name N] [--dry-run]

``create`` (``make api``), each step idempotent: the HTTP API ``NAME-api`` (tagged as this project's), a Lambda proxy
integration with payload format 2.0 on the function's ``live`` alias (chapter 05), the route ``POST /predict``, the
``$default`` stage, deployed automatically on every change and throttled, and a resource-based permission that lets
this API, and only this API, invoke the alias. It prints the invoke URL. ``destroy`` deletes the API (``make
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
# plenty for a tutorial and caps what strangers who find the URL can spend: at most 432,000 requests a day
# ($0.43 of HTTP API requests), and the function's reserved concurrency (chapter 05) caps its compute. Over the
# limits, API Gateway answers 429 Too Many Requests without invoking the function (nothing billed).
DEFAULT_BURST, DEFAULT_RATE = 10, 5.0
PERMISSION_ID = "allow-http-api"  # the statement id of the permission in the function's resource policy


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
    # BEGIN SOLUTION
    # HINT: get_integrations / create_integration(IntegrationType="AWS_PROXY", IntegrationUri=function_arn,
    # HINT: PayloadFormatVersion="2.0"); get_routes / create_route(RouteKey=ROUTE_KEY,
    # HINT: Target=f"integrations/{integration_id}") or update_route when its target differs.
    integrations = [i for i in apigw.get_integrations(ApiId=api_id)["Items"]
                    if i.get("IntegrationType") == "AWS_PROXY" and i.get("IntegrationUri") == function_arn]
    if integrations and integrations[0].get("PayloadFormatVersion") == "2.0":
        integration_id = integrations[0]["IntegrationId"]
    elif integrations:
        integration_id = apigw.update_integration(ApiId=api_id, IntegrationId=integrations[0]["IntegrationId"],
                                                  PayloadFormatVersion="2.0")["IntegrationId"]
    else:
        integration_id = apigw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn, PayloadFormatVersion="2.0",
            TimeoutInMillis=30_000)["IntegrationId"]
    target = f"integrations/{integration_id}"
    routes = [r for r in apigw.get_routes(ApiId=api_id)["Items"] if r["RouteKey"] == ROUTE_KEY]
    if not routes:
        route_id = apigw.create_route(ApiId=api_id, RouteKey=ROUTE_KEY, Target=target)["RouteId"]
    elif routes[0].get("Target") != target:
        route_id = apigw.update_route(ApiId=api_id, RouteId=routes[0]["RouteId"], Target=target)["RouteId"]
    else:
        route_id = routes[0]["RouteId"]
    return integration_id, route_id
    # END SOLUTION


def ensure_stage(apigw, api_id: str, burst: int = DEFAULT_BURST, rate: float = DEFAULT_RATE) -> dict:
    """The ``$default`` stage: deployed automatically on every change, every route throttled to ``rate`` requests a
    second with bursts of ``burst``. Created when absent; updated when its settings differ.

    Returns:
        the stage (``get_stage``).
    """
    # BEGIN SOLUTION
    # HINT: get_stages; create_stage(StageName=STAGE, AutoDeploy=True, DefaultRouteSettings={"ThrottlingBurstLimit":
    # HINT: burst, "ThrottlingRateLimit": rate}, Tags=...) when there is none, update_stage when its settings differ.
    settings = {"ThrottlingBurstLimit": burst, "ThrottlingRateLimit": float(rate)}
    stages = {s["StageName"]: s for s in apigw.get_stages(ApiId=api_id)["Items"]}
    if STAGE not in stages:
        apigw.create_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True, DefaultRouteSettings=settings,
                           Tags=dict(deploy.PROJECT_TAGS))
    else:
        current = stages[STAGE].get("DefaultRouteSettings", {})
        if not stages[STAGE].get("AutoDeploy") or any(current.get(k) != v for k, v in settings.items()):
            apigw.update_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True, DefaultRouteSettings=settings)
    return apigw.get_stage(ApiId=api_id, StageName=STAGE)
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT: read get_policy(FunctionName, Qualifier) (ResourceNotFoundException: no policy yet); when there is no
    # HINT: statement with Sid PERMISSION_ID for this source, remove_permission it and add_permission(StatementId=
    # HINT: PERMISSION_ID, Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com", SourceArn=...).
    def statement():
        try:
            policy = json.loads(lambda_client.get_policy(FunctionName=function_name, Qualifier=qualifier)["Policy"])
        except lambda_client.exceptions.ResourceNotFoundException:
            return None
        return next((s for s in policy["Statement"] if s.get("Sid") == PERMISSION_ID), None)

    current = statement()
    if current is not None and current.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn") == api_source_arn:
        return current
    if current is not None:
        lambda_client.remove_permission(FunctionName=function_name, Qualifier=qualifier, StatementId=PERMISSION_ID)
    lambda_client.add_permission(FunctionName=function_name, Qualifier=qualifier, StatementId=PERMISSION_ID,
                                 Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                                 SourceArn=api_source_arn)
    return statement()
    # END SOLUTION


def create(session, name: str, burst: int = DEFAULT_BURST, rate: float = DEFAULT_RATE) -> str:
    """Every step of ``make api`` for deployment ``name`` (whose function and alias chapter 05 created).

    Returns:
        the invoke URL of ``POST /predict``.

    Raises:
        deploy.DeployError: the function or its alias does not exist (run ``make deploy`` first).
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
    stage = ensure_stage(apigw, api["ApiId"], burst, rate)
    limits = stage["DefaultRouteSettings"]
    print(f"  stage {STAGE}: auto-deploy, throttled to {limits['ThrottlingRateLimit']:g} requests/s, "
          f"bursts of {limits['ThrottlingBurstLimit']}")
    statement = allow_invoke(lambda_client, name, deploy.ALIAS, source_arn(alias_arn, api["ApiId"]))
    print(f"  permission {statement['Sid']}: apigateway.amazonaws.com may invoke {name}:{deploy.ALIAS} for "
          f"{statement['Condition']['ArnLike']['AWS:SourceArn']} only")
    return f"{api['ApiEndpoint']}/predict"


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("create", help="create or update the HTTP API and print its invoke URL")
    down = commands.add_parser("destroy", help="delete the HTTP API")
    for sub in (up, down):
        deploy.add_common_arguments(sub)
    up.add_argument("--burst", type=int, default=DEFAULT_BURST, help="requests at once before throttling")
    up.add_argument("--rate", type=float, default=DEFAULT_RATE, help="requests a second, on average")
    args = parser.parse_args(argv)

    def command() -> int:
        session = deploy.session_for(args.region)
        if args.command == "destroy":
            removed = destroy(session, args.name, args.dry_run)
            print("\n".join(removed) if removed else f"No API of {args.name!r} to remove in {session.region_name}.")
            return 0
        print(f"Plan: in {session.region_name}, the HTTP API {api_name(args.name)} (tagged "
              + ", ".join(f"{k}={v}" for k, v in deploy.PROJECT_TAGS.items())
              + f"), if absent; route {ROUTE_KEY} to {args.name}:{deploy.ALIAS} (Lambda proxy, payload 2.0); stage "
              f"{STAGE} (auto-deploy, {args.rate:g} requests/s, bursts of {args.burst}); permission for this API "
              f"only to invoke {args.name}:{deploy.ALIAS}.")
        if args.dry_run:
            print("Dry run: nothing was changed.")
            return 0
        url = create(session, args.name, args.burst, args.rate)
        print(f"Invoke URL: {url}\nTry it: python solutions/06_api_gateway/predict.py {url} IMAGE_URL")
        return 0

    return deploy.run_safely(command)


if __name__ == "__main__":
    sys.exit(main())
