"""Chapters 05 and 06 against moto: the whole flow in-process, the scripts as subprocesses against a moto server, and
the error paths (no credentials, no region, access denied, a function that fails, no Docker engine).

No AWS and no Docker: the image is "pushed" with ``put_fake_image`` (a manifest put into moto's ECR), and
moto checks that ``create_function`` names an image that is there (``MOTO_LAMBDA_STUB_ECR=false``).
"""

import json
import os
import subprocess
import sys

import api
import api_cli
import boto3
import deploy
import deploy_cli
import ecr as ecr_steps
import pytest
from conftest import SOLUTIONS

from tutorial_support import deployment
from tutorial_support.moto_account import mock_aws_account, put_fake_image, server_url

NAME, REGION = "test-clothing", "us-east-1"
DEPLOY, API = SOLUTIONS / "05_deploy" / "deploy_cli.py", SOLUTIONS / "06_api_gateway" / "api_cli.py"
OURS = {"project": "serverless-dl-clothing"}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def tags_of(pairs) -> dict:
    """IAM's and ECR's tag lists (``[{"Key", "Value"}]``) as a dict."""
    return {p["Key"]: p["Value"] for p in pairs}


def deploy_args(*extra):
    return ["deploy", "--no-build", "--name", NAME, "--region", REGION, "--url", "https://example.com/a.jpg", *extra]


