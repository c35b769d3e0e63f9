"""Serve a folder of images over HTTP on 127.0.0.1, so the handler can be given real image URLs without the internet.

Used by ``demo.py`` (``make demo``), chapter 03's notebook and the graded checks.
"""

from __future__ import annotations

import functools
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def serve_directory(directory: Path, port: int = 0):
    """Serve ``directory`` over HTTP on 127.0.0.1 in a background thread. Yields the base URL (no trailing slash)."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
