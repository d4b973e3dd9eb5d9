"""Settings: defaults < YAML file < MEDIASERVER_* environment; wrong names and types are ConfigErrors."""

from __future__ import annotations

import pytest

from mediaserver.config import ConfigError, Settings, keep_generated_keys, load

S32 = "s" * 32  # the shortest secret and API key taken (issue 14 finding 20)
K24 = "k" * 24


def write(tmp_path, text: str):
    p = tmp_path / "mediaserver.yaml"
    p.write_text(text)
    return str(p)


def test_defaults():
    s = load(env={})
    assert s.http_host == "127.0.0.1" and s.http_port == 8080
    assert s.rtc_listen_ip == "127.0.0.1" and s.rtc_port == 40000
    assert s.announced_ip == "127.0.0.1"  # defaults to rtc_listen_ip
    assert s.log_level == "INFO" and s.log_json is True


def test_generated_secret_and_api_key(tmp_path):
    """Empty: generated at the first start and kept in data_dir (tests/security/test_secrets.py restarts a
    server on them); two data directories get different ones."""
    a, b = (load(env={"MEDIASERVER_DATA_DIR": str(tmp_path / d)}) for d in ("a", "b"))
    assert a.secret == a.api_key == ""  # loading the settings writes nothing
    for s in (a, b):
        keep_generated_keys(s)
        assert isinstance(s.secret, str) and len(s.secret) >= 32
        assert isinstance(s.api_key, str) and len(s.api_key) >= 24
    assert a.secret != b.secret and a.api_key != b.api_key
    assert a.secret != a.api_key


def test_finish_keeps_given_values():
    s = Settings(secret=S32, api_key=K24, announced_ip="203.0.113.5").finish()
    assert (s.secret, s.api_key, s.announced_ip) == (S32, K24, "203.0.113.5")
    s = Settings(secret="", api_key="", rtc_listen_ip="10.0.0.1").finish()
    assert s.announced_ip == "10.0.0.1"


def test_yaml_file(tmp_path):
    path = write(
        tmp_path,
        """
http_port: 9000
rtc_port: 0
rtc_listen_ip: 0.0.0.0
announced_ip: 198.51.100.7
secret: from-file-0123456789abcdefghijklmnopqrstuv
api_key: key-from-file-0123456789ab
log_json: false
log_level: DEBUG
""",
    )
    s = load(path, env={})
    assert (s.http_port, s.rtc_port, s.rtc_listen_ip, s.announced_ip) == (9000, 0, "0.0.0.0", "198.51.100.7")
    assert (s.secret, s.api_key, s.log_json, s.log_level) == (
        "from-file-0123456789abcdefghijklmnopqrstuv",
        "key-from-file-0123456789ab",
        False,
        "DEBUG",
    )


def test_yaml_file_from_env_variable(tmp_path):
    path = write(tmp_path, "http_port: 9100\n")
    assert load(env={"MEDIASERVER_CONFIG": path}).http_port == 9100


def test_empty_yaml_file(tmp_path):
    assert load(write(tmp_path, ""), env={}).http_port == 8080
    assert load(write(tmp_path, "# only a comment\n"), env={}).http_port == 8080


def test_env_overrides(tmp_path):
    path = write(tmp_path, f"http_port: 9000\nsecret: {S32}\nlog_json: true\n")
    env = {
        "MEDIASERVER_HTTP_PORT": "9500",
        "MEDIASERVER_SECRET": "from-env" + S32,
        "MEDIASERVER_LOG_JSON": "0",
        "MEDIASERVER_RTC_PORT": "0",
        "MEDIASERVER_ANNOUNCED_IP": "192.0.2.1",
    }
    s = load(path, env=env)
    assert (s.http_port, s.secret, s.log_json, s.rtc_port, s.announced_ip) == (
        9500,
        "from-env" + S32,
        False,
        0,
        "192.0.2.1",
    )


@pytest.mark.parametrize(
    "text,want",
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
    ],
)
def test_env_bools(text, want):
    assert load(env={"MEDIASERVER_LOG_JSON": text}).log_json is want


def test_env_ignores_unrelated_variables():
    s = load(env={"MEDIASERVER_NOPE": "1", "HTTP_PORT": "1", "mediaserver_http_port": "2", "PATH": "/bin"})
    assert s.http_port == 8080


def test_env_secret_and_api_key_kept():
    s = load(env={"MEDIASERVER_SECRET": S32, "MEDIASERVER_API_KEY": K24})
    assert s.secret == S32 and s.api_key == K24


