"""Issue 16, part B: the real deploy against moto. The account's concurrency limit decides the cap (and the API's
throttle when nothing can be reserved); every deploy pushes a unique, immutable image tag, and `make rollback` /
`make versions` move and list the `live` alias, refusing a version whose image is gone; `DOCKERFILE=` ships the
learner's own chapter 03-04 code; the function's log group is created first, with a retention and our tags; a smoke
test refused by the photo host is not a failed deployment.

No AWS and no Docker engine: moto (``mock_aws_account``; moto lacks ``get_account_settings``, which
``tutorial_support.moto_lifecycle`` fills in, reading the limit from moto's own ``MOTO_LAMBDA_CONCURRENCY_QUOTA``), and
a fake ``docker`` command on PATH that records its arguments and "pushes" with ``put_fake_image``.
"""

import json
import re
import sys
from datetime import datetime, timezone

import api
import api_cli
import deploy
import deploy_cli
import ecr as ecr_steps
import predict
import pytest
import security_tables
from conftest import REPO_ROOT, SOLUTIONS

from tutorial_support import deployment
from tutorial_support.moto_account import mock_aws_account, put_fake_image

NAME, REGION = "rel-clothing", "us-east-1"


def deploy_args(*extra):
    return ["deploy", "--no-build", "--name", NAME, "--region", REGION, "--url", "https://example.com/a.jpg", *extra]


# ------------------------------------------------------------------------------------------ account limits


def test_moto_answers_get_account_settings_and_refuses_reservations_as_lambda_does():
    with mock_aws_account(REGION, concurrency_limit=10) as session:
        lam = session.client("lambda")
        assert lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 10
        assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 10
    with mock_aws_account(REGION) as session:  # moto's default: the default limit of 1,000
        assert session.client("lambda").get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1000


@pytest.mark.parametrize("limit, unreserved, own, wanted, reserved, copies", [
    (10, 10, 0, 5, None, 10),        # a new account: Lambda keeps all 10 unreserved, nothing can be reserved
    (1000, 1000, 0, 5, 5, 5),        # the default limit: reserve what is asked
    (1000, 995, 5, 5, 5, 5),         # a second deploy: our own reservation is not taken twice
    (103, 103, 0, 5, 3, 3),          # room for 3 only (100 stay unreserved): reserve 3, fewer copies than asked
    (1000, 100, 0, 1, None, 100),    # others reserved all the rest
])
def test_the_cap_is_the_reservation_where_the_account_allows_it_else_the_account_limit(limit, unreserved, own, wanted,
                                                                                     reserved, copies):
    cap = deployment.concurrency_cap(limit, unreserved, wanted, own_reserved=own)
    assert (cap.reserved, cap.copies) == (reserved, copies)
    if reserved:
        assert (cap.burst, cap.rate) == (deployment.DEFAULT_BURST, deployment.DEFAULT_RATE)
    else:  # the API's throttle then keeps no more than DEFAULT_MAX_CONCURRENCY requests in flight
        assert cap.rate * deployment.DEFAULT_TIMEOUT_S <= deployment.DEFAULT_MAX_CONCURRENCY
        assert cap.burst <= deployment.DEFAULT_MAX_CONCURRENCY
    busy = min(cap.copies, cap.rate * deployment.DEFAULT_TIMEOUT_S)
    assert busy <= deployment.DEFAULT_MAX_CONCURRENCY  # the budget holds in every account


def worst_month(out: str) -> str:
    return re.search(r"worst case if flooded.*?\$([\d,.]+) a 30-day month", out).group(1)


