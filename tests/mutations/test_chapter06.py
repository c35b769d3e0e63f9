"""Mutation tests of chapter 06's checks (``06_api_gateway/api.py``): plausible wrong answers are graded incorrect,
with a message that names the mistake, and right answers written differently from the reference are graded correct.

Each case is the reference solution with a few exact text edits (``submission`` in tests/conftest.py), run in the
grading sandbox against a fresh moto account (with apigatewayv2's ``update_stage``, and ``create_stage`` refusing a
stage that exists, as on AWS: ``tutorial_support.moto_lifecycle``).
"""

import pytest

from grading.checks import chapter06 as checks
from grading.outcomes import Incorrect

CHAPTER, SCRIPT = "06_api_gateway", "api.py"

# ------------------------------------------------------------------------------------------------ ensure_route

REUSE = '    if integrations and integrations[0].get("PayloadFormatVersion") == "2.0":\n'
REUSE_UPDATED = "    elif integrations:\n"
CREATE_INTEGRATION = '''\
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn, PayloadFormatVersion="2.0",
'''
TARGET = '    target = f"integrations/{integration_id}"\n'
ROUTES = '    routes = [r for r in apigw.get_routes(ApiId=api_id)["Items"] if r["RouteKey"] == ROUTE_KEY]\n'
CREATE_ROUTE = '        route_id = apigw.create_route(ApiId=api_id, RouteKey=ROUTE_KEY, Target=target)["RouteId"]\n'
MOVE_ROUTE = '''    elif routes[0].get("Target") != target:
        route_id = apigw.update_route(ApiId=api_id, RouteId=routes[0]["RouteId"], Target=target)["RouteId"]
'''
ROUTE_RETURN = "    return integration_id, route_id\n"
ROUTE_REGION = '''    integrations = [i for i in apigw.get_integrations(ApiId=api_id)["Items"]
                    if i.get("IntegrationType") == "AWS_PROXY" and i.get("IntegrationUri") == function_arn]
''' + REUSE + '''        integration_id = integrations[0]["IntegrationId"]
''' + REUSE_UPDATED + '''\
        integration_id = apigw.update_integration(ApiId=api_id, IntegrationId=integrations[0]["IntegrationId"],
                                                  PayloadFormatVersion="2.0")["IntegrationId"]
    else:
        integration_id = apigw.create_integration(
''' + CREATE_INTEGRATION + '''            TimeoutInMillis=30_000)["IntegrationId"]
''' + TARGET + ROUTES + '''    if not routes:
''' + CREATE_ROUTE + MOVE_ROUTE + '''    else:
        route_id = routes[0]["RouteId"]
'''

ROUTE_WRONG = {
    "payload_format_1_0": ([(CREATE_INTEGRATION, CREATE_INTEGRATION.replace('"2.0"', '"1.0"'))],
                           "use payload format 2.0"),
    "omits_the_payload_format": ([(CREATE_INTEGRATION, CREATE_INTEGRATION.replace(' PayloadFormatVersion="2.0",', ""))],
                                 "use payload format 2.0"),
    "a_new_integration_on_every_call": ([(REUSE, "    if False:\n"), (REUSE_UPDATED, "    elif False:\n")],
                                        "should reuse its integration"),
    "any_method_route_key": ([(CREATE_ROUTE, CREATE_ROUTE.replace("RouteKey=ROUTE_KEY", 'RouteKey="ANY /predict"'))],
                             "one route, POST /predict"),
    "path_without_the_method": ([(CREATE_ROUTE, CREATE_ROUTE.replace("RouteKey=ROUTE_KEY", 'RouteKey="/predict"'))],
                                "one route, POST /predict"),
    "route_not_moved_to_the_new_function": ([(MOVE_ROUTE, "")], "point the route at an integration of the new one"),
    "non_proxy_integration": ([(CREATE_INTEGRATION, CREATE_INTEGRATION.replace('IntegrationType="AWS_PROXY"',
                                                                               'IntegrationType="AWS"'))],
                              "IntegrationType AWS_PROXY"),
    "target_without_the_integrations_prefix": ([(TARGET, "    target = integration_id\n")],
                                               "Target should be 'integrations/<integration id>'"),
    "takes_the_first_route_whatever_its_key": ([(ROUTES, '    routes = apigw.get_routes(ApiId=api_id)["Items"]\n')],
                                               "GET /health must be left alone"),
    "returns_the_ids_swapped": ([(ROUTE_RETURN, "    return route_id, integration_id\n")],
                                r"return \(integration id, route id\)"),
}