@pytest.mark.parametrize(
    "text", ["nope: 1\n", "HTTP_PORT: 1\n", "extra: {}\n", "http-port: 1\n", "http_port: 1\nsecrets: x\n"]
)
def test_unknown_key(tmp_path, text):
    with pytest.raises(ConfigError, match="unknown setting"):
        load(write(tmp_path, text), env={})


def test_unknown_key_message_names_it(tmp_path):
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, "htp_port: 1\n"), env={})
    assert "'htp_port'" in str(e.value) and "http_port" in str(e.value)


@pytest.mark.parametrize("value", ["abc", "'80x'", "''", "8080.5.1"])
def test_bad_int_in_file(tmp_path, value):
    with pytest.raises(ConfigError, match="http_port"):
        load(write(tmp_path, f"http_port: {value}\n"), env={})


@pytest.mark.parametrize("value", ["abc", "", "80 80", "0x50", "1e3"])
def test_bad_int_in_env(value):
    with pytest.raises(ConfigError, match="rtc_port"):
        load(env={"MEDIASERVER_RTC_PORT": value})


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    with pytest.raises(ConfigError, match="mapping"):
        load(write(tmp_path, text), env={})


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("text", ["http_port:\n", "http_port: [1]\n", "rtc_port: {a: 1}\n"])
def test_non_scalar_int_is_config_error(tmp_path, text):
    with pytest.raises(ConfigError):
        load(write(tmp_path, text), env={})


@pytest.mark.parametrize(
    "text,env",
    [
        ("log_json: maybe\n", {}),
        ("", {"MEDIASERVER_LOG_JSON": "maybe"}),
        ("http_port: true\n", {}),
        ("http_port: 8080.5\n", {}),
    ],
    ids=["yaml-bool", "env-bool", "yaml-bool-as-int", "yaml-float-as-int"],
)
def test_wrong_types_are_config_errors(tmp_path, text, env):
    with pytest.raises(ConfigError):
        load(write(tmp_path, text), env=env)


def test_open_room_creation_follows_the_listen_address_unless_set():
    """Issue 14 finding 7: open room creation is on by default only while the signaling listens on loopback
    and no reverse proxy relays the network to it (issue 15); an explicit setting wins; 'auto' is the
    default."""
    for host, open_ in (
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("192.168.1.10", False),
        ("::", False),
        ("meet.example.org", False),
    ):
        assert load(env={"MEDIASERVER_HTTP_HOST": host}).open_room_creation is open_, host
    # issue 15: on loopback behind a reverse proxy (trusted_proxies) the requests come from the network
    proxied = {"MEDIASERVER_HTTP_HOST": "127.0.0.1", "MEDIASERVER_TRUSTED_PROXIES": "127.0.0.1"}
    assert load(env=proxied).open_room_creation is False
    assert load(env={**proxied, "MEDIASERVER_OPEN_ROOM_CREATION": "true"}).open_room_creation is True
    net = {"MEDIASERVER_HTTP_HOST": "0.0.0.0"}
    assert load(env={**net, "MEDIASERVER_OPEN_ROOM_CREATION": "true"}).open_room_creation is True
    assert load(env={**net, "MEDIASERVER_OPEN_ROOM_CREATION": "auto"}).open_room_creation is False
    assert load(env={"MEDIASERVER_OPEN_ROOM_CREATION": "off"}).open_room_creation is False
    with pytest.raises(ConfigError, match="open_room_creation"):
        load(env={"MEDIASERVER_OPEN_ROOM_CREATION": "maybe"})
    for name, bad in (("max_rooms", "0"), ("room_idle_timeout", "0"), ("room_creation_rate", "-1")):
        with pytest.raises(ConfigError, match=name):
            load(env={f"MEDIASERVER_{name.upper()}": bad})


def test_outbound_allow_takes_networks_and_host_names():
    """Issue 14 findings 4, 5: the operator's allow-list; an entry that is neither stops the start."""
    s = load(env={"MEDIASERVER_OUTBOUND_ALLOW": "127.0.0.1/32; 10.2.0.0/16;hooks.internal"})
    assert s.outbound_allow == ["127.0.0.1/32", "10.2.0.0/16", "hooks.internal"]
    for bad in ("10.0.0.0/33", "fe80::zz", "two words"):
        with pytest.raises(ConfigError, match="outbound_allow"):
            load(env={"MEDIASERVER_OUTBOUND_ALLOW": bad})
