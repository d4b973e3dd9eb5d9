"""Settings: embedded defaults, overridden by an optional YAML file and MEDIASERVER_* variables."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import limits
import yaml

from mediaserver.outbound import Policy
from mediaserver.output.livefeed import parse_size
from mediaserver.store import sealed

# issue 14 finding 20: a configured secret or API key shorter than these is refused at start (a generated
# secret has 43 characters, a generated API key 32: 256 and 192 random bits)
SECRET_MIN, API_KEY_MIN = 32, 24


def worker_count(setting: str) -> int:
    """The number of media workers the ``workers`` setting asks for: ``auto`` is one per core this process
    may run on (its CPU affinity: a container's or a ``taskset``'s share), else the number itself."""
    if setting == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    return int(setting)


class ConfigError(ValueError):
    """A setting has an unknown name or a value of the wrong type."""


@dataclass
class Settings:
    http_host: str = "127.0.0.1"  # where the HTTP/WebSocket signaling listens
    http_port: int = 8080
    rtc_listen_ip: str = "127.0.0.1"  # the media worker's UDP address
    rtc_port: int = 40000  # the first media worker's UDP port, the next ones' +1, +2 ... (0 = any free port)
    # the media workers (issue 18): one native thread and UDP port each, rooms spread over them; "auto" is one
    # per core this process may use, or a number
    workers: str = "auto"
    # a room's subscribers one worker takes before the room's next ones go to other workers (its published
    # tracks are piped there once each); also when the room's worker is busier than worker_busy (issue 18)
    pin_workers: bool = False  # run worker i on the i-th CPU this process may use (e.g. under taskset)
    room_worker_share: int = 500
    worker_busy: float = 0.85  # share of a core: a worker this busy takes no more of a room's subscribers
    announced_ip: str = ""  # the address put in ICE candidates (defaults to rtc_listen_ip)
    udp_gso: bool = True  # send a subscriber's burst as one UDP GSO message when the kernel can
    consent_timeout: int = 30  # seconds without ICE consent (RFC 7675) before a peer counts as gone
    ice_tcp: bool = True  # also offer ICE over TCP on rtc_port (RFC 6544) for UDP-blocked clients
    signaling_nice: int = 10  # the signaling thread yields the CPU to the media thread (0..19; 0 = equal)
    secret: str = ""  # signs join tokens (>= 32 characters); empty: generated once, kept in data_dir/secret
    api_key: str = ""  # Bearer key for /api/v1 (>= 24 characters); empty: generated once, data_dir/api_key
    # anyone may create a room, else the API key; None (unset): on when http_host is a loopback address and no
    # trusted_proxies relay the network to it, off otherwise (issue 14 finding 7, issue 15)
    open_room_creation: bool | None = None
    room_creation_rate: int = 10  # rooms an IP address may create a minute without the API key (0: no limit)
    max_rooms: int = 1000  # instant and ad-hoc rooms on this node at once (event rooms are not counted)
    room_idle_timeout: float = 600.0  # seconds an instant room stays without anyone in it before it is freed
    interaction_tick: float = 0.1  # seconds between two frames of a room's chat, hands, reactions (issue 16)
    board_max_bytes: int = 2_000_000  # a room's whiteboard (encoded Yjs document) at most; more is refused
    board_save_seconds: float = 30.0  # a changed whiteboard is saved with its session at most this often
    data_dir: str = "data"  # the embedded database and the file library live here
    # the file library's bytes (uploads, documents, finished recordings); empty: <data_dir>/files. In a
    # cluster, a directory every node shares (NFS, CephFS ...): what one node stores, another reads
    files_dir: str = ""
    database_url: str = ""  # SQLAlchemy async URL; empty: sqlite+aiosqlite in data_dir
    public_url: str = ""  # the base of links in e-mails; empty: http://http_host:http_port
    metrics_token: str = ""  # Bearer token of /metrics; empty: /metrics answers loopback peers only
    frame_ancestors: list[str] = field(default_factory=lambda: ["*"])  # who may frame room/watch pages
    smtp_host: str = ""  # outgoing mail server; empty: mails are written to data_dir/mail (0600), not sent
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
    restart_grace: int = 120  # seconds a live event waits for its people after a restart before it ends
    # seconds between the control plane's sweeps: the event clock (a planned event starts, a live one whose
    # room is gone ends), reminders, expiries; a shorter one starts events closer to their time
    sweep_interval: float = 20.0
    import_memory_mb: int = 1024  # the address space of the worker process reading one contacts file
    import_timeout: float = 120.0  # seconds a contacts file may take to read before its worker is killed
    # issue 17: documents shown in rooms are converted to PDF and rendered in worker processes
    document_workers: int = 1  # conversions at once (each a LibreOffice process); the others wait their turn
    document_memory_mb: int = 1024  # the address space of one conversion's worker and its LibreOffice
    document_timeout: float = 300.0  # seconds one document may take before its processes are killed
    document_max_pages: int = 500  # a longer document is refused
    watch_url_ttl: int = 3600  # seconds a signed on-demand watch URL stays valid (R-AUTO-2)
    # R-STAT-1: a MaxMind-format (.mmdb) country or city database to find attendees' countries in; empty: the
    # registries' allocations that the iptocc package ships
    geoip_database: str = ""
    # issue 17: the script of YouTube's IFrame API the room pages load for the shared player ("": no YouTube)
    youtube_api: str = "https://www.youtube.com/iframe_api"
    stream_size: str = "1280x720"  # the picture of a live stream to an RTMP service (R-REC-6), WIDTHxHEIGHT
    stream_video_kbps: int = 2500  # its H.264 bitrate
    # issue 14 finding 3: budgets of what strangers can repeat ('10/minute;100/hour', the `limits` notation);
    # over one: 429 with Retry-After
    rate_limit_storage: str = "memory://"  # where the counters live: memory://, redis://host:port
    rate_limit_login: str = "20/minute;200/hour"  # sign-ins (and wrong API keys) per client address
    rate_limit_login_account: str = "10/minute;50/hour"  # failed sign-ins per e-mail address, any address
    rate_limit_signup: str = "5/minute;20/hour"  # sign-ups per client address
    rate_limit_activate: str = "10/minute;50/hour"  # activations (setting a password) per client address
    rate_limit_join: str = "60/minute;1000/hour"  # room and event joins (join tokens) per client address
    rate_limit_event_password: str = "20/minute;200/hour"  # wrong passwords per event, any address
    rate_limit_viewer_message: str = "5/minute;30/hour"  # on-demand viewers' messages per client address
    rate_limit_password_reset: str = "5/minute;20/hour"  # password reset requests per client address
    rate_limit_rating: str = "10/minute;60/hour"  # event ratings (R-STAT-1) per client address
    trusted_proxies: list[str] = field(default_factory=list)  # their X-Forwarded-For names the client
    # hosts and networks webhooks and live streams may reach besides public addresses (issue 14 findings 4, 5,
    # 19): e.g. ["127.0.0.1/32", "hooks.internal"]; a listed host may also take plain http:// webhooks
    outbound_allow: list[str] = field(default_factory=list)
    # issue 19, a cluster: the Redis every node shares (redis://, rediss:// or unix://; empty: one node alone,
    # no Redis), with database_url on a PostgreSQL they all use
    cluster_redis_url: str = ""
    node_id: str = ""  # this node's name in the cluster (no '|'); empty: <host name>:<http_host>:<http_port>
    node_url: str = ""  # where clients reach this node's HTTP (joins name it to the SDK); empty: public_url
    node_ttl: float = 6.0  # seconds after its last report (every node_ttl / 3) that a silent node drops out
    # placement by load: a node whose busiest media worker uses this share of a core, or that has
    # node_capacity people (0: no such limit), sends new attendees to the least loaded node that does not
    # (set both alike on every node)
    node_max_load: float = 0.85
    node_capacity: int = 0
    # the key that seals the database's secrets (a Fernet key: 44 characters of URL-safe base64); empty: made
    # once in data_dir/sealing.key. The nodes of a cluster share one: set it on every node (a server that
    # becomes a node gives its sealing.key; `mediaserver sealing-key` prints a new one)
    sealing_key: str = ""
    log_level: str = "INFO"
    log_json: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def _finish_cluster(self) -> None:
        if not self.node_id:
            self.node_id = f"{socket.gethostname()}:{self.http_host}:{self.http_port}"
        if "|" in self.node_id or len(self.node_id) > 128:
            raise ConfigError("setting 'node_id' must have at most 128 characters and no '|'")
        self.node_url = (self.node_url or self.public_url).rstrip("/")
        if not 1 <= self.node_ttl <= 60:
            raise ConfigError("setting 'node_ttl' must be between 1 and 60 seconds")
        if not 0 < self.node_max_load <= 1:
            raise ConfigError("setting 'node_max_load' must be above 0 and at most 1 (a share of a core)")
        if self.node_capacity < 0:
            raise ConfigError("setting 'node_capacity' must be 0 (no limit) or more")
        if not self.cluster_redis_url:
            return
        if urlsplit(self.cluster_redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError("setting 'cluster_redis_url' must be a redis://, rediss:// or unix:// URL")
        if not self.secret or not self.api_key:
            raise ConfigError(
                "setting 'cluster_redis_url': every node of a cluster must have the same 'secret' (join "
                "tokens from one node are checked on another, and the nodes sign their requests with it) and "
                "the same 'api_key': set both, as generated ones differ from node to node"
            )
        if self.database_url.startswith("sqlite"):
            raise ConfigError(
                "setting 'cluster_redis_url' makes this server a node of a cluster, whose nodes share one "
                "database: set 'database_url' to a PostgreSQL (postgresql+asyncpg://...), not SQLite"
            )
        if not self.sealing_key:
            raise ConfigError(
                "setting 'cluster_redis_url': the nodes of a cluster share one database, whose secrets "
                "(events' host keys, webhook secrets ...) every node must open: set the same 'sealing_key'"
                " on every node (a server that becomes a node: its data_dir/sealing.key; a new one: "
                "`mediaserver sealing-key`)"
            )

    def finish(self) -> Settings:
        """Fill in what derives from other settings and check the values (ConfigError). An empty secret or
        api_key stays empty here: :func:`keep_generated_keys` fills them when the server starts."""
        if self.sealing_key and not sealed.valid_key(self.sealing_key):
            raise ConfigError(
                "setting 'sealing_key' must be a Fernet key (`mediaserver sealing-key` prints one)"
            )
        if self.secret and len(self.secret) < SECRET_MIN:
            raise ConfigError(
                f"setting 'secret' must be at least {SECRET_MIN} characters (it signs join tokens; e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or empty: then one is "
                "generated at the first start and kept in data_dir"
            )
        if self.api_key and len(self.api_key) < API_KEY_MIN:
            raise ConfigError(
                f"setting 'api_key' must be at least {API_KEY_MIN} characters (e.g. `python -c 'import "
                "secrets; print(secrets.token_urlsafe(24))'`), or empty: then one is generated at the "
                "first start and kept in data_dir"
            )
        for name in fields(self):
            if name.name.startswith("rate_limit_") and name.name != "rate_limit_storage":
                parse_budget(name.name, getattr(self, name.name))
        parse_networks(self.trusted_proxies)
        if not self.announced_ip:
            self.announced_ip = self.rtc_listen_ip
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'mediaserver.db'}"
        if not self.files_dir:
            self.files_dir = str(Path(self.data_dir) / "files")
        if not self.public_url:
            host = f"[{self.http_host}]" if ":" in self.http_host else self.http_host
            self.public_url = f"http://{host}:{self.http_port}"
        self.public_url = self.public_url.rstrip("/")
        self._finish_cluster()
        if self.open_room_creation is None:
            # issue 15: behind a reverse proxy (trusted_proxies) the server listens on loopback and yet
            # every request comes from the network
            self.open_room_creation = loopback(self.http_host) and not self.trusted_proxies
        if self.room_creation_rate < 0:
            raise ConfigError("setting 'room_creation_rate' must be 0 (no limit) or a positive number")
        self.workers = self.workers.strip().lower()
        if self.workers != "auto" and not (
            self.workers.isascii() and self.workers.isdigit() and 1 <= int(self.workers) <= 256
        ):
            raise ConfigError("setting 'workers' must be 'auto' (one per core) or a number from 1 to 256")
        if self.rtc_port and self.rtc_port + worker_count(self.workers) - 1 > 65535:
            raise ConfigError("settings 'rtc_port' and 'workers': the workers' ports (one each) pass 65535")
        if self.room_worker_share < 1:
            raise ConfigError("setting 'room_worker_share' must be at least 1 (subscribers)")
        if not 0.05 <= self.worker_busy <= 1.0:
            raise ConfigError("setting 'worker_busy' must be between 0.05 and 1.0 (a share of a core)")
        if self.max_rooms < 1:
            raise ConfigError("setting 'max_rooms' must be at least 1")
        if not 0.01 <= self.interaction_tick <= 1.0:
            raise ConfigError("setting 'interaction_tick' must be between 0.01 and 1 second")
        if not 10_000 <= self.board_max_bytes <= 100_000_000:
            raise ConfigError("setting 'board_max_bytes' must be between 10000 and 100000000")
        if not 1 <= self.board_save_seconds <= 3600:
            raise ConfigError("setting 'board_save_seconds' must be between 1 and 3600 seconds")
        if self.room_idle_timeout <= 0:
            raise ConfigError("setting 'room_idle_timeout' must be a positive number of seconds")
        if self.upload_expiry <= 0:
            raise ConfigError("setting 'upload_expiry' must be a positive number of seconds")
        if not 0 <= self.restart_grace <= 3600:
            raise ConfigError("setting 'restart_grace' must be between 0 and 3600 seconds")
        if not 1 <= self.sweep_interval <= 300:
            raise ConfigError("setting 'sweep_interval' must be between 1 and 300 seconds")
        if self.import_memory_mb < 64:
            raise ConfigError("setting 'import_memory_mb' must be at least 64")
        if self.import_timeout <= 0:
            raise ConfigError("setting 'import_timeout' must be a positive number of seconds")
        if not 1 <= self.document_workers <= 16:
            raise ConfigError("setting 'document_workers' must be between 1 and 16")
        if self.document_memory_mb < 256:
            raise ConfigError("setting 'document_memory_mb' must be at least 256")
        if self.document_timeout <= 0:
            raise ConfigError("setting 'document_timeout' must be a positive number of seconds")
        if not 1 <= self.document_max_pages <= 10000:
            raise ConfigError("setting 'document_max_pages' must be between 1 and 10000")
        if not 10 <= self.watch_url_ttl <= 7 * 86400:
            raise ConfigError("setting 'watch_url_ttl' must be between 10 and 604800 seconds")
        if self.youtube_api:
            u = urlsplit(self.youtube_api)
            if u.scheme not in ("http", "https") or not u.hostname:
                raise ConfigError(
                    "setting 'youtube_api' must be an http(s) URL of YouTube's IFrame API script, or empty"
                )
        try:
            parse_size(self.stream_size)
        except ValueError as e:
            raise ConfigError(f"setting 'stream_size': {e}") from None
        if not 100 <= self.stream_video_kbps <= 20000:
            raise ConfigError("setting 'stream_video_kbps' must be between 100 and 20000")
        for source in self.frame_ancestors:
            if source not in ("*", "'self'") and not _FRAME_SOURCE.fullmatch(source):
                raise ConfigError(
                    f"setting 'frame_ancestors': {source!r} is not *, 'self' or an origin such as "
                    "https://partner.example (https://*.partner.example for its subdomains)"
                )
        try:
            Policy(self.outbound_allow)
        except ValueError as e:
            raise ConfigError(f"setting 'outbound_allow': {e}") from None
        if self.smtp_tls not in ("none", "starttls", "tls"):
            raise ConfigError("setting 'smtp_tls' must be one of none, starttls, tls")
        return self


_FRAME_SOURCE = re.compile(r"https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?")  # a CSP frame-ancestors origin


def loopback(host: str) -> bool:
    """Whether the signaling listens on this machine only (127.0.0.0/8, ::1, localhost): then open room
    creation is on unless set (and no trusted_proxies relay the network to it: issue 15), the one-command
    newcomer's experience; on any other address it is off unless the operator turns it on (issue 14 finding
    7)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or all interfaces (""): reachable from the network


