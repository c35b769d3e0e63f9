"""The README's picture of the web page with an answer (``make screenshot``): a sample photo chosen in the page that
``serve.py`` serves, in a phone-sized headless Chromium (390 x 844 CSS pixels, as an iPhone 12-15), saved as a PNG.

    python solutions/06_api_gateway/screenshot.py [--photo samples/pants/...jpg] [--output web/screenshot.png]

The browser is found as the browser test finds it (``tutorial_support.browser``: ``$CHROMIUM_EXECUTABLE``, then
Chromium or Chrome on PATH). The PNG is reduced to a 256-colour palette (Pillow), which keeps it under about 150 KB.
"""

from __future__ import annotations

import argparse
import io
import sys
from contextlib import ExitStack
from pathlib import Path

import serve
from PIL import Image

from tutorial_support.browser import BrowserUnavailable, chromium
from tutorial_support.paths import SAMPLES_DIR

OUTPUT = serve.PAGE.with_name("screenshot.png")  # beside the page: web/screenshot.png
PHOTO = SAMPLES_DIR / "pants" / "0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"
SHOWN_PORT = 8080  # make serve's, shown on the page as the endpoint; another when it is taken
VIEWPORT = {"width": 390, "height": 844}  # CSS pixels of a common phone


def screenshot(photo: Path = PHOTO, output: Path = OUTPUT) -> int:
    """Serve the page, choose ``photo`` in it, wait for the answer, and write the whole page as a palette PNG to
    ``output``.

    Returns:
        the PNG's size in bytes.

    Raises:
        BrowserUnavailable: no browser to drive (see ``tutorial_support.browser``).
    """
    with ExitStack() as stack:
        try:
            endpoint = stack.enter_context(serve.serve(SHOWN_PORT))
        except OSError:  # the port is taken (make serve is running?): any free one
            endpoint = stack.enter_context(serve.serve())
        browser = stack.enter_context(chromium())
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1, is_mobile=True, has_touch=True)
        page.goto(endpoint.removesuffix("predict"))
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("#prediction:not([hidden]), #error:not([hidden])", timeout=30_000)
        if page.is_visible("#error"):
            raise RuntimeError(f"the page showed an error, not an answer: {page.inner_text('#error')}")
        png = page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    image.save(output, format="PNG", optimize=True)
    return output.stat().st_size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=PHOTO, help="the photo to choose (default: a sample)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the PNG")
    args = parser.parse_args(argv)
    try:
        size = screenshot(args.photo, args.output)
    except BrowserUnavailable as e:
        print(f"make screenshot needs a browser: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.output} ({size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
