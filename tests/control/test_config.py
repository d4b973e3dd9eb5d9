"""Settings: defaults < YAML file < MEDIASERVER_* environment; wrong names and types are ConfigErrors."""

from __future__ import annotations

import pytest

from mediaserver.config import ConfigError, Settings, load


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


def test_generated_secret_and_api_key():
    a, b = load(env={}), load(env={})
    for s in (a, b):
        assert isinstance(s.secret, str) and len(s.secret) >= 32
        assert isinstance(s.api_key, str) and len(s.api_key) >= 24
    assert a.secret != b.secret and a.api_key != b.api_key
    assert a.secret != a.api_key


def test_finish_keeps_given_values():
    s = Settings(secret="x", api_key="y", announced_ip="203.0.113.5").finish()
    assert (s.secret, s.api_key, s.announced_ip) == ("x", "y", "203.0.113.5")
    s = Settings(secret="", api_key="", rtc_listen_ip="10.0.0.1").finish()
    assert s.secret and s.api_key and s.announced_ip == "10.0.0.1"


def test_yaml_file(tmp_path):
    path = write(
        tmp_path,
        """
http_port: 9000
rtc_port: 0
rtc_listen_ip: 0.0.0.0
announced_ip: 198.51.100.7
secret: from-file
api_key: key-from-file
log_json: false
log_level: DEBUG
""",
    )
    s = load(path, env={})
    assert (s.http_port, s.rtc_port, s.rtc_listen_ip, s.announced_ip) == (9000, 0, "0.0.0.0", "198.51.100.7")
    assert (s.secret, s.api_key, s.log_json, s.log_level) == ("from-file", "key-from-file", False, "DEBUG")


def test_yaml_file_from_env_variable(tmp_path):
    path = write(tmp_path, "http_port: 9100\n")
    assert load(env={"MEDIASERVER_CONFIG": path}).http_port == 9100


def test_empty_yaml_file(tmp_path):
    assert load(write(tmp_path, ""), env={}).http_port == 8080
    assert load(write(tmp_path, "# only a comment\n"), env={}).http_port == 8080


def test_env_overrides(tmp_path):
    path = write(tmp_path, "http_port: 9000\nsecret: from-file\nlog_json: true\n")
    env = {
        "MEDIASERVER_HTTP_PORT": "9500",
        "MEDIASERVER_SECRET": "from-env",
        "MEDIASERVER_LOG_JSON": "0",
        "MEDIASERVER_RTC_PORT": "0",
        "MEDIASERVER_ANNOUNCED_IP": "192.0.2.1",
    }
    s = load(path, env=env)
    assert (s.http_port, s.secret, s.log_json, s.rtc_port, s.announced_ip) == (
        9500,
        "from-env",
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
    s = load(env={"MEDIASERVER_SECRET": "abc", "MEDIASERVER_API_KEY": "def"})
    assert s.secret == "abc" and s.api_key == "def"


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


def test_outbound_allow_takes_networks_and_host_names():
    """Issue 14 findings 4, 5: the operator's allow-list; an entry that is neither stops the start."""
    s = load(env={"MEDIASERVER_OUTBOUND_ALLOW": "127.0.0.1/32; 10.2.0.0/16;hooks.internal"})
    assert s.outbound_allow == ["127.0.0.1/32", "10.2.0.0/16", "hooks.internal"]
    for bad in ("10.0.0.0/33", "fe80::zz", "two words"):
        with pytest.raises(ConfigError, match="outbound_allow"):
            load(env={"MEDIASERVER_OUTBOUND_ALLOW": bad})
