"""Issue 16: template.yaml (AWS SAM) is the declarative counterpart of ``make deploy`` and ``make api``: every setting
it shares with the boto3 scripts agrees with them, and cfn-lint finds nothing in it. No AWS, no Docker, no network.

The scripts' side comes from where each setting lives: the constants of ``tutorial_support.deployment`` (the
function's settings, the alias, the tags, the log retention, the stage's throttle with and without reserved
concurrency), ``deploy.py`` (the role's trust and policy, the log group's name) and ``api.py`` (the route, the auth
modes, the JWT authorizer), the defaults of their functions, ``tutorial_support.docker_image`` (the Dockerfile and
build context ``ecr.build_and_push`` builds with), and, for what the scripts write inline (the integration's payload
format, the permission's principal, the stage's auto-deploy...), what their functions create in a moto account.

The template's side is the template read by cfn-lint's loader (``!Ref``, ``!Sub``, ``!If``...) and evaluated with its
parameters at their defaults. The tests prove that a change on either side is reported: the template with one value
changed, and each constant monkeypatched.

Chapter 07 (issue 17): the template's CloudWatch alarms are ``make alarms``'s and ``make canary``'s
(``monitoring.function_alarms``, ``monitoring.canary_alarms``: names, metrics and dimensions, statistics, thresholds,
periods), and its ``DeploymentPreference`` (CodeDeploy's canary) is ``make canary``'s default share and watch, with
the canary's alarms. moto's CodeDeploy shifts no traffic (../shared/FACTS.md), so the canary itself is not run here.
The batch predictions' state machine (``BatchStateMachine``) has ``batch_aws.definition`` as its definition once its
``DefinitionSubstitutions`` are put in (the alias, the bucket), its role ``batch_aws.role_policy`` and
``trust_policy``, and its bucket the public access block that ``batch_aws.ensure_bucket`` sets in a moto account.
"""

import inspect
import re

import api
import batch_aws
import canary
import deploy
import monitoring
import pytest
from cfnlint.api import lint, lint_file
from cfnlint.decode import decode_str

from tutorial_support import deployment, docker_image, task_root
from tutorial_support.moto_account import fake_images, lambda_role, mock_aws_account
from tutorial_support.paths import REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yaml"
REGION = "us-east-1"
ISSUER, AUDIENCE = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example", ["client-a", "client-b"]
# The resource types of the template that take tags: each must carry the project's tag, as the scripts tag theirs.
TAGGABLE = ("AWS::Serverless::Function", "AWS::IAM::Role", "AWS::Logs::LogGroup", "AWS::ApiGatewayV2::Api",
            "AWS::ApiGatewayV2::Stage", "AWS::CloudWatch::Alarm", "AWS::S3::Bucket", "AWS::StepFunctions::StateMachine")
CORS_ORIGIN = "http://127.0.0.1:8080"  # make serve's origin, which the README passes to make api --cors-origin
CANARY_VERSION = "7"  # what !GetAtt Classifier.Version.Version gives: the version SAM publishes (AutoPublishAlias)


def load(text: str | None = None) -> dict:
    """template.yaml (or ``text``) as cfn-lint reads it: short tags become ``{"Ref": ...}``, ``{"Fn::Sub": ...}``."""
    template, errors = decode_str(TEMPLATE.read_text() if text is None else text)
    assert not errors, [str(e) for e in errors]
    return template


# --------------------------------------------------------------------------------------------- the template's side


