"""Checks of chapter 05 (``05_deploy/deploy.py``) in a fresh moto account: the execution role, the function, the
version and the alias ``live``.

moto runs with ``tutorial_support.moto_lifecycle`` (entered by ``mock_aws_account``, and here again): as on AWS, a
new function is ``Pending`` and an update ``InProgress`` until looked at (``get_function``, what boto3's waiters
poll), and updating or publishing meanwhile fails with ``ResourceConflictException``; so a deployment that does not
wait fails here as it would on AWS. The checks wait for what they create themselves with the same waiters, polling
every 0.05 s.
"""

from __future__ import annotations

import functools
import json
import re
from contextlib import contextmanager

from grading import hints
from grading.outcomes import exercise
from tutorial_support.moto_account import fake_images, lambda_role, mock_aws_account
from tutorial_support.moto_lifecycle import lambda_lifecycle

CHAPTER = "05_deploy"
hint = functools.partial(hints.hint, CHAPTER)  # hint("exercise"): the detailed hint, on request


PROJECT_TAG = ("project", "serverless-dl-clothing")  # the tag chapter 05 puts on every resource it creates
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
GRADED_NAME = "graded-clothing"
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "lambda.amazonaws.com"}}]}
FAST = {"Delay": 0.05, "MaxAttempts": 100}  # the checks' own waiting: boto3's waiters, polling every 0.05 s


def _tags(pairs) -> dict:
    return {p["Key"]: p["Value"] for p in pairs} if isinstance(pairs, list) else dict(pairs or {})


def _tag_pairs() -> list[dict]:
    return [{"Key": PROJECT_TAG[0], "Value": PROJECT_TAG[1]}]


def aws_code(error: BaseException) -> str:
    """The AWS error code (``"ResourceConflictException"``, ...) of an error the student's code raised, or ``""``: a
    boto3 ClientError, or the grading sandbox's stand-in for one, whose message is the same ("An error occurred
    (CODE) when calling the OPERATION operation: ...")."""
    match = re.match(r"An error occurred \(([\w.]+)\)", str(error))
    return match.group(1) if match else ""


WAIT_ADVICE = ("Lambda applies each change asynchronously: wait until the function is Active after create_function "
               "(waiter function_active_v2) and until each update is done (function_updated_v2) before the next "
               "change, and update a function that exists instead of creating it again")

ALIAS_ADVICE = "The alias exists after the first release: move it (update_alias); create it only when it does not exist"


@contextmanager
def student_aws_errors(what: str, advice: dict[str, str] | None = None):
    """While in this block (a call of the student's code), an AWS error it raises becomes an AssertionError that
    says what failed, AWS's message, and ``advice[code]`` when there is some: a wrong use of AWS, not a crash."""
    try:
        yield
    except Exception as e:
        code = aws_code(e)
        if not code:
            raise
        raise AssertionError(f"{what} failed: {str(e).rstrip('.')}. {(advice or {}).get(code, '')}".rstrip()) from None


def wait_ready(lam, name: str) -> None:
    """Wait (0.05 s polls) until the function ``name``, created or updated by the check itself, is ready."""
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST)


def _refused(module, call, what: str) -> None:
    """``call()`` (the student's function on a resource of the check's name that is not this project's) must raise
    the project's ``DeployError``; AssertionError otherwise."""
    try:
        call()
    except module.DeployError:
        return
    except Exception as e:  # another error than the project's: say which
        raise AssertionError(f"{what}, but it raised {type(e).__name__}: {e}. Raise the project's DeployError "
                             "(not_ours(kind, name) makes the message)") from None
    raise AssertionError(f"{what}, but it returned normally: it must refuse with the project's DeployError "
                         "(not_ours(kind, name)) and change nothing")