def test_a_new_account_limit_of_10_caps_the_function_and_make_api_lowers_the_throttle(capsys):
    with mock_aws_account(REGION, managed_policies=True, concurrency_limit=10) as session:
        ecr, lam, apigw = (session.client(s) for s in ("ecr", "lambda", "apigatewayv2"))
        ecr_steps.ensure_repository(ecr, NAME)
        put_fake_image(ecr, NAME, "v1")
        capsys.readouterr()
        assert deploy_cli.main(deploy_args()) == 0
        out = capsys.readouterr().out
        # The cap and the worst case are in the plan, before anything is created.
        plan = out[:out.index("IAM role rel-clothing-role: created")]
        assert "account's concurrency limit is 10" in plan and "up to 10 copies" in plan
        cap = deployment.concurrency_cap(10, 10)
        expected = deployment.flood_cost(cap.rate, deployment.DEFAULT_MEMORY_MB, deployment.DEFAULT_TIMEOUT_S,
                                         cap.copies)["month"]["total"]["x86_64"]
        assert worst_month(plan) == f"{expected:,.2f}"
        assert "Concurrency" not in lam.get_function(FunctionName=NAME)  # nothing reserved: no refusal either
        assert "warning" not in out

        assert api_cli.main(["create", "--name", NAME, "--region", REGION]) == 0
        out = capsys.readouterr().out
        assert "no reserved concurrency" in out
        (found,) = apigw.get_apis()["Items"]
        (stage,) = apigw.get_stages(ApiId=found["ApiId"])["Items"]
        settings = stage["DefaultRouteSettings"]
        assert (settings["ThrottlingBurstLimit"], settings["ThrottlingRateLimit"]) == (cap.burst, cap.rate)
        assert settings["ThrottlingRateLimit"] < api.DEFAULT_RATE


def test_the_default_account_reserves_and_keeps_the_default_throttle(capsys):
    with mock_aws_account(REGION, managed_policies=True) as session:
        ecr, lam = session.client("ecr"), session.client("lambda")
        ecr_steps.ensure_repository(ecr, NAME)
        put_fake_image(ecr, NAME, "v1")
        assert deploy_cli.main(deploy_args()) == 0
        out = capsys.readouterr().out
        assert "at most 5 copies at once (reserved concurrency" in out
        expected = deployment.flood_cost()["month"]["total"]["x86_64"]
        assert worst_month(out) == f"{expected:,.2f}"
        assert lam.get_function(FunctionName=NAME)["Concurrency"]["ReservedConcurrentExecutions"] == 5


def test_the_readme_flood_cost_table_has_a_new_account_and_the_default_limit():
    table = security_tables.render_flood_cost()
    assert "limit 10" in table and "limit 1,000" in table
    for limit in (deployment.NEW_ACCOUNT_LIMIT, deployment.DEFAULT_ACCOUNT_LIMIT):
        cap = deployment.concurrency_cap(limit, limit)
        month = deployment.flood_cost(cap.rate, deployment.DEFAULT_MEMORY_MB, deployment.DEFAULT_TIMEOUT_S,
                                      cap.copies)["month"]
        assert f"**${month['total']['x86_64']:,.2f}**" in table


# ------------------------------------------------------------------------------------ images, versions, rollback


def test_the_repository_is_immutable_expires_only_untagged_images_and_leaves_scanning_to_the_registry(capsys):
    with mock_aws_account(REGION) as session:
        ecr = session.client("ecr")
        ecr_steps.ensure_repository(ecr, NAME)
        repository = ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]
        assert repository["imageTagMutability"] == "IMMUTABLE"
        assert repository["imageScanningConfiguration"] == {"scanOnPush": False}
        (rule,) = json.loads(ecr.get_lifecycle_policy(repositoryName=NAME)["lifecyclePolicyText"])["rules"]
        assert rule["selection"]["tagStatus"] == "untagged" and rule["action"]["type"] == "expire"
        assert rule["selection"]["countNumber"] == ecr_steps.UNTAGGED_EXPIRY_DAYS
        assert "put-registry-scanning-configuration" in capsys.readouterr().out  # how, not done for the learner
        assert ecr.get_registry_scanning_configuration()["scanningConfiguration"].get("rules", []) == []
        # A repository of ours made mutable by an older deploy is made immutable.
        ecr.put_image_tag_mutability(repositoryName=NAME, imageTagMutability="MUTABLE")
        ecr_steps.ensure_repository(ecr, NAME)
        assert ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]["imageTagMutability"] == \
            "IMMUTABLE"


def test_unique_tags_name_the_commit_and_the_time():
    now = datetime(2026, 11, 30, 20, 18, 8, tzinfo=timezone.utc)
    assert ecr_steps.unique_tag("0123abcd4567", now) == "0123abcd4567-20261130T201808Z"
    assert re.fullmatch(r"([0-9a-f]{12}(-dirty)?|nogit)-\d{8}T\d{6}Z", ecr_steps.unique_tag())


