"""Issue 14, the server's own secrets: finding 12 (the API key printed whole at every start, whole mails with
their links logged without SMTP), finding 20 (no minimum strength of a configured secret or API key), and the
operator review's finding that a generated secret and API key changed at every start, so that a restart
invalidated every join token and the API key."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from mediaserver.rtc import tokens
from tests.conftest import ROOT, mail_spool, serve, signed_up
from tests.signaling.client import Client

PASSWORD = "correct horse battery"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _post(base: str, path: str, body: dict, **headers: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.post(base + path, json=body, headers=headers) as r:
        return r.status, await r.json()


async def _ws_join(base: str, token: str) -> dict:
    async with aiohttp.ClientSession() as http, http.ws_connect(base.replace("http", "ws") + "/ws") as ws:
        c = Client(ws)
        return await c.call("join", token=token)


async def test_generated_secret_and_api_key_survive_a_restart(tmp_path):
    """Operator review: with no secret and no api_key configured, the ones generated at the first start are
    kept in the data directory (0700) in files of mode 0600 and used again: a join token and the API key of
    the first start still work after a restart. Finding 12: the log shows only the key's first characters
    and where the whole key is."""
    data = tmp_path / "data"
    with serve(tmp_path) as (base, _proc, log):
        key_file, secret_file = data / "api_key", data / "secret"
        assert _mode(data) == 0o700 and _mode(key_file) == 0o600 and _mode(secret_file) == 0o600
        key = key_file.read_text().strip()
        assert len(key) >= 24 and len(secret_file.read_text().strip()) >= 32
        status, minted = await _post(
            base, "/api/v1/tokens", {"room": "kept", "role": "presenter"}, Authorization=f"Bearer {key}"
        )
        assert status == 201, minted
        text = log.read_text()
        assert key not in text and key[:8] not in text, text
        assert f"API key {key[:4]}..." in text and str(key_file) in text, text
    with serve(tmp_path) as (base, _proc, _log):
        assert key_file.read_text().strip() == key
        status, again = await _post(base, "/api/v1/tokens", {"room": "kept"}, Authorization=f"Bearer {key}")
        assert status == 201, again
        joined = await _ws_join(base, minted["token"])  # signed before the restart
        assert "result" in joined and joined["result"]["participant"]["role"] == "presenter", joined


def test_token_command_uses_the_kept_secret(tmp_path):
    """`mediaserver token` signs with the secret the server keeps in its data directory (and says what to do
    when there is none yet, instead of signing with an empty key)."""
    env = {"MEDIASERVER_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "mediaserver.cli", "token", "--room", "r1"]
    none = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert none.returncode == 2 and "start the server once" in none.stderr and not none.stdout
    (tmp_path / "data").mkdir(mode=0o700)
    (tmp_path / "data" / "secret").write_text("kept-secret-0123456789abcdefghijklmnopq\n")
    made = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert tokens.verify("kept-secret-0123456789abcdefghijklmnopq", made.stdout.strip()).room == "r1"


@pytest.mark.parametrize(
    "env,match",
    [
        ({"MEDIASERVER_SECRET": "test-secret"}, "'secret' must be at least 32 characters"),
        ({"MEDIASERVER_SECRET": "s" * 31}, "'secret' must be at least 32 characters"),
        ({"MEDIASERVER_API_KEY": "test-key"}, "'api_key' must be at least 24 characters"),
        ({"MEDIASERVER_API_KEY": "k" * 23}, "'api_key' must be at least 24 characters"),
    ],
    ids=["secret", "secret-31", "api-key", "api-key-23"],
)
def test_weak_configured_secrets_stop_the_start(tmp_path, env, match):
    """Finding 20: a configured secret shorter than 32 characters or API key shorter than 24 stops the start
    with a message saying why; the server does not serve."""
    with pytest.raises(RuntimeError, match=match):
        with serve(tmp_path, **env):
            pass


def test_strong_configured_secrets_are_taken(tmp_path):
    """Finding 20: the minimums themselves are fine, and a configured value is used (no file written)."""
    env = {"MEDIASERVER_SECRET": "s" * 32, "MEDIASERVER_API_KEY": "k" * 24}
    with serve(tmp_path, **env) as (base, _proc, log):
        status, _ = asyncio.run(
            _post(base, "/api/v1/tokens", {"room": "r"}, Authorization="Bearer " + "k" * 24)
        )
        assert status == 201
        assert not (tmp_path / "data" / "api_key").exists() and not (tmp_path / "data" / "secret").exists()
        assert "k" * 24 not in log.read_text() and "as configured" in log.read_text()


async def test_mails_without_smtp_go_to_a_private_file_not_the_log(tmp_path):
    """Finding 12: with no smtp_host (the default) the log names a mail's recipient and subject only; the mail
    itself, its personal link and token included, is written to data_dir/mail (0700) in a file of mode 0600
    for the operator to read."""
    with serve(tmp_path) as (base, _proc, log):
        spool = tmp_path / "data" / "mail"
        # the sign-up's activation link is in the spool only (issue 14 finding 22: it is how one signs in)
        owner = ("olga@example.test", PASSWORD)
        cookie = await asyncio.to_thread(signed_up, base, *owner, mail_spool(spool.parent))
        assert "#activate=" not in log.read_text()
        for old in spool.glob("*.eml"):
            old.unlink()
        async with aiohttp.ClientSession(base_url=base, headers={"Cookie": cookie}) as http:
            body = {"kind": "permanent", "name": "Tokens", "access": "token"}
            async with http.post("/api/v1/events", json=body) as r:
                ev = await r.json()
            async with http.post(
                f"/api/v1/events/{ev['id']}/invitations", json={"emails": ["ann@example.test"]}
            ) as r:
                assert r.status == 201, await r.text()
                token = (await r.json())["items"][0]["token"]
        end = time.monotonic() + 20
        while time.monotonic() < end and "ann@example.test" not in log.read_text():
            await asyncio.sleep(0.1)
        text = log.read_text()
        assert "ann@example.test" in text, text
        assert token not in text and "http://" not in text.split("ann@example.test", 1)[1], text
        [mail] = list(spool.glob("*.eml"))
        assert _mode(spool) == 0o700 and _mode(mail) == 0o600
        assert token in mail.read_text() and "ann@example.test" in mail.read_text()
        assert str(mail) in text


def test_json_log_has_no_key_either(tmp_path):
    """Finding 12 with the JSON log (the default format): the start line carries the key's prefix only."""
    with serve(tmp_path, MEDIASERVER_LOG_JSON="true") as (_base, _proc, log):
        key = (tmp_path / "data" / "api_key").read_text().strip()
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        assert any("API key" in line.get("msg", line.get("message", "")) for line in lines), lines
        assert key not in log.read_text()
