"""Mutation tests of chapter 05's checks (``05_deploy/deploy.py``): plausible wrong answers are graded incorrect,
with a message that names the mistake, and right answers written differently from the reference are graded correct.

Each case is the reference solution with a few exact text edits (``submission`` in tests/conftest.py), run in the
grading sandbox against a fresh moto account whose Lambda functions are Pending / InProgress until looked at, as on
AWS (``tutorial_support.moto_lifecycle``).
"""

import pytest

from grading.checks import chapter05 as checks
from grading.outcomes import Incorrect

CHAPTER, SCRIPT = "05_deploy", "deploy.py"

# ------------------------------------------------------------------------------------------------- ensure_role

OWNERSHIP = '''        if not is_ours(iam.list_role_tags(RoleName=name)["Tags"]):
            raise not_ours("IAM role", name)
'''
ATTACH = "    iam.attach_role_policy(RoleName=name, PolicyArn=BASIC_EXECUTION_POLICY)  # idempotent\n"
TRUST = "role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy()),"
ROLE_TAGS = ''',
                               Tags=[{"Key": k, "Value": v} for k, v in PROJECT_TAGS.items()])["Role"]'''
ROLE_LOOKUP = '''    try:
        role = iam.get_role(RoleName=name)["Role"]
        if not is_ours(iam.list_role_tags(RoleName=name)["Tags"]):
            raise not_ours("IAM role", name)
        print(f"  IAM role {name}: exists")
    except iam.exceptions.NoSuchEntityException:
'''
ROLE_CREATE = '''        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy()),
                               Description="Execution role of the clothing classifier (serverless-dl tutorial)",
                               Tags=[{"Key": k, "Value": v} for k, v in PROJECT_TAGS.items()])["Role"]
        print(f"  IAM role {name}: created")
'''


def _trust(principal: str) -> str:
    return ('role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", '
            f'"Statement": [{{"Effect": "Allow", "Principal": {principal}, "Action": "sts:AssumeRole"}}]}}),')


ROLE_WRONG = {
    "takes_over_someone_elses_role": ([(OWNERSHIP, "")], "it is someone else's"),
    "admin_policy_too": ([(ATTACH, ATTACH + '    iam.attach_role_policy(RoleName=name, '
                                           'PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")\n')],
                         "AWSLambdaBasicExecutionRole attached and nothing else"),
    "inline_policy_for_logs": ([(ATTACH, ATTACH + '    iam.put_role_policy(RoleName=name, PolicyName="logs", '
                                                 'PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": '
                                                 '[{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))\n')],
                               "no inline policies"),
    "trusts_everyone": ([(TRUST, _trust('{"AWS": "*"}'))], "only the Lambda service may assume the role"),
    "trusts_ec2_copied_from_an_ec2_tutorial": ([(TRUST, _trust('{"Service": "ec2.amazonaws.com"}'))],
                                               "only the Lambda service may assume the role"),
    "trusts_lambda_and_ec2": ([(TRUST, _trust('{"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}'))],
                              "only the Lambda service may assume the role"),
    "creates_every_time": ([(ROLE_LOOKUP, "    if True:\n")], "EntityAlreadyExists"),
    "forgets_the_tags": ([(ROLE_TAGS, ')["Role"]')], "tag the role project=serverless-dl-clothing"),
    "attaches_the_policy_only_on_create": ([(ROLE_CREATE + ATTACH, ROLE_CREATE + "    " + ATTACH)],
                                           "attach it whether the role was just created or already there"),
    "returns_the_name_not_the_arn": ([('    return role["Arn"]\n', '    return role["RoleName"]\n')],
                                     "return the role's ARN"),
    "refuses_with_a_value_error": ([('            raise not_ours("IAM role", name)\n',
                                     '            raise ValueError(f"{name} is not ours")\n')],
                                   "Raise the project's DeployError"),
}

ROLE_RIGHT = {
    # The error code read from ClientError, tags read as a dict, a trust policy written out with lists, and the
    # policy attached only when it is missing.
    "client_error_codes_and_list_policies": [(ROLE_LOOKUP + ROLE_CREATE + ATTACH, '''    try:
        role = iam.get_role(RoleName=name)["Role"]
    except botocore.exceptions.ClientError as e:
        if error_code(e) != "NoSuchEntity":
            raise
        document = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sts:AssumeRole"], "Principal": {"Service": ["lambda.amazonaws.com"]}}]}
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(document),
                               Tags=[{"Key": "project", "Value": "serverless-dl-clothing"}])["Role"]
    else:
        tags = {tag["Key"]: tag["Value"] for tag in iam.list_role_tags(RoleName=name)["Tags"]}
        if tags.get("project") != "serverless-dl-clothing":
            raise DeployError(f"the role {name} belongs to someone else")
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
    if BASIC_EXECUTION_POLICY not in attached:
        iam.attach_role_policy(RoleName=name, PolicyArn=BASIC_EXECUTION_POLICY)
''')],
    # Looked up in list_roles instead of get_role.
    "found_in_list_roles": [(ROLE_LOOKUP, '''    found = [r for r in iam.list_roles()["Roles"] if r["RoleName"] == name]
    if found:
        role = found[0]
        if not is_ours(iam.list_role_tags(RoleName=name)["Tags"]):
            raise not_ours("IAM role", name)
    else:
''')],
}


