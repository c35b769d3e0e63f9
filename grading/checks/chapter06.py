"""Checks of chapter 06 (``06_api_gateway/api.py``) in a fresh moto account: the route, the stage, the permission.

moto runs with ``tutorial_support.moto_lifecycle`` (entered by ``mock_aws_account``, and here again): it has
apigatewayv2's ``update_stage``, and refuses a second ``create_stage`` of a stage name (``ConflictException``) as
AWS does.
"""

from __future__ import annotations

import functools
import json

from grading import hints
from grading.checks.chapter05 import GRADED_NAME, student_aws_errors, wait_ready
from grading.outcomes import exercise
from tutorial_support.moto_account import fake_images, lambda_role, mock_aws_account
from tutorial_support.moto_lifecycle import lifecycle

CHAPTER = "06_api_gateway"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request

ROUTE_KEY = "POST /predict"
ACCOUNT_ARN = "arn:aws:lambda:us-east-1:123456789012:function"


@exercise("06_api_gateway", "ensure_route")
def check_ensure_route(module):
    """Check ``module.ensure_route(apigw, api_id, function_arn)``: one proxy integration (payload 2.0) and the route
    POST /predict to it; a second call reuses both; a new function ARN moves the route; other routes left alone."""
    with mock_aws_account() as session, lifecycle():
        apigw = session.client("apigatewayv2")
        api_id = apigw.create_api(Name=f"{GRADED_NAME}-api", ProtocolType="HTTP")["ApiId"]
        health = apigw.create_route(ApiId=api_id, RouteKey="GET /health")  # someone's other route: left alone
        alias, other = f"{ACCOUNT_ARN}:{GRADED_NAME}:live", f"{ACCOUNT_ARN}:{GRADED_NAME}-2:live"
        for target, what in [(alias, "first call"), (alias, "second call"), (other, "another function")]:
            with student_aws_errors(f"ensure_route ({what})"):
                result = module.ensure_route(apigw, api_id, target)
            assert isinstance(result, tuple) and len(result) == 2, f"return (integration id, route id), got {result!r}"
            integrations = {i["IntegrationId"]: i for i in apigw.get_integrations(ApiId=api_id)["Items"]}
            routes = apigw.get_routes(ApiId=api_id)["Items"]
            others = [r for r in routes if r["RouteId"] == health["RouteId"]]
            assert others and others[0]["RouteKey"] == "GET /health" and "Target" not in others[0], (
                f"{what}: the API's other route GET /health must be left alone (look for the route whose RouteKey "
                f"is {ROUTE_KEY}), it is now {others[0] if others else 'gone'}")
            ours = [r for r in routes if r["RouteId"] != health["RouteId"]]
            assert [r["RouteKey"] for r in ours] == [ROUTE_KEY], (
                f"{what}: besides GET /health the API should have one route, {ROUTE_KEY} (method and path, as "
                f"ROUTE_KEY), got {[r['RouteKey'] for r in ours]}")
            route = ours[0]
            integration = integrations.get(route.get("Target", "").removeprefix("integrations/"))
            assert route.get("Target", "").startswith("integrations/") and integration is not None, (
                f"{what}: the route's Target should be 'integrations/<integration id>', got {route.get('Target')!r}")
            assert integration["IntegrationType"] == "AWS_PROXY", (
                f"use a Lambda proxy integration (IntegrationType AWS_PROXY), got {integration['IntegrationType']}")
            assert integration["IntegrationUri"] == target, (
                f"{what}: the route should invoke {target}, it invokes {integration['IntegrationUri']} (when the "
                "function ARN changes, point the route at an integration of the new one: update_route)")
            assert integration.get("PayloadFormatVersion") == "2.0", (
                f"use payload format 2.0 (the HTTP API's event, which the handler reads), got "
                f"{integration.get('PayloadFormatVersion')}")
            assert result == (integration["IntegrationId"], route["RouteId"]), (
                f"return (integration id, route id) = {(integration['IntegrationId'], route['RouteId'])}, "
                f"got {result}")
            if what == "second call":
                assert len(integrations) == 1, (
                    f"a second call with the same function should reuse its integration, not add one: there are "
                    f"{len(integrations)}")


