"""Checks of chapter 06 (``06_api_gateway/api.py``) in a fresh moto account: the route, the stage, the permission."""

from __future__ import annotations

import functools
import json

from grading import hints
from grading.checks.chapter05 import GRADED_NAME
from grading.outcomes import exercise
from tutorial_support.moto_account import fake_images, lambda_role, mock_aws_account

CHAPTER = "06_api_gateway"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request


@exercise("06_api_gateway", "ensure_route")
def check_ensure_route(module):
    """Check ``module.ensure_route(apigw, api_id, function_arn)``: one proxy integration (2.0) and POST /predict."""
    with mock_aws_account() as session:
        apigw = session.client("apigatewayv2")
        api_id = apigw.create_api(Name=f"{GRADED_NAME}-api", ProtocolType="HTTP")["ApiId"]
        alias = f"arn:aws:lambda:us-east-1:123456789012:function:{GRADED_NAME}:live"
        other = f"arn:aws:lambda:us-east-1:123456789012:function:{GRADED_NAME}-2:live"
        for target, what in [(alias, "first call"), (alias, "second call"), (other, "another function")]:
            result = module.ensure_route(apigw, api_id, target)
            assert isinstance(result, tuple) and len(result) == 2, f"return (integration id, route id), got {result!r}"
            integrations = {i["IntegrationId"]: i for i in apigw.get_integrations(ApiId=api_id)["Items"]}
            routes = apigw.get_routes(ApiId=api_id)["Items"]
            assert [r["RouteKey"] for r in routes] == ["POST /predict"], (
                f"{what}: the API should have one route, POST /predict, got {[r['RouteKey'] for r in routes]}")
            integration = integrations.get(routes[0].get("Target", "").removeprefix("integrations/"))
            assert integration is not None, f"{what}: the route's Target should be 'integrations/<id>', got {routes[0]}"
            assert integration["IntegrationType"] == "AWS_PROXY", "use a Lambda proxy integration (AWS_PROXY)"
            assert integration["IntegrationUri"] == target, (
                f"{what}: the route should invoke {target}, it invokes {integration['IntegrationUri']}")
            assert integration.get("PayloadFormatVersion") == "2.0", (
                f"use payload format 2.0, got {integration.get('PayloadFormatVersion')}")
            assert result == (integration["IntegrationId"], routes[0]["RouteId"]), (
                f"return (integration id, route id) = {(integration['IntegrationId'], routes[0]['RouteId'])}")
            if what == "second call":
                assert len(integrations) == 1, f"a second call should reuse the integration, got {len(integrations)}"


@exercise("06_api_gateway", "ensure_stage")
def check_ensure_stage(module):
    """Check ``module.ensure_stage(apigw, api_id, burst, rate)``: one $default stage, auto-deployed and throttled."""
    with mock_aws_account() as session:
        apigw = session.client("apigatewayv2")
        api_id = apigw.create_api(Name=f"{GRADED_NAME}-api", ProtocolType="HTTP")["ApiId"]
        for call in ("first", "second"):
            stage = module.ensure_stage(apigw, api_id, 7, 3.0)
            stages = apigw.get_stages(ApiId=api_id)["Items"]
            assert [s["StageName"] for s in stages] == ["$default"], (
                f"{call} call: expected one stage, $default, got {[s['StageName'] for s in stages]}")
            got = stages[0]
            assert got.get("AutoDeploy") is True, "the stage should deploy automatically (AutoDeploy=True)"
            limits = got.get("DefaultRouteSettings") or {}
            assert (limits.get("ThrottlingBurstLimit"), limits.get("ThrottlingRateLimit")) == (7, 3.0), (
                f"with burst 7 and rate 3.0, DefaultRouteSettings should throttle to them, got {limits}")
            assert isinstance(stage, dict) and stage.get("StageName") == "$default", (
                f"return the stage (get_stage), got {stage!r}")


@exercise("06_api_gateway", "allow_invoke")
def check_allow_invoke(module):
    """Check ``module.allow_invoke(lambda_client, name, qualifier, source_arn)``: one statement, on the alias only,
    for that API only; replaced when the API changes."""
    with mock_aws_account() as session:
        (image,) = fake_images(session, GRADED_NAME, ("v1",))
        lam = session.client("lambda")
        lam.create_function(FunctionName=GRADED_NAME, PackageType="Image", Code={"ImageUri": image},
                            Role=lambda_role(session, f"{GRADED_NAME}-role"))
        version = lam.publish_version(FunctionName=GRADED_NAME)["Version"]
        lam.create_alias(FunctionName=GRADED_NAME, Name="live", FunctionVersion=version)
        sources = ["arn:aws:execute-api:us-east-1:123456789012:abc123/*/POST/predict",
                   "arn:aws:execute-api:us-east-1:123456789012:abc123/*/POST/predict",
                   "arn:aws:execute-api:us-east-1:123456789012:def456/*/POST/predict"]
        for source in sources:
            module.allow_invoke(lam, GRADED_NAME, "live", source)
            try:
                policy = json.loads(lam.get_policy(FunctionName=GRADED_NAME, Qualifier="live")["Policy"])
            except lam.exceptions.ResourceNotFoundException:
                raise AssertionError("the alias live has no resource-based policy: use add_permission") from None
            statements = policy["Statement"]
            assert len(statements) == 1, f"the alias's policy should hold one statement, got {len(statements)}"
            statement = statements[0]
            assert statement.get("Principal") in ({"Service": "apigateway.amazonaws.com"},
                                                  "apigateway.amazonaws.com"), (
                f"the principal should be apigateway.amazonaws.com, got {statement.get('Principal')}")
            assert statement.get("Action") == "lambda:InvokeFunction", "allow lambda:InvokeFunction only"
            assert statement.get("Resource", "").endswith(f"function:{GRADED_NAME}:live"), (
                f"the permission should be on the alias live (Qualifier), got {statement.get('Resource')}")
            got = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
            assert got == source, f"only {source} may invoke (SourceArn), got {got}"