@pytest.mark.parametrize("mistake", ROLE_WRONG)
def test_ensure_role_wrong_answers_are_incorrect(submission, mistake):
    edits, message = ROLE_WRONG[mistake]
    target = submission(CHAPTER, {SCRIPT: edits})
    with pytest.raises(Incorrect, match=message):
        checks.check_ensure_role(target.module(CHAPTER, SCRIPT))


@pytest.mark.parametrize("variant", ROLE_RIGHT)
def test_ensure_role_right_answers_are_correct(submission, variant, capsys):
    target = submission(CHAPTER, {SCRIPT: ROLE_RIGHT[variant]})
    assert checks.check_ensure_role(target.module(CHAPTER, SCRIPT)) is None
    assert "ensure_role: correct" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------- ensure_function

WAIT_ACTIVE = '        _wait(lambda_client, "function_active_v2", name)\n'
WAIT_BEFORE = ('        _wait(lambda_client, "function_updated_v2", name)  # a previous update may still be in '
               'progress\n')
CODE = ("        lambda_client.update_function_code(FunctionName=name, ImageUri=image_uri, "
        "Architectures=[architecture])\n")
WAIT_AFTER_CODE = CODE + '        _wait(lambda_client, "function_updated_v2", name)\n'
CONFIGURATION = ("        _retry_while_role_propagates(lambda_client.update_function_configuration, FunctionName=name, "
                 "**settings)\n")
WAIT_AFTER_CONFIGURATION = CONFIGURATION + '        _wait(lambda_client, "function_updated_v2", name)\n'
CREATE_ARCHITECTURE = 'Code={"ImageUri": image_uri}, Architectures=[architecture],'
FUNCTION_OWNERSHIP = '''        if not is_ours(current.get("Tags")):
            raise not_ours("Lambda function", name)
'''
SETTINGS = '    settings = {"Role": role_arn, "MemorySize": memory_mb, "Timeout": timeout_s,\n'
UPDATES = WAIT_BEFORE + WAIT_AFTER_CODE + WAIT_AFTER_CONFIGURATION
RETURN = "    return lambda_client.get_function_configuration(FunctionName=name)\n"
DEFAULTS = '    settings = {"Role": role_arn, "MemorySize": deployment.DEFAULT_MEMORY_MB, ' \
           '"Timeout": deployment.DEFAULT_TIMEOUT_S,\n'

FUNCTION_WRONG = {
    "never_waits": ([(WAIT_ACTIVE, ""), (WAIT_BEFORE, ""), (WAIT_AFTER_CODE, CODE),
                     (WAIT_AFTER_CONFIGURATION, CONFIGURATION)], "returned while the function was State Pending"),
    "does_not_wait_after_create": ([(WAIT_ACTIVE, "")], "returned while the function was State Pending"),
    "does_not_wait_between_code_and_configuration": ([(WAIT_AFTER_CODE, CODE)],
                                                     "Lambda applies each change asynchronously"),
    "does_not_wait_after_the_last_update": ([(WAIT_AFTER_CONFIGURATION, CONFIGURATION)],
                                            "LastUpdateStatus InProgress"),
    "deletes_and_recreates_on_update": ([(UPDATES, '''        lambda_client.delete_function(FunctionName=name)
        lambda_client.create_function(FunctionName=name, PackageType="Image", Code={"ImageUri": image_uri},
                                      Architectures=[architecture], Tags=dict(PROJECT_TAGS), **settings)
        _wait(lambda_client, "function_active_v2", name)
''')], "deleting and re-creating it loses its versions"),
    "updates_the_code_but_not_the_configuration": ([(WAIT_AFTER_CONFIGURATION, "")], "should have MemorySize 2048"),
    "keeps_the_old_role": ([(CONFIGURATION, CONFIGURATION.replace("**settings)",
                                                                  "MemorySize=memory_mb, Timeout=timeout_s)"))],
                           "should use the execution role"),
    "ignores_the_architecture_on_create": ([(CREATE_ARCHITECTURE, 'Code={"ImageUri": image_uri},')],
                                           r"expected Architectures \['arm64'\]"),
    "ignores_the_architecture_on_update": ([(CODE, CODE.replace(", Architectures=[architecture]", ""))],
                                           r"expected Architectures \['x86_64'\]"),
    "forgets_the_tags": ([("Tags=dict(PROJECT_TAGS), **settings)", "**settings)")],
                         "tag the function project=serverless-dl-clothing"),
    "takes_over_an_untagged_function": ([(FUNCTION_OWNERSHIP, "")], "must not take it over"),
    "uses_the_default_settings": ([(SETTINGS, DEFAULTS)], "should have MemorySize 512"),
    "timeout_in_milliseconds": ([(SETTINGS, SETTINGS.replace('"Timeout": timeout_s', '"Timeout": timeout_s * 1000'))],
                                "Timeout 20"),
    "creates_every_time": ([("    if current is None:\n", "    if True:\n")],
                           "update a function that exists instead of creating it again"),
    "returns_the_configuration_from_before_the_update": (
        [(RETURN, '    return current["Configuration"] if current else '
                  'lambda_client.get_function_configuration(FunctionName=name)\n')],
        "return the configuration after the changes"),
}