class Evaluator:
    """The values CloudFormation would give the template's properties: parameters at their defaults (or
    ``overrides``), its conditions and mappings, and ``refs`` for what only exists once deployed (resource ids,
    ``Classifier.Alias``, pseudo parameters)."""

    def __init__(self, template: dict, refs: dict, overrides: dict | None = None):
        self.template, self.refs, self.overrides = template, refs, overrides or {}

    def parameter(self, name: str):
        if name in self.overrides:
            return self.overrides[name]
        spec = self.template["Parameters"][name]
        return spec["Default"]

    def ref(self, name: str):
        """``!Ref name``: ``refs``, a parameter, or ``<name>`` for another resource of the template."""
        if name == "AWS::NoValue":
            return None
        if name in self.refs:
            return self.refs[name]
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        if name in self.template["Resources"]:
            return f"<{name}>"
        raise KeyError(f"!Ref {name}: no such parameter, resource or pseudo parameter in the template")

    def get_att(self, resource: str, attribute: str):
        """``!GetAtt resource.attribute``: ``refs``, or ``<resource.attribute>`` for a resource of the template."""
        name = f"{resource}.{attribute}"
        if name in self.refs:
            return self.refs[name]
        if resource in self.template["Resources"]:
            return f"<{name}>"
        raise KeyError(f"!GetAtt {name}: no such resource in the template")

    def condition(self, node) -> bool:
        if isinstance(node, str):
            return self.condition(self.template["Conditions"][node])
        (function, args), = node.items()
        if function == "Fn::Equals":
            return str(self(args[0])) == str(self(args[1]))
        if function == "Fn::Not":
            return not self.condition(args[0])
        if function == "Fn::And":
            return all(self.condition(a) for a in args)
        if function == "Fn::Or":
            return any(self.condition(a) for a in args)
        if function == "Condition":
            return self.condition(args)
        raise NotImplementedError(function)

    def __call__(self, node):
        if isinstance(node, list):
            return [v for v in (self(item) for item in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (function, args), = node.items()
            if function == "Ref":
                return self.ref(args)
            if function == "Fn::GetAtt":
                return self.get_att(*(args if isinstance(args, list) else args.split(".", 1)))
            if function == "Fn::Sub":
                return re.sub(r"\$\{([^}.]+)(?:\.([^}]+))?\}", lambda m: str(
                    self.get_att(m.group(1), m.group(2)) if m.group(2) else self.ref(m.group(1))), args)
            if function == "Fn::If":
                return self(args[1] if self.condition(args[0]) else args[2])
            if function == "Fn::FindInMap":
                return self.template["Mappings"][self(args[0])][self(args[1])][self(args[2])]
            if function == "Fn::Split":
                return self(args[1]).split(args[0])
        return {k: v for k, v in ((k, self(v)) for k, v in node.items()) if v is not None}


def tags_of(tags) -> dict:
    """A resource's tags, as a map (SAM, API Gateway) or a list of ``{"Key", "Value"}`` (IAM, CloudWatch Logs)."""
    if isinstance(tags, list):
        return {t["Key"]: t["Value"] for t in tags}
    return dict(tags or {})


def alarm_shape(properties: dict) -> dict:
    """An alarm's settings that matter, from template properties or ``put_metric_alarm`` arguments alike: its metrics
    (namespace, name, statistic, dimensions, period; with their ids in metric math), the expression, the threshold,
    the comparison, (evaluation periods, datapoints to alarm) and the treatment of missing data."""
    def dims(dimensions):
        return tuple(sorted((d["Name"], str(d["Value"])) for d in dimensions))

    if "MetricName" in properties:
        metrics = ((properties["Namespace"], properties["MetricName"],
                    properties.get("ExtendedStatistic") or properties["Statistic"], dims(properties["Dimensions"]),
                    int(properties["Period"])),)
        expression = None
    else:
        stats = [(q["Id"], q["MetricStat"]) for q in properties["Metrics"] if "MetricStat" in q]
        metrics = tuple(sorted((i, m["Metric"]["Namespace"], m["Metric"]["MetricName"], m["Stat"],
                                dims(m["Metric"]["Dimensions"]), int(m["Period"])) for i, m in stats))
        (expression,) = [q["Expression"] for q in properties["Metrics"] if "Expression" in q]
    periods = int(properties["EvaluationPeriods"])
    return {"metrics": metrics, "expression": expression, "threshold": float(properties["Threshold"]),
            "comparison": properties["ComparisonOperator"],
            "periods (evaluated, to alarm)": (periods, int(properties.get("DatapointsToAlarm", periods))),
            "missing data": properties.get("TreatMissingData", "missing")}


def cors_shape(config: dict | None) -> dict | None:
    """A CORS configuration's settings, from the template or ``api.cors_configuration`` alike (None: no CORS)."""
    if config is None:
        return None
    return {"origins": sorted(config.get("AllowOrigins") or []),
            "methods": sorted(m.upper() for m in config.get("AllowMethods") or []),
            "headers": sorted(h.lower() for h in config.get("AllowHeaders") or []),
            "exposed": sorted(h.lower() for h in config.get("ExposeHeaders") or []),
            "credentials": bool(config.get("AllowCredentials")), "max age": config.get("MaxAge")}


def canary_type(share: float, seconds: float) -> str:
    """CodeDeploy's predefined configuration for a canary of ``share`` for ``seconds``: Canary10Percent5Minutes."""
    return f"Canary{round(share * 100)}Percent{round(seconds / 60)}Minutes"


def template_settings(template: dict, refs: dict, overrides: dict | None = None) -> dict:
    """The settings that template.yaml declares, evaluated (``Evaluator``), under the names ``script_settings``
    uses. ``refs`` holds ``HttpApi`` (the API's id), the account and the region."""
    resources = template["Resources"]
    function = resources["Classifier"]
    name, alias = (Evaluator(template, refs, overrides)(function["Properties"][k])
                   for k in ("FunctionName", "AutoPublishAlias"))
    region, account = refs["AWS::Region"], refs["AWS::AccountId"]
    refs = {"AWS::Partition": "aws", **refs,
            # what !Ref of an AWS::Lambda::Alias returns, and of a function's generated alias (SAM: Classifier.Alias)
            "Classifier.Alias": f"arn:aws:lambda:{region}:{account}:function:{name}:{alias}",
            "Classifier": name, "Classifier.Version.Version": CANARY_VERSION}
    value = Evaluator(template, refs, overrides)

    def properties(logical_id: str) -> dict:
        return value(resources[logical_id]["Properties"])

    fn, integration, route = properties("Classifier"), properties("PredictIntegration"), properties("PredictRoute")
    stage, permission, role = properties("DefaultStage"), properties("InvokePermission"), properties("ExecutionRole")
    log_group, authorizer = properties("LogGroup"), properties("JwtAuthorizer")
    auth = template["Parameters"]["Auth"]
    build = function["Metadata"]
    unreserved = Evaluator(template, refs, {**(overrides or {}), "MaxConcurrency": 0})(
        resources["DefaultStage"]["Properties"]["DefaultRouteSettings"])
    alarms = {logical_id: properties(logical_id) for logical_id, r in resources.items()
              if r["Type"] == "AWS::CloudWatch::Alarm"}
    preference = value(function["Properties"]["DeploymentPreference"])
    machine, batch_role = properties("BatchStateMachine"), properties("BatchRole")
    near_cap_unreserved = Evaluator(template, refs, {**(overrides or {}), "MaxConcurrency": 0})(
        resources["ConcurrencyAlarm"]["Properties"]["Threshold"])
    tags: dict = {}
    for r in resources.values():
        if r["Type"] in TAGGABLE:
            tags.setdefault(r["Type"], []).append(tags_of(value(r["Properties"].get("Tags"))))
    return {
        "function name": fn["FunctionName"],
        "package type": fn["PackageType"],
        "memory (MB)": fn["MemorySize"],
        "timeout (s)": fn["Timeout"],
        "architecture": fn["Architectures"],
        "architectures allowed": sorted(template["Parameters"]["Architecture"]["AllowedValues"]),
        "reserved concurrency": fn.get("ReservedConcurrentExecutions"),
        "alias": fn["AutoPublishAlias"],
        "image build (Dockerfile, context)": ((REPO_ROOT / build["DockerContext"] / build["Dockerfile"]).resolve(),
                                              (REPO_ROOT / build["DockerContext"]).resolve()),
        "execution role trust policy": role["AssumeRolePolicyDocument"],
        "execution role policies": role["ManagedPolicyArns"],
        "log group": log_group["LogGroupName"],
        "log retention (days)": log_group["RetentionInDays"],
        "tags": {kind: found[0] if all(t == found[0] for t in found) else found for kind, found in tags.items()},
        "api name": properties("HttpApi")["Name"],
        "route": route["RouteKey"],
        "integration (type, payload format version, timeout ms, target)": (
            integration["IntegrationType"], integration["PayloadFormatVersion"], integration["TimeoutInMillis"],
            integration["IntegrationUri"]),
        "stage (name, auto-deploy)": (stage["StageName"], stage["AutoDeploy"]),
        "throttle burst": int(stage["DefaultRouteSettings"]["ThrottlingBurstLimit"]),
        "throttle rate": float(stage["DefaultRouteSettings"]["ThrottlingRateLimit"]),
        "throttle without reserved concurrency (burst, rate)": (int(unreserved["ThrottlingBurstLimit"]),
                                                                float(unreserved["ThrottlingRateLimit"])),
        "auth default": auth["Default"],
        "auth modes": {mode: value({"Fn::FindInMap": ["AuthModes", mode, "AuthorizationType"]})
                       for mode in auth["AllowedValues"]},
        "route authorization type": route.get("AuthorizationType", "NONE"),
        "jwt authorizer (name, type, identity source)": (authorizer["Name"], authorizer["AuthorizerType"],
                                                         authorizer["IdentitySource"]),
        # issue 20: the API's CORS, none at CorsOrigin's default; for make serve's origin, with Auth none and jwt
        "cors (off by default)": cors_shape(properties("HttpApi").get("CorsConfiguration")),
        **{f"cors for an origin, auth {mode}": cors_shape(Evaluator(template, refs, {
            **(overrides or {}), "CorsOrigin": CORS_ORIGIN, "Auth": mode})(
                resources["HttpApi"]["Properties"].get("CorsConfiguration"))) for mode in ("none", "jwt")},
        "permission (function, action, principal, source)": (permission["FunctionName"], permission["Action"],
                                                             permission["Principal"], permission["SourceArn"]),
        "alarms": {a["AlarmName"]: alarm_shape(a) for a in alarms.values()},
        "concurrency alarm without reserved concurrency": float(near_cap_unreserved),
        "deployment preference (type, alarms)": (preference["Type"], [alarms[ref.strip("<>")]["AlarmName"]
                                                                      for ref in preference["Alarms"]]),
        "batch state machine (name, type)": (machine["StateMachineName"], machine["StateMachineType"]),
        "batch definition": substitute(machine["Definition"], machine["DefinitionSubstitutions"]),
        "batch role trust policy": batch_role["AssumeRolePolicyDocument"],
        "batch role policy": batch_role["Policies"][0]["PolicyDocument"],
        "batch bucket public access block": properties("BatchBucket")["PublicAccessBlockConfiguration"],
    }


def substitute(node, substitutions: dict):
    """A state machine definition with its ``DefinitionSubstitutions`` put in, as Step Functions does: every
    ``${key}`` in a string replaced by that substitution's value."""
    if isinstance(node, dict):
        return {k: substitute(v, substitutions) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, substitutions) for v in node]
    if isinstance(node, str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(substitutions[m.group(1)]), node)
    return node


# --------------------------------------------------------------------------------------------- the scripts' side


@pytest.fixture(scope="module")
def made():
    """What the scripts' own functions create in a moto account with their defaults, for the settings they write
    inline: the function (deploy.ensure_function), its alias (deploy.publish_and_alias), and chapter 06's API, route,
    integration, stage, JWT authorizer and permission (api.py)."""
    name = deployment.DEFAULT_NAME
    with mock_aws_account(REGION) as session:
        lam, apigw = session.client("lambda"), session.client("apigatewayv2")
        (image,) = fake_images(session, name, ("v1",))
        deploy.ensure_function(lam, name, image, lambda_role(session, "sam-template-test-role"))
        _, alias_arn = deploy.publish_and_alias(lam, name)
        api_id = api.ensure_api(apigw, api.api_name(name))["ApiId"]
        integration_id, route_id = api.ensure_route(apigw, api_id, alias_arn)
        stage = api.ensure_stage(apigw, api_id)
        authorizer_id = api.ensure_auth(apigw, api_id, route_id, "jwt", ISSUER, AUDIENCE)["AuthorizerId"]
        statement = api.allow_invoke(lam, name, deployment.ALIAS, api.source_arn(alias_arn, api_id))
        integration = apigw.get_integration(ApiId=api_id, IntegrationId=integration_id)
        authorizer = apigw.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)
        batch = batch_aws.setup(session, name)  # chapter 07: make batch-aws-setup
        machine = session.client("stepfunctions").describe_state_machine(stateMachineArn=batch["state machine arn"])
        public = session.client("s3").get_public_access_block(Bucket=batch["bucket"])
        return {"account": session.client("sts").get_caller_identity()["Account"], "api id": api_id,
                "batch": batch,
                "batch state machine (name, type)": (machine["name"], machine["type"]),
                "batch bucket public access block": public["PublicAccessBlockConfiguration"],
                "package type": lam.get_function_configuration(FunctionName=name)["PackageType"],
                "integration (type, payload format version, timeout ms, target)": (
                    integration["IntegrationType"], integration["PayloadFormatVersion"],
                    integration["TimeoutInMillis"], integration["IntegrationUri"]),
                "stage (name, auto-deploy)": (stage["StageName"], stage["AutoDeploy"]),
                "jwt authorizer (name, type, identity source)": (authorizer["Name"], authorizer["AuthorizerType"],
                                                                 authorizer["IdentitySource"]),
                "permission (function, action, principal, source)": (
                    alias_arn, statement["Action"], statement["Principal"]["Service"],
                    statement["Condition"]["ArnLike"]["AWS:SourceArn"])}


