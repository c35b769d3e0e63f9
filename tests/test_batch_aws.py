"""Issue 17 (chapter 07): batch predictions on AWS (solutions/07_production/batch_aws.py), against moto with
Step Functions execution turned on. No AWS, no Docker, no network.

What moto can and cannot show (moto 5.2.5):
- it runs the Distributed Map: the S3 ItemReader, the lambda:invoke task of each child workflow, the ResultWriter's
  manifest; but its States Language parser has no ItemBatcher, so the executed definition is ours without it, each
  item handed to the function as a batch of one (``batch_aws.without_batcher``: the same event shape);
- it cannot run an image function without Docker (it echoes the event), so its Lambda ``invoke`` is routed here to the
  real handler, in this process: the answers in the run are the handler's own;
- its ResultWriter writes the manifest with no result files, so reading results (``lines_of``) is tested on records
  in the documented format.
"""

import json
import os
from unittest import mock

import batch_aws
import deploy
import lambda_function
import pytest
from conftest import PANTS
from moto.awslambda_simple.models import LambdaSimpleBackend

from tutorial_support import deployment
from tutorial_support.moto_account import _moto_api, fake_images, lambda_role, mock_aws_account, server_url

NAME = deployment.DEFAULT_NAME


@pytest.fixture
def account(monkeypatch):
    """A moto account with the function and its alias ``live``, Step Functions executing state machines (its service
    calls reach this process's moto server: MOTO_PORT), and every invocation answered by the real handler."""
    invoked = []

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        event = json.loads(body)
        answer = lambda_function.lambda_handler(event, None)
        invoked.append((event, answer))
        return json.dumps(answer).encode()

    real = batch_aws.definition
    monkeypatch.setattr(batch_aws, "definition", lambda *a, **k: batch_aws.without_batcher(real(*a, **k)))
    with mock_aws_account() as session, mock.patch.object(LambdaSimpleBackend, "invoke", invoke), \
            mock.patch.dict(os.environ, {"MOTO_PORT": server_url().rsplit(":", 1)[1]}):
        _moto_api(server_url(), "/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        try:
            lam = session.client("lambda")
            (image,) = fake_images(session, NAME, ("v1",))
            deploy.ensure_function(lam, NAME, image, lambda_role(session, "batch-test-role"))
            deploy.publish_and_alias(lam, NAME)
            yield session, invoked
        finally:
            _moto_api(server_url(), "/moto-api/config", {"stepfunctions": {"execute_state_machine": False}})


def test_a_manifest_runs_through_the_distributed_map_and_every_item_reaches_the_handler(account, tmp_path,
                                                                                        image_host):
    session, invoked = account
    urls = [f"{image_host}/samples/{PANTS}", f"{image_host}/missing.jpg", "file:///etc/passwd"]
    manifest = tmp_path / "urls.txt"
    manifest.write_text("\n".join(urls) + "\n")
    result = batch_aws.run(session, manifest, tmp_path / "out.jsonl", poll_s=0.1)
    assert result["execution"]["status"] == "SUCCEEDED"
    events = [event for event, _ in invoked]
    assert all(set(event) == {"Items", "BatchInput"} for event in events)
    assert sorted(item["url"] for event in events for item in event["Items"]) == sorted(urls)
    answers = {event["Items"][0]["url"]: answer["results"][0] for event, answer in invoked}
    assert answers[urls[0]]["top_class"] == lambda_function.lambda_handler({"url": urls[0]}, None)["top_class"]
    assert [answers[u]["error"]["code"] for u in urls[1:]] == ["upstream_http_error", "invalid_url"]
    # what setup made: tagged, and the manifest uploaded as JSON into its bucket
    names = deployment.batch_names(NAME, "123456789012", session.region_name)
    s3 = session.client("s3")
    assert deployment.is_ours(s3.get_bucket_tagging(Bucket=names["bucket"])["TagSet"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=names["bucket"])["Contents"]]
    (key,) = [k for k in keys if k.startswith(batch_aws.MANIFESTS)]
    assert json.loads(s3.get_object(Bucket=names["bucket"], Key=key)["Body"].read()) == [{"url": u} for u in urls]
    assert any(k.startswith(batch_aws.RESULTS) and k.endswith("manifest.json") for k in keys)


def test_make_destroy_removes_the_state_machine_its_role_and_the_bucket_and_only_ours(account, tmp_path):
    session, _ = account
    made = batch_aws.setup(session)
    session.client("s3").put_object(Bucket=made["bucket"], Key="results/x.json", Body=b"[]")
    other = session.client("s3").create_bucket(Bucket="someone-elses-bucket")
    assert other
    assert len(deployment.remove_batch(session, NAME, dry_run=True)) == 3
    assert session.client("stepfunctions").list_state_machines()["stateMachines"]  # dry run: nothing removed
    done = deployment.remove_batch(session, NAME)
    assert [line.split(" ")[1:3] for line in done] == [["Step", "Functions"], ["IAM", "role"], ["S3", "bucket"]]
    assert session.client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert [b["Name"] for b in session.client("s3").list_buckets()["Buckets"]] == ["someone-elses-bucket"]
    assert deployment.remove_batch(session, NAME) == []


def test_setup_refuses_a_bucket_of_the_same_name_that_is_not_ours(account):
    session, _ = account
    names = deployment.batch_names(NAME, "123456789012", session.region_name)
    session.client("s3").create_bucket(Bucket=names["bucket"])
    with pytest.raises(deployment.DeployError, match="not tagged"):
        batch_aws.setup(session)


def test_setup_without_a_deployed_function_says_to_deploy_first():
    with mock_aws_account() as session, pytest.raises(deployment.DeployError, match="make deploy"):
        batch_aws.setup(session)


def test_the_definition_batches_the_manifest_and_hands_each_batch_to_the_alias_as_it_is():
    machine = batch_aws.definition("arn:aws:lambda:us-east-1:1:function:f:live", "bucket")
    state = machine["States"]["ClassifyBatches"]
    assert state["ItemBatcher"]["MaxItemsPerBatch"] == batch_aws.ITEMS_PER_BATCH
    assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    task = state["ItemProcessor"]["States"]["Classify"]
    assert task["Parameters"] == {"FunctionName": "arn:aws:lambda:us-east-1:1:function:f:live", "Payload.$": "$"}
    assert state["ItemReader"]["Parameters"]["Bucket"] == state["ResultWriter"]["Parameters"]["Bucket"] == "bucket"


def test_result_records_become_one_line_per_item_and_a_failed_batch_marks_each_of_its_items():
    ok = {"Status": "SUCCEEDED", "Input": json.dumps({"Items": [{"url": "u1"}, {"url": "u2"}], "BatchInput": {}}),
          "Output": json.dumps({"results": [{"top_class": "pants"}, {"error": {"code": "fetch_failed"}}]})}
    failed = {"Status": "FAILED", "Input": json.dumps({"Items": [{"url": "u3"}], "BatchInput": {}}),
              "Error": "Lambda.Unknown", "Cause": "The function timed out"}
    lines = batch_aws.lines_of([ok, failed])
    assert lines[:2] == [{"input": "u1", "top_class": "pants"}, {"input": "u2", "error": {"code": "fetch_failed"}}]
    assert lines[2]["input"] == "u3" and lines[2]["error"]["code"] == "batch_failed"
    assert "Lambda.Unknown" in lines[2]["error"]["message"]
