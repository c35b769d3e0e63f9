"""Hostile images and phone photos (solutions/03_lambda_code/safe_image.py): the decoder's work bounded whatever the
file's structure, the accepted formats, EXIF orientation, and every mode converted to RGB by its meaning.

Every image is built here with Pillow and numpy (no binary blobs). Run as a script, this file prints the decode time
of the worst case built for each accepted format at the pixel cap (no timing is asserted in the tests):

    PYTHONPATH=solutions/03_lambda_code .venv/bin/python tests/test_hostile_images.py
"""

from __future__ import annotations

import io
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import safe_image  # the handler's task root is on sys.path (pyproject.toml's pythonpath; PYTHONPATH for the script)
from PIL import Image
from safe_image import MAX_JPEG_SCANS, MAX_SEGMENTS, RequestError

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
PANTS = SAMPLES_DIR / "pants" / "0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"
ORIENTATION = 0x0112
# The transposition that stores an upright photo as a camera does for each EXIF orientation (the inverse of the one
# a viewer applies to show it).
STORED_AS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_270}


# --- builders ------------------------------------------------------------------------------------------------------

def encode(img: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def photo(size=None) -> Image.Image:
    """The bundled pants photo (RGB, 400x533), resized when ``size`` is given."""
    with Image.open(PANTS) as img:
        img.load()
        return img.resize(size, Image.BILINEAR) if size else img.copy()


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment of a JPEG written by Pillow; a scan's end includes its coded data."""
    found, pos = [], 2
    while pos < len(data):
        start = pos
        while data[pos] == 0xFF:
            pos += 1
        marker = data[pos]
        if marker == 0xD9:
            found.append((marker, start, pos + 1))
            return found
        pos += 1 + struct.unpack_from(">H", data, pos + 1)[0]
        if marker == 0xDA:
            pos = re.compile(rb"\xff[^\x00\xd0-\xd7]").search(data, pos).start()
        found.append((marker, start, pos))
    return found


def jpeg_with_scans(scans: int, size=(64, 64), mode="RGB", which=-1) -> bytes:
    """A progressive JPEG of a flat grey image whose scan ``which`` is repeated until it has ``scans`` scans: each
    repeat makes libjpeg-turbo walk the whole image again, for a few bytes of file."""
    data = encode(Image.new(mode, size, 128 if mode == "L" else (128, 120, 110)), "JPEG", progressive=True, quality=90)
    segments = jpeg_segments(data)
    sos = [(start, end) for marker, start, end in segments if marker == 0xDA]
    assert scans >= len(sos)
    start, end = sos[which]
    return data[:segments[-1][1]] + data[start:end] * (scans - len(sos)) + b"\xff\xd9"


def jpeg_with_segments(count: int) -> bytes:
    """A small JPEG with ``count`` empty APP15 segments after its start (each 4 bytes; Pillow reads them in Python)."""
    data = encode(Image.new("RGB", (16, 16), "white"), "JPEG")
    return data[:2] + b"\xff\xef\x00\x02" * count + data[2:]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


NOISE = np.random.default_rng(0).integers(0, 256, (80, 64), dtype=np.uint8)  # 5,120 bytes that do not compress


def png_with_idat_chunks(count: int) -> bytes:
    """A 64 x 80 grey PNG (``NOISE``) whose compressed data is cut into ``count`` IDAT chunks (at most 5,120), which
    Pillow reads one by one in Python."""
    compressed = zlib.compress(b"".join(b"\x00" + row.tobytes() for row in NOISE))
    bounds = np.linspace(0, len(compressed), count + 1).astype(int)
    assert (np.diff(bounds) > 0).all()
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 80, 8, 0, 0, 0, 0))
    return (safe_image.PNG_SIGNATURE + header
            + b"".join(png_chunk(b"IDAT", compressed[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
            + png_chunk(b"IEND", b""))


def worst_png(side: int) -> bytes:
    """A 16-bit RGBA PNG of side x side pixels, every row Paeth-filtered (the slowest filter to undo), all zeros:
    side * side * 8 bytes to inflate from a file about 1,000 times smaller."""
    row = b"\x04" + b"\x00" * (side * 8)
    squeeze = zlib.compressobj(9)
    compressed = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0))
    return safe_image.PNG_SIGNATURE + header + png_chunk(b"IDAT", compressed) + png_chunk(b"IEND", b"")


def webp_canvas(width: int, height: int) -> bytes:
    """A WebP that declares a ``width`` x ``height`` canvas (VP8X) and holds a 1x1 lossless image."""
    tiny = encode(Image.new("RGB", (1, 1)), "WEBP", lossless=True)[12:]  # its VP8L chunk
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (
        height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + tiny
    return b"RIFF" + struct.pack("<I", len(body)) + body


def with_orientation(upright: Image.Image, orientation: int, fmt: str, **options) -> bytes:
    """``upright`` stored as a camera stores it with the EXIF Orientation tag ``orientation``."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    stored = upright.transpose(STORED_AS[orientation]) if orientation in STORED_AS else upright
    return encode(stored, fmt, exif=exif, **options)


def refused(data: bytes) -> tuple[int, str, str]:
    with pytest.raises(RequestError) as failure:
        safe_image.decode_image(data, (128, 128))
    return failure.value.status, failure.value.code, failure.value.message


@pytest.fixture
def decoder_calls(monkeypatch):
    """The sizes of the images Pillow decoded (``ImageFile.load``) while the test runs."""
    from PIL import ImageFile

    calls, real = [], ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: calls.append(self.size) or real(self))
    return calls


# --- formats -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, options", [("JPEG", {"quality": 95}), ("JPEG", {"progressive": True}),
                                          ("PNG", {}), ("WEBP", {"quality": 90}), ("WEBP", {"lossless": True})])
def test_a_photo_in_each_accepted_format_decodes_to_rgb(fmt, options):
    original = photo((200, 266))
    img = safe_image.decode_image(encode(original, fmt, **options))
    assert img.mode == "RGB" and img.size == original.size
    difference = np.abs(np.asarray(img, dtype=int) - np.asarray(original, dtype=int)).mean()
    assert difference < 4, (fmt, difference)  # the same picture, within lossy compression


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO"])
def test_formats_photos_do_not_come_in_are_refused_before_any_decoder_runs(fmt, decoder_calls):
    data = encode(photo((64, 85)), fmt)
    decoder_calls.clear()  # what building the image decoded
    status, code, message = refused(data)
    assert (status, code) == (422, "not_an_image")
    assert "JPEG, PNG or WebP" in message
    assert decoder_calls == []


# --- bounded work --------------------------------------------------------------------------------------------------

def test_a_progressive_jpeg_with_the_most_scans_allowed_decodes():
    img = safe_image.decode_image(jpeg_with_scans(MAX_JPEG_SCANS))
    assert img.size == (64, 64) and img.getpixel((10, 10))[0] > 100


@pytest.mark.parametrize("mode, which", [("RGB", -1), ("RGB", 0), ("L", 3)])
def test_a_jpeg_with_more_scans_than_a_photo_has_is_refused_before_decoding(mode, which, decoder_calls):
    decoder_calls.clear()  # what building the image decoded
    status, code, message = refused(jpeg_with_scans(MAX_JPEG_SCANS + 1, mode=mode, which=which))
    assert (status, code) == (422, "image_too_complex")
    assert f"more than {MAX_JPEG_SCANS} JPEG scans" in message
    assert decoder_calls == []


def test_a_jpeg_of_ten_thousand_scans_is_refused_after_reading_only_its_first_scans(decoder_calls):
    data = jpeg_with_scans(10_000)
    assert len(data) < 1_000_000  # a small file: each scan of a flat image is a few bytes
    decoder_calls.clear()  # what building the image decoded
    assert refused(data)[1] == "image_too_complex"
    assert decoder_calls == []


def test_a_jpeg_cut_into_more_segments_than_the_bound_is_refused(decoder_calls):
    assert safe_image.decode_image(jpeg_with_segments(MAX_SEGMENTS - 10)).size == (16, 16)
    decoder_calls.clear()
    status, code, message = refused(jpeg_with_segments(MAX_SEGMENTS + 1))
    assert (status, code) == (422, "image_too_complex") and "JPEG marker segments" in message
    assert decoder_calls == []


def test_a_png_cut_into_more_chunks_than_the_bound_is_refused(decoder_calls):
    img = safe_image.decode_image(png_with_idat_chunks(MAX_SEGMENTS - 10))
    assert np.array_equal(np.asarray(img)[..., 0], NOISE)
    decoder_calls.clear()
    status, code, message = refused(png_with_idat_chunks(MAX_SEGMENTS + 1))
    assert (status, code) == (422, "image_too_complex") and "PNG chunks" in message
    assert decoder_calls == []


@pytest.mark.parametrize("marker, coding", [(0xC3, "lossless"), (0xC9, "arithmetic-coded"),
                                            (0xCA, "arithmetic-coded"), (0xC5, "hierarchical")])
def test_jpeg_codings_that_browsers_do_not_decode_are_refused(marker, coding, decoder_calls):
    data = bytearray(encode(photo((32, 32)), "JPEG"))
    sof = next(start for kind, start, _ in jpeg_segments(bytes(data)) if kind == 0xC0)
    data[sof + 1] = marker
    decoder_calls.clear()  # what building the image decoded
    status, code, message = refused(bytes(data))
    assert (status, code) == (422, "not_an_image") and coding in message
    assert decoder_calls == []


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_an_animation_is_refused(fmt, decoder_calls):
    frames = [Image.new("RGB", (32, 32), color) for color in ("red", "green", "blue")]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    decoder_calls.clear()  # what building the image decoded
    status, code, message = refused(data)
    assert (status, code) == (422, "not_an_image") and "animated" in message
    assert decoder_calls == []
    assert safe_image.decode_image(encode(frames[0], fmt, lossless=True) if fmt == "WEBP"
                                   else encode(frames[0], fmt)).getpixel((0, 0)) == (255, 0, 0)


def test_a_webp_canvas_over_the_pixel_cap_is_refused_before_its_decoder_allocates_it(monkeypatch):
    from PIL import WebPImagePlugin

    created = []
    monkeypatch.setattr(WebPImagePlugin._webp, "WebPAnimDecoder", lambda data: created.append(len(data)))
    status, code, _ = refused(webp_canvas(16_383, 16_383))  # 268 M pixels, 1 GB of canvas
    assert (status, code) == (422, "image_too_large")
    assert created == []


def test_a_png_over_the_pixel_cap_is_refused_from_its_header(decoder_calls):
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8_000, 5_001, 8, 2, 0, 0, 0))
    data = safe_image.PNG_SIGNATURE + header + png_chunk(b"IDAT", zlib.compress(b"")) + png_chunk(b"IEND", b"")
    decoder_calls.clear()  # what building the image decoded
    assert refused(data)[:2] == (422, "image_too_large")
    assert decoder_calls == []


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff", b"\xff\xd8\xff\xe0\x00", b"\xff\xd8\xff\xe0\x00\x01xx",
                                  safe_image.PNG_SIGNATURE, b"RIFF\x00\x00\x00\x00WEBP",
                                  b"RIFF\xff\xff\xff\xffWEBPVP8X"])
def test_truncated_and_corrupt_headers_are_not_an_image(data):
    assert refused(data)[:2] == (422, "not_an_image")


# --- phone photos: orientation -------------------------------------------------------------------------------------

@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_exif_orientation_gives_the_upright_pixels(orientation):
    upright = photo((60, 80))
    img = safe_image.decode_image(with_orientation(upright, orientation, "PNG"), (128, 128))
    assert img.size == upright.size
    assert np.array_equal(np.asarray(img), np.asarray(upright))


def test_a_sideways_jpeg_from_a_phone_is_decoded_reduced_then_turned_upright():
    upright = photo((1200, 1600))  # portrait; stored landscape, as a phone held upright stores it
    data = with_orientation(upright, 6, "JPEG", quality=95)
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.size == (1600, 1200)
    img = safe_image.decode_image(data, (128, 128))
    assert img.size == (300, 400)  # 1/4 scale: the smallest that stays at least 256 px on each side
    expected = np.asarray(upright.resize((300, 400), Image.BOX), dtype=int)
    assert np.abs(np.asarray(img, dtype=int) - expected).mean() < 6


def test_a_photo_of_the_validation_size_is_decoded_at_full_size_whatever_the_model():
    full = safe_image.decode_image(PANTS.read_bytes())
    for_the_model = safe_image.decode_image(PANTS.read_bytes(), (128, 128))
    assert np.array_equal(np.asarray(full), np.asarray(for_the_model))  # 400 px: no reduced scale keeps 256


# --- modes ---------------------------------------------------------------------------------------------------------

def test_a_16_bit_grey_png_of_a_mid_grey_photo_is_not_read_as_white():
    grey = np.asarray(photo().convert("L"), dtype=np.uint16)
    data = encode(Image.fromarray(grey * 257), "PNG")  # 16-bit samples: 0-65535
    with Image.open(io.BytesIO(data)) as raw:
        assert raw.mode == "I;16"
    img = safe_image.decode_image(data)
    assert img.mode == "RGB"
    assert np.array_equal(np.asarray(img)[..., 0], grey)  # v * 257 scaled back to v, not clipped to 255
    assert 60 < np.asarray(img).mean() < 200


def test_16_bit_values_are_rounded_to_the_nearest_8_bit_level():
    samples = np.array([[0, 128, 129, 32767, 32896, 65278, 65535]], dtype=np.uint16)
    img = safe_image.decode_image(encode(Image.fromarray(samples), "PNG"))
    assert np.asarray(img)[0, :, 0].tolist() == [0, 0, 1, 127, 128, 254, 255]


@pytest.mark.parametrize("build", ["RGBA", "LA", "P", "I;16"])
def test_transparency_is_composited_on_white(build):
    size = (8, 4)
    if build == "RGBA":
        img = Image.new("RGBA", size, (200, 0, 0, 255))
        img.paste((0, 0, 0, 0), (0, 0, 4, 4))  # transparent black: white, not black
        img.putpixel((7, 0), (0, 0, 0, 128))  # half transparent black over white: mid grey
        data = encode(img, "PNG")
    elif build == "LA":
        img = Image.new("LA", size, (60, 255))
        img.paste((0, 0), (0, 0, 4, 4))
        img.putpixel((7, 0), (0, 128))
        data = encode(img, "PNG")
    elif build == "P":
        img = Image.new("P", size, 1)
        img.putpalette([0, 0, 0, 200, 0, 0, 0, 0, 0])
        img.paste(0, (0, 0, 4, 4))
        img.putpixel((7, 0), 2)
        data = encode(img, "PNG", transparency=bytes([0, 255, 128]))
    else:
        samples = np.full((4, 8), 40_000, dtype=np.uint16)
        samples[:, :4] = 1234  # the transparent value (tRNS)
        samples[0, 7] = 0
        data = encode(Image.fromarray(samples), "PNG", transparency=1234)
    rgb = np.asarray(safe_image.decode_image(data), dtype=int)
    assert (rgb[:, :4] == 255).all(), build  # transparent: white
    assert (rgb[1:, 4:] != 255).any(), build  # opaque: its own colour
    if build != "I;16":
        assert 120 <= rgb[0, 7, 0] <= 135, (build, rgb[0, 7])  # half transparent black on white


def test_cmyk_jpeg_is_converted_not_clipped():
    img = Image.new("CMYK", (16, 8), (0, 0, 0, 0))  # no ink: white
    img.paste((0, 0, 0, 255), (8, 0, 16, 8))  # black ink: black
    rgb = np.asarray(safe_image.decode_image(encode(img, "JPEG", quality=100)), dtype=int)
    assert (rgb[:, :6] > 245).all() and (rgb[:, 10:] < 10).all()


def test_one_bit_and_grey_pngs_are_black_and_white_in_every_channel():
    img = Image.new("1", (8, 8), 0)
    img.paste(1, (0, 0, 4, 8))
    rgb = np.asarray(safe_image.decode_image(encode(img, "PNG")))
    assert (rgb[:, :4] == 255).all() and (rgb[:, 4:] == 0).all()
    grey = Image.new("L", (4, 4), 77)
    assert safe_image.decode_image(encode(grey, "PNG")).getpixel((0, 0)) == (77, 77, 77)


def test_read_image_reads_a_file_as_decode_image_decodes_its_bytes(tmp_path):
    path = tmp_path / "sideways.png"
    path.write_bytes(with_orientation(photo((30, 40)), 8, "PNG"))
    assert safe_image.read_image(path).size == (30, 40)


# --- through the handler -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A folder of built images served on 127.0.0.1; yields (folder, base URL)."""
    from tutorial_support.image_server import serve_directory

    folder = tmp_path_factory.mktemp("served")
    with serve_directory(folder) as base:
        yield folder, base


def handler_answer(url: str) -> dict:
    import lambda_function

    return lambda_function.lambda_handler({"url": url}, None)


# The ways an image reaches the handler: by URL (downloaded from the served folder), or uploaded: a direct invocation's
# "image" field, the body of a payload 2.0 or 1.0 proxy event (base64-encoded, as API Gateway delivers it), or the
# "image" field of a JSON body. tests/test_uploads.py runs the same bad inputs through all of them.
WAYS_IN = ("url", "direct", "http-v2", "rest-v1", "json-image")


def answer_via(way: str, data: bytes, served=None, content_type: str = "image/jpeg") -> tuple[int, dict]:
    """(HTTP status, answer) of the handler for the image ``data`` sent ``way`` (one of ``WAYS_IN``); the ``url`` way
    needs ``served`` (folder, base URL) and serves ``data`` as a file there."""
    import base64
    import hashlib
    import json

    import lambda_function

    from tutorial_support.events import answer_of, image_event, proxy_event, url_event

    if way == "url":
        folder, base = served
        name = hashlib.sha256(data).hexdigest()[:16] + ".bin"  # served as application/octet-stream
        (folder / name).write_bytes(data)
        event = url_event(f"{base}/{name}")
    elif way == "json-image":
        event = proxy_event("http-v2", json.dumps({"image": base64.b64encode(data).decode("ascii")}))
    else:
        event = image_event(data, content_type, way)
    return answer_of(lambda_function.lambda_handler(event, None))


def test_the_same_photo_upright_and_sideways_with_its_exif_tag_gets_the_same_answer(served, sample_images):
    folder, base = served
    for index, (path, true_class) in enumerate(sample_images[::3]):
        with Image.open(path) as img:
            upright = img.convert("RGB")
        for orientation in (1, 6, 8, 3):
            (folder / f"{index}-{orientation}.png").write_bytes(with_orientation(upright, orientation, "PNG"))
        (folder / f"{index}.jpg").write_bytes(path.read_bytes())
        answers = [handler_answer(f"{base}/{index}-{orientation}.png") for orientation in (1, 6, 8, 3)]
        assert all(a == answers[0] for a in answers), (path.name, [a.get("top_class") for a in answers])
        assert answers[0]["top_class"] == handler_answer(f"{base}/{index}.jpg")["top_class"], true_class


def test_a_16_bit_grey_photo_gets_the_answer_of_its_8_bit_version(served):
    folder, base = served
    grey = photo().convert("L")
    (folder / "grey8.png").write_bytes(encode(grey, "PNG"))
    (folder / "grey16.png").write_bytes(encode(Image.fromarray(np.asarray(grey, dtype=np.uint16) * 257), "PNG"))
    eight, sixteen = handler_answer(f"{base}/grey8.png"), handler_answer(f"{base}/grey16.png")
    assert "error" not in sixteen and sixteen == eight


HOSTILE_IMAGES = {  # name: (the bytes, built here, and the code they get whichever way they come in)
    "scans.jpg": (lambda: jpeg_with_scans(MAX_JPEG_SCANS + 1), "image_too_complex"),
    "chunks.png": (lambda: png_with_idat_chunks(MAX_SEGMENTS + 1), "image_too_complex"),
    "photo.gif": (lambda: encode(photo((40, 50)), "GIF"), "not_an_image"),
    "photo.bmp": (lambda: encode(photo((40, 50)), "BMP"), "not_an_image"),
    "canvas.webp": (lambda: webp_canvas(16_383, 16_383), "image_too_large"),
}


@pytest.mark.parametrize("way", WAYS_IN)
@pytest.mark.parametrize("name", HOSTILE_IMAGES)
def test_the_handler_answers_each_hostile_image_with_its_4xx_and_serves_the_next_request(served, name, way):
    data, code = HOSTILE_IMAGES[name]
    status, answer = answer_via(way, data(), served)
    assert (status, answer["error"]["status"], answer["error"]["code"]) == (422, 422, code), answer
    good_status, good = answer_via(way, PANTS.read_bytes(), served)
    assert good_status == 200 and good == answer_via("url", PANTS.read_bytes(), served)[1]


def test_request_error_is_one_class_for_the_handler_the_download_and_the_decoder():
    import lambda_function
    import safe_download
    from safe_download import RequestError as FromDownload
    from safe_download import download_image  # noqa: F401  (the handler's import keeps working)

    assert FromDownload is RequestError is lambda_function.RequestError is safe_download.RequestError


# --- the worst case per format, timed (python tests/test_hostile_images.py) -----------------------------------------

def _time(name: str, data: bytes, target=(128, 128)) -> None:
    started = time.perf_counter()
    try:
        outcome = f"decoded {safe_image.decode_image(data, target).size}"
    except RequestError as e:
        outcome = f"refused {e.code}"
    print(f"{name:78s} {len(data) / 1e6:7.2f} MB {time.perf_counter() - started:7.2f} s  {outcome}", flush=True)


def main() -> None:
    """Print the decode time (handler path: ``decode_image`` for a 128 px model) of the worst case built for each
    accepted format at the pixel cap, and of refused attacks."""
    side = int(safe_image.MAX_IMAGE_PIXELS ** 0.5)  # 6,324 px: the largest square under the pixel cap
    print(f"Pillow {Image.__version__}; images of {side} x {side} = {side * side / 1e6:.1f} M pixels\n")
    for mode in ("RGB", "L"):
        base = encode(Image.new(mode, (side, side), 128), "JPEG", progressive=True, quality=90)
        count = sum(marker == 0xDA for marker, _, _ in jpeg_segments(base))
        worst = max(range(count), key=lambda which: _timed(jpeg_with_scans(MAX_JPEG_SCANS, (side, side), mode, which)))
        _time(f"JPEG {mode}, progressive, scan {worst} repeated to {MAX_JPEG_SCANS} scans (the bound)",
              jpeg_with_scans(MAX_JPEG_SCANS, (side, side), mode, worst))
    noise = np.random.default_rng(0).integers(0, 256, (3000, 3000, 3), dtype=np.uint8)
    _time("JPEG RGB noise 3000 x 3000, quality 100, progressive (about the byte cap)",
          encode(Image.fromarray(noise), "JPEG", quality=100, progressive=True))
    _time("JPEG RGB noise 3000 x 3000, quality 100, baseline", encode(Image.fromarray(noise), "JPEG", quality=100))
    _time("JPEG 6324 x 6324 flat, baseline, no target size (full decode)",
          encode(Image.new("RGB", (side, side), (128, 120, 110)), "JPEG"), None)
    _time(f"JPEG RGB, progressive, {MAX_JPEG_SCANS * 100} scans (refused)",
          jpeg_with_scans(MAX_JPEG_SCANS * 100, (side, side), "RGB", 5))
    _time(f"JPEG, {MAX_SEGMENTS + 1} segments (refused)", jpeg_with_segments(MAX_SEGMENTS + 1))
    _time(f"PNG 16-bit RGBA {side} x {side}, Paeth on every row", worst_png(side))
    paeth = worst_png(side)
    _time("PNG same, zlib stream in chunks at the bound", _rechunk(paeth, MAX_SEGMENTS - 3))
    grey16 = Image.fromarray(np.full((side, side), 30_000, np.uint16))
    _time(f"PNG 16-bit grey {side} x {side} (scaled to 8 bits by numpy)", encode(grey16, "PNG", compress_level=9))
    rgba = Image.new("RGBA", (side, side), (10, 20, 30, 128))
    _time(f"PNG RGBA {side} x {side} (composited on white)", encode(rgba, "PNG", compress_level=9))
    _time(f"PNG, {MAX_SEGMENTS + 1} chunks (refused)", png_with_idat_chunks(MAX_SEGMENTS + 1))
    big = Image.new("RGB", (side, side), (128, 120, 110))
    _time(f"WebP lossy {side} x {side}", encode(big, "WEBP", quality=100))
    _time(f"WebP lossless {side} x {side}", encode(big, "WEBP", lossless=True, method=0))
    pattern = Image.fromarray(np.random.default_rng(1).integers(0, 256, (side // 8, side // 8, 4), np.uint8), "RGBA")
    _time(f"WebP lossless RGBA {side} x {side}, noise tiles (alpha composited)",
          encode(pattern.resize((side, side), Image.NEAREST), "WEBP", lossless=True, method=0))
    _time("WebP canvas 16383 x 16383 (refused)", webp_canvas(16_383, 16_383))


def _timed(data: bytes) -> float:
    started = time.perf_counter()
    try:
        safe_image.decode_image(data, (128, 128))
    except RequestError:
        pass
    return time.perf_counter() - started


def _rechunk(png: bytes, count: int) -> bytes:
    """The same PNG with its IDAT data cut into ``count`` chunks."""
    idat = png.index(b"IDAT") - 4
    length = struct.unpack_from(">I", png, idat)[0]
    compressed = png[idat + 8:idat + 8 + length]
    step = -(-len(compressed) // count)
    chunks = b"".join(png_chunk(b"IDAT", compressed[i:i + step]) for i in range(0, len(compressed), step))
    return png[:idat] + chunks + png[idat + 12 + length:]


if __name__ == "__main__":
    main()