@exercise("05_deploy", "ensure_role")
def check_ensure_role(module):
    """Check ``module.ensure_role(iam, name) -> arn`` in a moto account: trust policy, policies, tags, idempotence,
    a half-made role of ours completed, someone else's role refused (DeployError) and left alone."""
    with mock_aws_account(managed_policies=True) as session:
        iam = session.client("iam")
        name = f"{GRADED_NAME}-role"
        with student_aws_errors("ensure_role"):
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
            "only the Lambda service may assume the role (Principal {'Service': 'lambda.amazonaws.com'}, "
            f"trust_policy()), got {statement.get('Principal')}")
        attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
        assert attached == [BASIC_EXECUTION_POLICY], (
            f"the role should have AWSLambdaBasicExecutionRole attached and nothing else, got {attached}")
        inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
        assert not inline, f"the role should have no inline policies (put_role_policy), got {inline}"
        tags = _tags(iam.list_role_tags(RoleName=name)["Tags"])
        assert tags.get(PROJECT_TAG[0]) == PROJECT_TAG[1], (
            f"tag the role {PROJECT_TAG[0]}={PROJECT_TAG[1]} (create_role's Tags), got {tags}")
        with student_aws_errors("a second call", {"EntityAlreadyExists": "Look the role up first (get_role) and "
                                                  "create it only when it does not exist"}):
            again = module.ensure_role(iam, name)
        assert again == arn, f"a second call should return the same role's ARN {arn}, got {again!r}"
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        assert len(attached) == 1, f"after a second call the role should still have one policy, got {attached}"

        # A role of ours that a deployment interrupted before attaching the policy: completed, not re-created.
        half = f"{GRADED_NAME}-half-role"
        made = iam.create_role(RoleName=half, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST),
                               Tags=_tag_pairs())["Role"]["Arn"]
        got = module.ensure_role(iam, half)
        assert got == made, f"for the existing role {half!r} (ours), return its ARN {made}, got {got!r}"
        attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=half)["AttachedPolicies"]]
        assert attached == [BASIC_EXECUTION_POLICY], (
            f"the existing role {half!r} (tagged as ours) lacked AWSLambdaBasicExecutionRole: attach it whether the "
            f"role was just created or already there; it has {attached}")

        # Someone else's role of that name (no project tag): refused, untouched.
        theirs = f"{GRADED_NAME}-theirs-role"
        iam.create_role(RoleName=theirs, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST),
                        Tags=[{"Key": "team", "Value": "data"}])
        _refused(module, lambda: module.ensure_role(iam, theirs),
                 f"a role {theirs!r} exists without the tag {PROJECT_TAG[0]}={PROJECT_TAG[1]}: it is someone "
                 "else's, and ensure_role must not take it over")
        attached = iam.list_attached_role_policies(RoleName=theirs)["AttachedPolicies"]
        tags = _tags(iam.list_role_tags(RoleName=theirs)["Tags"])
        assert not attached and tags == {"team": "data"}, (
            f"someone else's role {theirs!r} must be left alone: it now has policies {attached} and tags {tags}")


@exercise("05_deploy", "ensure_function")
def check_ensure_function(module):
    """Check ``module.ensure_function``: creates an image function with the settings given and waits until it is
    Active; then updates code, architecture, memory, timeout and role in place (its versions kept), waiting between
    the updates; refuses someone else's function (DeployError) and leaves it alone."""
    with mock_aws_account() as session, lambda_lifecycle():
        first, second = fake_images(session, GRADED_NAME)
        roles = [lambda_role(session, f"{GRADED_NAME}-role"), lambda_role(session, f"{GRADED_NAME}-role-2")]
        lam = session.client("lambda")
        # Settings unlike the defaults (1,024 MB, 30 s, x86_64), so that ignoring an argument shows.
        cases = [(first, roles[0], 512, 20, "arm64", "created"),
                 (second, roles[1], 2048, 60, "x86_64", "updated (new image, role, memory, timeout, architecture)")]
        for image_uri, role, memory, timeout, architecture, what in cases:
            with student_aws_errors(f"ensure_function ({what})", {"ResourceConflictException": WAIT_ADVICE}):
                config = module.ensure_function(lam, GRADED_NAME, image_uri, role, memory, timeout, architecture)
            assert isinstance(config, dict) and config.get("FunctionName") == GRADED_NAME, (
                f"return the function's configuration (get_function_configuration), got {config!r}")
            assert config.get("State") == "Active" and config.get("LastUpdateStatus") == "Successful", (
                f"{what}: ensure_function returned while the function was State {config.get('State')}, "
                f"LastUpdateStatus {config.get('LastUpdateStatus')}: wait until Lambda is done (waiter "
                "function_active_v2 after create_function, function_updated_v2 after each update), then return "
                "get_function_configuration")
            try:
                function = lam.get_function(FunctionName=GRADED_NAME)
            except lam.exceptions.ResourceNotFoundException:
                raise AssertionError(f"ensure_function should create the function {GRADED_NAME!r}") from None
            got = function["Configuration"]
            assert got.get("State") == "Active" and got.get("LastUpdateStatus") == "Successful", (
                f"{what}: the function is still State {got.get('State')}, LastUpdateStatus "
                f"{got.get('LastUpdateStatus')}: wait until Lambda is done before returning")
            assert got.get("PackageType") == "Image", f"create the function with PackageType='Image', got {got}"
            assert function["Code"].get("ImageUri") == image_uri, (
                f"{what}: the function should run {image_uri}, got {function['Code'].get('ImageUri')}")
            assert (got["MemorySize"], got["Timeout"]) == (memory, timeout), (
                f"{what}: with memory_mb={memory} and timeout_s={timeout} the function should have "
                f"MemorySize {memory} (MB) and Timeout {timeout} (s), got {got['MemorySize']} and {got['Timeout']}")
            assert got.get("Architectures") == [architecture], (
                f"{what}: with architecture={architecture!r} expected Architectures [{architecture!r}] (create_function"
                f" and update_function_code take Architectures), got {got.get('Architectures')}")
            assert got["Role"] == role, f"{what}: the function should use the execution role {role}, got {got['Role']}"
            tags = function.get("Tags") or {}
            assert tags.get(PROJECT_TAG[0]) == PROJECT_TAG[1], (
                f"tag the function {PROJECT_TAG[0]}={PROJECT_TAG[1]} (create_function's Tags), got {tags}")
            assert (config.get("MemorySize"), config.get("Timeout")) == (memory, timeout), (
                f"{what}: return the configuration after the changes ({memory} MB, {timeout} s: "
                f"get_function_configuration at the end), got {config.get('MemorySize')} MB, {config.get('Timeout')} s")
            if what == "created":
                lam.publish_version(FunctionName=GRADED_NAME)  # as a deployment would: version 1 must survive updates
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=GRADED_NAME)["Versions"]]
        assert "1" in versions, ("a second call should update the function in place (update_function_code, "
                                 "update_function_configuration): deleting and re-creating it loses its versions "
                                 f"(version 1 is gone: {versions})")
        names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        assert names == [GRADED_NAME], f"a second call should update the function, not add one: {names}"

        # Someone else's function of that name (no project tag): refused, untouched.
        theirs = f"{GRADED_NAME}-theirs"
        lam.create_function(FunctionName=theirs, PackageType="Image", Code={"ImageUri": first}, Role=roles[0],
                            Tags={"team": "data"})
        wait_ready(lam, theirs)
        _refused(module, lambda: module.ensure_function(lam, theirs, second, roles[1], 1024, 30, "x86_64"),
                 f"a function {theirs!r} exists without the tag {PROJECT_TAG[0]}={PROJECT_TAG[1]}: it is someone "
                 "else's, and ensure_function must not take it over")
        wait_ready(lam, theirs)
        left = lam.get_function(FunctionName=theirs)
        assert left["Code"].get("ImageUri") == first and left["Configuration"]["MemorySize"] == 128 and \
            left.get("Tags") == {"team": "data"}, (
                f"someone else's function {theirs!r} must be left alone: its image, memory or tags changed")


