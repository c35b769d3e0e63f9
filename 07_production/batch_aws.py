"""Chapter 07: batch predictions at scale on AWS: a Step Functions Distributed Map over a manifest of image URLs in S3.

    python solutions/07_production/batch_aws.py setup                 # make batch-aws-setup
    python solutions/07_production/batch_aws.py run MANIFEST [--output results.jsonl]   # make batch-aws MANIFEST=...

``setup`` creates, tagged as this project's (``make destroy`` removes them: ``deployment.remove_batch``):
- the S3 bucket ``NAME-batch-ACCOUNT-REGION`` (public access blocked): manifests under ``manifests/``, results under
  ``results/``;
- the role ``NAME-batch-role``, trusted by Step Functions only, allowed to invoke the function's alias, read the
  manifests, write the results and run the Map's child workflows;
- the state machine ``NAME-batch`` (``definition``): one Distributed Map whose ItemReader reads the manifest (a JSON
  list of ``{"url": ...}``), whose ItemBatcher hands the function ``ITEMS_PER_BATCH`` items at a time as
  ``{"Items": [...], "BatchInput": {...}}`` (the handler's ``answer_batch``), at most ``MAX_CONCURRENCY`` batches at
  once, and whose ResultWriter writes every batch's input and answer to S3.

``run`` uploads MANIFEST (a file of URLs, one a line, as ``make batch`` reads it) as JSON, starts an execution,
waits for it, reads the result files and reports the predictions and the errors by code; ``--output`` writes them as
``make batch`` does, one JSON line per input. The same resources are declared in template.yaml (``BatchStateMachine``).

Limits that set the batch size (tests/test_batch.py measures the answer): a state's output is at most 256 KiB in Step
Functions (the function's answer to a batch included), Lambda's response at most 6 MB; the handler refuses batches of
more than ``lambda_function.MAX_BATCH_ITEMS`` and answers ``batch_out_of_time`` for the items it has no time left
for. Under moto, which has no ItemBatcher, the tests run the same definition without it (``without_batcher``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

from batch import read_inputs

from tutorial_support import deployment
from tutorial_support.deployment import ALIAS, PROJECT_TAGS, DeployError, batch_names, is_ours, not_ours

# Step Functions: "Maximum input or output size for a task, state, or execution: 256 KiB of data as a UTF-8 encoded
# string" (docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html); Lambda: 6 MB synchronous response
# (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
STEP_FUNCTIONS_PAYLOAD_BYTES = 256 * 1024
LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024
# Items per invocation: a warm photo takes well under a second (download and inference: `make bench`), so 10 fit the
# function's 30 s timeout (DEFAULT_TIMEOUT_S) with room for slow hosts; the handler's own bound is MAX_BATCH_ITEMS.
ITEMS_PER_BATCH = 10
# Batches at once: the function's reserved concurrency; more would only be throttled (and retried).
MAX_CONCURRENCY = deployment.DEFAULT_MAX_CONCURRENCY
MANIFESTS, RESULTS = "manifests/", "results/"
# The Lambda errors worth retrying (throttling, service faults), as the Step Functions console's Lambda task adds.
RETRYABLE = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
             "Lambda.TooManyRequestsException"]
POLL_S = 5.0


def definition(function_arn: str, bucket: str, items_per_batch: int = ITEMS_PER_BATCH,
               max_concurrency: int = MAX_CONCURRENCY) -> dict:
    """The state machine (Amazon States Language): one Distributed Map over the manifest named by the execution's
    input ``{"manifest_key": ...}`` in ``bucket``, invoking ``function_arn`` (the alias) with batches of
    ``items_per_batch`` items, writing results to ``bucket`` under ``RESULTS``. A batch whose invocation fails after
    the retries counts as a failed child workflow; up to 5 % of them may fail before the whole run fails (every bad
    item is answered inside its batch, so only infrastructure faults get there)."""
    return {
        "Comment": "Clothing classifier (serverless-dl tutorial): batch predictions over a manifest of image URLs",
        "StartAt": "ClassifyBatches",
        "States": {
            "ClassifyBatches": {
                "Type": "Map",
                "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                               "Parameters": {"Bucket": bucket, "Key.$": "$.manifest_key"}},
                "ItemBatcher": {"MaxItemsPerBatch": items_per_batch,
                                "BatchInput": {"manifest_key.$": "$.manifest_key"}},
                "MaxConcurrency": max_concurrency,
                "ToleratedFailurePercentage": 5.0,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Classify",
                    "States": {"Classify": {
                        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
                        "OutputPath": "$.Payload",
                        "Retry": [{"ErrorEquals": RETRYABLE, "IntervalSeconds": 2, "MaxAttempts": 6,
                                   "BackoffRate": 2}],
                        "End": True}},
                },
                "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                                 "Parameters": {"Bucket": bucket, "Prefix": RESULTS.rstrip("/")}},
                "End": True,
            }
        },
    }


def without_batcher(machine: dict) -> dict:
    """``machine`` for moto, whose States Language parser has no ItemBatcher: the ItemBatcher removed, and each item
    handed to the function as a batch of one, ``{"Items": [item], "BatchInput": ...}``: the same event shape."""
    machine = json.loads(json.dumps(machine))
    state = machine["States"]["ClassifyBatches"]
    batch_input = state.pop("ItemBatcher").get("BatchInput", {})
    task = state["ItemProcessor"]["States"]["Classify"]
    task["Parameters"]["Payload"] = {"Items.$": "States.Array($)", "BatchInput": {k.removesuffix(".$"): "from-moto"
                                                                                   for k in batch_input}}
    del task["Parameters"]["Payload.$"]
    return machine


def trust_policy() -> dict:
    """The role's trust policy: only Step Functions may assume it."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}]}


