"""Issue 20: CORS for the web page against the deployed API (``make api ARGS='--cors-origin ORIGIN'``). Against moto:
the configuration stored on the HTTP API (exactly the origins given, POST, Content-Type, plus Authorization for
AUTH=jwt, no credentials, a short max age), removed by a rerun without the option, and every refusal (a wildcard,
``null``, a path, plain http off this machine, AUTH=iam) made before anything is created. moto stores and returns
``CorsConfiguration`` as given (``update_api`` replaces it; ``delete_cors_configuration`` removes it); it answers no
preflight, so what a browser then does is API Gateway's documented behaviour, not tested here.
No AWS and no network."""

import api
import api_cli
import pytest

from tutorial_support import deployment
from tutorial_support.moto_account import fake_images, lambda_role, mock_aws_account

REGION, NAME = "us-east-1", "cors-test"
PAGE = "http://127.0.0.1:8080"  # make serve's origin, which the README names
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"


@pytest.fixture
def account():
    """(session, apigw client): a moto account with the function NAME and its alias, as ``make deploy`` leaves."""
    with mock_aws_account(REGION) as session:
        lam = session.client("lambda")
        (image,) = fake_images(session, NAME, tags=("v1",))
        lam.create_function(FunctionName=NAME, Role=lambda_role(session, "cors-test-role"), PackageType="Image",
                            Code={"ImageUri": image})
        lam.get_waiter("function_active_v2").wait(FunctionName=NAME)
        version = lam.publish_version(FunctionName=NAME)["Version"]
        lam.create_alias(FunctionName=NAME, Name=deployment.ALIAS, FunctionVersion=version)
        yield session, session.client("apigatewayv2")


def make_api(*args: str) -> int:
    return api_cli.main(["create", "--region", REGION, "--name", NAME, *args])


def stored(apigw) -> dict | None:
    (found,) = apigw.get_apis()["Items"]
    return apigw.get_api(ApiId=found["ApiId"]).get("CorsConfiguration")


def test_make_api_sets_cors_for_exactly_the_page_and_a_rerun_without_it_removes_it(account, capsys):
    _, apigw = account
    assert make_api() == 0
    assert stored(apigw) is None and "CORS: none" in capsys.readouterr().out  # off by default

    assert make_api("--cors-origin", PAGE) == 0
    out = capsys.readouterr().out
    assert stored(apigw) == {"AllowOrigins": [PAGE], "AllowMethods": ["POST"], "AllowHeaders": ["content-type"],
                             "AllowCredentials": False, "MaxAge": api.CORS_MAX_AGE_S}
    assert 0 < api.CORS_MAX_AGE_S <= 600  # modest: a narrowed origin takes effect within minutes
    url = out.split("Invoke URL: ")[1].split()[0]
    assert f"{PAGE}/?endpoint={url}" in out and f"pages from {PAGE} may send POST with content-type" in out

    assert make_api() == 0  # no --cors-origin: no CORS at all, not an empty configuration
    assert stored(apigw) is None and "CORS: none" in capsys.readouterr().out
    assert len(apigw.get_apis()["Items"]) == 1


def test_several_origins_are_normalised_as_browsers_send_them_and_a_change_replaces_the_old_list(account, capsys):
    _, apigw = account
    assert make_api("--cors-origin", "HTTPS://Pages.Example.COM:443/", "--cors-origin", "http://localhost:8080",
                    "--cors-origin", "https://pages.example.com") == 0
    assert stored(apigw)["AllowOrigins"] == ["https://pages.example.com", "http://localhost:8080"]
    assert make_api("--cors-origin", "http://[::1]:8080") == 0
    assert stored(apigw)["AllowOrigins"] == ["http://[::1]:8080"]