def script_settings(made: dict) -> dict:
    """The same settings as the scripts have them, read at call time (so that a monkeypatched constant shows)."""
    name = deployment.DEFAULT_NAME
    inline = {k: v for k, v in made.items() if k not in ("account", "api id", "batch")}
    alias_arn, batch = made["permission (function, action, principal, source)"][0], made["batch"]
    return {
        **inline,
        "function name": name,
        "memory (MB)": deployment.DEFAULT_MEMORY_MB,
        "timeout (s)": deployment.DEFAULT_TIMEOUT_S,
        "architecture": [default_of(deploy.ensure_function, "architecture")],
        "architectures allowed": sorted(docker_image.PLATFORMS),
        "reserved concurrency": deployment.DEFAULT_MAX_CONCURRENCY,
        "alias": deployment.ALIAS,
        # what ecr.build_and_push builds: docker build --file DOCKERFILE ... CONTEXT
        "image build (Dockerfile, context)": (docker_image.DOCKERFILE.resolve(),
                                              docker_image.CONTEXT.resolve()),
        "execution role trust policy": deploy.trust_policy(),
        "execution role policies": [deploy.BASIC_EXECUTION_POLICY],
        "log group": deploy.log_group_name(name),
        "log retention (days)": deployment.LOG_RETENTION_DAYS,
        "tags": {kind: dict(deployment.PROJECT_TAGS) for kind in TAGGABLE},
        "api name": api.api_name(name),
        "route": api.ROUTE_KEY,
        "throttle burst": deployment.DEFAULT_BURST,
        "throttle rate": float(deployment.DEFAULT_RATE),
        "throttle without reserved concurrency (burst, rate)": (
            deployment.UNRESERVED_BURST, deployment.unreserved_rate(deployment.DEFAULT_TIMEOUT_S,
                                                                    deployment.DEFAULT_MAX_CONCURRENCY)),
        "auth default": default_of(api.create, "auth"),
        "auth modes": {mode: spec["authorization_type"] for mode, spec in api.AUTH_MODES.items()},
        "route authorization type": api.AUTH_MODES[default_of(api.create, "auth")]["authorization_type"],
        "jwt authorizer (name, type, identity source)": (
            api.AUTHORIZER_NAME, made["jwt authorizer (name, type, identity source)"][1], [api.IDENTITY_SOURCE]),
        "cors (off by default)": cors_shape(api.cors_configuration(default_of(api.create, "cors_origins"),
                                                                   default_of(api.create, "auth"))),
        **{f"cors for an origin, auth {mode}": cors_shape(api.cors_configuration([CORS_ORIGIN], mode))
           for mode in ("none", "jwt")},
        # chapter 07: make alarms at the default reservation, and make canary's alarms of a version
        "alarms": {request["AlarmName"]: alarm_shape(request) for request in (
            monitoring.alarm_request(name, spec) for spec in
            monitoring.function_alarms(name, deployment.DEFAULT_MAX_CONCURRENCY)
            + monitoring.canary_alarms(name, CANARY_VERSION))},
        "concurrency alarm without reserved concurrency": float(monitoring.near_cap(deployment.NEW_ACCOUNT_LIMIT)),
        "deployment preference (type, alarms)": (canary_type(canary.DEFAULT_WEIGHT, canary.DEFAULT_WATCH_S),
                                                 canary.canary_alarm_names(name, CANARY_VERSION)),
        # chapter 07: make batch-aws-setup (what setup passes to create_state_machine and put_role_policy)
        "batch definition": batch_aws.definition(alias_arn, batch["bucket"]),
        "batch role trust policy": batch_aws.trust_policy(),
        "batch role policy": batch_aws.role_policy(alias_arn, batch["bucket"], batch["state machine arn"]),
    }


