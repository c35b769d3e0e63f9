"""Issue 7: who can call the endpoint. ``api.py create --auth none|iam|jwt`` against moto (the route's
AuthorizationType, the JWT authorizer, switching modes), the client ``predict.py`` with ``--auth iam`` (SigV4) and
``--token`` against a server on 127.0.0.1 that records what it receives (the README's tables:
tests/test_security_tables.py).
No AWS and no network."""

import datetime
import http.server
import json
import re
import sys
import threading

import api
import api_cli
import predict
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tutorial_support import deployment
from tutorial_support.moto_account import fake_images, lambda_role, mock_aws_account

REGION, ALIAS_ARN = "us-east-1", "arn:aws:lambda:us-east-1:123456789012:function:auth-test:live"
ISSUER, AUDIENCE = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example", ["client-a", "client-b"]
KEY, SECRET = "AKIDEXAMPLEAUTHTEST", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


# --------------------------------------------------------------------------------------------- api.py against moto


@pytest.fixture
def http_api():
    """(apigw client, api id, route id): a moto HTTP API with the route POST /predict of ``ensure_route``."""
    with mock_aws_account(REGION) as session:
        apigw = session.client("apigatewayv2")
        api_id = apigw.create_api(Name="auth-test-api", ProtocolType="HTTP")["ApiId"]
        _, route_id = api.ensure_route(apigw, api_id, ALIAS_ARN)
        yield apigw, api_id, route_id


def authorizers(apigw, api_id) -> list[dict]:
    return apigw.get_authorizers(ApiId=api_id)["Items"]


def test_each_mode_sets_the_route_authorization_and_the_jwt_authorizer(http_api):
    apigw, api_id, route_id = http_api
    assert apigw.get_route(ApiId=api_id, RouteId=route_id).get("AuthorizationType", "NONE") == "NONE"

    route = api.ensure_auth(apigw, api_id, route_id, "iam")
    assert route["AuthorizationType"] == "AWS_IAM" and authorizers(apigw, api_id) == []

    route = api.ensure_auth(apigw, api_id, route_id, "jwt", ISSUER, AUDIENCE)
    (authorizer,) = authorizers(apigw, api_id)
    assert route["AuthorizationType"] == "JWT" and route["AuthorizerId"] == authorizer["AuthorizerId"]
    assert authorizer["AuthorizerType"] == "JWT" and authorizer["Name"] == api.AUTHORIZER_NAME
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["JwtConfiguration"] == {"Issuer": ISSUER, "Audience": AUDIENCE}

    route = api.ensure_auth(apigw, api_id, route_id, "none")
    assert route["AuthorizationType"] == "NONE" and authorizers(apigw, api_id) == []


