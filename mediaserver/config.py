"""Settings: embedded defaults, overridden by an optional YAML file and MEDIASERVER_* variables."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from mediaserver.outbound import Policy
from mediaserver.output.livefeed import parse_size


class ConfigError(ValueError):
    """A setting has an unknown name or a value of the wrong type."""


@dataclass
class Settings:
    http_host: str = "127.0.0.1"  # where the HTTP/WebSocket signaling listens
    http_port: int = 8080
    rtc_listen_ip: str = "127.0.0.1"  # the media worker's UDP address
    rtc_port: int = 40000  # one UDP port for every transport (0 = any free port)
    announced_ip: str = ""  # the address put in ICE candidates (defaults to rtc_listen_ip)
    udp_gso: bool = True  # send a subscriber's burst as one UDP GSO message when the kernel can
    consent_timeout: int = 30  # seconds without ICE consent (RFC 7675) before a peer counts as gone
    ice_tcp: bool = True  # also offer ICE over TCP on rtc_port (RFC 6544) for UDP-blocked clients
    signaling_nice: int = 10  # the signaling thread yields the CPU to the media thread (0..19; 0 = equal)
    secret: str = ""  # signs join tokens; generated at start when empty
    api_key: str = ""  # Bearer key for /api/v1; generated at start when empty
    open_room_creation: bool = True  # anyone may create a room (a single-node install); else the API key
    data_dir: str = "data"  # the embedded database and the file library live here
    database_url: str = ""  # SQLAlchemy async URL; empty: sqlite+aiosqlite in data_dir
    public_url: str = ""  # the base of links in e-mails; empty: http://http_host:http_port
    smtp_host: str = ""  # outgoing mail server; empty: mails are logged, not sent
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = "none"  # none, starttls or tls (implicit)
    mail_from: str = "mediaserver@localhost"
    dial_in_numbers: list[str] = field(default_factory=list)  # "City +1 234 ..." strings put in invitations
    webhook_retries: int = 8  # delivery attempts of one webhook before it counts as failed
    webhook_backoff: float = 5.0  # seconds before the first retry; doubles each time (capped at 1 h)
    upload_expiry: float = (
        86400.0  # seconds without progress before an unfinished upload is deleted (R-FILE-3)
    )
    watch_url_ttl: int = 3600  # seconds a signed on-demand watch URL stays valid (R-AUTO-2)
    stream_size: str = "1280x720"  # the picture of a live stream to an RTMP service (R-REC-6), WIDTHxHEIGHT
    stream_video_kbps: int = 2500  # its H.264 bitrate
    # hosts and networks webhooks and live streams may reach besides public addresses (issue 14 findings 4, 5,
    # 19): e.g. ["127.0.0.1/32", "hooks.internal"]; a listed host may also take plain http:// webhooks
    outbound_allow: list[str] = field(default_factory=list)
    log_level: str = "INFO"
    log_json: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def finish(self) -> Settings:
        if not self.secret:
            self.secret = secrets.token_urlsafe(32)
        if not self.api_key:
            self.api_key = secrets.token_urlsafe(24)
        if not self.announced_ip:
            self.announced_ip = self.rtc_listen_ip
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'mediaserver.db'}"
        if not self.public_url:
            self.public_url = f"http://{self.http_host}:{self.http_port}"
        self.public_url = self.public_url.rstrip("/")
        if self.upload_expiry <= 0:
            raise ConfigError("setting 'upload_expiry' must be a positive number of seconds")
        if not 10 <= self.watch_url_ttl <= 7 * 86400:
            raise ConfigError("setting 'watch_url_ttl' must be between 10 and 604800 seconds")
        try:
            parse_size(self.stream_size)
        except ValueError as e:
            raise ConfigError(f"setting 'stream_size': {e}") from None
        if not 100 <= self.stream_video_kbps <= 20000:
            raise ConfigError("setting 'stream_video_kbps' must be between 100 and 20000")
        try:
            Policy(self.outbound_allow)
        except ValueError as e:
            raise ConfigError(f"setting 'outbound_allow': {e}") from None
        if self.smtp_tls not in ("none", "starttls", "tls"):
            raise ConfigError("setting 'smtp_tls' must be one of none, starttls, tls")
        return self


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _coerce(name: str, default: Any, value: Any) -> Any:
    """The value in the type of the default, or ConfigError: no silent guessing."""
    bad = ConfigError(f"setting {name!r} must be a {type(default).__name__}, got {value!r}")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, (str, int)) else None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise bad
    if isinstance(default, list):
        if isinstance(value, str):  # an environment variable: items separated by ';'
            value = [v.strip() for v in value.split(";") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"setting {name!r} must be a list of strings, got {value!r}")
        return list(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise bad
        try:
            return float(value)
        except ValueError:
            raise bad from None
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise bad
        try:
            return int(value)
        except ValueError:
            raise bad from None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise bad
    return str(value)


def load(path: str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the YAML file (if any), then MEDIASERVER_<NAME> environment variables."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = path or env.get("MEDIASERVER_CONFIG")
    if path:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        values.update(data)
    known = {f.name: f for f in fields(Settings) if f.name != "extra"}
    for name in known:
        key = "MEDIASERVER_" + name.upper()
        if key in env:
            values[name] = env[key]
    s = Settings()
    defaults = {
        f.name: f.default_factory() if f.default_factory is not MISSING else f.default
        for f in fields(Settings)
    }
    for name, value in values.items():
        if name not in known:
            raise ConfigError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
        setattr(s, name, _coerce(name, defaults[name], value))
    return s.finish()