@exercise("06_api_gateway", "ensure_stage")
def check_ensure_stage(module):
    """Check ``module.ensure_stage(apigw, api_id, burst, rate)``: one $default stage, auto-deployed and throttled to
    the limits given; updated (not re-created) when they change; a hand-made $default stage brought in line."""
    with mock_aws_account() as session, lifecycle():
        apigw = session.client("apigatewayv2")
        api_id = apigw.create_api(Name=f"{GRADED_NAME}-api", ProtocolType="HTTP")["ApiId"]
        # Limits unlike the defaults (burst 10, rate 5), then changed: (burst, rate) as ensure_stage takes them.
        calls = [(7, 3.0, "first call"), (7, 3.0, "second call, same limits"), (2, 1.0, "third call, new limits")]
        hand_made = apigw.create_api(Name=f"{GRADED_NAME}-hand-api", ProtocolType="HTTP")["ApiId"]
        apigw.create_stage(ApiId=hand_made, StageName="$default", AutoDeploy=False)  # made in the console, say
        calls.append((4, 2.0, "a $default stage without AutoDeploy or limits"))
        for burst, rate, what in calls:
            api = hand_made if what.startswith("a $default") else api_id
            with student_aws_errors(f"ensure_stage ({what})", {"ConflictException": (
                    "The stage exists: update it (update_stage) when its settings differ, create it only when "
                    "get_stages has none")}):
                stage = module.ensure_stage(apigw, api, burst, rate)
            stages = apigw.get_stages(ApiId=api)["Items"]
            assert [s["StageName"] for s in stages] == ["$default"], (
                f"{what}: expected one stage, $default (served at the API's root URL, STAGE), got "
                f"{[s['StageName'] for s in stages]}")
            got = stages[0]
            assert got.get("AutoDeploy") is True, (
                f"{what}: the stage should deploy every change automatically (AutoDeploy=True), got "
                f"{got.get('AutoDeploy')}")
            limits = got.get("DefaultRouteSettings") or {}
            assert (limits.get("ThrottlingBurstLimit"), limits.get("ThrottlingRateLimit")) == (burst, rate), (
                f"{what}: with burst={burst} and rate={rate}, DefaultRouteSettings should have ThrottlingBurstLimit "
                f"{burst} and ThrottlingRateLimit {rate} (update_stage when they differ), got {limits}")
            assert isinstance(stage, dict) and stage.get("StageName") == "$default", (
                f"return the stage (get_stage), got {stage!r}")
            returned = stage.get("DefaultRouteSettings") or {}
            assert (returned.get("ThrottlingBurstLimit"), returned.get("ThrottlingRateLimit")) == (burst, rate), (
                f"{what}: return the stage as it is after the change (get_stage), got {returned}")


@exercise("06_api_gateway", "allow_invoke")
def check_allow_invoke(module):
    """Check ``module.allow_invoke(lambda_client, name, qualifier, source_arn)``: one statement, on the qualifier
    (alias) given only, for that API only; replaced when the API changes; others' statements left alone."""
    with mock_aws_account() as session, lifecycle():
        (image,) = fake_images(session, GRADED_NAME, ("v1",))
        lam = session.client("lambda")
        lam.create_function(FunctionName=GRADED_NAME, PackageType="Image", Code={"ImageUri": image},
                            Role=lambda_role(session, f"{GRADED_NAME}-role"))
        wait_ready(lam, GRADED_NAME)
        version = lam.publish_version(FunctionName=GRADED_NAME)["Version"]
        for alias in ("live", "staging"):
            lam.create_alias(FunctionName=GRADED_NAME, Name=alias, FunctionVersion=version)
        # Someone else's statement on the alias (EventBridge may invoke it): left alone.
        foreign = {"StatementId": "nightly-warmup", "Action": "lambda:InvokeFunction",
                   "Principal": "events.amazonaws.com"}
        lam.add_permission(FunctionName=GRADED_NAME, Qualifier="staging", **foreign)
        api = "arn:aws:execute-api:us-east-1:123456789012:{}/*/POST/predict"
        calls = [("staging", api.format("abc123"), "first call"), ("staging", api.format("abc123"), "second call"),
                 ("staging", api.format("def456"), "another API")]
        for qualifier, source, what in calls:
            with student_aws_errors(f"allow_invoke ({what})", {"ResourceConflictException": (
                    "A statement with that StatementId exists: remove_permission it before adding the new one")}):
                returned = module.allow_invoke(lam, GRADED_NAME, qualifier, source)
            try:
                policy = json.loads(lam.get_policy(FunctionName=GRADED_NAME, Qualifier=qualifier)["Policy"])
            except lam.exceptions.ResourceNotFoundException:
                raise AssertionError(f"the alias {qualifier} has no resource-based policy: use add_permission "
                                     "with Qualifier") from None
            statements = policy["Statement"]
            kept = [s for s in statements if s.get("Sid") == foreign["StatementId"]]
            assert kept and kept[0].get("Principal") == {"Service": "events.amazonaws.com"}, (
                f"{what}: the policy's other statement ({foreign['StatementId']}, someone else's) must be left "
                "alone; replace only your own statement (its StatementId)")
            ours = [s for s in statements if s.get("Sid") != foreign["StatementId"]]
            assert len(ours) == 1, (
                f"{what}: the policy should hold one statement of yours (replaced when the API changes: "
                f"remove_permission, then add_permission), got {len(ours)}: {[s.get('Sid') for s in ours]}")
            statement = ours[0]
            assert statement.get("Principal") in ({"Service": "apigateway.amazonaws.com"},
                                                  "apigateway.amazonaws.com"), (
                f"the principal should be the service apigateway.amazonaws.com, got {statement.get('Principal')}")
            assert statement.get("Action") == "lambda:InvokeFunction", (
                f"allow lambda:InvokeFunction only, got {statement.get('Action')}")
            resource = statement.get("Resource", "")
            assert resource.endswith(f"function:{GRADED_NAME}:{qualifier}"), (
                f"the permission should be on {GRADED_NAME}:{qualifier}, the qualifier given (add_permission's "
                f"Qualifier), got {resource}")
            got = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
            assert got == source, (
                f"{what}: only requests to {source} may invoke (add_permission's SourceArn); without it any API "
                f"Gateway API could. Got {got}")
            assert isinstance(returned, dict) and returned.get("Sid") == statement.get("Sid") and \
                returned.get("Condition") == statement.get("Condition"), (
                    f"return the statement as it is in the policy (get_policy), got {returned!r}")
