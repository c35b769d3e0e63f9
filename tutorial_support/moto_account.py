"""A fresh fake AWS account for the tests, checks and notebooks of chapters 05 and 06: moto's server, running in a
thread of this process so that other processes (a student's code in the grader's sandbox, scripts run as subprocesses)
reach the same account, set up so that it checks what matters here, with the call this project makes that moto lacks
filled in, and fake ECR images.

The settings of moto (``../shared/FACTS.md``): ``create_function`` refuses an image that is not in moto's ECR
(``MOTO_LAMBDA_STUB_ECR=false``), and an image function can be invoked without Docker (moto then echoes the event
instead of running the handler). ``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` (AWSLambdaBasicExecutionRole exists) is set
by ``mock_aws_account(managed_policies=True)`` only: loading them takes about 4 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from contextlib import contextmanager
from unittest import mock

MOTO_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "MOTO_LAMBDA_STUB_ECR": "false"}
MOTO_CONFIG = {"lambda": {"use_docker": False}}


_server = None  # moto's ThreadedMotoServer of this process, started by server_url()


def server_url() -> str:
    """The URL (``http://127.0.0.1:PORT``) of moto's server in this process, started on first use (a thread of its
    own). Code in other processes (a student's code, run by the grader in a process of its own; a script run as a
    subprocess) reaches the same fake account through it, with ``AWS_ENDPOINT_URL``."""
    global _server
    if _server is None:
        import logging

        from moto.server import ThreadedMotoServer

        from tutorial_support.moto_lifecycle import install_routes

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not one log line per fake AWS call
        install_routes()  # before the server makes its apps from moto's URL maps

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        _server = server
    host, port = _server.get_host_and_port()
    return f"http://{host}:{port}"


def _moto_api(url: str, path: str, payload: dict | None = None) -> None:
    """POST to moto's own API (``/moto-api/reset``, ``/moto-api/config``) on the server at ``url``."""
    data = json.dumps(payload).encode() if payload is not None else b""
    request = urllib.request.Request(f"{url}{path}", data=data, method="POST")
    urllib.request.urlopen(request, timeout=30).close()


@contextmanager
def mock_aws_account(region: str = "us-east-1", managed_policies: bool = False, concurrency_limit: int | None = None):
    """A fresh fake AWS account: moto's server of this process (``server_url``), emptied, with ``MOTO_ENV``, fake
    credentials and ``region``; boto3 reaches it through ``AWS_ENDPOINT_URL``, and no endpoint, profile or
    credentials file from the caller's environment gets through. Yields a ``boto3.Session``; every boto3 client made
    while in this context (in this process, or in a process given this environment) talks to that account.

    Args:
        managed_policies: load AWS's managed IAM policies, which attaching AWSLambdaBasicExecutionRole needs.
        concurrency_limit: the account's Lambda concurrency limit (``get_account_settings``; moto's
            ``MOTO_LAMBDA_CONCURRENCY_QUOTA``): 10 is a new AWS account's, which can reserve nothing. Default: AWS's
            default, 1,000.
    """
    import boto3

    url = server_url()
    removed = [key for key in os.environ if key.startswith(("AWS_ENDPOINT_URL_", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"))]
    env = {**MOTO_ENV, "AWS_DEFAULT_REGION": region, "AWS_REGION": region, "AWS_ENDPOINT_URL": url,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull,
           "AWS_EC2_METADATA_DISABLED": "true", "MOTO_IAM_LOAD_MANAGED_POLICIES": str(managed_policies).lower()}
    if concurrency_limit is not None:
        env["MOTO_LAMBDA_CONCURRENCY_QUOTA"] = str(concurrency_limit)
    elif "MOTO_LAMBDA_CONCURRENCY_QUOTA" in os.environ:
        removed.append("MOTO_LAMBDA_CONCURRENCY_QUOTA")
    with mock.patch.dict(os.environ, env), moto_gaps_filled():
        for key in removed:
            del os.environ[key]
        _moto_api(url, "/moto-api/reset")  # a fresh account: moto's backends are emptied, then made again on use
        _moto_api(url, "/moto-api/config", MOTO_CONFIG)
        yield boto3.Session(region_name=region)


@contextmanager
def moto_gaps_filled():
    """While in this context, moto (in-process, or a ``ThreadedMotoServer`` of this process) answers the calls this
    project makes that moto 5.2.5 lacks: apigatewayv2 ``get_authorizers`` (it has create/get/update/delete_authorizer
    but not the list), answered the way moto answers ``get_routes``, and what ``tutorial_support.moto_lifecycle``
    fills in (Lambda's states and account limits, API Gateway's ``update_stage``). A moto that has them keeps its
    own."""
    from moto.apigatewayv2.responses import ApiGatewayV2Response

    from tutorial_support.moto_lifecycle import lifecycle

    own = getattr(ApiGatewayV2Response, "get_authorizers", None)
    with mock.patch.object(ApiGatewayV2Response, "get_authorizers", own or _moto_get_authorizers, create=True):
        with lifecycle():  # Lambda's Pending / InProgress and API Gateway's update_stage, as on AWS
            yield


def _moto_get_authorizers(self):
    """apigatewayv2 ``get_authorizers`` for moto (``ApiGatewayV2Response``), which lacks it: every authorizer of the
    API, as ``get_authorizer`` answers each."""
    api_id = self.path.split("/")[-2]
    api = self.apigatewayv2_backend.get_api(api_id)
    return 200, {}, json.dumps({"items": [authorizer.to_json() for authorizer in api.authorizers.values()]})


def put_fake_image(ecr, repository: str, tag: str) -> str:
    """Put an image manifest into (moto's) ECR as ``repository:tag``, as ``docker push`` would; no Docker needed.
    Its one layer's digest is derived from ``tag``, so each tag is a different image. Returns the image digest."""
    layer = "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469,
                           "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest()},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 4_500_000,
                            "digest": layer}]}
    image = ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)["image"]
    return image["imageId"]["imageDigest"]


def fake_images(session, repository: str, tags=("v1", "v2")) -> list[str]:
    """An ECR repository holding one fake image per tag; returns their URIs pinned by digest."""
    ecr = session.client("ecr")
    uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    return [f"{uri}@{put_fake_image(ecr, repository, tag)}" for tag in tags]


def lambda_role(session, name: str) -> str:
    """An execution role trusted by Lambda, made with plain boto3 calls (for what does not test the role itself);
    returns its ARN."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    return session.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