def parse_budget(name: str, value: str) -> list[limits.RateLimitItem]:
    """A budget setting, e.g. ``10/minute;100/hour`` (the `limits` notation), or ConfigError."""
    try:
        items = limits.parse_many(value)
    except ValueError:
        items = []
    if not items:
        raise ConfigError(
            f"setting {name!r} must be one or more rates like '10/minute;100/hour', got {value!r}"
        )
    return items


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> list[Network]:
    """The ``trusted_proxies`` setting: addresses or networks (CIDR), or ConfigError."""
    out = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"setting 'trusted_proxies': {v!r} is not an IP address or network (CIDR)"
            ) from None
    return out


#: the generated keys: setting -> (random bytes, minimum length); kept in data_dir under the setting's name
GENERATED = {"secret": (32, SECRET_MIN), "api_key": (24, API_KEY_MIN)}


def key_file(settings: Settings, name: str) -> Path:
    return Path(settings.data_dir) / name


def stored_key(settings: Settings, name: str) -> str | None:
    """The generated value of ``name`` (secret, api_key) kept in data_dir, or None if there is none yet."""
    try:
        value = key_file(settings, name).read_text().strip()
    except FileNotFoundError:
        return None
    if len(value) < GENERATED[name][1]:
        raise ConfigError(
            f"{key_file(settings, name)} holds a {name} shorter than {GENERATED[name][1]} characters"
        )
    return value