def test_a_second_identical_run_changes_nothing(account):
    session, apigw = account
    assert make_api("--cors-origin", PAGE) == 0
    calls = []
    for method in ("update_api", "delete_cors_configuration"):
        original = getattr(apigw, method)
        setattr(apigw, method, lambda original=original, method=method, **kwargs: (calls.append(method),
                                                                                      original(**kwargs))[1])
    (found,) = apigw.get_apis()["Items"]
    assert api.ensure_cors(apigw, found["ApiId"], [PAGE]) == stored(apigw)
    assert calls == []
    api.ensure_cors(apigw, found["ApiId"], ["https://other.example"])
    assert calls == ["delete_cors_configuration", "update_api"]  # replaced whole, no field of the old one kept


def test_auth_jwt_also_allows_the_authorization_header_and_a_switch_back_drops_it(account):
    _, apigw = account
    assert make_api("--auth", "jwt", "--jwt-issuer", ISSUER, "--jwt-audience", "client-a", "--cors-origin", PAGE) == 0
    assert sorted(stored(apigw)["AllowHeaders"]) == ["authorization", "content-type"]
    assert make_api("--cors-origin", PAGE) == 0
    assert stored(apigw)["AllowHeaders"] == ["content-type"]


def test_an_empty_configuration_left_by_another_tool_counts_as_cors_and_is_removed(account):
    _, apigw = account
    assert make_api() == 0
    (found,) = apigw.get_apis()["Items"]
    apigw.update_api(ApiId=found["ApiId"], CorsConfiguration={})
    assert api.ensure_cors(apigw, found["ApiId"]) is None and stored(apigw) is None


@pytest.mark.parametrize("origin, named", [
    ("*", "wildcard"),
    ("https://*", "wildcard"),
    ("https://*.example.com", "wildcard"),
    ("null", "'null' is refused"),
    ("http://127.0.0.1:8080/index.html", "path"),
    ("https://example.com/?endpoint=x", "path, query or fragment"),
    ("https://example.com#top", "path, query or fragment"),
    ("http://example.com", "http is allowed only on this machine"),
    ("http://192.168.1.20:8080", "http is allowed only on this machine"),
    ("ftp://example.com", "expected http:// or https://"),
    ("127.0.0.1:8080", "expected http:// or https://"),
    ("https://", "expected http:// or https://"),
    ("https://user@example.com", "user name"),
    ("https://exa_mple.com", "not a host name"),
    ("https://example.com:99999", "not an origin"),
    ("https://example.com:0", "port 0"),
])
def test_a_bad_origin_is_refused_with_a_paragraph_before_any_aws_call(monkeypatch, capsys, origin, named):
    monkeypatch.setattr(api_cli, "session_for", lambda region: pytest.fail("an AWS session was opened"))
    with pytest.raises(SystemExit) as exit_:
        make_api("--cors-origin", origin)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and named in err and "Traceback" not in err
    with pytest.raises(ValueError) as refused:
        api.check_cors_origin(origin)
    assert named in str(refused.value)


def test_the_wildcard_refusal_says_why_and_what_to_pass_instead():
    with pytest.raises(ValueError) as refused:
        api.check_cors_origin("*")
    message = str(refused.value)
    assert "every web page" in message and "--cors-origin http://127.0.0.1:8080" in message and "\n" not in message


def test_cors_with_auth_iam_is_refused_by_the_cli_and_by_create_before_any_change(account, capsys):
    session, apigw = account
    with pytest.raises(SystemExit) as exit_:
        make_api("--auth", "iam", "--cors-origin", PAGE)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "cannot go with --auth iam" in err and "SigV4" in err
    with pytest.raises(ValueError, match="cannot go with --auth iam"):
        api.create(session, NAME, auth="iam", cors_origins=[PAGE])
    with pytest.raises(ValueError, match="wildcard"):
        api.create(session, NAME, cors_origins=["*"])
    assert apigw.get_apis()["Items"] == []
    assert make_api("--auth", "iam") == 0 and stored(apigw) is None  # iam alone is fine


def test_dry_run_names_the_cors_plan_and_touches_nothing(account, capsys):
    _, apigw = account
    assert make_api("--cors-origin", PAGE, "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"CORS for {PAGE} (POST, content-type)" in out and "Dry run" in out
    assert apigw.get_apis()["Items"] == []
    assert make_api("--dry-run") == 0 and "CORS none" in capsys.readouterr().out
