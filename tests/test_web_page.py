"""The web page (solutions/06_api_gateway/web/index.html) that ``make serve`` serves at ``/``, beside ``POST /predict``.

First without a browser: what ``serve.py`` sends with the page (its Content-Security-Policy, the handler's upload
limit) and how a photo posted as the body reaches the handler (base64, ``isBase64Encoded``, as an HTTP API delivers
it). Then in a real headless Chromium driven by Playwright (tutorial_support.browser: the system's browser, as
Playwright's own download cannot be reached here; skipped, with the reason, when there is none), against
``serve.py`` started as ``make serve`` starts it: a sample photo chosen in the file input, an image URL pasted, and
bad files; every answer read from the page is checked against the handler's own answer to the same request.
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request

import lambda_function
import pytest
import serve
from conftest import PANTS, SAMPLES_DIR, SOLUTIONS

from tutorial_support.browser import BrowserUnavailable, chromium
from tutorial_support.events import answer_of, http_api_event, url_event

SERVE = SOLUTIONS / "06_api_gateway" / "serve.py"
PHOTO = SAMPLES_DIR / PANTS
API = "https://abc123.execute-api.eu-west-1.amazonaws.com"


def get(url: str) -> tuple[int, dict, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, dict(response.headers.items()), response.read().decode()


def directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";"))}


# ------------------------------------------------------------------------------------------- without a browser


def test_the_page_is_served_at_the_root_under_a_strict_content_security_policy():
    with serve.serve(lambda_handler=lambda event, context: {}) as endpoint:
        root = endpoint.removesuffix("predict")
        status, headers, html = get(root)
        _, deployed_headers, deployed_html = get(root + f"?endpoint={API}/predict")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    csp = directives(headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'none'"] and csp["connect-src"] == ["'self'"]
    assert csp["base-uri"] == csp["form-action"] == csp["frame-ancestors"] == ["'none'"]
    # The page's own script and style, by hash: nothing else inline, no 'unsafe-inline', no other origin.
    scripts = re.findall(r"<script>(.*?)</script>", re.sub(r"<!--.*?-->", "", html, flags=re.DOTALL), re.DOTALL)
    assert len(scripts) == 1 and csp["script-src"] == [
        "'sha256-" + base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode() + "'"]
    assert len(csp["style-src"]) == 1 and csp["style-src"][0].startswith("'sha256-")
    assert deployed_html == html  # the same page, allowed to call the deployed API's origin too
    assert directives(deployed_headers["Content-Security-Policy"])["connect-src"] == ["'self'", API]


@pytest.mark.parametrize("endpoint, origin", [
    (f"{API}/predict", API),
    ("https://example.com:8443/prod/predict", "https://example.com:8443"),
    ("http://127.0.0.1:9000/predict", "http://127.0.0.1:9000"),
    ("http://[::1]:8080/predict", "http://[::1]:8080"),
    ("http://example.com/predict", None),  # plain http only on this machine
    ("javascript:alert(1)", None),
    ("https://a.example.com\r\nSet-Cookie: x=1/predict", None),  # no header injection through the query
    ("https://a.example.com;script-src *", None),  # nor a directive
    ("https://a.example.com:99999/", None),
    ("", None),
])
def test_only_an_https_endpoint_or_one_on_this_machine_is_added_to_connect_src(endpoint, origin):
    assert serve.endpoint_origin(endpoint) == origin


def test_the_page_is_told_the_handlers_upload_limit_and_what_api_gateway_errors_mean():
    with serve.serve() as endpoint:
        html = get(endpoint.removesuffix("predict"))[2]
    config = json.loads(re.search(r'id="page-config">(.*?)</script>', html, re.DOTALL).group(1))
    assert config["maxUploadBytes"] == lambda_function.MAX_UPLOAD_BYTES
    assert "/predict" in config["hints"]["404"] and "AUTH=none" in config["hints"]["403"]
    rendered = serve.render_page({"x": "</script><script>alert(1)"}, '<script type="application/json" '
                                 'id="page-config">{}</script>')
    assert rendered.count("</script>") == 1  # a value cannot end the block


def test_a_photo_posted_as_the_body_reaches_the_handler_base64_encoded_as_from_an_http_api():
    seen = []

    def record(event, context):
        seen.append(event)
        return {"statusCode": 200, "body": "{}"}

    photo = PHOTO.read_bytes()
    with serve.serve(lambda_handler=record) as endpoint:
        for content_type, body in (("image/jpeg", photo), ("application/json", b'{"url": "u"}')):
            request = urllib.request.Request(endpoint, data=body, headers={"Content-Type": content_type})
            urllib.request.urlopen(request, timeout=10).close()
    upload, json_body = seen
    assert upload["isBase64Encoded"] is True and base64.b64decode(upload["body"]) == photo
    assert upload["headers"]["content-type"] == "image/jpeg"
    assert json_body["isBase64Encoded"] is False and json_body["body"] == '{"url": "u"}'


# ------------------------------------------------------------------------------------------------ in a browser


@pytest.fixture(scope="module")
def browser():
    try:
        with chromium() as browser:
            yield browser
    except BrowserUnavailable as e:
        pytest.skip(f"the web page's browser test needs a browser: {e}")


@pytest.fixture(scope="module")
def page_url(browser):
    """The page, served by serve.py as ``make serve`` runs it (ALLOW_PRIVATE_URLS=1, a free port)."""
    process = subprocess.Popen([sys.executable, str(SERVE), "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env={**os.environ, "ALLOW_PRIVATE_URLS": "1"})
    try:
        first = process.stdout.readline()
        assert first.startswith("Serving the Lambda handler at http://127.0.0.1:"), first
        yield first.split(" at ")[1].split()[0].removesuffix("predict")
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def page(browser, page_url):
    """A phone-sized page; fails the test on any script error or console error (a CSP violation is one) other than
    the browser's own note of an HTTP error status."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error"
            and not message.text.startswith("Failed to load resource: the server responded") else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_url)
    page.errors = errors
    yield page
    context.close()
    assert not errors, errors