@exercise("05_deploy", "publish_and_alias")
def check_publish_and_alias(module):
    """Check ``module.publish_and_alias(lambda_client, name, alias) -> (version, alias ARN)``: each release publishes
    a new version and moves the alias to it (created once); another alias name is honoured."""
    with mock_aws_account() as session, lambda_lifecycle():
        tags = ("v1", "v2", "v3")
        first, second, third = images = fake_images(session, GRADED_NAME, tags)
        lam = session.client("lambda")
        lam.create_function(FunctionName=GRADED_NAME, PackageType="Image", Code={"ImageUri": first},
                            Role=lambda_role(session, f"{GRADED_NAME}-role"))
        wait_ready(lam, GRADED_NAME)
        released = {}
        # Two releases to live, then a third image released to the alias "canary" only (publish_and_alias's alias).
        for image_uri, alias in ((first, "live"), (second, "live"), (third, "canary")):
            if released:
                lam.update_function_code(FunctionName=GRADED_NAME, ImageUri=image_uri)
                wait_ready(lam, GRADED_NAME)
            with student_aws_errors(f"releasing image {tags[images.index(image_uri)]} to {alias}",
                                    {"ConflictException": ALIAS_ADVICE, "ResourceConflictException": ALIAS_ADVICE}):
                result = module.publish_and_alias(lam, GRADED_NAME) if alias == "live" else \
                    module.publish_and_alias(lam, GRADED_NAME, alias)
            assert isinstance(result, tuple) and len(result) == 2, f"return (version, alias ARN), got {result!r}"
            version, arn = result
            versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=GRADED_NAME)["Versions"]]
            assert version in versions and version != "$LATEST", (
                f"publish a version (publish_version) and return its number; versions are {versions}, got {version!r}")
            assert version not in released.values(), (
                f"each release should publish a new version: {version!r} was already released ({released})")
            try:
                got = lam.get_alias(FunctionName=GRADED_NAME, Name=alias)
            except lam.exceptions.ResourceNotFoundException:
                raise AssertionError(f"there is no alias {alias!r}: create it (create_alias) the first time, with "
                                     "the alias name publish_and_alias was given") from None
            assert got["FunctionVersion"] == version, (
                f"the alias {alias} should point at the version just published ({version}), "
                f"got {got['FunctionVersion']}")
            assert arn == got["AliasArn"], f"return the alias's ARN {got['AliasArn']}, got {arn!r}"
            code = lam.get_function(FunctionName=GRADED_NAME, Qualifier=alias)["Code"]["ImageUri"]
            assert code == image_uri, f"{alias} should run {image_uri}, runs {code}"
            released[image_uri] = version
        live = lam.get_alias(FunctionName=GRADED_NAME, Name="live")["FunctionVersion"]
        assert live == released[second], (
            f"releasing to 'canary' should leave live at version {released[second]}, live is at {live}")
        aliases = [a["Name"] for a in lam.list_aliases(FunctionName=GRADED_NAME)["Aliases"]]
        assert sorted(aliases) == ["canary", "live"], (
            f"move the alias on later releases (update_alias), do not add aliases: {aliases}")
