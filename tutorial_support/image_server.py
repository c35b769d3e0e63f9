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
def serve_directory(directory: Path, port: int = 0, host: str = "127.0.0.1"):
    """Serve ``directory`` over HTTP in a background thread. Yields the base URL (no trailing slash).

    Args:
        directory: the folder to serve.
        port: the TCP port; 0 picks a free one.
        host: the address to listen on: 127.0.0.1 (this machine only) by default; "0.0.0.0" also lets a local
            container reach it (as ``host.docker.internal``), and the base URL then names that host.
    """

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        name = "host.docker.internal" if host == "0.0.0.0" else host
        yield f"http://{name}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
