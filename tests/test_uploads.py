"""Uploads: the handler classifies the image itself, sent as a direct invocation's ``{"image": "<base64>"}`` or as
the body of an API Gateway proxy event (``Content-Type`` image/jpeg, image/png or image/webp, base64-encoded with
``isBase64Encoded`` true, as an HTTP API delivers it), with the same answer, the same errors and the same decoding
bounds as an image given by URL, plus the payload limits (``safe_image.MAX_UPLOAD_BYTES``, from Lambda's 6 MB).

The bad images are the ones the URL path's tests build (tests/test_hostile_images.py, conftest.ImageHost), sent
every way in (``WAYS_IN``); the expected answer is always the URL path's own, never a figure written here.
"""

import base64
import json
import re

import lambda_function
import pytest
import safe_download
import safe_image
from conftest import SAMPLES_DIR, ImageHost, captured_request_log
from test_api_auth import fake_credentials, recorder  # noqa: F401 (fixtures)
from test_hostile_images import WAYS_IN, answer_via, encode, jpeg_with_scans, photo, webp_canvas

from tutorial_support.events import EVENTS_DIR, answer_of, image_event, proxy_event

UPLOADS = tuple(way for way in WAYS_IN if way != "url")
PANTS = SAMPLES_DIR / "pants" / "0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"
MIB = 2**20


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A folder served on 127.0.0.1, for the URL way in: (folder, base URL)."""
    from tutorial_support.image_server import serve_directory

    folder = tmp_path_factory.mktemp("served")
    with serve_directory(folder) as base:
        yield folder, base


def assert_error(result: tuple[int, dict], status: int, code: str) -> dict:
    got_status, answer = result
    assert (got_status, answer.get("error", {}).get("status"), answer.get("error", {}).get("code")) == (
        status, status, code), answer
    return answer["error"]


def test_each_way_in_gives_the_url_answer_for_sample_photos_of_every_format(served, sample_images):
    """JPEG as stored, and the same photo as PNG and WebP (lossless): one answer per file, whichever way it came."""
    for path, _ in sample_images[::10]:
        for data, content_type in ((path.read_bytes(), "image/jpeg"),
                                   (encode(photo_of(path), "PNG"), "image/png"),
                                   (encode(photo_of(path), "WEBP", lossless=True), "image/webp")):
            status, by_url = answer_via("url", data, served)
            assert status == 200 and {"top_class", "probability", "probabilities"} <= set(by_url)
            for way in UPLOADS:
                assert answer_via(way, data, served, content_type) == (200, by_url), (path.name, way, content_type)
    folder, base = served
    (folder / PANTS.name).write_bytes(PANTS.read_bytes())
    assert lambda_function.predict_bytes(PANTS.read_bytes()) == lambda_function.predict(f"{base}/{PANTS.name}")


def photo_of(path):
    from PIL import Image

    with Image.open(path) as img:
        return img.convert("RGB")


def test_downloaded_and_uploaded_bytes_go_through_the_one_decoder(served, monkeypatch):
    """safe_image.decode_image, reached through safe_download for both, gets the same bytes and target size."""
    calls = []
    real = safe_download.decode_image
    monkeypatch.setattr(safe_download, "decode_image",
                        lambda data, target_size=None, header=None: calls.append((data, target_size))
                        or real(data, target_size, header))
    data = PANTS.read_bytes()
    for way in WAYS_IN:
        assert answer_via(way, data, served)[0] == 200
    assert calls == [(data, lambda_function.preprocessor.target_size)] * len(WAYS_IN)


# The URL path's bad files (tests/test_download_attacks.py, the image host's /bomb.png, /truncated.jpg, ...; and the
# files test_hostile_images.py builds), with the code the URL path gives them.
BAD_FILES = {
    "49 M pixel PNG bomb": (lambda: ImageHost.bomb_png, "image_too_large"),
    "400 M pixel PNG bomb": (lambda: ImageHost.huge_bomb_png, "image_too_large"),
    "truncated JPEG": (lambda: ImageHost.jpeg[: len(ImageHost.jpeg) // 3], "not_an_image"),
    "HTML bytes (wrong magic bytes)": (lambda: b"<html><body>not an image</body></html>", "not_an_image"),
    "JPEG magic bytes, then nothing": (lambda: b"\xff\xd8\xff", "not_an_image"),
    "too many JPEG scans": (lambda: jpeg_with_scans(safe_image.MAX_JPEG_SCANS + 1), "image_too_complex"),
    "WebP canvas over the pixel cap": (lambda: webp_canvas(16_383, 16_383), "image_too_large"),
    "GIF": (lambda: encode(photo((40, 50)), "GIF"), "not_an_image"),
    "animated PNG": (lambda: encode(photo((20, 20)), "PNG", save_all=True,
                                    append_images=[photo((20, 20)).rotate(90)]), "not_an_image"),
}


@pytest.mark.parametrize("way", WAYS_IN)
@pytest.mark.parametrize("name", BAD_FILES)
def test_every_bad_file_gets_the_same_documented_error_whichever_way_it_came_in(served, name, way):
    data, code = BAD_FILES[name]
    assert_error(answer_via(way, data(), served), 422, code)
    assert answer_via(way, PANTS.read_bytes(), served)[0] == 200  # the same warm handler serves the next one


@pytest.mark.parametrize("way", UPLOADS)
def test_the_pixel_cap_is_checked_on_an_upload_before_any_pixel_is_decoded(served, monkeypatch, way):
    decoded = []
    real_load = safe_image.Image.Image.load
    monkeypatch.setattr(safe_image.Image.Image, "load", lambda self: decoded.append(self.size) or real_load(self))
    assert_error(answer_via(way, ImageHost.bomb_png, served, "image/png"), 422, "image_too_large")
    assert decoded == []


# ------------------------------------------------------------------------------------------------- payload limits

def test_the_limit_is_derived_from_lambdas_6_mb_payload_with_room_for_the_event():
    lambda_payload, http_api_headers = 6 * MIB, 10_240  # bytes: Lambda's synchronous payload; an HTTP API's headers
    assert safe_image.MAX_UPLOAD_BASE64_CHARS == len(base64.b64encode(b"\0" * safe_image.MAX_UPLOAD_BYTES))
    assert safe_image.MAX_UPLOAD_BASE64_CHARS + http_api_headers + 64 * 1024 < lambda_payload
    assert len(base64.b64encode(b"\0" * (safe_image.MAX_UPLOAD_BYTES + MIB // 2))) >= lambda_payload


@pytest.fixture
def counted_decoding(monkeypatch):
    """Counts base64 decodings and image decodings: a body over the limit must reach neither."""
    counts = {"base64": 0, "image": 0}
    real_b64, real_image = safe_image.base64.b64decode, safe_download.decode_image

    def b64decode(*args, **kwargs):
        counts["base64"] += 1
        return real_b64(*args, **kwargs)

    def decode_image(*args, **kwargs):
        counts["image"] += 1
        return real_image(*args, **kwargs)

    monkeypatch.setattr(safe_image.base64, "b64decode", b64decode)
    monkeypatch.setattr(safe_download, "decode_image", decode_image)
    return counts


@pytest.mark.parametrize("way", UPLOADS)
def test_base64_over_the_limit_is_a_413_before_anything_is_decoded(counted_decoding, way):
    text = "A" * (safe_image.MAX_UPLOAD_BASE64_CHARS + 4)
    if way == "direct":
        event = {"image": text}
    elif way == "json-image":
        event = proxy_event("http-v2", json.dumps({"image": text}))
    else:
        event = proxy_event(way, text, base64_encoded=True)
        event["headers"] = {"content-type": "image/jpeg"}
    error = assert_error(answer_of(lambda_function.lambda_handler(event, None)), 413, "payload_too_large")
    assert f"{safe_image.MAX_UPLOAD_BYTES:,} bytes" in error["message"] and "6 MB" in error["message"]
    assert counted_decoding == {"base64": 0, "image": 0}


def test_base64_at_the_limit_that_decodes_to_more_bytes_is_a_413_before_the_image_is_decoded(counted_decoding):
    """4 * ceil(n / 3) characters can hold up to 2 bytes more than n: checked again after base64-decoding."""
    data = b"\xff\xd8\xff" + b"\0" * (3 * -(-safe_image.MAX_UPLOAD_BYTES // 3) - 3)
    assert len(data) > safe_image.MAX_UPLOAD_BYTES and len(base64.b64encode(data)) == safe_image.MAX_UPLOAD_BASE64_CHARS
    assert_error(answer_of(lambda_function.lambda_handler(image_event(data), None)), 413, "payload_too_large")
    assert counted_decoding == {"base64": 1, "image": 0}
    with pytest.raises(safe_image.RequestError) as refused:
        lambda_function.predict_bytes(data)
    assert refused.value.code == "payload_too_large"


def test_a_photo_of_exactly_the_limit_is_classified(served):
    """The pants photo padded after its end (EOI) to MAX_UPLOAD_BYTES: accepted, and the answer is the photo's."""
    data = PANTS.read_bytes()
    padded = data + b"\0" * (safe_image.MAX_UPLOAD_BYTES - len(data))
    assert answer_via("http-v2", padded, served) == (200, answer_via("url", data, served)[1])


