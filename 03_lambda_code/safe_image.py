"""Decode the bytes a stranger sent, or that a stranger's URL gave, into the RGB photo the model gets, with the
decoder's work bounded.

``safe_download.download_image`` fetches the bytes and hands them to ``decode_image`` here; an upload (the image
itself in the request, base64-encoded: ``decode_base64_upload``, at most ``MAX_UPLOAD_BYTES``) goes through
``safe_download.image_from_bytes`` to the same ``decode_image``, so both ways in meet the same bounds.

A file of a few KB can make an image decoder work for minutes without being large in pixels: a progressive JPEG
whose thousands of scans each walk the whole image again, a PNG or JPEG cut into a million tiny chunks that Pillow
reads one by one in Python, an animation of many frames. So, before Pillow decodes a pixel:

- **Formats: JPEG, PNG and WebP** (``IMAGE_FORMATS``), what a photo of clothing arrives in (cameras and phones write
  JPEG, or HEIC that they export as JPEG; shops and CDNs serve JPEG, PNG and WebP). GIF (256 colours, made for
  animations) and BMP (uncompressed, or RLE that Pillow decodes in Python: a compressed BMP under the pixel cap took
  about 9 s) are not photo formats on the web, and each extra decoder is more code a stranger's bytes can reach.
- **The file's structure is walked first** (``check_structure``): a small loop over the JPEG marker segments, the
  PNG chunks or the WebP chunks, never more than ``MAX_SEGMENTS`` iterations. Refused (422 ``image_too_complex``):
  more than ``MAX_JPEG_SCANS`` scans in a JPEG (libjpeg-turbo decodes every scan over the whole image; the standard
  progressive scripts use 10 or fewer), or more than ``MAX_SEGMENTS`` segments or chunks. Refused as
  ``not_an_image``: a JPEG coding that no browser decodes (arithmetic, lossless, hierarchical; only baseline,
  extended sequential and progressive Huffman JPEGs are read), and an animated PNG or WebP (a photo is one frame).
- **A pixel cap** (``MAX_IMAGE_PIXELS``) on the header, before any pixel is decoded (``image_too_large``); for WebP
  it is read from the file's own header here, because Pillow's WebP decoder allocates its canvas when it opens.
- **Smaller decoding where the format allows it:** a JPEG is decoded at 1/2, 1/4 or 1/8 scale (``Image.draft``,
  libjpeg-turbo's DCT scaling) when the result stays at least ``DRAFT_MARGIN`` times the model's input size. At
  twice the input size (448 px for this model's 224) every photo of the validation split gives the same pixels as a
  full decode (they are about 400 px wide, too small to be reduced), so the answers do not change; a 12 MP phone photo
  is decoded at 1/8 scale. Decoding to the input size itself (margin 1) changed 2 of the 30 sample photos' answers
  and cost 2 points of validation accuracy (measured with the compact 128-px model that shipped then), so it is not
  done.

Then the photo is turned the way a person sees it (the EXIF ``Orientation`` tag, as ``ImageOps.exif_transpose``:
phones store portrait photos sideways with that tag) and converted to RGB by what its mode means (``to_rgb``):
16-bit grey scaled to 8 bits, transparency composited on white, CMYK converted, 1-bit as black and white.

The worst case built for each format decodes in well under the download's deadline
(``PYTHONPATH=solutions/03_lambda_code python tests/test_hostile_images.py`` builds them and prints the figures).
Standard library, numpy and Pillow only: this module is part of the Lambda task root.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import warnings
from pathlib import Path

import numpy as np

# The three decoders, registered by importing their plugins: Image.open(formats=IMAGE_FORMATS) then never loads
# Pillow's other thirty plugins (about 15 ms of the first request).
from PIL import Image, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin  # noqa: F401

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")  # the only decoders Pillow may use on downloaded bytes
MAX_IMAGE_PIXELS = 40_000_000  # width x height, at most (Pillow's own decompression-bomb limit is about 89 M)
MAX_JPEG_SCANS = 32  # scans in one JPEG: libjpeg's progressive script has 10 (6 for grey), mozjpeg's up to about 20
MAX_SEGMENTS = 4_096  # JPEG marker segments, PNG or WebP chunks: a 10 MB PNG in 8 KB IDAT chunks has about 1,300
DRAFT_MARGIN = 2  # a JPEG is decoded at a reduced scale only while it stays this many times the model's input size
BACKGROUND = (255, 255, 255)  # what transparent pixels become: white, as product photos are shown

# Uploads: the image itself in the request, base64-encoded (API Gateway delivers a binary body so; a direct invocation
# carries it in its "image" field). The whole event Lambda hands the function is at most 6 MB for a synchronous
# invocation, 6,291,456 bytes ("For synchronous invocations, the maximum payload size is 6 MB":
# docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html, .../gettingstarted-limits.html); API Gateway's own limit is
# larger (10 MB for an HTTP API's payload: docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html;
# 10 MB for a REST API), so Lambda's binds. Base64 writes 4 characters for every 3 bytes, a third more: 4 MiB of image
# is 5,592,408 characters, leaving 699,048 bytes of the 6 MB for the rest of the event (an HTTP API's request line and
# headers are at most 10,240 bytes; the request context a few KB). 4.5 MiB would already be 6,291,456 characters, the
# whole payload with no room for the event around it. A phone photo of 12 MP is 2-5 MB as JPEG.
MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # an uploaded image's bytes, at most (the one figure; the others derive from it)
MAX_UPLOAD_BASE64_CHARS = 4 * -(-MAX_UPLOAD_BYTES // 3)  # its base64 text, at most: 5,592,408 characters
UPLOAD_TYPES = ("image/jpeg", "image/png", "image/webp")  # the Content-Types of an upload: IMAGE_FORMATS' media types

# JPEG frame types (ITU T.81, table B.1): the Huffman-coded ones browsers decode, and the rest, refused.
JPEG_FRAMES = {0xC0: "baseline", 0xC1: "extended sequential", 0xC2: "progressive"}
JPEG_REFUSED_FRAMES = {0xC3: "lossless", 0xC5: "hierarchical", 0xC6: "hierarchical", 0xC7: "hierarchical",
                       0xC9: "arithmetic-coded", 0xCA: "arithmetic-coded", 0xCB: "arithmetic-coded",
                       0xCD: "hierarchical arithmetic-coded", 0xCE: "hierarchical arithmetic-coded",
                       0xCF: "hierarchical arithmetic-coded"}
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # in entropy-coded data, 0xFF 0x00 and RSTn are not markers
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SIXTEEN_TO_EIGHT_BITS = ((np.arange(65536, dtype=np.uint32) * 255 + 32767) // 65535).astype(np.uint8)  # a table

# EXIF Orientation values (TIFF 6.0, tag 274) and the transposition that shows the photo as a person sees it.
_ORIENTATION = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
                7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


class RequestError(Exception):
    """A problem with the client's request or the image its URL points to: answered with a 4xx status.

    Defined here and re-exported by ``safe_download`` (``from safe_download import RequestError`` is the handler's
    import), so both modules raise the one class without importing each other in a cycle.

    Attributes:
        status: HTTP status code (400 for a malformed request, 413 for an upload over ``MAX_UPLOAD_BYTES``, 415 for
            a body of another media type, 422 for a URL or bytes that cannot give an image).
        code: a stable machine-readable error code, listed in the README.
        message: one sentence for the client; never the target's response body or an environment value.
    """

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _not_an_image(why: str = "") -> RequestError:
    return RequestError(422, "not_an_image", why or "the image is not a complete JPEG, PNG or WebP file")


def _too_complex(what: str) -> RequestError:
    return RequestError(422, "image_too_complex", f"the image has {what}; photos have far fewer, and decoding it "
                                                  "would take too long")


def _too_large() -> RequestError:
    return RequestError(422, "image_too_large", f"the image has more than {MAX_IMAGE_PIXELS:,} pixels")


def _check_jpeg(data: bytes) -> None:
    """Walk the marker segments of a JPEG (ITU T.81, B.1.1), up to its end of image (EOI)."""
    pos, segments, scans, size = 2, 0, 0, len(data)
    while pos < size:
        segments += 1
        if segments > MAX_SEGMENTS:
            raise _too_complex(f"more than {MAX_SEGMENTS:,} JPEG marker segments")
        if data[pos] != 0xFF:
            raise _not_an_image("the JPEG's structure is corrupt")
        while pos < size and data[pos] == 0xFF:  # a marker may be preceded by fill bytes 0xFF
            pos += 1
        if pos + 2 >= size:
            return  # truncated: Pillow decides (it refuses a truncated image)
        marker = data[pos]
        if marker == 0xD9:  # EOI: what follows (a phone's second image, a trailer) is never decoded
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: markers without a segment
            pos += 1
            continue
        (length,) = struct.unpack_from(">H", data, pos + 1)
        if length < 2:
            raise _not_an_image("the JPEG's structure is corrupt")
        if marker in JPEG_REFUSED_FRAMES:
            raise _not_an_image(f"the image is a {JPEG_REFUSED_FRAMES[marker]} JPEG, which browsers do not decode; "
                                "only baseline and progressive JPEGs are accepted")
        pos += 1 + length
        if marker == 0xDA:  # start of scan: the entropy-coded data runs to the next marker
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise _too_complex(f"more than {MAX_JPEG_SCANS} JPEG scans")
            found = _JPEG_NEXT_MARKER.search(data, pos)
            if found is None:
                return
            pos = found.start()


def _check_png(data: bytes) -> None:
    """Walk the chunks of a PNG (ISO/IEC 15948, 5.3) up to IEND; refuse an animated PNG (APNG's acTL chunk)."""
    pos, chunks, size = len(PNG_SIGNATURE), 0, len(data)
    while pos + 8 <= size:
        chunks += 1
        if chunks > MAX_SEGMENTS:
            raise _too_complex(f"more than {MAX_SEGMENTS:,} PNG chunks")
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"acTL":
            raise _not_an_image("the image is an animated PNG; a photo is one frame")
        if kind == b"IEND":
            return
        pos += 12 + length  # length, type, data, CRC


def _webp_size(kind: bytes, chunk: bytes) -> tuple[int, int] | None:
    """Width and height from a WebP's first chunk (the WebP container and bitstream specifications, RFC 9649)."""
    if kind == b"VP8X" and len(chunk) >= 10:
        return 1 + int.from_bytes(chunk[4:7], "little"), 1 + int.from_bytes(chunk[7:10], "little")
    if kind == b"VP8 " and len(chunk) >= 10:
        return (int.from_bytes(chunk[6:8], "little") & 0x3FFF), (int.from_bytes(chunk[8:10], "little") & 0x3FFF)
    if kind == b"VP8L" and len(chunk) >= 5:
        bits = int.from_bytes(chunk[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def _check_webp(data: bytes) -> None:
    """Walk the chunks of a WebP's RIFF container; refuse an animation, and more than ``MAX_IMAGE_PIXELS`` pixels
    before Pillow's decoder allocates its canvas."""
    pos, chunks, size = 12, 0, len(data)
    while pos + 8 <= size:
        chunks += 1
        if chunks > MAX_SEGMENTS:
            raise _too_complex(f"more than {MAX_SEGMENTS:,} WebP chunks")
        kind, length = struct.unpack_from("<4sI", data, pos)
        if kind in (b"ANIM", b"ANMF") or (kind == b"VP8X" and pos + 9 <= size and data[pos + 8] & 0x02):
            raise _not_an_image("the image is an animated WebP; a photo is one frame")
        if chunks == 1:
            dimensions = _webp_size(kind, data[pos + 8:pos + 18])
            if dimensions and dimensions[0] * dimensions[1] > MAX_IMAGE_PIXELS:
                raise _too_large()
        pos += 8 + length + (length & 1)  # chunks are padded to an even length


def check_structure(data: bytes) -> str:
    """Check the structure of an image file before any decoder sees it, in at most ``MAX_SEGMENTS`` steps.

    Args:
        data: the file's bytes.

    Returns:
        the format, one of ``IMAGE_FORMATS``.

    Raises:
        RequestError: 422 ``not_an_image`` (not a JPEG, PNG or WebP by its first bytes, a corrupt JPEG structure, a
        JPEG coding browsers do not decode, an animation), 422 ``image_too_complex`` (more than ``MAX_JPEG_SCANS``
        scans, or more than ``MAX_SEGMENTS`` segments or chunks), 422 ``image_too_large`` (a WebP canvas over
        ``MAX_IMAGE_PIXELS``).
    """
    if data[:3] == b"\xff\xd8\xff":
        _check_jpeg(data)
        return "JPEG"
    if data[:8] == PNG_SIGNATURE:
        _check_png(data)
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        _check_webp(data)
        return "WEBP"
    raise _not_an_image()


def to_rgb(img: Image.Image) -> Image.Image:
    """The image in mode ``RGB`` (8 bits per channel), converted by what its mode means.

    - ``RGB`` without transparency: returned as it is (not copied);
    - ``L`` (grey) and ``1`` (black and white): the grey level in all three channels;
    - ``I;16*`` and ``I`` (16-bit grey, as PNG stores it; Pillow's own conversion clips it to 0-255, so anything
      above 255 of 65535 became white): scaled from 0-65535 to 0-255, ``round(v * 255 / 65535)``;
    - transparency (``RGBA``, ``LA``, ``PA``, a palette or a grey or RGB image with a transparent value): composited
      on white (``BACKGROUND``) by its alpha, as a viewer shows a cut-out product photo;
    - ``P``, ``CMYK`` (as a CMYK JPEG is stored; Adobe's inverted CMYK is undone by Pillow when it reads it),
      ``YCbCr`` and the rest: Pillow's conversion.

    Args:
        img: a decoded Pillow image, any mode.

    Returns:
        an ``RGB`` image of the same size.
    """
    mode, transparency = img.mode, img.info.get("transparency")
    if mode == "RGB" and transparency is None:
        return img
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I;16N, I: 16-bit samples in Pillow's integer modes
        samples = np.asarray(img)
        grey = Image.fromarray(_SIXTEEN_TO_EIGHT_BITS[np.clip(samples, 0, 65535)])
        if not isinstance(transparency, int):
            return grey.convert("RGB")
        grey.putalpha(Image.fromarray(np.where(samples == transparency, 0, 255).astype(np.uint8)))
        img, mode = grey, "LA"
    if mode in ("PA", "LA", "La", "RGBa") or (transparency is not None and mode in ("P", "L", "RGB")):
        img, mode = img.convert("RGBA"), "RGBA"
    if mode == "RGBA":
        background = Image.new("RGB", img.size, BACKGROUND)
        background.paste(img.convert("RGB"), mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


def upright(img: Image.Image) -> Image.Image:
    """The image turned as its EXIF ``Orientation`` tag says (the transposition of ``ImageOps.exif_transpose``);
    the image itself when it has no tag or the tag is 1 (no copy). Reads the EXIF block Pillow keeps (at most one
    JPEG segment, 64 KB)."""
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a corrupt EXIF block: Pillow's parser can raise anything; the pixels are still good
        return img
    method = _ORIENTATION.get(orientation)
    return img if method is None else img.transpose(method)


def decode_image(data: bytes, target_size: tuple[int, int] | None = None, header: dict | None = None) -> Image.Image:
    """Decode downloaded bytes into the RGB photo as a person sees it, with the decoder's work bounded.

    Args:
        data: the file's bytes (at most ``safe_download.MAX_IMAGE_BYTES``).
        target_size: the model's input size (width, height) in pixels; a JPEG is then decoded at a reduced scale
            that keeps it at least ``DRAFT_MARGIN`` times this size. None: full size.
        header: when given, gets the file's ``width`` and ``height`` (pixels, as stored) once its header is read.

    Returns:
        a loaded Pillow image in mode ``RGB``, upright (``upright``), converted by ``to_rgb``.

    Raises:
        RequestError: as ``check_structure``; 422 ``image_too_large`` (more than ``MAX_IMAGE_PIXELS`` pixels, checked
        on the header before decoding); 422 ``not_an_image`` (bytes Pillow cannot decode completely as a JPEG, PNG
        or WebP).
    """
    check_structure(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)  # reads the header only
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError("over the pixel cap")
            if header is not None:
                header.update(width=img.width, height=img.height)
            if target_size is not None and isinstance(img, JpegImagePlugin.JpegImageFile):  # MPO too
                img.draft("RGB", (DRAFT_MARGIN * max(target_size), DRAFT_MARGIN * max(target_size)))
            img.load()
            return to_rgb(upright(img))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large() from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error):  # UnidentifiedImageError is an OSError
        raise _not_an_image() from None


def payload_too_large(what: str = "the image") -> RequestError:
    """RequestError 413 ``payload_too_large``: ``what`` is over ``MAX_UPLOAD_BYTES``."""
    return RequestError(413, "payload_too_large",
                        f"{what} is over the upload limit of {MAX_UPLOAD_BYTES:,} bytes "
                        f"({MAX_UPLOAD_BYTES // 2**20} MiB; "
                        f"{MAX_UPLOAD_BASE64_CHARS:,} characters once base64-encoded), set by Lambda's 6 MB payload "
                        "for the whole request: send a smaller photo (resize it, or save it as JPEG), or its URL")


def check_upload_size(data: bytes) -> bytes:
    """``data`` if it is at most ``MAX_UPLOAD_BYTES`` long; RequestError 413 ``payload_too_large`` otherwise."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise payload_too_large()
    return data


def decode_base64_upload(text, what: str = 'the "image" field') -> bytes:
    """The bytes of an uploaded image from its base64 text (RFC 4648's standard alphabet, padded, no line breaks: as
    API Gateway encodes a binary body, and as ``base64 -w 0 FILE`` or ``base64.b64encode`` write it).

    The length is checked before anything is decoded, so text over the limit costs nothing more.

    Args:
        text: the base64 text, as the request carried it.
        what: names ``text`` in messages (``'the "image" field'``, ``"the request body"``).

    Returns:
        the decoded bytes, at most ``MAX_UPLOAD_BYTES``.

    Raises:
        RequestError: 413 ``payload_too_large`` (longer than ``MAX_UPLOAD_BASE64_CHARS`` characters, or bytes over
        ``MAX_UPLOAD_BYTES``); 400 ``invalid_image`` (not a string, empty, or not valid base64).
    """
    if not isinstance(text, str) or not text:
        got = "an empty string" if text == "" else type(text).__name__
        raise RequestError(400, "invalid_image", f"{what} must be the image file's bytes, base64-encoded: a "
                                                 f"non-empty string, got {got}")
    if len(text) > MAX_UPLOAD_BASE64_CHARS:
        raise payload_too_large(what)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # a character outside the alphabet (a line break, non-ASCII), bad padding
        raise RequestError(400, "invalid_image", f"{what} is not valid base64: the standard alphabet (A-Z, a-z, "
                                                 "0-9, +, /), padded with =, one line (base64 -w 0 FILE)") from None
    if not data:
        raise RequestError(400, "invalid_image", f"{what} holds no bytes: send the image file itself")
    return check_upload_size(data)


def read_image(path: str | Path, target_size: tuple[int, int] | None = None) -> Image.Image:
    """``decode_image`` on a file's bytes: how training, evaluation and the benchmark read photos from disk, so they
    see what the handler sees.

    Raises:
        OSError: the file cannot be read.
        RequestError: as ``decode_image``.
    """
    return decode_image(Path(path).read_bytes(), target_size)
