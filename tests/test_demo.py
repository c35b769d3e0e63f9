"""The main job: `make demo` and `make predict` (solutions/03_lambda_code/demo.py)."""

import json
import re

import demo

PANTS = "/samples/pants/0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"


def test_demo_prints_a_row_per_sample_and_the_score(capsys, sample_images):
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.match(r"^\S+/\S+\.jpg ", line)]
    assert len(rows) == len(sample_images) == 30
    assert all(len(row.split()) >= 4 for row in rows)
    correct = sum(1 for row in rows if "<- wrong" not in row)
    assert f"{correct} of 30 correct" in out
    assert correct >= 15


def test_predict_prints_the_answer_for_a_url(capsys, image_host):
    assert demo.main([image_host + PANTS]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == 200 and answer["top_class"] == "pants"


def test_predict_exits_non_zero_on_a_bad_url(capsys):
    assert demo.main(["--direct", "file:///etc/passwd"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == 400 and answer["error"]["code"] == "invalid_url"
