"""The events the handler is given locally (``tutorial_support.events``): the same shapes as Lambda's, from the
example events kept beside the handler."""

import base64
import json

import pytest

from tutorial_support import events
from tutorial_support.events import http_api_event
from tutorial_support.paths import EVENTS_DIR


def test_the_event_is_payload_format_2_0_of_this_request():
    event = http_api_event("POST", "/predict?debug=1", {"Content-Type": "application/json", "X-A": "b"},
                                 b'{"url": "u"}')
    assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == (
        "2.0", "POST /predict", "/predict", "debug=1")
    assert event["headers"] == {"content-type": "application/json", "x-a": "b"}
    assert (event["body"], event["isBase64Encoded"]) == ('{"url": "u"}', False)
    assert event["requestContext"]["http"]["method"] == "POST"
    binary = http_api_event("POST", "/predict", {"Content-Type": "application/octet-stream"}, b"\xff\x00")
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\xff\x00"


@pytest.mark.parametrize("shape", ["http-v2", "rest-v1"])
def test_a_url_event_carries_the_url_as_a_json_body_of_the_example_event(shape):
    event = events.url_event("https://example.com/a.jpg", shape)
    example = json.loads((EVENTS_DIR / events.EVENT_FILES[shape]).read_text())
    assert json.loads(event["body"]) == {"url": "https://example.com/a.jpg"} and event["isBase64Encoded"] is False
    assert {k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")} == {
        k: v for k, v in example.items() if k not in ("body", "isBase64Encoded")}
    assert json.loads(events.url_event(None, shape)["body"]) == {}


def test_a_direct_event_is_the_payload_itself_and_has_no_proxy_body():
    assert events.url_event("https://example.com/a.jpg", "direct") == {"url": "https://example.com/a.jpg"}
    assert events.url_event(None, "direct") == {}
    with pytest.raises(ValueError, match="direct invocation has no body"):
        events.proxy_event("direct", "{}")


def test_answer_of_reads_proxy_responses_and_direct_answers():
    answer = {"error": {"status": 422}}
    assert events.answer_of({"statusCode": 422, "body": json.dumps(answer)}) == (422, answer)
    assert events.answer_of({"error": {"status": 400, "code": "missing_url"}})[0] == 400
    assert events.answer_of({"top_class": "hat"}) == (200, {"top_class": "hat"})
