"""Issue 17 (chapter 07), batch predictions: the handler's branch for Step Functions batches (the Distributed Map's
ItemBatcher event ``{"Items": [...], "BatchInput": {...}}``), and ``make batch`` (solutions/07_production/batch.py),
which classifies a folder or a file of URLs with the handler's own code in worker processes and resumes after an
interruption. No network: the photos come from the local image host (conftest.image_host) or from files.

Nothing here hard-codes a class or a probability: the expected answers are the handler's own for the same photo.
"""

import json
import shutil

import batch
import batch_aws
import lambda_function
import pytest
from conftest import PANTS, captured_request_log

from tutorial_support.paths import SAMPLES_DIR

# --------------------------------------------------------------------------------------------- the handler's branch


class FakeContext:
    """A Lambda context whose ``get_remaining_time_in_millis`` answers ``remaining_ms`` in turn (the last one
    repeated)."""

    aws_request_id = "batch-test"

    def __init__(self, *remaining_ms: int):
        self.remaining = list(remaining_ms)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


def code_of(slot) -> str | None:
    return slot.get("error", {}).get("code") if isinstance(slot, dict) else None


def test_a_batch_answers_every_item_in_its_own_slot_and_a_bad_item_never_fails_the_batch(image_host):
    good = f"{image_host}/samples/{PANTS}"
    items = [{"url": good}, "not a dict", 42, None, {}, {"url": 12}, {"url": "file:///etc/passwd"},
             {"url": f"{image_host}/missing.jpg"}, {"url": f"{image_host}/page.html"},
             {"requestContext": {}, "body": json.dumps({"url": good})}, {"Items": [{"url": good}]}, {"url": good}]
    expected = [None, "invalid_json", "invalid_json", "invalid_json", "missing_url", "missing_url", "invalid_url",
                "upstream_http_error", "not_an_image", "invalid_json", "invalid_json", None]
    direct = lambda_function.lambda_handler({"url": good}, None)
    with captured_request_log() as lines:
        answer = lambda_function.lambda_handler({"Items": items, "BatchInput": {"manifest": "m.json"}},
                                                FakeContext(30_000))
    assert [code_of(slot) for slot in answer["results"]] == expected
    for slot in (answer["results"][0], answer["results"][-1]):  # the same answer as a direct invocation
        assert slot["top_class"] == direct["top_class"] in lambda_function.CLASSES
        assert slot["probabilities"] == pytest.approx(direct["probabilities"])
    for slot in answer["results"]:
        if code_of(slot):
            assert set(slot["error"]) == {"status", "code", "message"} and 400 <= slot["error"]["status"] < 500
    # one log line per item handed to the direct path; a nested batch or a proxy event is refused before it
    assert len(lines) == len(items) - 2


def test_a_private_address_in_a_batch_is_refused_like_a_direct_request(monkeypatch):
    monkeypatch.delenv("ALLOW_PRIVATE_URLS")
    answer = lambda_function.lambda_handler({"Items": [{"url": "http://127.0.0.1:1/a.jpg"},
                                                       {"url": "http://169.254.169.254/latest/meta-data/"}]}, None)
    refused = [(422, "destination_refused")] * 2
    assert [(slot["error"]["status"], code_of(slot)) for slot in answer["results"]] == refused


@pytest.mark.parametrize("items", ["not a list", {"url": "x"}, None, [{}] * (lambda_function.MAX_BATCH_ITEMS + 1)])
def test_a_batch_that_is_not_a_list_or_too_large_is_refused_whole_and_nothing_is_fetched(items):
    with captured_request_log() as lines:
        answer = lambda_function.lambda_handler({"Items": items}, None)
    assert answer["error"]["code"] == "invalid_batch" and answer["error"]["status"] == 400
    assert lines == []


