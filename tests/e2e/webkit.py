"""WebKit (Safari's engine) for the end-to-end tests: Debian's WebKitGTK driven through its WebDriver.

Debian's `webkit2gtk-driver` gives /usr/bin/WebKitWebDriver, which starts WebKitGTK's MiniBrowser (package
libwebkit2gtk-4.1-0) in automation mode; selenium speaks W3C WebDriver to it. WebKitGTK has no headless
mode, so each test module starts its own X server (Debian's `xvfb`) on a free display, and stops it after.

MiniBrowser takes WebKitSettings as arguments: `--enable-mock-capture-devices=true` gives getUserMedia a
mock camera and microphone (automation grants the permission). Debian builds WebKitGTK without WebRTC
(`RTCPeerConnection` is undefined, whatever the settings say): see docs/sdk.md, "Safari and WebKit".

Missing driver, MiniBrowser, Xvfb or selenium: the tests skip with the reason, unless
MEDIASERVER_REQUIRE_WEBKIT=1 (CI sets it) makes that a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import stop_process

DRIVER = "/usr/bin/WebKitWebDriver"
XVFB = "/usr/bin/Xvfb"
MINIBROWSER_GLOB = "/usr/lib/*/webkit2gtk-4.1/MiniBrowser"
ARGS = [
    "--automation",
    "--enable-mock-capture-devices=true",  # getUserMedia: "Mock video device 1", "Mock audio device 1"
    "--enable-media-stream=true",
    "--enable-webrtc=true",  # asked for; Debian's build has no WebRTC to enable (docs/sdk.md)
]

# Collects the page's errors from the moment it is called: uncaught errors, unhandled rejections and
# console.error. WebKitWebDriver has no log endpoint and no BiDi, so this is installed after each load.
WATCH_ERRORS = """
if (!window.__errors) {
  window.__errors = [];
  window.addEventListener('error', (e) => window.__errors.push('error: ' + (e.message || e)));
  const note = (m) => window.__errors.push(m);
  window.addEventListener('unhandledrejection', (e) => note('rejection: ' + String(e.reason)));
  const orig = console.error.bind(console);
  console.error = (...a) => { note('console.error: ' + a.map(String).join(' ')); orig(...a); };
}
"""


def minibrowser() -> str | None:
    found = sorted(glob.glob(MINIBROWSER_GLOB))
    return found[0] if found else None


def missing() -> str | None:
    """Why the WebKit tests cannot run here, or None when they can; with MEDIASERVER_REQUIRE_WEBKIT=1 (CI)
    a missing piece fails the test instead."""
    why = None
    if not os.access(DRIVER, os.X_OK):
        why = f"{DRIVER} is not installed (apt-get install webkit2gtk-driver)"
    elif minibrowser() is None:
        why = f"no WebKitGTK MiniBrowser ({MINIBROWSER_GLOB}; apt-get install libwebkit2gtk-4.1-0)"
    elif not os.access(XVFB, os.X_OK):
        why = f"{XVFB} is not installed (apt-get install xvfb): WebKitGTK needs a display"
    else:
        try:
            import selenium.webdriver.webkitgtk  # noqa: F401
        except ImportError:
            why = "selenium is not installed (pip install selenium)"
    if why is not None and os.environ.get("MEDIASERVER_REQUIRE_WEBKIT") == "1":
        pytest.fail(f"WebKit is required here (MEDIASERVER_REQUIRE_WEBKIT=1): {why}")
    return why


@contextmanager
def display() -> Iterator[str]:
    """An X server (Xvfb) on a display it picks itself; yields ':N'."""
    read, write = os.pipe()
    proc = subprocess.Popen(
        [XVFB, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-nolock"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as r:
            number = r.readline().strip()  # Xvfb writes the display number once it accepts clients
        if not number:
            raise RuntimeError(f"Xvfb did not start (exit {proc.poll()})")
        yield f":{number}"
    finally:
        stop_process(proc, 5)


@contextmanager
def webkit(display_name: str, extra_args: tuple[str, ...] = ()) -> Iterator[Any]:
    """One MiniBrowser driven through WebKitWebDriver on ``display_name``; always quits."""
    from selenium import webdriver
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    home = tempfile.mkdtemp(prefix="webkit-e2e-")  # its caches and local storage, removed after
    opts = Options()
    opts.binary_location = minibrowser() or ""
    for arg in (*ARGS, *extra_args):
        opts.add_argument(arg)
    env = {**os.environ, "DISPLAY": display_name, "HOME": home, "XDG_CACHE_HOME": home, "XDG_DATA_HOME": home}
    env.pop("WAYLAND_DISPLAY", None)
    driver = None
    try:
        driver = webdriver.WebKitGTK(options=opts, service=Service(DRIVER, env=env))
        driver.set_script_timeout(15)
        driver.set_page_load_timeout(15)
        yield driver
    finally:
        try:
            if driver is not None:
                driver.quit()
        finally:
            shutil.rmtree(home, ignore_errors=True)


def version(display_name: str) -> str:
    """MiniBrowser's own report, e.g. 'WebKitGTK 2.50.6' (it needs a display even for that)."""
    out = subprocess.run(
        [minibrowser() or "MiniBrowser", "--version"],
        env={**os.environ, "DISPLAY": display_name},
        capture_output=True,
        text=True,
        timeout=20,
    )
    return out.stdout.strip()


def watch_errors(driver: Any) -> None:
    """Start collecting the page's errors (call after each page load)."""
    driver.execute_script(WATCH_ERRORS)


def page_errors(driver: Any) -> list[str]:
    """The errors collected since :func:`watch_errors` on this page."""
    return list(driver.execute_script("return window.__errors || [];"))


PROBE = """
const done = arguments[arguments.length - 1];
(async () => {
  const out = {
    userAgent: navigator.userAgent,
    secureContext: window.isSecureContext,
    RTCPeerConnection: typeof RTCPeerConnection,
    RTCRtpSender: typeof RTCRtpSender,
    mediaDevices: typeof navigator.mediaDevices,
    getUserMedia: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia),
    getDisplayMedia: !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia),
    MediaRecorder: typeof MediaRecorder,
    codecs: null, offer: null, capture: null,
  };
  try {
    const s = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    out.capture = s.getTracks().map((t) => `${t.kind}:${t.label}`).sort();
    s.getTracks().forEach((t) => t.stop());
  } catch (e) { out.capture = `${e.name}: ${e.message}`; }
  if (typeof RTCRtpSender === 'function' && RTCRtpSender.getCapabilities) {
    out.codecs = RTCRtpSender.getCapabilities('video').codecs
      .map((c) => `${c.mimeType} ${c.sdpFmtpLine || ''}`.trim());
  }
  if (typeof RTCPeerConnection === 'function') {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('audio', { direction: 'sendonly' });
    pc.addTransceiver('video', { direction: 'sendonly',
      sendEncodings: [{ rid: 'q', scaleResolutionDownBy: 4 }, { rid: 'h', scaleResolutionDownBy: 2 },
        { rid: 'f' }] });
    out.offer = (await pc.createOffer()).sdp;
    pc.close();
  }
  return out;
})().then(done, (e) => done({ error: String(e) }));
"""


def probe(driver: Any) -> dict[str, Any]:
    """What the engine offers for media on the current page (a secure context: http://127.0.0.1)."""
    return dict(driver.execute_async_script(PROBE))