def default_of(function, parameter: str):
    """The default value of ``parameter`` in ``function``'s signature."""
    return inspect.signature(function).parameters[parameter].default


def disagreements(made: dict, text: str | None = None, overrides: dict | None = None) -> dict:
    """{setting: (template's value, scripts' value)} for every shared setting on which they differ."""
    scripts = script_settings(made)
    template = template_settings(load(text), {"HttpApi": made["api id"], "AWS::Region": REGION,
                                              "AWS::AccountId": made["account"],
                                              "BatchBucket": made["batch"]["bucket"]}, overrides)
    assert scripts.keys() == template.keys()
    return {key: (template[key], scripts[key]) for key in scripts if template[key] != scripts[key]}


# --------------------------------------------------------------------------------------------- the tests


def test_the_template_and_the_scripts_agree_on_every_shared_setting(made):
    assert disagreements(made) == {}


def edit(old: str, new: str) -> str:
    """template.yaml with ``old`` (which occurs once) replaced by ``new``."""
    text = TEMPLATE.read_text()
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize("setting, old, new", [
    ("memory (MB)", "MemorySize: 1024", "MemorySize: 2048"),
    ("timeout (s)", "Timeout: 30\n", "Timeout: 60\n"),
    ("architecture", "Default: x86_64", "Default: arm64"),
    ("architectures allowed", "AllowedValues: [arm64, x86_64]", "AllowedValues: [arm64, x86_64, ppc64le]"),
    ("reserved concurrency", "Type: Number\n    Default: 5\n    MinValue: 0\n    Description: >-\n      Reserved",
     "Type: Number\n    Default: 50\n    MinValue: 0\n    Description: >-\n      Reserved"),
    (("alias", "integration (type, payload format version, timeout ms, target)",  # the API invokes the alias
      "permission (function, action, principal, source)", "batch definition", "batch role policy"),  # and the batch
     "AutoPublishAlias: live", "AutoPublishAlias: prod"),
    ("image build (Dockerfile, context)", "Dockerfile: solutions/04_docker/Dockerfile",
     "Dockerfile: 04_docker/Dockerfile"),
    ("execution role trust policy", "Service: lambda.amazonaws.com", "Service: ec2.amazonaws.com"),
    ("execution role policies", "service-role/AWSLambdaBasicExecutionRole", "AdministratorAccess"),
    ("log group", "LogGroupName: !Sub /aws/lambda/${Name}", "LogGroupName: !Sub /clothing/${Name}"),
    ("log retention (days)", "RetentionInDays: 14", "RetentionInDays: 30"),
    ("tags", "Tags:\n        project: serverless-dl-clothing\n\n  # A Lambda proxy",
     "Tags:\n        project: someone-else\n\n  # A Lambda proxy"),
    ("api name", "Name: !Sub ${Name}-api", "Name: !Sub ${Name}-http"),
    ("route", "RouteKey: POST /predict", "RouteKey: ANY /predict"),
    ("integration (type, payload format version, timeout ms, target)", 'PayloadFormatVersion: "2.0"',
     'PayloadFormatVersion: "1.0"'),
    ("integration (type, payload format version, timeout ms, target)", "IntegrationUri: !Ref Classifier.Alias",
     "IntegrationUri: !GetAtt Classifier.Arn"),
    ("stage (name, auto-deploy)", "AutoDeploy: true", "AutoDeploy: false"),
    ("throttle burst", "Type: Number\n    Default: 10", "Type: Number\n    Default: 100"),
    ("throttle rate", "ThrottleRate:\n    Type: Number\n    Default: 5",
     "ThrottleRate:\n    Type: Number\n    Default: 50"),
    ("throttle without reserved concurrency (burst, rate)", "!Ref ThrottleBurst, 5]", "!Ref ThrottleBurst, 10]"),
    ("throttle without reserved concurrency (burst, rate)", "0.16666666666666666", "1"),
    ("auth modes", "AuthorizationType: AWS_IAM", "AuthorizationType: NONE"),
    ("jwt authorizer (name, type, identity source)", "$request.header.Authorization", "$request.header.X-Token"),
    ("cors (off by default)", 'CorsOrigin:\n    Type: String\n    Default: ""',
     'CorsOrigin:\n    Type: String\n    Default: "https://example.com"'),
    (("cors for an origin, auth none", "cors for an origin, auth jwt"), "AllowOrigins: [!Ref CorsOrigin]",
     "AllowOrigins: ['*']"),
    (("cors for an origin, auth none", "cors for an origin, auth jwt"), "AllowMethods: [POST]",
     "AllowMethods: [POST, GET]"),
    (("cors for an origin, auth none", "cors for an origin, auth jwt"), "AllowCredentials: false",
     "AllowCredentials: true"),
    (("cors for an origin, auth none", "cors for an origin, auth jwt"), "MaxAge: 300", "MaxAge: 86400"),
    ("cors for an origin, auth none", "authorization], [content-type]]", "authorization], [content-type, x-api-key]]"),
    ("cors for an origin, auth jwt", "[content-type, authorization]", "[content-type]"),
    ("permission (function, action, principal, source)", "${HttpApi}/*/POST/predict", "${HttpApi}/*/*"),
    ("permission (function, action, principal, source)", "Principal: apigateway.amazonaws.com",
     "Principal: '*'"),
    # chapter 07: the alarms and the canary
    ("alarms", "Threshold: 5\n", "Threshold: 10\n"),
    ("alarms", "Expression: 100 * errors / invocations", "Expression: errors / invocations"),
    ("alarms", "AlarmName: !Sub ${Name}-throttles", "AlarmName: !Sub ${Name}-throttled"),
    ("alarms", "MetricName: ConcurrentExecutions", "MetricName: UnreservedConcurrentExecutions"),
    ("alarms", "!If [ReserveConcurrency, 4, 8]", "!If [ReserveConcurrency, 5, 8]"),
    ("concurrency alarm without reserved concurrency", "!If [ReserveConcurrency, 4, 8]",
     "!If [ReserveConcurrency, 4, 10]"),
    ("alarms", "Statistic: p95\n      Period: 60\n      Threshold: 5000\n      ComparisonOperator: "
               "GreaterThanThreshold\n      EvaluationPeriods: 3", "Statistic: p99\n      Period: 60\n      "
               "Threshold: 5000\n      ComparisonOperator: GreaterThanThreshold\n      EvaluationPeriods: 3"),
    ("alarms", "        - Name: ExecutedVersion\n          Value: !GetAtt Classifier.Version.Version\n"
               "      Statistic: Sum", "      Statistic: Sum"),
    ("deployment preference (type, alarms)", "Type: Canary10Percent5Minutes", "Type: Canary10Percent10Minutes"),
    ("deployment preference (type, alarms)", "          - !Ref CanaryLatencyAlarm\n", ""),
    ("tags", "      Tags:\n        - Key: project\n          Value: serverless-dl-clothing\n\n  DurationAlarm:",
     "      Tags:\n        - Key: project\n          Value: someone-else\n\n  DurationAlarm:"),
    # chapter 07: the batch predictions' state machine, its role and its bucket
    ("batch state machine (name, type)", "Name: !Sub ${Name}-batch\n", "Name: !Sub ${Name}-batches\n"),
    ("batch state machine (name, type)", "StateMachineType: STANDARD", "StateMachineType: EXPRESS"),
    ("batch definition", "MaxItemsPerBatch: 10", "MaxItemsPerBatch: 100"),
    ("batch definition", "MaxConcurrency: 5\n", "MaxConcurrency: 50\n"),
    ("batch definition", "ExecutionType: STANDARD", "ExecutionType: EXPRESS"),
    ("batch definition", "MaxAttempts: 6", "MaxAttempts: 2"),
    ("batch definition", ",\n                                    Lambda.TooManyRequestsException]", "]"),
    ("batch definition", "FunctionArn: !Ref Classifier.Alias", "FunctionArn: !GetAtt Classifier.Arn"),
    ("batch definition", "Prefix: results", "Prefix: output"),
    ("batch role trust policy", "Service: states.amazonaws.com", "Service: lambda.amazonaws.com"),
    ("batch role policy", "${BatchBucket}/manifests/*", "${BatchBucket}/*"),
    ("batch role policy", "Action: states:StartExecution", "Action: states:*"),
    ("batch bucket public access block", "RestrictPublicBuckets: true", "RestrictPublicBuckets: false"),
    ("tags", "          Value: serverless-dl-clothing\n\n  # Trusted by Step Functions only",
     "          Value: someone-else\n\n  # Trusted by Step Functions only"),
])
def test_a_template_that_drifts_from_the_scripts_is_reported(made, setting, old, new):
    assert set(disagreements(made, edit(old, new))) == ({setting} if isinstance(setting, str) else set(setting))