ROUTE_RIGHT = {
    # next() instead of list comprehensions; the route always updated when it exists; no payload-format repair.
    "next_and_always_update": [(ROUTE_REGION, '''\
    integration_id = next((i["IntegrationId"] for i in apigw.get_integrations(ApiId=api_id)["Items"]
                           if i["IntegrationUri"] == function_arn), None)
    if integration_id is None:
        integration_id = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                                  IntegrationUri=function_arn,
                                                  PayloadFormatVersion="2.0")["IntegrationId"]
    route = next((r for r in apigw.get_routes(ApiId=api_id)["Items"] if r["RouteKey"] == "POST /predict"), None)
    if route is None:
        route_id = apigw.create_route(ApiId=api_id, RouteKey="POST /predict",
                                      Target="integrations/" + integration_id)["RouteId"]
    else:
        route_id = route["RouteId"]
        apigw.update_route(ApiId=api_id, RouteId=route_id, Target="integrations/" + integration_id)
''')],
    # Dictionaries keyed by URI and route key.
    "dictionaries": [(ROUTE_REGION, '''\
    by_uri = {i["IntegrationUri"]: i["IntegrationId"] for i in apigw.get_integrations(ApiId=api_id)["Items"]
              if i["IntegrationType"] == "AWS_PROXY" and i.get("PayloadFormatVersion") == "2.0"}
    integration_id = by_uri.get(function_arn) or apigw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn,
        PayloadFormatVersion="2.0")["IntegrationId"]
    by_key = {r["RouteKey"]: r for r in apigw.get_routes(ApiId=api_id)["Items"]}
    target = f"integrations/{integration_id}"
    if ROUTE_KEY not in by_key:
        route_id = apigw.create_route(ApiId=api_id, RouteKey=ROUTE_KEY, Target=target)["RouteId"]
    else:
        route_id = by_key[ROUTE_KEY]["RouteId"]
        if by_key[ROUTE_KEY].get("Target") != target:
            apigw.update_route(ApiId=api_id, RouteId=route_id, Target=target)
''')],
}


@pytest.mark.parametrize("mistake", ROUTE_WRONG)
def test_ensure_route_wrong_answers_are_incorrect(submission, mistake):
    edits, message = ROUTE_WRONG[mistake]
    target = submission(CHAPTER, {SCRIPT: edits})
    with pytest.raises(Incorrect, match=message):
        checks.check_ensure_route(target.module(CHAPTER, SCRIPT))


@pytest.mark.parametrize("variant", ROUTE_RIGHT)
def test_ensure_route_right_answers_are_correct(submission, variant, capsys):
    target = submission(CHAPTER, {SCRIPT: ROUTE_RIGHT[variant]})
    assert checks.check_ensure_route(target.module(CHAPTER, SCRIPT)) is None
    assert "ensure_route: correct" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ ensure_stage

LIMITS = '    settings = {"ThrottlingBurstLimit": burst, "ThrottlingRateLimit": float(rate)}\n'
CREATE_STAGE = '''\
        apigw.create_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True, DefaultRouteSettings=settings,
                           Tags=dict(PROJECT_TAGS))
'''
UPDATE_STAGE = ('            apigw.update_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True, '
                'DefaultRouteSettings=settings)\n')
STAGE_UPDATE_BRANCH = '''    else:
        current = stages[STAGE].get("DefaultRouteSettings", {})
        if not stages[STAGE].get("AutoDeploy") or any(current.get(k) != v for k, v in settings.items()):
''' + UPDATE_STAGE
GET_STAGE = "    return apigw.get_stage(ApiId=api_id, StageName=STAGE)\n"
STAGE_REGION = LIMITS + '''    stages = {s["StageName"]: s for s in apigw.get_stages(ApiId=api_id)["Items"]}
    if STAGE not in stages:
''' + CREATE_STAGE + STAGE_UPDATE_BRANCH + GET_STAGE