def test_deploy_deploy_rollback_and_the_refusal_when_an_image_is_gone(capsys):
    with mock_aws_account(REGION, managed_policies=True) as session:
        ecr, lam = session.client("ecr"), session.client("lambda")
        ecr_steps.ensure_repository(ecr, NAME)
        digests = {}
        for tag in ("build-1", "build-2"):
            digests[tag] = put_fake_image(ecr, NAME, tag)
            assert deploy_cli.main(deploy_args("--image-tag", tag)) == 0
        put_fake_image(ecr, NAME, "build-3")
        assert deploy_cli.main(deploy_args()) == 0  # --no-build without a tag: the newest image
        assert lam.get_function(FunctionName=NAME, Qualifier="live")["Code"]["ImageUri"].endswith(
            "@" + ecr_steps.image_digest(ecr, NAME, "build-3"))
        capsys.readouterr()

        assert deploy_cli.main(["versions", "--name", NAME, "--region", REGION]) == 0
        rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.split()[:1] in
                (["1"], ["2"], ["3"])]
        assert [(r[0], r[1]) for r in rows] == [("1", "build-1"), ("2", "build-2"), ("3", "build-3")]
        assert [r[0] for r in rows if "live" in r] == ["3"]

        assert deploy_cli.main(["rollback", "--name", NAME, "--region", REGION]) == 0  # to the one before
        assert "live: 3 -> 2" in capsys.readouterr().out
        assert lam.get_alias(FunctionName=NAME, Name="live")["FunctionVersion"] == "2"
        assert deploy_cli.main(["rollback", "--version", "3", "--name", NAME, "--region", REGION]) == 0
        assert lam.get_alias(FunctionName=NAME, Name="live")["FunctionVersion"] == "3"

        # The image behind version 1 is deleted: rolling back to it is refused, with the reason, and live stays.
        ecr.batch_delete_image(repositoryName=NAME, imageIds=[{"imageDigest": digests["build-1"]}])
        assert deploy_cli.main(["rollback", "--version", "1", "--name", NAME, "--region", REGION]) == 1
        err = capsys.readouterr().err
        assert "version 1" in err and digests["build-1"] in err and "no longer in the ECR repository" in err
        assert "Traceback" not in err
        assert lam.get_alias(FunctionName=NAME, Name="live")["FunctionVersion"] == "3"
        assert deploy_cli.main(["versions", "--name", NAME, "--region", REGION]) == 0
        (row,) = [line for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["1"]]
        assert "image gone" in row
        assert deploy_cli.main(["rollback", "--version", "9", "--name", NAME, "--region", REGION]) == 1
        assert "no version 9" in capsys.readouterr().err


def test_rollback_with_nothing_older_or_no_deployment_says_so(capsys):
    with mock_aws_account(REGION, managed_policies=True) as session:
        assert deploy_cli.main(["rollback", "--name", NAME, "--region", REGION]) == 1
        assert "make deploy" in capsys.readouterr().err
        ecr = session.client("ecr")
        ecr_steps.ensure_repository(ecr, NAME)
        put_fake_image(ecr, NAME, "only")
        assert deploy_cli.main(deploy_args()) == 0
        capsys.readouterr()
        assert deploy_cli.main(["rollback", "--name", NAME, "--region", REGION]) == 1
        assert "no version before 1" in capsys.readouterr().err


# ---------------------------------------------------------------------- the learner's own code, with a fake docker


FAKE_DOCKER = """#!{python}
import json, sys
from pathlib import Path

args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:1] == ["login"]:
    sys.stdin.read()
elif args[:1] == ["push"]:  # REGISTRY/REPOSITORY:TAG -> a fake manifest in moto's ECR (AWS_ENDPOINT_URL)
    import boto3
    from tutorial_support.moto_account import put_fake_image
    repository, tag = args[1].split("/", 1)[1].rsplit(":", 1)
    put_fake_image(boto3.client("ecr"), repository, tag)
elif args[:1] in (["info"], ["version"]):
    print("27.3.1")
elif args[:2] == ["buildx", "version"]:
    print("github.com/docker/buildx v0.17.1 0000000")
elif args[:2] == ["buildx", "inspect"]:  # a docker-container builder: its result stays in its cache without --load
    print("Name:   container\\nDriver: docker-container")
"""