def leftovers(session, name=NAME) -> list[str]:
    """Everything of deployment ``name`` still in the (moto) account."""
    found = []
    ecr, iam, lam = session.client("ecr"), session.client("iam"), session.client("lambda")
    found += [r["repositoryName"] for r in ecr.describe_repositories()["repositories"] if r["repositoryName"] == name]
    found += [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"] == f"{name}-role"]
    found += [f["FunctionName"] for f in lam.list_functions()["Functions"] if f["FunctionName"] == name]
    found += [a["Name"] for a in session.client("apigatewayv2").get_apis()["Items"] if a["Name"] == f"{name}-api"]
    found += [g["logGroupName"] for g in session.client("logs").describe_log_groups()["logGroups"]
              if g["logGroupName"] == f"/aws/lambda/{name}"]
    return found


def test_deploy_api_redeploy_and_destroy_in_a_moto_account(capsys):
    with mock_aws_account(REGION, managed_policies=True) as session:
        ecr, iam, lam, apigw = (session.client(s) for s in ("ecr", "iam", "lambda", "apigatewayv2"))
        # Someone else's resources, which nothing may touch.
        iam.create_role(RoleName="someone-else", AssumeRolePolicyDocument=json.dumps(TRUST))
        ecr.create_repository(repositoryName="someone-else")
        ecr_steps.ensure_repository(ecr, NAME)
        first = put_fake_image(ecr, NAME, "latest")

        assert deploy_cli.main(deploy_args()) == 0
        out = capsys.readouterr().out
        assert "Plan:" in out and out.index("Plan:") < out.index("IAM role test-clothing-role: created")

        repository = ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]
        assert repository["imageTagMutability"] == "IMMUTABLE"
        rules = json.loads(ecr.get_lifecycle_policy(repositoryName=NAME)["lifecyclePolicyText"])["rules"]
        assert rules == ecr_steps.lifecycle_policy()["rules"] and rules[0]["selection"]["tagStatus"] == "untagged"
        function = lam.get_function(FunctionName=NAME)
        config = function["Configuration"]
        assert config["PackageType"] == "Image"
        assert function["Code"]["ImageUri"] == f"{repository['repositoryUri']}@{first}"
        assert (config["MemorySize"], config["Timeout"], config["Architectures"]) == (1024, 30, ["x86_64"])
        assert function["Concurrency"]["ReservedConcurrentExecutions"] == deployment.DEFAULT_MAX_CONCURRENCY
        # the deployed function refuses private addresses: never the local-use opt-in
        assert "ALLOW_PRIVATE_URLS" not in config.get("Environment", {}).get("Variables", {})
        role = iam.get_role(RoleName=f"{NAME}-role")["Role"]
        assert config["Role"] == role["Arn"] and role["AssumeRolePolicyDocument"] == TRUST
        assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=f"{NAME}-role")["AttachedPolicies"]] \
            == [deploy.BASIC_EXECUTION_POLICY]
        assert lam.get_alias(FunctionName=NAME, Name="live")["FunctionVersion"] == "1"
        for tags in (function["Tags"], tags_of(iam.list_role_tags(RoleName=f"{NAME}-role")["Tags"]),
                     tags_of(ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"])):
            assert OURS.items() <= tags.items()
        # moto echoes the event instead of running the image
        answer = out[out.index("{", out.index("Invoking")):]
        assert json.loads(answer[:answer.index("}") + 1]) == {"url": "https://example.com/a.jpg"}

        assert api_cli.main(["create", "--name", NAME, "--region", REGION]) == 0
        out = capsys.readouterr().out
        (found,) = apigw.get_apis()["Items"]
        assert f"Invoke URL: {found['ApiEndpoint']}/predict" in out and OURS.items() <= found["Tags"].items()
        (route,) = apigw.get_routes(ApiId=found["ApiId"])["Items"]
        (integration,) = apigw.get_integrations(ApiId=found["ApiId"])["Items"]
        assert route["RouteKey"] == "POST /predict"
        assert route["Target"] == f"integrations/{integration['IntegrationId']}"
        assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
        assert integration["IntegrationUri"] == lam.get_alias(FunctionName=NAME, Name="live")["AliasArn"]
        (stage,) = apigw.get_stages(ApiId=found["ApiId"])["Items"]
        assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
        assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == api.DEFAULT_BURST
        assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == api.DEFAULT_RATE
        (statement,) = json.loads(lam.get_policy(FunctionName=NAME, Qualifier="live")["Policy"])["Statement"]
        assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
        assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
            f"arn:aws:execute-api:{REGION}:123456789012:{found['ApiId']}/*/POST/predict")

        # A new image and more memory: the same resources, updated; live moves to version 2.
        second = put_fake_image(ecr, NAME, "v2")
        assert deploy_cli.main(deploy_args("--image-tag", "v2", "--memory", "2048")) == 0
        assert api_cli.main(["create", "--name", NAME, "--region", REGION]) == 0
        assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == [NAME]
        assert len(ecr.describe_repositories()["repositories"]) == 2
        assert [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(NAME)] == [f"{NAME}-role"]
        function = lam.get_function(FunctionName=NAME, Qualifier="live")
        assert function["Code"]["ImageUri"].endswith(f"@{second}") and function["Configuration"]["MemorySize"] == 2048
        assert lam.get_alias(FunctionName=NAME, Name="live")["FunctionVersion"] == "2"
        assert [a["ApiId"] for a in apigw.get_apis()["Items"]] == [found["ApiId"]]
        assert len(apigw.get_integrations(ApiId=found["ApiId"])["Items"]) == 1
        assert len(apigw.get_routes(ApiId=found["ApiId"])["Items"]) == 1
        assert len(json.loads(lam.get_policy(FunctionName=NAME, Qualifier="live")["Policy"])["Statement"]) == 1
        capsys.readouterr()

        assert deploy_cli.main(["destroy", "--name", NAME, "--region", REGION, "--dry-run"]) == 0
        assert "would remove Lambda function test-clothing (versions 1, 2, alias live)" in capsys.readouterr().out
        assert leftovers(session) == [NAME, f"{NAME}-role", NAME, f"{NAME}-api", f"/aws/lambda/{NAME}"]

        assert api_cli.main(["destroy", "--name", NAME, "--region", REGION]) == 0
        assert deploy_cli.main(["destroy", "--name", NAME, "--region", REGION]) == 0
        out = capsys.readouterr().out
        for line in [f"removed HTTP API {NAME}-api", f"removed Lambda function {NAME}", "removed CloudWatch log group",
                     f"removed IAM role {NAME}-role", f"removed ECR repository {NAME} (2 images)"]:
            assert line in out
        assert leftovers(session) == []
        assert iam.get_role(RoleName="someone-else") and ecr.describe_repositories(repositoryNames=["someone-else"])
        assert deploy_cli.main(["destroy", "--name", NAME, "--region", REGION]) == 0
        assert "Nothing of 'test-clothing' to remove" in capsys.readouterr().out


def test_dry_run_prints_the_plan_and_creates_nothing(capsys):
    with mock_aws_account(REGION) as session:
        assert deploy_cli.main(["deploy", "--dry-run", "--name", NAME, "--region", REGION, "--memory", "512"]) == 0
        assert api_cli.main(["create", "--dry-run", "--name", NAME, "--region", REGION]) == 0
        out = capsys.readouterr().out
        assert "Lambda function test-clothing: 512 MB, 30 s timeout" in out and "nothing was changed" in out
        assert "route POST /predict" in out
        assert leftovers(session) == []


def test_a_resource_with_our_name_that_is_not_ours_stops_deploy_and_survives_destroy(capsys):
    with mock_aws_account(REGION) as session:
        session.client("ecr").create_repository(repositoryName=NAME)  # untagged: someone else's
        assert deploy_cli.main(deploy_args()) == 1
        err = capsys.readouterr().err
        assert "already exists and is not tagged project=serverless-dl-clothing" in err and "--name" in err
        assert deploy_cli.main(["destroy", "--name", NAME, "--region", REGION]) == 0
        assert "not tagged as this project's: left alone" in capsys.readouterr().out
        assert leftovers(session) == [NAME]


def test_no_image_in_ecr_and_no_docker_engine_are_explained_before_anything_else(capsys, monkeypatch, tmp_path):
    with mock_aws_account(REGION) as session:
        assert deploy_cli.main(deploy_args()) == 1
        assert f"the ECR repository {NAME!r} has no image" in capsys.readouterr().err
        monkeypatch.setenv("PATH", str(tmp_path))  # no docker command at all
        other = ["deploy", "--name", "other", "--region", REGION]
        assert deploy_cli.main(other) == 1
        err = capsys.readouterr().err
        assert "cannot build the image: no docker command on PATH" in err and "Traceback" not in err
        assert leftovers(session, "other") == []


def without_aws_settings(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for name in ("credentials", "config"):
        (tmp_path / name).write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no waiting for an instance metadata service


def test_no_credentials_is_one_paragraph_that_says_what_to_do(capsys, monkeypatch, tmp_path):
    without_aws_settings(monkeypatch, tmp_path)
    for script, args in [(deploy_cli, deploy_args()), (api_cli, ["create", "--name", NAME, "--region", REGION])]:
        assert script.main(args) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: no AWS credentials were found") and "aws configure" in err
        assert "Traceback" not in err and err.count("\n") == 1


def test_no_region_is_one_paragraph_that_says_what_to_do(capsys, monkeypatch, tmp_path):
    without_aws_settings(monkeypatch, tmp_path)
    assert deploy_cli.main(["deploy", "--name", NAME]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no AWS region is set") and "--region" in err and "Traceback" not in err


def test_access_denied_names_the_call_and_what_to_do(capsys, monkeypatch):
    from moto.core import enable_iam_authentication

    with mock_aws_account(REGION) as session:
        ecr, iam = session.client("ecr"), session.client("iam")
        ecr_steps.ensure_repository(ecr, NAME)
        put_fake_image(ecr, NAME, "latest")
        # A learner allowed ECR but nothing else.
        iam.create_user(UserName="learner")
        iam.put_user_policy(UserName="learner", PolicyName="ecr-only", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="learner")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        monkeypatch.delenv("AWS_SESSION_TOKEN")
        with enable_iam_authentication():
            assert deploy_cli.main(deploy_args()) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: access denied: your AWS identity may not call GetRole")
        assert "permissions" in err and "Traceback" not in err
        assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == []


def test_a_function_that_ends_failed_is_reported_with_lambdas_reason(capsys, monkeypatch):
    def failed(parsed, **kwargs):  # what GetFunction answers for a function whose image Lambda cannot pull
        parsed.get("Configuration", {}).update(State="Failed", StateReasonCode="ImageAccessDenied",
                                               StateReason="Lambda does not have permission to access the image.")

    with mock_aws_account(REGION, managed_policies=True) as session:
        ecr = session.client("ecr")
        ecr_steps.ensure_repository(ecr, NAME)
        put_fake_image(ecr, NAME, "latest")
        session.events.register("after-call.lambda.GetFunction", failed)
        monkeypatch.setattr(deploy_cli, "session_for", lambda region: session)
        assert deploy_cli.main(deploy_args()) == 1
        err = capsys.readouterr().err
        assert "did not become ready (state Failed, ImageAccessDenied)" in err
        assert "Lambda does not have permission to access the image" in err and "Traceback" not in err
        lam = boto3.Session(region_name=REGION).client("lambda")
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_alias(FunctionName=NAME, Name="live")  # no version was published for a failed function


@pytest.fixture
def moto_server():
    """A fresh fake account on moto's server of this process (127.0.0.1, its own thread); yields its URL."""
    with mock_aws_account(REGION, managed_policies=True):
        yield server_url()


def test_the_scripts_as_a_learner_runs_them_against_a_moto_server(moto_server, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=moto_server, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION=REGION, AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_CONFIG_FILE=str(tmp_path / "none"))

    def run(script, *args):
        return subprocess.run([sys.executable, str(script), *args, "--name", NAME], env=env, capture_output=True,
                              text=True, timeout=120)

    session = boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    ecr = session.client("ecr", endpoint_url=moto_server)
    first = run(DEPLOY, "deploy", "--no-build")  # no image pushed yet: the repository is made, then a clear stop
    assert first.returncode == 1 and f"the ECR repository {NAME!r} has no image" in first.stderr, first.stderr
    digest = put_fake_image(ecr, NAME, "latest")
    up = run(DEPLOY, "deploy", "--no-build")
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"@{digest}" in up.stdout and "alias live -> 1" in up.stdout
    gateway = run(API, "create")
    assert gateway.returncode == 0, gateway.stdout + gateway.stderr
    api_id = session.client("apigatewayv2", endpoint_url=moto_server).get_apis()["Items"][0]["ApiId"]
    assert f"Invoke URL: https://{api_id}.execute-api.{REGION}.amazonaws.com/predict" in gateway.stdout
    assert run(API, "destroy").returncode == 0
    down = run(DEPLOY, "destroy")
    assert down.returncode == 0 and f"removed ECR repository {NAME} (1 image)" in down.stdout, down.stdout
    clients = {s: session.client(s, endpoint_url=moto_server) for s in ("lambda", "iam", "ecr", "apigatewayv2")}
    assert clients["lambda"].list_functions()["Functions"] == []
    assert clients["iam"].list_roles()["Roles"] == []
    assert clients["ecr"].describe_repositories()["repositories"] == []
    assert clients["apigatewayv2"].get_apis()["Items"] == []
