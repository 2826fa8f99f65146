"""Configuration precedence and validation, and the `serve` / `store` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from lambdaguard.cli import main
from lambdaguard.collector.settings import ENV, CollectorConfig, load_config, parse_duration
from lambdaguard.errors import ConfigError

from .conftest import trace_request


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    """A flag beats the environment, which beats the config file, which beats the default."""
    conf = tmp_path / "lg.toml"
    conf.write_text(
        'http-port = 1111\nmax_inflight = 9\nstore = "sqlite:///file.db"\nspan-window = "2h"\n'
    )
    env = {ENV["http_port"]: "2222", ENV["store_url"]: "sqlite:///env.db"}
    config = load_config({"store_url": "sqlite:///flag.db"}, config_file=conf, environ=env)
    assert config.store_url == "sqlite:///flag.db"
    assert config.http_port == 2222
    assert config.max_inflight == 9
    assert config.span_window_s == 7200
    assert load_config({}, environ={}).http_port == 4318


def test_tokens_from_environment_are_comma_separated() -> None:
    """LAMBDAGUARD_COLLECTOR_TOKEN may hold several tokens for rotation."""
    config = load_config({}, environ={ENV["tokens"]: "a, b,,c"})
    assert config.tokens == ("a", "b", "c")


def test_non_loopback_without_token_refuses_to_start() -> None:
    """Binding beyond loopback without a bearer token is a configuration error naming the fix."""
    with pytest.raises(ConfigError, match="LAMBDAGUARD_COLLECTOR_TOKEN"):
        CollectorConfig(bind="0.0.0.0")
    assert CollectorConfig(bind="0.0.0.0", tokens=("t",)).auth_required
    assert not CollectorConfig(bind="::1").auth_required


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"http_port": 70000}, "http_port"),
        ({"max_inflight": 0}, "max_inflight"),
        ({"tls_cert": "c.pem"}, "together"),
        ({"sqlite_synchronous": "SOMETIMES"}, "NORMAL"),
    ],
)
def test_bad_values_name_the_setting(values: dict[str, Any], needle: str) -> None:
    """Invalid settings are ConfigErrors that name the setting or the accepted values."""
    with pytest.raises(ConfigError, match=needle):
        CollectorConfig(**values)


def test_bad_environment_and_file_values_name_their_source(tmp_path: Path) -> None:
    """A bad environment value names the variable; an unknown file key names the file."""
    with pytest.raises(ConfigError, match=ENV["max_inflight"]):
        load_config({}, environ={ENV["max_inflight"]: "lots"})
    conf = tmp_path / "lg.toml"
    conf.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="colour"):
        load_config({}, config_file=conf, environ={})


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2_592_000), ("12h", 43_200), ("90m", 5400), ("45", 45)]
)
def test_durations(text: str, seconds: int) -> None:
    """Durations accept s/m/h/d/w suffixes or plain seconds."""
    assert parse_duration(text, name="x") == seconds


def test_serve_refuses_public_bind_without_token(capsys: pytest.CaptureFixture[str]) -> None:
    """`lambdaguard serve --bind 0.0.0.0` without a token exits 2 with a clear message."""
    assert main(["serve", "--bind", "0.0.0.0", "--http-port", "0", "--grpc-port", "off"]) == 2
    assert "bearer token" in capsys.readouterr().err


def test_serve_subprocess_ingests_and_stops_on_sigterm(serve: Any, sqlite_url: str) -> None:
    """`lambdaguard serve` ingests over HTTP and exits 0 on SIGTERM."""
    proc = serve(sqlite_url)
    body = trace_request(trace_id=b"\x51" * 16).SerializeToString()
    response = httpx.post(
        f"{proc.http_url}/v1/traces",
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    proc.proc.terminate()
    assert proc.proc.wait(15) == 0


def _store_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdaguard", "store", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_store_commands(sqlite_url: str) -> None:
    """`store migrate`, `store stats --json` and `store prune --older-than` work on a real store."""
    from lambdaguard.collector.spans import extract
    from lambdaguard.collector.store import SCHEMA_VERSION, open_store

    migrate = _store_cli("--store", sqlite_url, "migrate")
    assert migrate.returncode == 0
    assert f"-> {SCHEMA_VERSION}" in migrate.stdout
    store = open_store(sqlite_url)
    store.ingest(
        extract(trace_request(trace_id=b"\x52" * 16, start_ns=10**18), now_ns=10**18).spans,
        now_ns=10**18,
    )
    store.close()
    stats = json.loads(_store_cli("--store", sqlite_url, "stats", "--json").stdout)
    assert (stats["functions"], stats["calls"], stats["span_keys"]) == (1, 1, 2)
    pruned = json.loads(
        _store_cli("--store", sqlite_url, "prune", "--older-than", "30d", "--json").stdout
    )
    assert pruned["functions"] == 1
    assert pruned["span_keys"] == 2
    assert open_store(sqlite_url).functions() == []
    bad = _store_cli("--store", "mysql://x/y", "stats")
    assert bad.returncode == 3
    assert "sqlite" in bad.stderr


def test_store_prune_rejects_bad_duration() -> None:
    """`store prune --older-than soon` exits 2 naming the expected form."""
    result = _store_cli("--store", "sqlite:///unused.db", "prune", "--older-than", "soon")
    assert result.returncode == 2
    assert "30d" in result.stderr


def test_shipped_config_example_loads() -> None:
    """collector/lambdaguard.toml is a valid configuration and states the defaults."""
    example = Path(__file__).resolve().parents[2] / "collector" / "lambdaguard.toml"
    config = load_config({}, config_file=example, environ={})
    assert config == CollectorConfig()