# --------------------------------------------------------------------------------------------------- bad requests

def test_both_url_and_image_is_a_400_in_every_shape(image_host):
    payload = {"url": f"{image_host}/samples/pants/{PANTS.name}",
               "image": base64.b64encode(PANTS.read_bytes()).decode()}
    assert_error(answer_of(lambda_function.lambda_handler(payload, None)), 400, "url_and_image")
    for shape in ("http-v2", "rest-v1"):
        event = proxy_event(shape, json.dumps(payload))
        assert_error(answer_of(lambda_function.lambda_handler(event, None)), 400, "url_and_image")


@pytest.mark.parametrize("content_type", ["image/gif", "image/heic", "image/svg+xml", "multipart/form-data; b=x",
                                          "video/mp4", "IMAGE/BMP"])
@pytest.mark.parametrize("shape", ["http-v2", "rest-v1"])
def test_a_body_of_another_image_or_upload_type_is_a_415(content_type, shape):
    error = assert_error(answer_of(lambda_function.lambda_handler(
        image_event(PANTS.read_bytes(), content_type, shape), None)), 415, "unsupported_media_type")
    assert "image/jpeg, image/png, image/webp" in error["message"] and content_type not in error["message"]


@pytest.mark.parametrize("content_type", ["image/jpeg", "IMAGE/JPEG", "image/jpeg; charset=binary", "image/png"])
def test_upload_types_are_read_whatever_their_case_parameters_or_header_name(served, content_type):
    """The handler decodes by the file's own first bytes; image/png on a JPEG is still the JPEG."""
    expected = answer_via("url", PANTS.read_bytes(), served)
    event = image_event(PANTS.read_bytes(), content_type, "rest-v1")
    event["headers"] = {"CONTENT-TYPE": content_type}
    assert answer_of(lambda_function.lambda_handler(event, None)) == expected


