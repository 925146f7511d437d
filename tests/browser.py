"""A page opened in a real headless Chromium (the system's, installed by
tests/install_chromium.sh), for the tests of cellsweep's HTML output.

`open_page(path)` loads a local HTML file with every request that is not to a local file
refused (a self-contained page makes none; `PageView.requests` lists what was tried), and
records console errors and uncaught exceptions. The test skips, saying why, when Chromium or
playwright is missing; it never lets playwright download a browser of its own.
"""

from __future__ import annotations

import io
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# the flags this machine's closed network needs (without them Chromium retries Google's hosts)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def chromium() -> str | None:
    """The Chromium binary: CELLSWEEP_CHROMIUM, else chromium or chromium-browser on PATH."""
    named = os.environ.get("CELLSWEEP_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageView:
    page: object                                   # playwright's Page, loaded
    errors: list[str] = field(default_factory=list)     # console errors and page exceptions
    requests: list[str] = field(default_factory=list)   # non-local requests (all refused)

    def evaluate(self, script: str):
        return self.page.evaluate(script)

    def screenshot(self) -> bytes:
        return self.page.screenshot(full_page=False)


@contextmanager
def open_page(path: Path, width: int = 1280, height: int = 900, settle_ms: int = 500):
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium (tests/install_chromium.sh installs it, as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=binary, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            view = PageView(page)
            page.on("console", lambda m: m.type == "error" and view.errors.append(m.text))
            page.on("pageerror", lambda e: view.errors.append(f"uncaught: {e}"))

            def route(r):
                url = r.request.url
                if url.startswith(("file:", "data:", "blob:", "about:")):
                    r.continue_()
                else:
                    view.requests.append(url)
                    r.abort()

            page.route("**/*", route)
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
            page.wait_for_timeout(settle_ms)
            yield view
        finally:
            browser.close()


def not_blank(png: bytes, min_colours: int = 8) -> bool:
    """True when a screenshot has content: more than a handful of distinct colours, not all one."""
    import numpy as np
    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")
    flat = (np.asarray(pixels)[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours = np.unique(flat, axis=0)
    return len(colours) >= min_colours and float(flat.std()) > 1.0