def test_the_auth_parameter_sets_the_route_as_make_api_auth_does(made):
    assert set(disagreements(made, edit("Default: none", "Default: iam"))) == {"auth default",
                                                                               "route authorization type"}
    template = load()
    resources, jwt = template["Resources"], {"JwtIssuer": ISSUER, "JwtAudience": ",".join(AUDIENCE)}
    for mode, spec in api.AUTH_MODES.items():
        value = Evaluator(template, {}, {"Auth": mode, **jwt})
        route = value(resources["PredictRoute"]["Properties"])
        assert route["AuthorizationType"] == spec["authorization_type"]
        assert route.get("AuthorizerId") == ("<JwtAuthorizer>" if mode == "jwt" else None)
        assert value.condition(resources["JwtAuthorizer"]["Condition"]) is (mode == "jwt")
    value = Evaluator(template, {}, {"Auth": "jwt", **jwt})
    assert value(resources["JwtAuthorizer"]["Properties"]["JwtConfiguration"]) == {"Issuer": ISSUER,
                                                                                   "Audience": AUDIENCE}


@pytest.mark.parametrize("parameters, accepted", [
    ({"Auth": "jwt", "JwtIssuer": ISSUER, "JwtAudience": "client-a"}, True),
    ({"Auth": "jwt", "JwtIssuer": ISSUER}, False),  # as api.ensure_auth: jwt needs an issuer and an audience
    ({"Auth": "jwt", "JwtAudience": "client-a"}, False),
    ({"Auth": "none"}, True),
    ({"Auth": "iam"}, True),
])
def test_the_template_refuses_jwt_without_an_issuer_and_an_audience(parameters, accepted):
    template = load()
    value = Evaluator(template, {}, parameters)
    rule = template["Rules"]["JwtNeedsIssuerAndAudience"]
    refused = value.condition(rule["RuleCondition"]) and not all(value.condition(a["Assert"])
                                                                 for a in rule["Assertions"])
    assert refused is not accepted
    if not accepted:
        with pytest.raises(ValueError):
            api.ensure_auth(None, "api-id", "route-id", parameters["Auth"], parameters.get("JwtIssuer"),
                            [parameters["JwtAudience"]] if "JwtAudience" in parameters else [])