def upload(body, base64_encoded=True, shape="http-v2") -> dict:
    event = proxy_event(shape, body, base64_encoded)
    event["headers"] = {"content-type": "image/jpeg"}
    return event


BAD_UPLOADS = {
    "no body": upload(None, False),
    "empty body": upload("", True),
    "body sent as text (a REST API without binaryMediaTypes)": upload("\ufffd\ufffd\ufffdJFIF", False, "rest-v1"),
    "body not valid base64": upload("not base64!"),
    "base64 with line breaks": upload(base64.encodebytes(ImageHost.jpeg).decode()),
    "image field a number": {"image": 42},
    "image field empty": {"image": ""},
    "image field a list": {"image": ["/9j/"]},
    "image field not base64": {"image": "\u00e9t\u00e9"},
    "JSON body's image field a dict": proxy_event("rest-v1", json.dumps({"image": {"data": "x"}})),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_a_malformed_upload_is_a_400_invalid_image_and_the_next_upload_still_works(case):
    with captured_request_log() as log:
        error = assert_error(answer_of(lambda_function.lambda_handler(BAD_UPLOADS[case], None)), 400, "invalid_image")
    assert json.loads(log[0])["error_code"] == "invalid_image" and "Traceback" not in error["message"]
    status, answer = answer_of(lambda_function.lambda_handler(image_event(PANTS.read_bytes()), None))
    assert status == 200 and "top_class" in answer


def test_an_upload_is_logged_with_its_size_and_dimensions_and_no_host():
    with captured_request_log() as log:
        lambda_function.lambda_handler(image_event(PANTS.read_bytes()), None)
    record = json.loads(log[0])
    assert (record["status"], record["bytes"], record["host"]) == (200, len(PANTS.read_bytes()), None)
    assert (record["width"], record["height"]) == photo_of(PANTS).size
    # no download: the whole request, decoding included, is the work of the model's side (and a metric in EMF)
    assert record["download_ms"] is None and record["inference_ms"] == record["duration_ms"] > 0


@pytest.mark.parametrize("name", ["upload-direct.json", "apigw-http-v2-upload.json"])
def test_the_upload_event_files_give_the_answer_of_the_url_event_files(image_host, name):
    url_event_file = json.loads((EVENTS_DIR / "direct.json").read_text())
    url = url_event_file["url"].replace("http://127.0.0.1:8000", image_host + "/samples")
    by_url = lambda_function.lambda_handler({"url": url}, None)
    event = json.loads((EVENTS_DIR / name).read_text())
    assert answer_of(lambda_function.lambda_handler(event, None)) == (200, by_url)
    data = base64.b64decode(event.get("image") or event["body"])
    assert data == (SAMPLES_DIR / url_event_file["url"].removeprefix("http://127.0.0.1:8000/")).read_bytes()


# ---------------------------------------------------------------------------------------- predict.py --file

def test_predict_file_sends_the_photo_with_its_type_by_magic_bytes_and_gets_the_url_answer(served, tmp_path, capsys):
    import predict
    import serve

    png = encode(photo_of(PANTS), "PNG")
    named_wrong = tmp_path / "photo.jpg"  # a PNG, whatever its name says
    named_wrong.write_bytes(png)
    expected = answer_via("url", png, served)[1]
    seen = []

    def handler(event, context):
        seen.append(event)
        return lambda_function.lambda_handler(event, context)

    with serve.serve(lambda_handler=handler) as endpoint:
        assert predict.main([endpoint, "--file", str(named_wrong)]) == predict.EXIT_OK
        assert json.loads(capsys.readouterr().out.rsplit("}", 1)[0] + "}") == expected
        assert predict.predict(endpoint, None, image=PANTS.read_bytes()) == answer_via("url", PANTS.read_bytes(),
                                                                                       served)[1]
    assert seen[0]["headers"]["content-type"] == "image/png" and seen[0]["isBase64Encoded"] is True
    assert base64.b64decode(seen[0]["body"]) == png


@pytest.mark.parametrize("argv_tail, message", [
    (["--file", "missing.jpg"], "No such file"),
    (["https://example.com/a.jpg", "--file", "PHOTO"], "one of them"),
    ([], "one of them"),
    (["--file", "GIF"], "not a JPEG, PNG or WebP"),
])
def test_predict_file_command_line_errors_are_clear(tmp_path, capsys, argv_tail, message):
    import predict

    (tmp_path / "PHOTO").write_bytes(ImageHost.jpeg)
    (tmp_path / "GIF").write_bytes(encode(photo((10, 10)), "GIF"))
    argv = ["http://127.0.0.1:9/predict"] + [str(tmp_path / a) if a in ("PHOTO", "GIF", "missing.jpg") else a
                                             for a in argv_tail]
    with pytest.raises(SystemExit) as exited:
        predict.main(argv)
    assert exited.value.code == predict.EXIT_USAGE and message in capsys.readouterr().err


def test_predict_file_with_auth_iam_signs_the_image_body(recorder, fake_credentials, tmp_path):  # noqa: F811
    import predict
    from test_api_auth import recomputed_signature

    url, handler = recorder
    (tmp_path / "p.jpg").write_bytes(ImageHost.jpeg)
    assert predict.main([url, "--file", str(tmp_path / "p.jpg"), "--auth", "iam", "--region", "eu-west-1"]) == 0
    (seen,) = handler.seen
    assert seen["body"] == ImageHost.jpeg and seen["headers"]["Content-Type"] == "image/jpeg"
    signature = re.search(r"Signature=([0-9a-f]{64})$", seen["headers"]["Authorization"]).group(1)
    assert recomputed_signature(seen, url, "eu-west-1") == signature
    assert recomputed_signature({**seen, "body": ImageHost.jpeg[:-1]}, url, "eu-west-1") != signature