STAGE_WRONG = {
    "a_stage_named_prod": ([(CREATE_STAGE, CREATE_STAGE.replace("StageName=STAGE", 'StageName="prod"')),
                            (GET_STAGE, GET_STAGE.replace("StageName=STAGE", 'StageName="prod"'))],
                           r"expected one stage, \$default"),
    "without_auto_deploy": ([(CREATE_STAGE, CREATE_STAGE.replace(" AutoDeploy=True,", ""))],
                            r"should deploy every change automatically \(AutoDeploy=True\)"),
    "the_default_limits_hard_coded": ([(LIMITS, '    settings = {"ThrottlingBurstLimit": DEFAULT_BURST, '
                                                '"ThrottlingRateLimit": DEFAULT_RATE}\n')],
                                      "DefaultRouteSettings should have ThrottlingBurstLimit 7"),
    "burst_and_rate_swapped": ([(LIMITS, '    settings = {"ThrottlingBurstLimit": int(rate), '
                                         '"ThrottlingRateLimit": float(burst)}\n')],
                               "DefaultRouteSettings should have ThrottlingBurstLimit 7"),
    "not_updated_when_the_limits_change": ([(STAGE_UPDATE_BRANCH, "")], "third call, new limits"),
    "creates_the_stage_every_time": ([("    if STAGE not in stages:\n", "    if True:\n")],
                                     "create it only when get_stages has none"),
    "update_forgets_auto_deploy": ([(UPDATE_STAGE, UPDATE_STAGE.replace(" AutoDeploy=True,", ""))],
                                   "a \\$default stage without AutoDeploy or limits: the stage should deploy"),
    "returns_the_stage_from_before_the_update": ([(GET_STAGE, "    return stages.get(STAGE) or "
                                                              "apigw.get_stage(ApiId=api_id, StageName=STAGE)\n")],
                                                 "return the stage as it is after the change"),
}

STAGE_RIGHT = {
    # create_stage first; on ConflictException (it exists) update_stage, whatever its settings.
    "create_or_update_on_conflict": [(STAGE_REGION, '''\
    limits = {"ThrottlingBurstLimit": burst, "ThrottlingRateLimit": rate}
    try:
        apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True, DefaultRouteSettings=limits)
    except apigw.exceptions.ConflictException:
        apigw.update_stage(ApiId=api_id, StageName="$default", AutoDeploy=True, DefaultRouteSettings=limits)
    return apigw.get_stage(ApiId=api_id, StageName="$default")
''')],
    # get_stage first (NotFoundException: create it); the returned stage built from update_stage's answer.
    "get_stage_first": [(STAGE_REGION, '''    settings = {"ThrottlingBurstLimit": burst, "ThrottlingRateLimit": rate}
    try:
        current = apigw.get_stage(ApiId=api_id, StageName=STAGE)
    except apigw.exceptions.NotFoundException:
        return apigw.create_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True, DefaultRouteSettings=settings)
    limits = current.get("DefaultRouteSettings", {})
    if current.get("AutoDeploy") and all(limits.get(k) == v for k, v in settings.items()):
        return current
    return apigw.update_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True, DefaultRouteSettings=settings)
''')],
}


@pytest.mark.parametrize("mistake", STAGE_WRONG)
def test_ensure_stage_wrong_answers_are_incorrect(submission, mistake):
    edits, message = STAGE_WRONG[mistake]
    target = submission(CHAPTER, {SCRIPT: edits})
    with pytest.raises(Incorrect, match=message):
        checks.check_ensure_stage(target.module(CHAPTER, SCRIPT))


@pytest.mark.parametrize("variant", STAGE_RIGHT)
def test_ensure_stage_right_answers_are_correct(submission, variant, capsys):
    target = submission(CHAPTER, {SCRIPT: STAGE_RIGHT[variant]})
    assert checks.check_ensure_stage(target.module(CHAPTER, SCRIPT)) is None
    assert "ensure_stage: correct" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ allow_invoke

REMOVE = '''    if current is not None:
        lambda_client.remove_permission(FunctionName=function_name, Qualifier=qualifier, StatementId=PERMISSION_ID)
'''
ADD = '''    lambda_client.add_permission(FunctionName=function_name, Qualifier=qualifier, StatementId=PERMISSION_ID,
                                 Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                                 SourceArn=api_source_arn)
'''
STATEMENT_RETURN = "    return statement()\n"
PER_API = '"api-" + api_source_arn.split(":")[5].split("/")[0]'  # a statement id per API: abc123/... -> api-abc123