@pytest.mark.parametrize("auth, origin", [(auth, origin) for auth in ("none", "iam", "jwt")
                                           for origin in ("", CORS_ORIGIN)])
def test_the_template_refuses_cors_with_auth_iam_as_make_api_does(auth, origin):
    template = load()
    value = Evaluator(template, {}, {"Auth": auth, "CorsOrigin": origin})
    rule = template["Rules"]["CorsNotWithIam"]
    refused = value.condition(rule["RuleCondition"]) and not all(value.condition(a["Assert"])
                                                                 for a in rule["Assertions"])
    try:
        api.cors_configuration([origin] if origin else [], auth)
    except ValueError:
        assert refused
    else:
        assert not refused


@pytest.mark.parametrize("origin", [
    "", CORS_ORIGIN, "http://localhost:8080", "http://[::1]:8080", "https://pages.example.com",
    "https://pages.example.com:8443", "*", "https://*", "https://*.example.com", "null", "http://example.com",
    "http://192.168.1.20:8080", f"{CORS_ORIGIN}/", "https://example.com/page", "HTTPS://Example.com",
    "ftp://example.com", "https://example.com:123456",
])
def test_the_cors_origin_parameter_takes_what_make_api_takes(origin):
    # the template cannot normalise: it takes an origin only in the form api.check_cors_origin gives it
    pattern = load()["Parameters"]["CorsOrigin"]["AllowedPattern"]
    try:
        scripts = origin == "" or api.check_cors_origin(origin) == origin
    except ValueError:
        scripts = False
    assert (re.fullmatch(pattern, origin) is not None) is scripts