def role_policy(function_arn: str, bucket: str, state_machine_arn: str) -> dict:
    """What the state machine may do, and nothing else: invoke the function (its alias), read the manifests, write
    the results, and start and watch its own child workflows (a Distributed Map's, docs.aws.amazon.com/step-functions/
    latest/dg/iam-policies-eg-dist-map.html)."""
    partition = function_arn.split(":")[1]
    executions = state_machine_arn.replace(":stateMachine:", ":execution:") + "/*"
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:{partition}:s3:::{bucket}/{MANIFESTS}*"},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts",
                                       "s3:AbortMultipartUpload"],
         "Resource": f"arn:{partition}:s3:::{bucket}/{RESULTS}*"},
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": state_machine_arn},
        {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"], "Resource": executions},
    ]}


def ensure_bucket(s3, bucket: str, region: str) -> None:
    """Create ``bucket`` (tagged, public access blocked) unless it exists and is ours.

    Raises:
        DeployError: it exists without this project's tag.
    """
    try:
        tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except s3.exceptions.ClientError as e:
        code = deployment.error_code(e)
        if code == "NoSuchTagSet":
            raise not_ours("S3 bucket", bucket) from None
        if code not in ("NoSuchBucket", "404"):
            raise
        where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **where)
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v}
                                                                 for k, v in PROJECT_TAGS.items()]})
        print(f"  S3 bucket {bucket}: created")
        return
    if not is_ours(tags):
        raise not_ours("S3 bucket", bucket)
    print(f"  S3 bucket {bucket}: exists")


def ensure_role(iam, role: str, policy: dict) -> str:
    """The state machine's role ``role`` (created when absent, its inline policy set to ``policy``); its ARN.

    Raises:
        DeployError: a role of that name exists without this project's tag.
    """
    try:
        arn = iam.get_role(RoleName=role)["Role"]["Arn"]
        if not is_ours(iam.list_role_tags(RoleName=role)["Tags"]):
            raise not_ours("IAM role", role)
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust_policy()),
                              Description="Batch predictions of the clothing classifier (serverless-dl tutorial)",
                              Tags=[{"Key": k, "Value": v} for k, v in PROJECT_TAGS.items()])["Role"]["Arn"]
        print(f"  IAM role {role}: created")
    iam.put_role_policy(RoleName=role, PolicyName="batch-predictions", PolicyDocument=json.dumps(policy))
    return arn