FUNCTION_RIGHT = {
    # Polls get_function_configuration itself instead of using boto3's waiters.
    "polls_by_hand": [
        ('    settings = {"Role"', '''    def ready():
        while True:
            state = lambda_client.get_function_configuration(FunctionName=name)
            if state["State"] == "Active" and state.get("LastUpdateStatus", "Successful") == "Successful":
                return
            time.sleep(0.1)

    settings = {"Role"'''),
        (WAIT_ACTIVE, "        ready()\n"), (WAIT_BEFORE, "        ready()\n"),
        (WAIT_AFTER_CODE, CODE + "        ready()\n"), (WAIT_AFTER_CONFIGURATION, CONFIGURATION + "        ready()\n")],
    # Configuration first, then code; waiters polling faster; ownership read with list_tags.
    "configuration_first_and_quicker_waiters": [
        (FUNCTION_OWNERSHIP, '''        arn = current["Configuration"]["FunctionArn"]
        if lambda_client.list_tags(Resource=arn)["Tags"].get("project") != "serverless-dl-clothing":
            raise DeployError(f"the function {name} is not this project's")
'''),
        (UPDATES, '''        quick = {"Delay": 0.2, "MaxAttempts": 600}
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=quick)
        lambda_client.update_function_configuration(FunctionName=name, Role=role_arn, MemorySize=memory_mb,
                                                    Timeout=timeout_s)
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=quick)
        lambda_client.update_function_code(FunctionName=name, ImageUri=image_uri, Architectures=[architecture])
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=quick)
''')],
}


@pytest.mark.parametrize("mistake", FUNCTION_WRONG)
def test_ensure_function_wrong_answers_are_incorrect(submission, mistake):
    edits, message = FUNCTION_WRONG[mistake]
    target = submission(CHAPTER, {SCRIPT: edits})
    with pytest.raises(Incorrect, match=message):
        checks.check_ensure_function(target.module(CHAPTER, SCRIPT))


@pytest.mark.parametrize("variant", FUNCTION_RIGHT)
def test_ensure_function_right_answers_are_correct(submission, variant, capsys):
    target = submission(CHAPTER, {SCRIPT: FUNCTION_RIGHT[variant]})
    assert checks.check_ensure_function(target.module(CHAPTER, SCRIPT)) is None
    assert "ensure_function: correct" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------- publish_and_alias

PUBLISH = '    version = lambda_client.publish_version(FunctionName=name)["Version"]\n'
ALIAS_BODY = '''    try:
        arn = lambda_client.update_alias(FunctionName=name, Name=alias, FunctionVersion=version)["AliasArn"]
    except lambda_client.exceptions.ResourceNotFoundException:
        arn = lambda_client.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)["AliasArn"]
'''
CREATE_ALIAS = ('    arn = lambda_client.create_alias(FunctionName=name, Name=alias, '
                'FunctionVersion=version)["AliasArn"]\n')