def shown(page) -> str:
    """Wait for the page's answer or error; return which one is shown."""
    page.wait_for_selector("#prediction:not([hidden]), #error:not([hidden])", timeout=15_000)
    return "error" if page.is_visible("#error") else "prediction"


def assert_page_shows(page, answer: dict) -> None:
    """The page shows ``answer`` (the handler's own): the top class, and one bar per class, highest first, each
    labelled with its percentage and as long as its probability."""
    assert shown(page) == "prediction", page.inner_text("#error")
    assert page.inner_text("#top-class") == answer["top_class"]
    rows = page.eval_on_selector_all("#bars li", """rows => rows.map(row => ({
        name: row.querySelector('.name').textContent, value: row.querySelector('.value').textContent,
        ratio: row.querySelector('.fill').getBoundingClientRect().width /
               row.querySelector('.bar').getBoundingClientRect().width}))""")
    expected = answer["probabilities"]
    assert [row["name"] for row in rows] == sorted(expected, key=expected.get, reverse=True)
    assert len(rows) == len(lambda_function.CLASSES) == 10
    for row in rows:
        p = expected[row["name"]]
        assert abs(float(row["value"].rstrip("%")) - 100 * p) <= 0.05 + 1e-9, (row, p)
        assert abs(row["ratio"] - p) < 0.01, (row, p)


def choose(page, path) -> tuple[dict, bytes]:
    """Choose ``path`` in the page's file input; (the handler's own answer to the request the page sent, its body)."""
    with page.expect_request("**/predict") as sent:
        page.set_input_files("#file", str(path))
    request = sent.value
    body = request.post_data_buffer
    event = http_api_event("POST", "/predict", request.all_headers(), body)
    return answer_of(lambda_function.lambda_handler(event, None))[1], body


def test_a_sample_photo_chosen_on_the_page_is_sent_itself_and_its_answer_shown(page):
    answer, body = choose(page, PHOTO)
    assert body == PHOTO.read_bytes()  # the file itself, not a URL or a re-encoded copy
    assert_page_shows(page, answer)
    assert page.get_attribute("#photo", "alt") == f"Your photo, {PHOTO.name}"
    # The CSP holds in the browser: a script that is not the page's own does not run.
    assert page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';
                                    document.body.append(s); return window.ran === undefined; }""")
    assert len(page.errors) == 1 and "violates the following Content Security Policy" in page.errors.pop()


def test_an_image_url_pasted_on_the_page_gets_the_handlers_answer(page, image_host):
    url = f"{image_host}/samples/{PANTS}"
    page.fill("#url", url)
    page.click("button[type=submit]")
    assert_page_shows(page, answer_of(lambda_function.lambda_handler(url_event(url), None))[1])
    assert page.get_attribute("#photo", "src") == url


def test_a_file_that_is_not_a_photo_gets_the_handlers_readable_error(page, tmp_path):
    fake = tmp_path / "holiday.jpg"  # a text file renamed: the browser sends it as image/jpeg
    fake.write_text("these are not the pixels you are looking for\n")
    answer, _ = choose(page, fake)
    assert shown(page) == "error" and "error" in answer, answer
    assert page.inner_text("#error") == f"{answer['error']['message']} (HTTP {answer['error']['status']}, " \
                                        f"{answer['error']['code']})"
    assert page.get_attribute("#error", "role") == "alert"


def test_a_text_file_or_a_photo_over_the_limit_is_refused_before_sending(page, tmp_path):
    requests = []
    page.on("request", lambda request: requests.append(request.url) if request.method == "POST" else None)
    notes = tmp_path / "notes.txt"
    notes.write_text("a shopping list\n")
    page.set_input_files("#file", str(notes))
    assert shown(page) == "error" and "notes.txt is not a photo" in page.inner_text("#error")
    big = tmp_path / "big.jpg"
    big.write_bytes(PHOTO.read_bytes().ljust(lambda_function.MAX_UPLOAD_BYTES + 1, b"\0"))
    page.set_input_files("#file", str(big))
    page.wait_for_selector("#error:has-text('big.jpg')")
    assert f"at most {lambda_function.MAX_UPLOAD_BYTES:,} bytes" in page.inner_text("#error")
    assert requests == []