def test_switching_iam_jwt_none_updates_the_same_route_and_leaves_no_stale_authorizer(http_api):
    apigw, api_id, route_id = http_api
    calls = []
    original = apigw.update_route

    def counting_update_route(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    apigw.update_route = counting_update_route
    seen_authorizers = set()
    for mode in ("iam", "jwt", "jwt", "none", "jwt", "iam", "iam"):
        route = api.ensure_auth(apigw, api_id, route_id, mode, ISSUER, AUDIENCE)
        assert route["RouteId"] == route_id
        assert route["AuthorizationType"] == api.AUTH_MODES[mode]["authorization_type"]
        assert [r["RouteId"] for r in apigw.get_routes(ApiId=api_id)["Items"]] == [route_id]
        found = authorizers(apigw, api_id)
        assert len(found) == (1 if mode == "jwt" else 0), (mode, found)
        seen_authorizers |= {a["AuthorizerId"] for a in found}
    # a change of mode updates the route once; the same mode again changes nothing
    assert [c["AuthorizationType"] for c in calls] == ["AWS_IAM", "JWT", "NONE", "JWT", "AWS_IAM"]
    assert len(seen_authorizers) == 2  # the jwt mode came twice, with "none" between: made afresh the second time


def test_a_changed_issuer_or_audience_updates_the_authorizer_in_place(http_api):
    apigw, api_id, route_id = http_api
    first = api.ensure_auth(apigw, api_id, route_id, "jwt", ISSUER, AUDIENCE)["AuthorizerId"]
    route = api.ensure_auth(apigw, api_id, route_id, "jwt", "https://example.auth0.com/", ["other"])
    (authorizer,) = authorizers(apigw, api_id)
    assert route["AuthorizerId"] == authorizer["AuthorizerId"] == first
    assert authorizer["JwtConfiguration"] == {"Issuer": "https://example.auth0.com/", "Audience": ["other"]}


@pytest.mark.parametrize("mode, issuer, audience", [("jwt", None, AUDIENCE), ("jwt", ISSUER, []), ("basic", None, [])])
def test_ensure_auth_refuses_an_incomplete_or_unknown_mode(http_api, mode, issuer, audience):
    apigw, api_id, route_id = http_api
    with pytest.raises(ValueError, match="jwt-issuer|jwt-audience|unknown auth mode"):
        api.ensure_auth(apigw, api_id, route_id, mode, issuer, audience)
    assert apigw.get_route(ApiId=api_id, RouteId=route_id).get("AuthorizationType", "NONE") == "NONE"
    assert authorizers(apigw, api_id) == []


@pytest.mark.parametrize("args, named", [
    (["--auth", "jwt"], "--jwt-issuer and --jwt-audience"),
    (["--auth", "jwt", "--jwt-issuer", ISSUER], "--jwt-audience"),
    (["--auth", "jwt", "--jwt-audience", "a"], "--jwt-issuer"),
    (["--auth", "jwt", "--jwt-issuer", "http://insecure.example.com", "--jwt-audience", "a"], "https://"),
    (["--auth", "iam", "--jwt-issuer", ISSUER], "go with --auth jwt"),
    (["--auth", "basic"], "invalid choice"),
])
def test_the_cli_refuses_jwt_without_issuer_or_audience(capsys, args, named):
    with pytest.raises(SystemExit) as exit_:
        api_cli.main(["create", "--region", REGION, "--dry-run", *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and named in err and "Traceback" not in err


def test_make_api_switches_modes_end_to_end_and_dry_run_touches_nothing(capsys):
    with mock_aws_account(REGION) as session:
        lam, apigw = session.client("lambda"), session.client("apigatewayv2")
        role = lambda_role(session, "auth-test-role")
        (image,) = fake_images(session, "auth-test", tags=("v1",))
        lam.create_function(FunctionName="auth-test", Role=role, PackageType="Image", Code={"ImageUri": image})
        lam.get_waiter("function_active_v2").wait(FunctionName="auth-test")  # Pending until Lambda is done, as on AWS
        version = lam.publish_version(FunctionName="auth-test")["Version"]
        lam.create_alias(FunctionName="auth-test", Name=deployment.ALIAS, FunctionVersion=version)
        common = ["create", "--region", REGION, "--name", "auth-test"]

        assert api_cli.main([*common, "--auth", "iam", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "auth iam" in out and "Dry run" in out and apigw.get_apis()["Items"] == []

        assert api_cli.main([*common, "--auth", "iam"]) == 0
        out = capsys.readouterr().out
        (found,) = apigw.get_apis()["Items"]
        (route,) = apigw.get_routes(ApiId=found["ApiId"])["Items"]
        assert route["AuthorizationType"] == "AWS_IAM"
        assert (f"auth iam: AuthorizationType AWS_IAM; callers: IAM principals allowed execute-api:Invoke on "
                f"arn:aws:execute-api:{REGION}:123456789012:{found['ApiId']}/*/POST/predict") in out
        assert out.rstrip().endswith("IMAGE_URL --auth iam")

        assert api_cli.main([*common, "--auth", "jwt", "--jwt-issuer", ISSUER, "--jwt-audience", "client-a"]) == 0
        out = capsys.readouterr().out
        (authorizer,) = authorizers(apigw, found["ApiId"])
        assert authorizer["JwtConfiguration"] == {"Issuer": ISSUER, "Audience": ["client-a"]}
        assert f"callers: holders of a valid token from {ISSUER} for audience client-a" in out

        assert api_cli.main(common) == 0  # no --auth: back to today's public endpoint
        out = capsys.readouterr().out
        (again,) = apigw.get_routes(ApiId=found["ApiId"])["Items"]
        assert again["RouteId"] == route["RouteId"] and again["AuthorizationType"] == "NONE"
        assert authorizers(apigw, found["ApiId"]) == [] and "anyone on the internet" in out
        assert [a["ApiId"] for a in apigw.get_apis()["Items"]] == [found["ApiId"]]


# --------------------------------------------------------------------------------------------- predict.py


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records each request (method, path, headers, body); answers with ``status`` and ``answer``."""

    status, answer, extra_headers = 200, {"top_class": "pants", "probability": 0.9}, {}
    seen: list[dict] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                          "body": body})
        payload = json.dumps(self.answer).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in self.extra_headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def recorder():
    """A server on 127.0.0.1 that records requests; yields (its /predict URL, its handler class)."""
    handler = type("ThisRecorder", (Recorder,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/predict", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_credentials(monkeypatch, tmp_path):
    """Only these fake credentials, from the environment: no profile, file or instance role of this machine."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION",
                "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "CLOTHING_API_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)


def recomputed_signature(seen: dict, url: str, region: str, key=KEY, secret=SECRET) -> str:
    """The SigV4 signature of the recorded request, computed afresh as the server side would: over the headers that
    its Authorization header says were signed, its method, URL and body, and its X-Amz-Date."""
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    signed = re.search(r"SignedHeaders=([^,]+)", headers["authorization"]).group(1).split(";")
    request = AWSRequest(method=seen["method"], url=url, data=seen["body"],
                         headers={name: headers[name] for name in signed})
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials(key, secret), "execute-api", region)
    return signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)


def test_auth_iam_signs_the_request_with_sigv4_for_execute_api(recorder, fake_credentials, capsys):
    url, handler = recorder
    assert predict.main([url, "https://example.com/a.jpg", "--auth", "iam", "--region", "eu-west-1"]) == 0
    assert capsys.readouterr().out.strip().endswith("pants (0.900)")
    (seen,) = handler.seen
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    authorization = headers["authorization"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={KEY}/")
    scope = re.search(r"Credential=[^/]+/([^,]+),", authorization).group(1)
    assert scope.split("/")[1:] == ["eu-west-1", "execute-api", "aws4_request"]
    assert abs(int(scope.split("/")[0]) - int(today)) <= 1  # the signing date (UTC; a test across midnight)
    assert headers["x-amz-date"].startswith(scope.split("/")[0])
    assert json.loads(seen["body"]) == {"url": "https://example.com/a.jpg"}
    signed = re.search(r"SignedHeaders=([^,]+)", authorization).group(1).split(";")
    assert {"host", "x-amz-date", "content-type"} <= set(signed)
    signature = re.search(r"Signature=([0-9a-f]{64})$", authorization).group(1)
    assert recomputed_signature(seen, url, "eu-west-1") == signature
    # ... and it really depends on what was signed: another region, key or body gives another signature
    assert recomputed_signature(seen, url, "us-east-1") != signature
    assert recomputed_signature(seen, url, "eu-west-1", secret=SECRET[::-1]) != signature
    assert recomputed_signature({**seen, "body": b'{"url": "https://example.com/b.jpg"}'}, url,
                                "eu-west-1") != signature


def test_the_signing_region_comes_from_the_invoke_url():
    assert predict.region_of("https://abc123.execute-api.eu-west-1.amazonaws.com/predict") == "eu-west-1"
    assert predict.region_of("https://abc123.execute-api.cn-north-1.amazonaws.com.cn/predict") == "cn-north-1"
    assert predict.region_of("https://abc123.execute-api.eu-west-1.amazonaws.com/predict", "us-east-2") == "us-east-2"


def test_auth_iam_without_credentials_or_region_is_a_clear_error(recorder, fake_credentials, monkeypatch, capsys):
    url, handler = recorder
    assert predict.main([url, "https://example.com/a.jpg", "--auth", "iam"]) == predict.EXIT_USAGE == 2
    err = capsys.readouterr().err
    assert "cannot tell the AWS region" in err and "--region" in err and "Traceback" not in err
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert predict.main([url, "https://example.com/a.jpg", "--auth", "iam", "--region", "eu-west-1"]) == 2
    err = capsys.readouterr().err
    assert "found no AWS credentials" in err and "aws configure" in err and "Traceback" not in err
    assert handler.seen == []  # nothing unsigned was sent


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_token_is_sent_as_a_bearer_authorization_header(recorder, fake_credentials, monkeypatch, how):
    url, handler = recorder
    if how == "environment":
        monkeypatch.setenv(predict.TOKEN_ENV, "eyJ.env.token")
        assert predict.main([url, "https://example.com/a.jpg"]) == 0
        expected = "Bearer eyJ.env.token"
    else:
        assert predict.main([url, "https://example.com/a.jpg", "--token", "eyJ.option.token"]) == 0
        expected = "Bearer eyJ.option.token"
    (seen,) = handler.seen
    assert {k.lower(): v for k, v in seen["headers"].items()}["authorization"] == expected


def test_no_auth_sends_no_authorization_header_and_iam_with_a_token_is_refused(recorder, fake_credentials, capsys):
    url, handler = recorder
    assert predict.main([url, "https://example.com/a.jpg"]) == 0
    assert "authorization" not in {k.lower() for k in handler.seen[0]["headers"]}
    with pytest.raises(SystemExit) as exit_:
        predict.main([url, "https://example.com/a.jpg", "--auth", "iam", "--token", "t"])
    assert exit_.value.code == 2 and "cannot also carry a token" in capsys.readouterr().err


@pytest.mark.parametrize("status, answer, headers, code, words", [
    (401, {"message": "Unauthorized"},
     {"WWW-Authenticate": 'Bearer scope="" error="invalid_token" error_description="the token has expired"'},
     4, ["HTTP 401", "the token has expired", "not authenticated", "--token"]),
    (403, {"message": "Forbidden"}, {}, 5, ["HTTP 403", "not allowed to invoke", "execute-api:Invoke", "--auth iam"]),
    (404, {"message": "Not Found"}, {}, 1, ["HTTP 404", "the path is /predict"]),
    # An HTTP API answers a throttled function (TooManyRequestsException) with 500, and 503 only for itself.
    (500, {"message": "Internal Server Error"}, {}, 1, ["HTTP 500", "throttled", "reserved concurrency"]),
    (503, {"message": "Service Unavailable"}, {}, 1, ["HTTP 503", "API Gateway itself", "try again"]),
])
def test_401_and_403_get_their_own_explanation_and_exit_code(recorder, fake_credentials, capsys, status, answer,
                                                            headers, code, words):
    url, handler = recorder
    handler.status, handler.answer, handler.extra_headers = status, answer, headers
    assert predict.main([url, "https://example.com/a.jpg"]) == code
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert all(word in line for word in words), line
    assert "Traceback" not in err


def test_the_client_needs_botocore_only_for_auth_iam(recorder, fake_credentials, monkeypatch, capsys):
    url, handler = recorder
    for name in [m for m in sys.modules if m == "botocore" or m.startswith("botocore.")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if botocore were not installed (make serve's environment)
    monkeypatch.setitem(sys.modules, "botocore", None)
    assert predict.main([url, "https://example.com/a.jpg", "--token", "t"]) == 0
    assert predict.main([url, "https://example.com/a.jpg", "--auth", "iam", "--region", "eu-west-1"]) == 2
    err = capsys.readouterr().err
    assert "--auth iam needs botocore" in err and "Traceback" not in err
    assert len(handler.seen) == 1


def test_the_handlers_own_errors_get_no_api_gateway_hint(recorder, fake_credentials, capsys):
    url, handler = recorder
    handler.status = 503  # the handler's own 503 (safe_download: every host name lookup slot is busy)
    handler.answer = {"error": {"status": 503, "code": "lookups_busy", "message": "try again in a few seconds"}}
    assert predict.main([url, "https://example.com/a.jpg"]) == 1
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert "lookups_busy: try again in a few seconds" in line and "API Gateway" not in line, line
