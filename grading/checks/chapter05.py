"""Checks of chapter 05 (``05_deploy/deploy.py``) in a fresh moto account: the execution role, the function, the
version and the alias ``live``."""

from __future__ import annotations

import functools
import json

from grading import hints
from grading.outcomes import exercise
from tutorial_support.moto_account import fake_images, lambda_role, mock_aws_account

CHAPTER = "05_deploy"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request


PROJECT_TAG = ("project", "serverless-dl-clothing")  # the tag chapter 05 puts on every resource it creates
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
GRADED_NAME = "graded-clothing"


def _tags(pairs) -> dict:
    return {p["Key"]: p["Value"] for p in pairs} if isinstance(pairs, list) else dict(pairs or {})


@exercise("05_deploy", "ensure_role")
def check_ensure_role(module):
    """Check ``module.ensure_role(iam, name) -> arn`` in a moto account: trust policy, policies, tags, idempotence."""
    with mock_aws_account(managed_policies=True) as session:
        iam = session.client("iam")
        name = f"{GRADED_NAME}-role"
        arn = module.ensure_role(iam, name)
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except iam.exceptions.NoSuchEntityException:
            raise AssertionError(f"ensure_role should create the role {name!r}; there is none") from None
        assert arn == role["Arn"], f"ensure_role should return the role's ARN {role['Arn']}, got {arn!r}"
        document = role["AssumeRolePolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        statements = document.get("Statement", [])
        assert len(statements) == 1, f"the trust policy should have one statement, got {statements}"
        statement = statements[0]
        actions = statement.get("Action")
        assert statement.get("Effect") == "Allow" and actions in ("sts:AssumeRole", ["sts:AssumeRole"]), (
            f"the trust policy should Allow sts:AssumeRole, got {statement}")
        assert statement.get("Principal") in ({"Service": "lambda.amazonaws.com"},
                                              {"Service": ["lambda.amazonaws.com"]}), (
            f"only the Lambda service (lambda.amazonaws.com) should be trusted, got {statement.get('Principal')}")
        attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
        assert attached == [BASIC_EXECUTION_POLICY], (
            f"the role should have AWSLambdaBasicExecutionRole attached and nothing else, got {attached}")
        assert not iam.list_role_policies(RoleName=name)["PolicyNames"], "the role should have no inline policies"
        tags = _tags(iam.list_role_tags(RoleName=name)["Tags"])
        assert tags.get(PROJECT_TAG[0]) == PROJECT_TAG[1], f"tag the role {PROJECT_TAG[0]}={PROJECT_TAG[1]}, got {tags}"
        try:
            again = module.ensure_role(iam, name)
        except iam.exceptions.EntityAlreadyExistsException:
            raise AssertionError("a second call failed with EntityAlreadyExists: look the role up first") from None
        assert again == arn, f"a second call should return the same role, got {again!r}"
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        assert len(attached) == 1, f"after a second call the role should still have one policy, got {attached}"


@exercise("05_deploy", "ensure_function")
def check_ensure_function(module):
    """Check ``module.ensure_function``: creates an image function pinned by digest, then updates it in place."""
    with mock_aws_account() as session:
        first, second = fake_images(session, GRADED_NAME)
        role = lambda_role(session, f"{GRADED_NAME}-role")
        lam = session.client("lambda")
        cases = [(first, 1024, 30, "created"), (second, 2048, 60, "updated (new image, memory and timeout)")]
        for image_uri, memory, timeout, what in cases:
            config = module.ensure_function(lam, GRADED_NAME, image_uri, role, memory, timeout, "x86_64")
            try:
                function = lam.get_function(FunctionName=GRADED_NAME)
            except lam.exceptions.ResourceNotFoundException:
                raise AssertionError(f"ensure_function should create the function {GRADED_NAME!r}") from None
            got = function["Configuration"]
            assert got.get("PackageType") == "Image", f"create the function with PackageType='Image', got {got}"
            assert function["Code"].get("ImageUri") == image_uri, (
                f"{what}: the function should run {image_uri}, got {function['Code'].get('ImageUri')}")
            assert (got["MemorySize"], got["Timeout"]) == (memory, timeout), (
                f"{what}: expected {memory} MB and {timeout} s, got {got['MemorySize']} MB and {got['Timeout']} s")
            assert got.get("Architectures") == ["x86_64"], f"expected Architectures ['x86_64'], got {got}"
            assert got["Role"] == role, f"the function should use the execution role {role}, got {got['Role']}"
            assert got.get("State") == "Active", f"wait until the function is Active, got {got.get('State')}"
            tags = function.get("Tags") or {}
            assert tags.get(PROJECT_TAG[0]) == PROJECT_TAG[1], f"tag the function {PROJECT_TAG[0]}={PROJECT_TAG[1]}"
            assert isinstance(config, dict) and config.get("FunctionName") == GRADED_NAME, (
                f"return the function's configuration (get_function_configuration), got {config!r}")
            assert config.get("MemorySize") == memory, "return the configuration after the update, not before"
            if what == "created":
                lam.publish_version(FunctionName=GRADED_NAME)  # as a deployment would: version 1 must survive updates
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=GRADED_NAME)["Versions"]]
        assert "1" in versions, ("a second call should update the function in place (update_function_code, "
                                 "update_function_configuration): deleting and re-creating it loses its versions")
        names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        assert names == [GRADED_NAME], f"a second call should update the function, not add one: {names}"


@exercise("05_deploy", "publish_and_alias")
def check_publish_and_alias(module):
    """Check ``module.publish_and_alias(lambda_client, name) -> (version, alias ARN)``: live follows each release."""
    with mock_aws_account() as session:
        first, second = fake_images(session, GRADED_NAME)
        lam = session.client("lambda")
        lam.create_function(FunctionName=GRADED_NAME, PackageType="Image", Code={"ImageUri": first},
                            Role=lambda_role(session, f"{GRADED_NAME}-role"))
        released = []
        for image_uri in (first, second):
            if released:
                lam.update_function_code(FunctionName=GRADED_NAME, ImageUri=image_uri)
            result = module.publish_and_alias(lam, GRADED_NAME)
            assert isinstance(result, tuple) and len(result) == 2, f"return (version, alias ARN), got {result!r}"
            version, arn = result
            versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=GRADED_NAME)["Versions"]]
            assert version in versions and version != "$LATEST", (
                f"publish a version (publish_version) and return its number; versions are {versions}, got {version!r}")
            try:
                alias = lam.get_alias(FunctionName=GRADED_NAME, Name="live")
            except lam.exceptions.ResourceNotFoundException:
                raise AssertionError("there is no alias 'live': create it (create_alias)") from None
            assert alias["FunctionVersion"] == version, (
                f"the alias live should point at the version just published ({version}), "
                f"got {alias['FunctionVersion']}")
            assert arn == alias["AliasArn"], f"return the alias's ARN {alias['AliasArn']}, got {arn!r}"
            code = lam.get_function(FunctionName=GRADED_NAME, Qualifier="live")["Code"]["ImageUri"]
            assert code == image_uri, f"live should run {image_uri}, runs {code}"
            released.append(version)
        assert released[0] != released[1], f"the second release should be a new version, got {released}"
        aliases = [a["Name"] for a in lam.list_aliases(FunctionName=GRADED_NAME)["Aliases"]]
        assert aliases == ["live"], f"update the alias on later releases, do not add aliases: {aliases}"