def test_items_left_when_time_runs_short_are_answered_out_of_time_instead_of_timing_the_batch_out(image_host):
    good = {"url": f"{image_host}/samples/{PANTS}"}
    reserve_ms = lambda_function.BATCH_ITEM_RESERVE_S * 1000
    answer = lambda_function.lambda_handler({"Items": [good, good, good]},
                                            FakeContext(reserve_ms + 1000, reserve_ms - 1))
    assert [code_of(slot) for slot in answer["results"]] == [None, "batch_out_of_time", "batch_out_of_time"]
    assert answer["results"][1]["error"]["status"] == 503


def test_the_largest_batch_answer_stays_under_step_functions_and_lambda_limits(image_host):
    """The answer of MAX_BATCH_ITEMS slots, each as large as a slot can be: a real prediction with every probability
    written at the longest a float's JSON can be, or an error with a 2,000-character message (ours are far shorter:
    the longest quotes 200 characters of a socket error)."""
    prediction = lambda_function.lambda_handler({"url": f"{image_host}/samples/{PANTS}"}, None)
    longest_float = -1.2345678901234567e-300
    prediction = {**prediction, "probability": longest_float,
                  "probabilities": {name: longest_float for name in prediction["probabilities"]}}
    error = {"error": {"status": 422, "code": "upstream_http_error", "message": "x" * 2000}}
    slot_bytes = max(len(json.dumps(prediction)), len(json.dumps(error)))
    answer_bytes = len(json.dumps({"results": [None] * lambda_function.MAX_BATCH_ITEMS})) + \
        lambda_function.MAX_BATCH_ITEMS * slot_bytes
    assert answer_bytes < batch_aws.STEP_FUNCTIONS_PAYLOAD_BYTES < batch_aws.LAMBDA_RESPONSE_BYTES
    assert batch_aws.ITEMS_PER_BATCH <= lambda_function.MAX_BATCH_ITEMS


# --------------------------------------------------------------------------------------------- make batch


def url_list(tmp_path, image_host, names) -> tuple:
    """A file of image URLs on the local image host (one a line, with a comment and a blank line); returns
    (the file, the URLs in order)."""
    urls = [f"{image_host}/{name}" for name in names]
    source = tmp_path / "urls.txt"
    source.write_text("# photos to classify\n\n" + "\n".join(urls) + "\n")
    return source, urls


def samples(n: int) -> list[str]:
    return [f"samples/{p.relative_to(SAMPLES_DIR).as_posix()}" for p in sorted(SAMPLES_DIR.rglob("*.jpg"))[:n]]


def read_lines(path) -> list[dict]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_the_inputs_of_a_url_file_skip_comments_blanks_and_repeats(tmp_path):
    source = tmp_path / "urls.txt"
    source.write_text("# a comment\nhttps://a.example/1.jpg\n\n  https://a.example/2.jpg  \nhttps://a.example/1.jpg\n")
    assert batch.read_inputs(source) == [("url", "https://a.example/1.jpg", "https://a.example/1.jpg"),
                                         ("url", "https://a.example/2.jpg", "https://a.example/2.jpg")]


def test_a_resumed_run_keeps_finished_lines_drops_the_torn_one_and_classifies_only_the_rest(tmp_path, image_host):
    names = samples(3) + ["missing.jpg", "page.html", "truncated.jpg"]
    source, urls = url_list(tmp_path, image_host, names)
    output = tmp_path / "results.jsonl"
    # An interrupted run: two finished lines (marked, so that a redone item would show), and a torn third line.
    finished = [{"input": urls[0], "top_class": "FINISHED-BEFORE"}, {"input": urls[3], "error": {"code": "KEPT"}}]
    output.write_text("".join(json.dumps(line) + "\n" for line in finished) + '{"input": "' + urls[1] + '", "top_c')
    summary = batch.run(source, output, workers=2, progress=False)
    lines = read_lines(output)
    assert lines[:2] == finished
    assert sorted(line["input"] for line in lines) == sorted(urls)  # one line per input: none twice, none missing
    assert (summary.already_done, summary.classified) == (2, len(urls) - 2)
    by_input = {line["input"]: line for line in lines}
    for url in urls[1:3]:
        direct = lambda_function.lambda_handler({"url": url}, None)
        assert by_input[url]["top_class"] == direct["top_class"] in lambda_function.CLASSES
    assert [code_of(by_input[url]) for url in urls[4:]] == ["not_an_image", "not_an_image"]
    # A second run finds everything done and classifies nothing.
    again = batch.run(source, output, workers=2, progress=False)
    assert (again.already_done, again.classified) == (len(urls), 0)
    assert read_lines(output) == lines