INVOKE_WRONG = {
    "on_the_function_not_the_alias": ([(ADD, ADD.replace(" Qualifier=qualifier,", ""))], "the qualifier given"),
    "always_on_live": ([(ADD, ADD.replace("Qualifier=qualifier", "Qualifier=ALIAS"))], "the qualifier given"),
    "without_source_arn": ([(ADD, ADD.replace(",\n                                 SourceArn=api_source_arn", ""))],
                           "only requests to"),
    "adds_a_second_statement_instead_of_replacing": ([(REMOVE, "")], "one statement of yours"),
    "a_statement_per_api_never_removed": (
        [(REMOVE, ""), (ADD, ADD.replace("StatementId=PERMISSION_ID", f"StatementId={PER_API}")),
         ('if s.get("Sid") == PERMISSION_ID), None)', f'if s.get("Sid") == {PER_API}), None)')],
        "one statement of yours"),
    "principal_star": ([(ADD, ADD.replace('Principal="apigateway.amazonaws.com"', 'Principal="*"'))],
                       "the principal should be the service apigateway.amazonaws.com"),
    "every_lambda_action": ([(ADD, ADD.replace('Action="lambda:InvokeFunction"', 'Action="lambda:*"'))],
                            "allow lambda:InvokeFunction only"),
    "removes_every_statement": ([(REMOVE, '''    policy = {"Statement": []}
    if current is not None:
        policy = json.loads(lambda_client.get_policy(FunctionName=function_name, Qualifier=qualifier)["Policy"])
    for old in policy["Statement"]:
        lambda_client.remove_permission(FunctionName=function_name, Qualifier=qualifier, StatementId=old["Sid"])
''')], "someone else's\\) must be left alone"),
    "returns_nothing": ([(STATEMENT_RETURN, "    return None\n")], "return the statement as it is in the policy"),
}

INVOKE_RIGHT = {
    # Always remove (ignoring ResourceNotFoundException), then add; the statement found again by its Sid.
    "always_replace": [(REMOVE, '''    try:
        lambda_client.remove_permission(FunctionName=function_name, Qualifier=qualifier, StatementId=PERMISSION_ID)
    except lambda_client.exceptions.ResourceNotFoundException:
        pass
'''), ('''\
    if current is not None and current.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn") == api_source_arn:
        return current
''', "")],
    # The account of the source required too (a stricter condition; the check reads the SourceArn).
    "source_account_too": [(ADD, ADD.replace("SourceArn=api_source_arn)",
                                             'SourceArn=api_source_arn, SourceAccount=api_source_arn.split(":")[4])'))],
}


@pytest.mark.parametrize("mistake", INVOKE_WRONG)
def test_allow_invoke_wrong_answers_are_incorrect(submission, mistake):
    edits, message = INVOKE_WRONG[mistake]
    target = submission(CHAPTER, {SCRIPT: edits})
    with pytest.raises(Incorrect, match=message):
        checks.check_allow_invoke(target.module(CHAPTER, SCRIPT))


@pytest.mark.parametrize("variant", INVOKE_RIGHT)
def test_allow_invoke_right_answers_are_correct(submission, variant, capsys):
    target = submission(CHAPTER, {SCRIPT: INVOKE_RIGHT[variant]})
    assert checks.check_allow_invoke(target.module(CHAPTER, SCRIPT)) is None
    assert "allow_invoke: correct" in capsys.readouterr().out


# ------------------------------------------------------------------------ the moto these checks run against


def test_moto_updates_a_stage_and_refuses_to_create_it_twice_as_aws_does():
    """tutorial_support.moto_lifecycle: apigatewayv2 update_stage (moto 5.2.5 lacks it), create_stage conflicts."""
    from tutorial_support.moto_account import mock_aws_account

    with mock_aws_account() as session:
        apigw = session.client("apigatewayv2")
        api_id = apigw.create_api(Name="stages", ProtocolType="HTTP")["ApiId"]
        apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=False, StageVariables={"kept": "yes"},
                           DefaultRouteSettings={"ThrottlingBurstLimit": 7, "ThrottlingRateLimit": 3.0})
        with pytest.raises(apigw.exceptions.ConflictException, match="Stage already exists"):
            apigw.create_stage(ApiId=api_id, StageName="$default")
        apigw.update_stage(ApiId=api_id, StageName="$default", AutoDeploy=True,
                           DefaultRouteSettings={"ThrottlingRateLimit": 1.0})
        stage = apigw.get_stage(ApiId=api_id, StageName="$default")
        assert stage["AutoDeploy"] is True and stage["StageVariables"] == {"kept": "yes"}
        assert (stage["DefaultRouteSettings"]["ThrottlingBurstLimit"],
                stage["DefaultRouteSettings"]["ThrottlingRateLimit"]) == (7, 1.0)
        with pytest.raises(apigw.exceptions.NotFoundException):
            apigw.update_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
