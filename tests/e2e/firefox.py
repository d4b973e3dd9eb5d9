"""Headless Firefox (Debian's firefox-esr) driven over Marionette, for the end-to-end tests (issue 15).

Debian ships no geckodriver, so the tests speak Marionette, Firefox's own remote protocol, through the
`marionette-driver` package. :class:`Firefox` offers the few calls the tests share with selenium's Chromium
driver (``get``, ``execute_script``, ``execute_async_script``, ``current_url``), so a helper written
against those drives either browser. Scripts run in the page's own scope (no sandbox), as WebDriver's do.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import free_port, stop_process

FIREFOX = "/usr/bin/firefox-esr"

#: a fake camera and microphone (a test pattern, a tone), no permission prompt (a screen share takes the whole
#: screen); the page's console goes to the browser's log so a test can read its errors. Autoplay keeps
#: Firefox's default (audible media waits for the user's click), as a user has it.
PREFS: dict[str, Any] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "devtools.console.stdout.content": True,
    "browser.shell.checkDefaultBrowser": False,
    "app.update.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "extensions.update.enabled": False,
    "browser.aboutConfig.showWarning": False,
    # A test host's http origin counts as secure (``secure`` below), so Firefox would upgrade its images to
    # https as mixed "display" content, and they fail: a real deployment serves the page and its images over
    # https (tests/e2e/attendee.py's poll option image found it).
    "security.mixed_content.upgrade_display_content": False,
}


def missing() -> str | None:
    """Why the Firefox tests cannot run here, or None when they can."""
    if not os.access(FIREFOX, os.X_OK):
        return f"{FIREFOX} is not installed (apt-get install firefox-esr)"
    if shutil.which("Xvfb") is None:
        return "Xvfb is not installed (apt-get install xvfb)"
    try:
        import marionette_driver  # noqa: F401
    except ImportError:
        return "marionette-driver is not installed (pip install marionette-driver)"
    return None


class Firefox:
    """One running Firefox; the WebDriver-like subset the tests use."""

    def __init__(self, marionette: Any, log: Path) -> None:
        self.marionette = marionette
        self.log = log

    def get(self, url: str) -> None:
        self.marionette.navigate(url)

    @property
    def current_url(self) -> str:
        return str(self.marionette.get_url())

    def execute_script(self, script: str, *args: Any) -> Any:
        return self.marionette.execute_script(script, script_args=list(args), sandbox=None)

    def execute_async_script(self, script: str, *args: Any) -> Any:
        return self.marionette.execute_async_script(script, script_args=list(args), sandbox=None)

    def click(self, css: str) -> None:
        """A real click (user activation: what getDisplayMedia needs), not a script's element.click()."""
        from marionette_driver.by import By

        self.marionette.find_element(By.CSS_SELECTOR, css).click()

    def console(self) -> list[str]:
        """The page's console messages so far (Firefox writes them to its log)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if re.match(r"console\.(error|warn|log|info)", line)]

    def errors(self, allow: tuple[str, ...] = ()) -> list[str]:
        """The page's console errors so far, minus the expected ones."""
        return [
            line
            for line in self.console()
            if line.startswith("console.error") and not any(a in line for a in allow)
        ]


@contextmanager
def virtual_screen() -> Iterator[str]:
    """An Xvfb server on a display number it picks itself; yields the DISPLAY value."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as numbers:
            number = numbers.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        stop_process(xvfb)


@contextmanager
def firefox(secure: Sequence[str] = (), screen: bool = False) -> Iterator[Firefox]:
    """A Firefox with a fresh profile, Marionette on a free loopback port; always quits. ``secure``: hosts
    whose plain-http origins count as secure (a test host has no certificate: the camera, microphone and
    screen are for secure contexts only). ``screen``: on a virtual screen of its own instead of headless, so
    that a screen can be shared (headless Firefox has no screen to capture)."""
    with ExitStack() as stack:
        display = stack.enter_context(virtual_screen()) if screen else None
        yield stack.enter_context(_session(secure, display))


@contextmanager
def _session(secure: Sequence[str], display: str | None) -> Iterator[Firefox]:
    from marionette_driver.marionette import Marionette

    workdir = Path(tempfile.mkdtemp(prefix="firefox-e2e-"))
    log = workdir / "firefox.log"
    before = os.environ.get("DISPLAY")
    if display is not None:  # the browser takes this process's environment as it starts
        os.environ["DISPLAY"] = display
    try:
        m = Marionette(
            host="127.0.0.1",
            port=free_port(),
            bin=FIREFOX,
            headless=display is None,
            prefs={**PREFS, "dom.securecontext.allowlist": ",".join(secure)},
            gecko_log=str(log),
            startup_timeout=60,
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        os.environ.pop("DISPLAY", None)
        if before is not None:
            os.environ["DISPLAY"] = before
    try:
        m.start_session()
        m.timeout.script = 15
        m.timeout.page_load = 15
        yield Firefox(m, log)
    finally:
        try:
            m.cleanup()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
