"""Headless Chromium through selenium for the end-to-end tests (flags from docs/real-peers.md)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream=fps=30",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=800,600",
]


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


@contextmanager
def chromium(extra: Sequence[str] = ()) -> Iterator[Any]:
    """One headless Chromium with its own fresh profile; always quits and removes the profile. ``extra`` flags
    are added, each replacing a default flag of the same name (e.g. another ``--autoplay-policy=``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-e2e-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    names = {f.split("=", 1)[0] for f in extra}
    for flag in [*(f for f in FLAGS if f.split("=", 1)[0] not in names), *extra]:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = None
    try:
        driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
        driver.set_script_timeout(15)
        driver.set_page_load_timeout(15)
        yield driver
    finally:
        try:
            if driver is not None:
                driver.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


def state(driver: Any) -> dict[str, Any]:
    """The demo page's window.state (empty before its script has run)."""
    return driver.execute_script("return window.state ? Object.assign({}, window.state) : {};") or {}


def stats(driver: Any) -> dict[str, Any]:
    """The demo page's window.statsSummary(), or {'error': ...} if it failed."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (!window.statsSummary) { done({error: 'no statsSummary yet'}); return; }"
        "window.statsSummary().then(done, (e) => done({error: String(e)}));"
    )


def console(driver: Any) -> list[str]:
    """The page's console messages so far (for failure messages)."""
    try:
        return [e.get("message", "") for e in driver.get_log("browser")]
    except Exception as e:  # the log API is best effort
        return [f"(no console log: {e})"]


def page_log(driver: Any) -> str:
    """The demo page's on-screen log."""
    try:
        return driver.execute_script(
            "const e = document.getElementById('log'); return e ? e.textContent : '';"
        )
    except Exception as e:
        return f"(no page log: {e})"


def poll(fn: Callable[[], Any], pred: Callable[[Any], bool], timeout: float, interval: float = 0.5) -> Any:
    """Call fn until pred(result) holds or timeout passes; returns the last result."""
    end = time.monotonic() + timeout
    value = fn()
    while not pred(value) and time.monotonic() < end:
        time.sleep(interval)
        value = fn()
    return value