def keep_generated_keys(settings: Settings) -> dict[str, Path]:
    """Fill an empty secret or api_key with the one generated at the first start, kept in data_dir, or
    generate it now and keep it there (the directory made with mode 0700, the file 0600): join tokens, session
    links and the API key outlive a restart. Returns the files of the values it filled in."""
    used = {}
    for name, (nbytes, _minimum) in GENERATED.items():
        if getattr(settings, name):
            continue
        path = key_file(settings, name)
        value = stored_key(settings, name)
        if value is None:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process starting on the same data_dir wrote it first
                value = stored_key(settings, name)
            else:
                value = secrets.token_urlsafe(nbytes)
                with os.fdopen(fd, "w") as f:
                    f.write(value + "\n")
        assert value is not None
        setattr(settings, name, value)
        used[name] = path
    return used


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
#: settings whose default None means "decided from the others in finish()"; "auto" sets that again
_AUTO_BOOLS = ("open_room_creation",)


def _coerce(name: str, default: Any, value: Any) -> Any:
    """The value in the type of the default, or ConfigError: no silent guessing."""
    if name in _AUTO_BOOLS and default is None:
        if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
            return None
        return _coerce(name, False, value)
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


def load(
    path: str | None = None, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Defaults, then the YAML file (if any), then MEDIASERVER_<NAME> environment variables, then
    ``overrides`` (the command line's flags), before the derived values (public_url) are made."""
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
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
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