@pytest.mark.parametrize("module, constant, value, setting", [
    (deployment, "DEFAULT_MEMORY_MB", 2048, "memory (MB)"),
    (deployment, "DEFAULT_TIMEOUT_S", 60, "timeout (s)"),
    (deployment, "DEFAULT_MAX_CONCURRENCY", 50, "reserved concurrency"),
    (deployment, "ALIAS", "prod", "alias"),
    (deployment, "PROJECT_TAGS", {"project": "someone-else"}, "tags"),
    (deployment, "LOG_RETENTION_DAYS", 30, "log retention (days)"),
    (deployment, "DEFAULT_NAME", "another-name", "function name"),
    (deployment, "DEFAULT_BURST", 100, "throttle burst"),
    (deployment, "DEFAULT_RATE", 50.0, "throttle rate"),
    (deployment, "UNRESERVED_BURST", 10, "throttle without reserved concurrency (burst, rate)"),
    (api, "ROUTE_KEY", "ANY /predict", "route"),
    (api, "AUTH_MODES", {"none": {"authorization_type": "NONE"}, "iam": {"authorization_type": "AWS_IAM"}},
     "auth modes"),
    (api, "AUTHORIZER_NAME", "another-authorizer", "jwt authorizer (name, type, identity source)"),
    (api, "CORS_METHODS", ("POST", "GET"), "cors for an origin, auth none"),
    (api, "CORS_HEADERS", ("content-type", "x-api-key"), "cors for an origin, auth none"),
    (api, "CORS_JWT_HEADERS", (), "cors for an origin, auth jwt"),
    (api, "CORS_MAX_AGE_S", 86_400, "cors for an origin, auth none"),
    (deploy, "BASIC_EXECUTION_POLICY", "arn:aws:iam::aws:policy/AdministratorAccess", "execution role policies"),
    (deploy, "log_group_name", "/clothing/{}".format, "log group"),
    (docker_image, "DOCKERFILE", REPO_ROOT / "04_docker" / "Dockerfile", "image build (Dockerfile, context)"),
    (docker_image, "PLATFORMS", {"x86_64": "linux/amd64"}, "architectures allowed"),
    (monitoring, "P95_DURATION_MS", 3_000, "alarms"),
    (monitoring, "FIVE_XX_RATE_PERCENT", 1.0, "alarms"),
    (monitoring, "NEAR_CAP_FRACTION", 0.5, "alarms"),
    (monitoring, "NEAR_CAP_FRACTION", 0.5, "concurrency alarm without reserved concurrency"),
    (monitoring, "PERIOD_S", 300, "alarms"),
    (monitoring, "NAMESPACE", "Custom/Lambda", "alarms"),
    (canary, "DEFAULT_WEIGHT", 0.2, "deployment preference (type, alarms)"),
    (canary, "DEFAULT_WATCH_S", 600, "deployment preference (type, alarms)"),
    (batch_aws, "RETRYABLE", ["Lambda.ServiceException"], "batch definition"),
    (batch_aws, "RESULTS", "output/", "batch definition"),
    (batch_aws, "MANIFESTS", "input/", "batch role policy"),
    (batch_aws, "trust_policy", lambda: {"Version": "2012-10-17", "Statement": []}, "batch role trust policy"),
])
def test_a_script_constant_that_drifts_from_the_template_is_reported(made, monkeypatch, module, constant, value,
                                                                      setting):
    monkeypatch.setattr(module, constant, value)
    assert setting in disagreements(made)