def setup(session, name: str = deployment.DEFAULT_NAME) -> dict:
    """Create (or bring up to date) the bucket, the role and the state machine of deployment ``name``.

    Returns:
        ``{"bucket", "role", "state machine", "state machine arn"}``.

    Raises:
        DeployError: the function or its alias ``live`` does not exist (run ``make deploy`` first), or a resource of
            one of the names exists and is not this project's.
        botocore.exceptions.ClientError: an AWS call failed.
    """
    lambda_client, sfn, iam, s3 = (session.client(s) for s in ("lambda", "stepfunctions", "iam", "s3"))
    try:
        function_arn = lambda_client.get_alias(FunctionName=name, Name=ALIAS)["AliasArn"]
    except lambda_client.exceptions.ResourceNotFoundException:
        raise DeployError(f"the function {name} (alias {ALIAS}) does not exist in {session.region_name}: run "
                          "`make deploy` first (same NAME and REGION).") from None
    account = session.client("sts").get_caller_identity()["Account"]
    names = batch_names(name, account, session.region_name)
    partition = function_arn.split(":")[1]
    machine_arn = f"arn:{partition}:states:{session.region_name}:{account}:stateMachine:{names['state machine']}"
    ensure_bucket(s3, names["bucket"], session.region_name)
    role_arn = ensure_role(iam, names["role"], role_policy(function_arn, names["bucket"], machine_arn))
    text = json.dumps(definition(function_arn, names["bucket"]))
    try:
        sfn.describe_state_machine(stateMachineArn=machine_arn)
        tags = {t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=machine_arn)["tags"]}
        if not is_ours(tags):
            raise not_ours("Step Functions state machine", names["state machine"])
        sfn.update_state_machine(stateMachineArn=machine_arn, definition=text, roleArn=role_arn)
        print(f"  state machine {names['state machine']}: updated")
    except sfn.exceptions.StateMachineDoesNotExist:
        attempts = 0
        while True:  # a new role takes seconds to reach Step Functions
            try:
                sfn.create_state_machine(name=names["state machine"], definition=text, roleArn=role_arn,
                                         type="STANDARD",
                                         tags=[{"key": k, "value": v} for k, v in PROJECT_TAGS.items()])
                break
            except sfn.exceptions.ClientError as e:
                attempts += 1
                if deployment.error_code(e) != "AccessDeniedException" or attempts == 10:
                    raise
                time.sleep(3)
        print(f"  state machine {names['state machine']}: created")
    return {**names, "state machine arn": machine_arn}


def upload_manifest(s3, bucket: str, urls: list[str]) -> str:
    """Upload ``urls`` as the JSON manifest ``[{"url": ...}, ...]``, under a key named by its content; the key."""
    body = json.dumps([{"url": url} for url in urls]).encode()
    key = f"{MANIFESTS}{time.strftime('%Y%m%d-%H%M%S')}-{hashlib.sha256(body).hexdigest()[:12]}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return key


def wait_for(sfn, execution_arn: str, poll_s: float = POLL_S, timeout_s: float | None = None) -> dict:
    """``describe_execution`` once the execution has stopped running (polled every ``poll_s`` seconds).

    Raises:
        TimeoutError: still running after ``timeout_s``.
    """
    started = time.monotonic()
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise TimeoutError(f"the execution {execution_arn} is still running")
        time.sleep(poll_s)


def lines_of(records: list[dict]) -> list[dict]:
    """The ``make batch``-style lines of ResultWriter's records: one per item, ``{"input": url, **answer}``.

    A record (docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html) holds one child workflow:
    ``Input`` (the batch ``{"Items": [...], "BatchInput": ...}``, a JSON string), ``Output`` (the handler's
    ``{"results": [...]}``, a JSON string) when it succeeded, ``Error`` and ``Cause`` when it failed, then every item
    of the batch gets a 500 ``batch_failed`` line with that error.
    """
    lines = []
    for record in records:
        items = json.loads(record.get("Input") or "{}").get("Items", [])
        output = json.loads(record["Output"]) if record.get("Output") else {}
        results = output.get("results") if isinstance(output, dict) else None
        if not isinstance(results, list) or len(results) != len(items):
            error = output.get("error") if isinstance(output, dict) and "error" in output else {
                "status": 500, "code": "batch_failed",
                "message": f"{record.get('Error') or 'no answer'}: {str(record.get('Cause') or '')[:200]}"}
            results = [{"error": error}] * len(items)
        for item, result in zip(items, results):
            url = item.get("url") if isinstance(item, dict) else item
            lines.append({"input": url, **result})
    return lines