def test_retry_errors_classifies_the_failed_items_again_and_keeps_one_line_each(tmp_path, image_host):
    source, urls = url_list(tmp_path, image_host, samples(2))
    output = tmp_path / "results.jsonl"
    output.write_text(json.dumps({"input": urls[0], "error": {"status": 422, "code": "fetch_timeout"}}) + "\n" +
                      json.dumps({"input": urls[1], "top_class": "FINISHED-BEFORE"}) + "\n")
    summary = batch.run(source, output, workers=1, progress=False, retry_errors=True)
    lines = read_lines(output)
    assert summary.classified == 1 and len(lines) == 2
    assert lines[0] == {"input": urls[1], "top_class": "FINISHED-BEFORE"}
    assert lines[1]["input"] == urls[0] and "error" not in lines[1]


FAKE_HANDLER = '''
import os, time

def lambda_handler(event, context):
    url = event.get("url", "")
    if "crash" in url:
        os._exit(3)  # the worker process dies, as on a segfault or an out-of-memory kill
    if "raise" in url:
        raise RuntimeError("boom")
    return {"top_class": "fake", "pid": os.getpid()}
'''


def test_a_worker_that_dies_or_raises_costs_one_line_not_the_batch(tmp_path):
    task_root = tmp_path / "task"
    task_root.mkdir()
    (task_root / "lambda_function.py").write_text(FAKE_HANDLER)
    inputs = [f"https://a.example/{name}.jpg" for name in ("a", "b", "crash", "c", "raise", "d", "e")]
    source = tmp_path / "urls.txt"
    source.write_text("\n".join(inputs) + "\n")
    output = tmp_path / "results.jsonl"
    summary = batch.run(source, output, workers=2, progress=False, task_root=task_root)
    by_input = {line["input"]: line for line in read_lines(output)}
    assert sorted(by_input) == sorted(inputs)
    assert code_of(by_input[inputs[2]]) == "worker_died" and code_of(by_input[inputs[4]]) == "internal_error"
    assert all(by_input[url]["top_class"] == "fake" for url in inputs if "crash" not in url and "raise" not in url)
    assert summary.errors == {"worker_died": 1, "internal_error": 1}


@pytest.mark.skipif(not hasattr(lambda_function, "predict_bytes"),
                    reason='the handler does not take {"image": base64} events yet (issue 20, helper 20a)')
def test_a_folder_of_photos_and_bad_files_gets_one_line_each(tmp_path):
    folder = tmp_path / "photos"
    photos = sorted(SAMPLES_DIR.rglob("*.jpg"))[:3]
    for photo in photos:
        (folder / photo.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, folder / photo.parent.name / photo.name)
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "half.jpg").write_bytes(photos[0].read_bytes()[: photos[0].stat().st_size // 3])
    (folder / ".hidden.jpg").write_bytes(photos[0].read_bytes())
    output = tmp_path / "results.jsonl"
    batch.run(folder, output, workers=2, progress=False)
    by_input = {line["input"]: line for line in read_lines(output)}
    names = {f"{p.parent.name}/{p.name}" for p in photos}
    assert set(by_input) == names | {"notes.txt", "empty.jpg", "half.jpg"}
    for photo in photos:
        expected = lambda_function.predict_bytes(photo.read_bytes())
        assert by_input[f"{photo.parent.name}/{photo.name}"]["top_class"] == expected["top_class"]
    for bad in ("notes.txt", "empty.jpg", "half.jpg"):
        assert code_of(by_input[bad]) is not None and by_input[bad]["error"]["status"] in (400, 413, 422)


def test_make_batch_explains_a_missing_input_instead_of_a_traceback(tmp_path, capsys):
    assert batch.main([str(tmp_path / "nowhere"), str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err