def test_max_concurrency_0_reserves_nothing_rather_than_stopping_the_function(made):
    # ReservedConcurrentExecutions 0 would throttle every call; 0 leaves the property out (the account's limit caps
    # the function, as deploy.limit_concurrency does when the account cannot reserve any).
    refs = {"HttpApi": made["api id"], "AWS::Region": REGION, "AWS::AccountId": made["account"]}
    assert template_settings(load(), refs, {"MaxConcurrency": 0})["reserved concurrency"] is None
    assert template_settings(load(), refs, {"MaxConcurrency": 2})["reserved concurrency"] == 2


def test_the_function_waits_for_its_log_group_and_sam_builds_with_what_the_dockerfile_copies():
    function = load()["Resources"]["Classifier"]
    assert function["DependsOn"] in ("LogGroup", ["LogGroup"])  # else Lambda makes the group, with no retention
    context = REPO_ROOT / function["Metadata"]["DockerContext"]
    sources = [source for paths, _ in task_root.parse(context / function["Metadata"]["Dockerfile"]).copies
               for source in paths]
    rules = task_root.context_rules(context)
    assert "models/clothing-model.tflite" in sources and "solutions/03_lambda_code/lambda_function.py" in sources
    assert all((context / s).is_file() and task_root.dockerignore_admits(s, rules) for s in sources), sources


def test_cfn_lint_finds_nothing_in_the_template():
    matches = lint_file(TEMPLATE)
    assert matches == [], "\n".join(str(m) for m in matches)


def test_cfn_lint_would_report_a_broken_template():
    matches = lint(edit("AutoDeploy: true", "AutoDeploy: true\n      Throttle: 5"))
    assert [m.rule.id for m in matches] == ["E3002"], [str(m) for m in matches]


def test_cfn_lint_checks_the_batch_state_machine_against_the_states_language():
    # an AWS::StepFunctions::StateMachine's Definition is checked (SAM's AWS::Serverless::StateMachine's is not)
    matches = lint(edit("            Type: Map\n", "            Type: Mapp\n"))
    assert [m.rule.id for m in matches] == ["E3601"], [str(m) for m in matches]
