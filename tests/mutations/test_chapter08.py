"""Chapter 08's Google adapter check against plausible wrong answers (each graded incorrect, with a message naming
the mistake) and right answers written differently from the reference (each graded correct).

Each case is the reference ``google_cloud_function.py`` (the solved starter) with a few exact edits, served by the
Functions Framework as the check does (about a second per case). The tabular exercises' mutation tests are in
``test_chapter08_tabular.py``.
"""

import pytest
from conftest import graded_correct

from grading.checks import chapter08 as checks
from grading.outcomes import Incorrect, NotAttempted

CHAPTER, ADAPTER = "08_explore_more", "google_cloud_function.py"

EVENT = ('    event = {"body": base64.b64encode(request.get_data()).decode("ascii"), "isBase64Encoded": True,\n'
         '             "requestContext": {"requestId": request.headers.get(EXECUTION_ID_HEADER)}}\n')
CALL = "    response = lambda_function.lambda_handler(event, None)\n"
RETURN = '    return response["body"], response["statusCode"], response["headers"]\n'
REFERENCE = EVENT + CALL + RETURN


def adapter(submission, edits):
    """The path of the submission's adapter: the reference with ``edits`` applied."""
    return submission(CHAPTER, {ADAPTER: edits}).path(CHAPTER, ADAPTER)


def answer_as(code: str, *more):
    """Edits replacing the reference answer (the event, the call, the return) by ``code``."""
    return [*more, (REFERENCE, code)]


def test_the_reference_edits_still_apply(solved_files):
    assert solved_files[f"{CHAPTER}/{ADAPTER}"].count(REFERENCE) == 1


DIRECT_ANSWER = ('    status = answer["error"]["status"] if "error" in answer else 200\n'
                 '    return json.dumps(answer), status, {"Content-Type": "application/json"}\n')
IMPORT_OS = ("import base64\n", "import base64\nimport os\n")

WRONG = {
    "get_json_as_a_direct_invocation": (
        answer_as("    answer = lambda_function.lambda_handler(request.get_json(), None)\n" + DIRECT_ANSWER),
        "Flask's own error page: request.get_json"),
    "get_json_forced_and_silent": (
        answer_as("    payload = request.get_json(force=True, silent=True) or {}\n"
                  "    answer = lambda_function.lambda_handler(payload, None)\n" + DIRECT_ANSWER),
        "an empty body: expected HTTP 400 invalid_json as on Lambda, got HTTP 400 .*missing_url"),
    "returns_the_proxy_response": ([(RETURN, "    return response\n")], "the handler's whole proxy response"),
    "status_always_200": ([(RETURN, '    return response["body"], 200, response["headers"]\n')],
                          "HTTP 200 with the error"),
    "no_headers": ([(RETURN, '    return response["body"], response["statusCode"]\n')],
                   "the Content-Type is 'text/html; charset=utf-8', expected application/json"),
    "the_body_decoded_as_text": (
        [(EVENT, '    event = {"body": request.get_data(as_text=True), "isBase64Encoded": False,\n'
                 '             "requestContext": {"requestId": request.headers.get(EXECUTION_ID_HEADER)}}\n')],
        "not UTF-8.*expected HTTP 400 invalid_json as on Lambda, got HTTP 400 .*invalid_url.*base64-encoded"),
    "the_flask_request_passed_as_the_event": (
        [(CALL, "    response = lambda_function.lambda_handler(request, None)\n")],
        "the function raised KeyError: 'body'"),
    "private_addresses_allowed_to_make_local_photos_work": (
        [IMPORT_OS, (EVENT, '    os.environ["ALLOW_PRIVATE_URLS"] = "1"  # the photos are on 127.0.0.1\n' + EVENT)],
        "as deployed.*expected HTTP 422 destination_refused as on Lambda, got HTTP 200"),
    "predict_without_the_log_line": (
        answer_as("    payload = lambda_function.parse_proxy_body(\n"
                  '        {"body": base64.b64encode(request.get_data()).decode(), "isBase64Encoded": True})\n'
                  '    return json.dumps(lambda_function.predict(payload["url"])), 200, JSON_HEADERS\n'),
        "an empty body: the function raised .*RequestError: the request body must be JSON"),
    "errors_answered_but_not_logged": (
        answer_as("    try:\n"
                  "        payload = lambda_function.parse_proxy_body(\n"
                  '            {"body": base64.b64encode(request.get_data()).decode(), "isBase64Encoded": True})\n'
                  '        status, result = 200, lambda_function.predict(payload.get("url"))\n'
                  "    except lambda_function.RequestError as e:\n"
                  '        status, result = e.status, {"error": {"status": e.status, "code": e.code, '
                  '"message": e.message}}\n'
                  "    return json.dumps(result), status, JSON_HEADERS\n"),
        "one JSON log line per request"),
}


@pytest.mark.parametrize("edits, message", WRONG.values(), ids=WRONG.keys())
def test_a_wrong_adapter_is_incorrect(submission, edits, message):
    with pytest.raises(Incorrect, match=message):
        checks.check_classify_request(adapter(submission, edits))


def test_the_stub_is_not_attempted(tmp_path):
    from grading import starters
    from tutorial_support.paths import SOLUTIONS

    stub = tmp_path / ADAPTER
    stub.write_text(starters.stub_regions((SOLUTIONS / CHAPTER / ADAPTER).read_text()))
    with pytest.raises(NotAttempted, match="answer the Flask request with chapter 03's lambda_handler"):
        checks.check_classify_request(stub)


def test_an_adapter_that_does_not_import_is_incorrect_and_says_why(submission):
    with pytest.raises(Incorrect, match="(?s)did not start under the Functions Framework.*NameError"):
        checks.check_classify_request(adapter(submission, [(IMPORT_OS[0], "import base64\nundefined_name\n")]))


RIGHT = {
    "the_request_cycle_written_out_with_the_log_line": answer_as(
        "    import time\n\n"
        "    import safe_download\n\n"
        "    started = time.perf_counter()\n" + EVENT +
        "    with safe_download.recording() as download:\n"
        "        try:\n"
        "            payload = lambda_function.parse_proxy_body(event)\n"
        '            status, result = 200, lambda_function.predict(payload.get("url"))\n'
        "        except safe_download.RequestError as e:\n"
        '            status, result = e.status, {"error": {"status": e.status, "code": e.code, '
        '"message": e.message}}\n'
        "    lambda_function.log_request(event, None, status, result, download, time.perf_counter() - started)\n"
        "    return json.dumps(result), status, JSON_HEADERS\n"),
    "text_when_utf8_and_a_flask_response": answer_as(
        "    import flask\n\n"
        "    data = request.get_data()\n"
        "    try:\n"
        '        event = {"body": data.decode("utf-8"), "isBase64Encoded": False}\n'
        "    except UnicodeDecodeError:\n"
        '        event = {"body": base64.b64encode(data).decode(), "isBase64Encoded": True}\n'
        '    event["requestContext"] = {"requestId": request.headers.get("function-execution-id")}\n'
        "    response = lambda_function.lambda_handler(event, None)\n"
        '    return flask.Response(response["body"], status=response["statusCode"], headers=response["headers"])\n'),
}


@pytest.mark.parametrize("edits", RIGHT.values(), ids=RIGHT.keys())
def test_a_right_adapter_written_differently_is_correct(submission, capsys, edits):
    graded_correct(checks.check_classify_request, adapter(submission, edits), capsys, "classify_request")
