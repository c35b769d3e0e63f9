"""A headless Chromium for the web page's test and screenshot (tests/test_web_page.py, ``make screenshot``), driven
by Playwright for Python, with a browser already on this machine: Playwright's own browser download
(``playwright install``) comes from hosts that CI cannot reach, so ``executable_path`` points Playwright at the
system's Chromium or Chrome instead (Playwright drives any recent Chromium through the DevTools protocol).

Where the browser is looked for, first found wins (``find_chromium``):
1. ``$CHROMIUM_EXECUTABLE``, when set (a path, or a command on PATH);
2. on PATH: ``chromium`` (Debian, Ubuntu's snap, Arch), ``chromium-browser``, ``google-chrome``,
   ``google-chrome-stable``, ``chrome``;
3. macOS applications: Google Chrome, Chromium;
4. a browser that ``playwright install chromium`` downloaded (where the network allows it).
Debian: ``sudo apt-get install chromium`` (``.ci/run`` does it when CI runs as root).
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

BROWSER_ENV = "CHROMIUM_EXECUTABLE"
PATH_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
MAC_APPS = (Path("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"),
            Path("/Applications/Chromium.app/Contents/MacOS/Chromium"))
INSTALL_HINT = (f"install Chromium (Debian/Ubuntu: sudo apt-get install chromium) or Chrome, or set {BROWSER_ENV} "
                "to a Chromium-based browser's executable")


class BrowserUnavailable(RuntimeError):
    """No browser to drive: Playwright for Python is missing, no Chromium is found, or it does not start. The
    message says which, and what to do."""


def find_chromium() -> Path:
    """The Chromium-based browser to drive (the module docstring lists where it is looked for, in order).

    Raises:
        BrowserUnavailable: ``$CHROMIUM_EXECUTABLE`` names nothing executable, or no browser is found.
    """
    given = os.environ.get(BROWSER_ENV)
    if given:
        found = shutil.which(given)
        if not found:
            raise BrowserUnavailable(f"{BROWSER_ENV}={given} is not an executable file or a command on PATH")
        return Path(found)
    for name in PATH_NAMES:
        if found := shutil.which(name):
            return Path(found)
    for app in MAC_APPS:
        if os.access(app, os.X_OK):
            return app
    downloaded = _playwright_chromium()
    if downloaded:
        return downloaded
    raise BrowserUnavailable(f"no Chromium or Chrome found ({BROWSER_ENV}, PATH: {', '.join(PATH_NAMES)}, "
                             f"/Applications, Playwright's own): {INSTALL_HINT}")


def _playwright_chromium() -> Path | None:
    """The Chromium that ``playwright install chromium`` downloaded, if it did."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with sync_playwright() as playwright:
        path = Path(playwright.chromium.executable_path)
    return path if os.access(path, os.X_OK) else None


@contextmanager
def chromium(executable: Path | None = None):
    """A headless Chromium (``find_chromium``'s unless ``executable`` is given), as a Playwright ``Browser``.

    Raises:
        BrowserUnavailable: Playwright for Python is not installed (``pip install -r requirements/dev.txt``), no
            browser is found, or it fails to start (the message gives Playwright's reason).
    """
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        raise BrowserUnavailable("Playwright for Python is not installed: pip install -r requirements/dev.txt") \
            from None
    executable = executable or find_chromium()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(executable), headless=True)
        except Error as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BrowserUnavailable(f"{executable} did not start headless: {reason}") from None
        try:
            yield browser
        finally:
            browser.close()