def read_results(s3, bucket: str, manifest_key: str) -> list[dict]:
    """Every item's line from the ResultWriter's manifest ``manifest_key`` (its ``ResultFiles``: SUCCEEDED, FAILED
    and PENDING files, each a JSON list of records)."""
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    records = []
    for files in manifest.get("ResultFiles", {}).values():
        for file in files:
            records += json.loads(s3.get_object(Bucket=bucket, Key=file["Key"])["Body"].read())
    return lines_of(records)


def run(session, manifest: Path, output: Path | None = None, name: str = deployment.DEFAULT_NAME,
        poll_s: float = POLL_S) -> dict:
    """``make batch-aws``: set up (idempotent), upload ``manifest``'s URLs, run the state machine, wait, read the
    results; print the counts, and write the lines to ``output`` when given.

    Returns:
        ``{"execution": describe_execution, "lines": [...], "errors": Counter of codes}``.

    Raises:
        DeployError: ``manifest`` is not a file of URLs, or ``setup`` refused; the execution did not succeed.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise DeployError(f"{manifest} is not a file: give a text file of image URLs, one a line "
                          "(make batch-aws MANIFEST=urls.txt); a folder of photos is `make batch`'s.")
    urls = [location for _, _, location in read_inputs(manifest)]
    if not urls:
        raise DeployError(f"{manifest} holds no URL (one a line; lines starting with # are skipped).")
    made = setup(session, name)
    sfn, s3 = session.client("stepfunctions"), session.client("s3")
    key = upload_manifest(s3, made["bucket"], urls)
    print(f"  manifest s3://{made['bucket']}/{key}: {len(urls)} URLs")
    execution = sfn.start_execution(stateMachineArn=made["state machine arn"],
                                    input=json.dumps({"manifest_key": key}))["executionArn"]
    print(f"  execution {execution}: running (batches of {ITEMS_PER_BATCH}, {MAX_CONCURRENCY} at once)")
    described = wait_for(sfn, execution, poll_s)
    if described["status"] != "SUCCEEDED":
        raise DeployError(f"the execution ended {described['status']}: {described.get('error', '')} "
                          f"{described.get('cause', '')[:300]}. Its history is in the Step Functions console.")
    details = json.loads(described.get("output") or "{}").get("ResultWriterDetails", {})
    lines = read_results(s3, details.get("Bucket", made["bucket"]), details["Key"]) if "Key" in details else []
    errors = Counter(line["error"].get("code") for line in lines if isinstance(line.get("error"), dict))
    print(f"{len(lines)} of {len(urls)} inputs answered: {len(lines) - sum(errors.values())} predictions; errors: "
          f"{', '.join(f'{c} {n}' for c, n in errors.most_common()) or 'none'}; results in "
          f"s3://{details.get('Bucket', made['bucket'])}/{details.get('Key', RESULTS)}")
    if output is not None:
        Path(output).write_text("".join(json.dumps(line) + "\n" for line in lines))
        print(f"  written to {output}")
    return {"execution": described, "lines": lines, "errors": errors}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    deployment.add_common_arguments(commands.add_parser("setup", help="create the bucket, role and state machine"))
    runner = commands.add_parser("run", help="classify a file of image URLs with the state machine")
    deployment.add_common_arguments(runner)
    runner.add_argument("manifest", type=Path, help="a text file of image URLs, one a line")
    runner.add_argument("--output", type=Path, help="also write the results here, one JSON line per input")
    args = parser.parse_args(argv)
    if args.dry_run:
        print("batch_aws: --dry-run creates nothing; `make destroy ARGS=--dry-run` lists what exists")
        return 0

    def command() -> int:
        session = deployment.session_for(args.region)
        if args.command == "setup":
            made = setup(session, args.name)
            print(f"Ready: state machine {made['state machine']}, bucket {made['bucket']}")
        else:
            run(session, args.manifest, args.output, args.name)
        return 0

    return deployment.run_safely(command)


if __name__ == "__main__":
    sys.exit(main())