ALIAS_WRONG = {
    "creates_the_alias_every_time": ([(ALIAS_BODY, CREATE_ALIAS)], r"move it \(update_alias\)"),
    "points_the_alias_at_latest": ([(ALIAS_BODY, ALIAS_BODY.replace("FunctionVersion=version",
                                                                    'FunctionVersion="$LATEST"'))],
                                   "should point at the version just published"),
    "does_not_publish": ([(PUBLISH, '    version = "$LATEST"\n')], "publish a version"),
    "never_moves_the_alias": ([(ALIAS_BODY, '''    try:
        arn = lambda_client.get_alias(FunctionName=name, Name=alias)["AliasArn"]
    except lambda_client.exceptions.ResourceNotFoundException:
''' + "    " + CREATE_ALIAS)], "should point at the version just published"),
    "always_live_whatever_the_alias": ([(ALIAS_BODY, ALIAS_BODY.replace("Name=alias", 'Name="live"'))],
                                       "there is no alias 'canary'"),
    "returns_the_alias_name": ([("    return version, arn\n", "    return version, alias\n")],
                               "return the alias's ARN"),
    "returns_the_version_as_a_number": ([("    return version, arn\n", "    return int(version), arn\n")],
                                        "publish a version"),
}

ALIAS_RIGHT = {
    # Decides between create and update from list_aliases.
    "list_aliases_first": [(ALIAS_BODY, '''    aliases = lambda_client.list_aliases(FunctionName=name)["Aliases"]
    names = [a["Name"] for a in aliases]
    call = lambda_client.update_alias if alias in names else lambda_client.create_alias
    arn = call(FunctionName=name, Name=alias, FunctionVersion=version)["AliasArn"]
''')],
    # get_alias first (the error code read from ClientError); the version published with a description.
    "get_alias_first": [(PUBLISH, '    version = lambda_client.publish_version(FunctionName=name, '
                                  'Description="release")["Version"]\n'),
                        (ALIAS_BODY, '''    try:
        lambda_client.get_alias(FunctionName=name, Name=alias)
    except botocore.exceptions.ClientError as e:
        if error_code(e) != "ResourceNotFoundException":
            raise
''' + "    " + CREATE_ALIAS + '''    else:
        arn = lambda_client.update_alias(FunctionName=name, Name=alias, FunctionVersion=version)["AliasArn"]
''')],
}


@pytest.mark.parametrize("mistake", ALIAS_WRONG)
def test_publish_and_alias_wrong_answers_are_incorrect(submission, mistake):
    edits, message = ALIAS_WRONG[mistake]
    target = submission(CHAPTER, {SCRIPT: edits})
    with pytest.raises(Incorrect, match=message):
        checks.check_publish_and_alias(target.module(CHAPTER, SCRIPT))


@pytest.mark.parametrize("variant", ALIAS_RIGHT)
def test_publish_and_alias_right_answers_are_correct(submission, variant, capsys):
    target = submission(CHAPTER, {SCRIPT: ALIAS_RIGHT[variant]})
    assert checks.check_publish_and_alias(target.module(CHAPTER, SCRIPT)) is None
    assert "publish_and_alias: correct" in capsys.readouterr().out


# ------------------------------------------------------------------------ the moto these checks run against


def test_moto_keeps_a_change_in_progress_until_looked_at_as_aws_does():
    """tutorial_support.moto_lifecycle: Pending / InProgress until one look (get_function), refusals meanwhile."""
    from tutorial_support.moto_account import fake_images, lambda_role, mock_aws_account

    with mock_aws_account() as session:
        lam = session.client("lambda")
        first, second = fake_images(session, "lifecycle")
        created = lam.create_function(FunctionName="lifecycle", PackageType="Image", Code={"ImageUri": first},
                                      Role=lambda_role(session, "lifecycle-role"))
        assert (created["State"], created["StateReasonCode"], created["LastUpdateStatus"]) == (
            "Pending", "Creating", "InProgress")
        for refused in (lambda: lam.publish_version(FunctionName="lifecycle"),
                        lambda: lam.update_function_configuration(FunctionName="lifecycle", MemorySize=256),
                        lambda: lam.invoke(FunctionName="lifecycle", Payload=b"{}")):
            with pytest.raises(lam.exceptions.ResourceConflictException, match="state: Pending"):
                refused()
        assert lam.get_function(FunctionName="lifecycle")["Configuration"]["State"] == "Pending"  # as it was
        assert lam.get_function_configuration(FunctionName="lifecycle")["State"] == "Active"  # after one look
        updated = lam.update_function_code(FunctionName="lifecycle", ImageUri=second, Architectures=["arm64"])
        assert (updated["LastUpdateStatus"], updated["Architectures"]) == ("InProgress", ["arm64"])
        with pytest.raises(lam.exceptions.ResourceConflictException, match="An update is in progress"):
            lam.update_function_configuration(FunctionName="lifecycle", MemorySize=256)
        lam.get_waiter("function_updated_v2").wait(FunctionName="lifecycle", WaiterConfig={"Delay": 0.05})
        assert lam.publish_version(FunctionName="lifecycle")["Version"] == "1"