def docker_builds(log) -> list[list[str]]:
    """The build commands in the fake docker's log: ``docker build ...`` or ``docker buildx build ...``."""
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return [c for c in calls if c[:1] == ["build"] or c[:2] == ["buildx", "build"]]


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """A ``docker`` command on PATH that logs its argv (one JSON list a line) and pushes into moto; yields the log."""
    log = tmp_path / "docker.log"
    script = tmp_path / "bin" / "docker"
    script.parent.mkdir()
    script.write_text(FAKE_DOCKER.format(python=sys.executable, log=str(log)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    return log


LEARNER_DOCKERFILE = """FROM public.ecr.aws/lambda/python:3.13
COPY requirements/image.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --requirement /tmp/requirements.txt --target "${LAMBDA_TASK_ROOT}"
COPY models/clothing-model.tflite models/labels.txt ${LAMBDA_TASK_ROOT}/
COPY 03_lambda_code/lambda_function.py 03_lambda_code/safe_download.py 03_lambda_code/safe_image.py ${LAMBDA_TASK_ROOT}/
CMD ["lambda_function.lambda_handler"]
"""


def test_make_deploy_dockerfile_ships_the_learners_own_code_under_a_unique_tag(fake_docker, tmp_path, capsys):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(LEARNER_DOCKERFILE)
    with mock_aws_account(REGION, managed_policies=True) as session:
        args = ["deploy", "--name", NAME, "--region", REGION, "--url", "https://example.com/a.jpg"]
        assert deploy_cli.main([*args, "--dockerfile", str(dockerfile)]) == 0
        out = capsys.readouterr().out
        assert "03_lambda_code/lambda_function.py" in out and "solutions/03_lambda_code" not in out
        assert "your own" in out and "lambda_function.lambda_handler" in out
        calls = [json.loads(line) for line in fake_docker.read_text().splitlines()]
        (build,) = docker_builds(fake_docker)
        assert build[build.index("--file") + 1] == str(dockerfile)
        # built as make image builds, for the builder Docker has: --load, so that docker tag finds the image
        assert "--load" in build and "docker-container driver" in out
        (push,) = [c for c in calls if c[:1] == ["push"]]
        tag = push[1].rsplit(":", 1)[1]
        assert re.fullmatch(r"([0-9a-f]{12}(-dirty)?|nogit)-\d{8}T\d{6}Z", tag)
        image_uri = session.client("lambda").get_function(FunctionName=NAME, Qualifier="live")["Code"]["ImageUri"]
        assert image_uri.endswith("@" + ecr_steps.image_digest(session.client("ecr"), NAME, tag))

        # The default stays the reference solution's Dockerfile and handler.
        fake_docker.write_text("")
        assert deploy_cli.main(args) == 0
        out = capsys.readouterr().out
        assert "solutions/03_lambda_code/lambda_function.py" in out and "the reference solution" in out
        (build,) = docker_builds(fake_docker)
        assert build[build.index("--file") + 1] == str(SOLUTIONS / "04_docker" / "Dockerfile")


def test_a_starter_dockerfile_that_ships_no_handler_stops_before_anything_is_created(fake_docker, capsys):
    with mock_aws_account(REGION) as session:
        starter = REPO_ROOT / "04_docker" / "Dockerfile"
        assert deploy_cli.main(["deploy", "--name", NAME, "--region", REGION, "--dockerfile", str(starter)]) == 1
        err = capsys.readouterr().err
        assert "04_docker/Dockerfile" in err and "no handler" in err and "Traceback" not in err
        assert session.client("ecr").describe_repositories()["repositories"] == []


# ------------------------------------------------------------------------------------------- log group, smoke test


def test_the_log_group_is_created_first_with_retention_and_tags_and_destroy_takes_only_ours(capsys):
    group = f"/aws/lambda/{NAME}"
    with mock_aws_account(REGION, managed_policies=True) as session:
        ecr, logs = session.client("ecr"), session.client("logs")
        ecr_steps.ensure_repository(ecr, NAME)
        put_fake_image(ecr, NAME, "v1")
        assert deploy_cli.main(deploy_args()) == 0
        out = capsys.readouterr().out
        assert out.index(f"log group {group}: created") < out.index(f"Lambda function {NAME}: created")
        (found,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        assert found["retentionInDays"] == deployment.LOG_RETENTION_DAYS
        assert logs.list_tags_for_resource(resourceArn=found["logGroupArn"])["tags"] == deployment.PROJECT_TAGS
        assert deploy_cli.main(["destroy", "--name", NAME, "--region", REGION]) == 0
        assert f"removed CloudWatch log group {group}" in capsys.readouterr().out
        assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []

        # Someone else's log group of another name's function, untagged: destroy leaves it.
        logs.create_log_group(logGroupName="/aws/lambda/other")
        assert deploy_cli.main(["destroy", "--name", "other", "--region", REGION]) == 0
        assert "not tagged as this project's: left alone" in capsys.readouterr().out
        assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == ["/aws/lambda/other"]


def test_a_log_group_lambda_made_for_our_function_earlier_is_adopted(capsys):
    group = f"/aws/lambda/{NAME}"
    with mock_aws_account(REGION, managed_policies=True) as session:
        ecr, logs = session.client("ecr"), session.client("logs")
        ecr_steps.ensure_repository(ecr, NAME)
        put_fake_image(ecr, NAME, "v1")
        assert deploy_cli.main(deploy_args()) == 0
        logs.delete_log_group(logGroupName=group)
        logs.create_log_group(logGroupName=group)  # as Lambda makes it: no retention, no tags
        assert deploy_cli.main(deploy_args()) == 0
        (found,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        assert found["retentionInDays"] == deployment.LOG_RETENTION_DAYS
        assert logs.list_tags_for_resource(resourceArn=found["logGroupArn"])["tags"] == deployment.PROJECT_TAGS


def test_a_log_group_of_that_name_that_is_not_ours_stops_deploy(capsys):
    with mock_aws_account(REGION, managed_policies=True) as session:
        ecr = session.client("ecr")
        ecr_steps.ensure_repository(ecr, NAME)
        put_fake_image(ecr, NAME, "v1")
        session.client("logs").create_log_group(logGroupName=f"/aws/lambda/{NAME}", tags={"team": "data"})
        assert deploy_cli.main(deploy_args()) == 1
        assert "not tagged project=serverless-dl-clothing" in capsys.readouterr().err
        assert session.client("lambda").list_functions()["Functions"] == []


@pytest.mark.parametrize("answer, function_error, status, words", [
    ({"error": {"status": 422, "code": "upstream_http_error", "message": "the image host answered 429"}}, None, 0,
     ["deployed; the smoke test's photo host refused", "make predict", "another URL"]),
    ({"error": {"status": 422, "code": "fetch_failed", "message": "could not connect"}}, None, 0,
     ["deployed; the smoke test's photo host refused"]),
    ({"error": {"status": 422, "code": "fetch_timeout", "message": "slow"}}, None, 0,
     ["deployed; the smoke test's photo host refused"]),
    ({"errorMessage": "No module named 'numpy'", "errorType": "Runtime.ImportModuleError"}, "Unhandled", 1,
     ["The function answered with an error", "CloudWatch"]),
    ({"error": {"status": 500, "code": "internal_error", "message": "internal error"}}, None, 1,
     ["The function answered with an error"]),
])
def test_the_smoke_test_tells_a_refusing_photo_host_from_a_failing_handler(capsys, monkeypatch, answer,
                                                                          function_error, status, words):
    monkeypatch.setattr(deploy, "invoke", lambda *a, **k: (answer, function_error))
    with mock_aws_account(REGION, managed_policies=True) as session:
        ecr = session.client("ecr")
        ecr_steps.ensure_repository(ecr, NAME)
        put_fake_image(ecr, NAME, "v1")
        assert deploy_cli.main(deploy_args()) == status
        captured = capsys.readouterr()
        text = captured.out + captured.err
        assert all(word in text for word in words), text
        assert ("Deployed." in captured.out) == (status == 0)


def test_the_photo_host_codes_are_codes_the_handler_raises():
    source = (SOLUTIONS / "03_lambda_code" / "safe_download.py").read_text()
    assert deploy.PHOTO_HOST_CODES and all(f'"{code}"' in source for code in deploy.PHOTO_HOST_CODES)


# ---------------------------------------------------------------------------------------------- predict.py hints


def test_the_500_and_503_hints_say_what_an_http_api_means_by_them():
    # A throttled function (reserved concurrency or the account limit reached) reaches an HTTP API's client as 500,
    # "Internal Server Error"; 503 is API Gateway itself being unavailable for a moment.
    assert "throttled" in predict.HINTS[500] and "concurrency" in predict.HINTS[500]
    assert "concurrency" not in predict.HINTS[503] and "throttled" not in predict.HINTS[503]
    assert "try again" in predict.HINTS[503]

