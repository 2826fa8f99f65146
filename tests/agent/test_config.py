"""Configuration precedence and fallbacks."""

from __future__ import annotations

import pytest

from lambdaguard.agent import config


def test_defaults_outside_lambda_are_off() -> None:
    """With no variables at all the agent is off and exports to localhost:4318."""
    cfg = config.load({})
    assert cfg.enabled is False
    assert cfg.traces_url == "http://localhost:4318/v1/traces"
    assert cfg.key_prefix_depth == 1
    assert cfg.record_full_keys is False
    assert cfg.log is True
    assert cfg.warnings == ()


def test_inside_lambda_it_is_on_unless_told_off() -> None:
    """AWS_LAMBDA_FUNCTION_NAME turns it on; LAMBDAGUARD_ENABLED=false turns it off again."""
    assert config.load({"AWS_LAMBDA_FUNCTION_NAME": "f"}).enabled is True
    assert (
        config.load({"AWS_LAMBDA_FUNCTION_NAME": "f", "LAMBDAGUARD_ENABLED": "off"}).enabled
        is False
    )
    assert config.load({"LAMBDAGUARD_ENABLED": "1"}).enabled is True


def test_endpoint_precedence() -> None:
    """Explicit argument > LAMBDAGUARD_ENDPOINT > OTEL traces endpoint > OTEL endpoint > default."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/custom/path",
        "LAMBDAGUARD_ENDPOINT": "https://guard:4318/",
    }
    assert config.load(env, endpoint="http://arg:1").traces_url == "http://arg:1/v1/traces"
    assert config.load(env).traces_url == "https://guard:4318/v1/traces"
    del env["LAMBDAGUARD_ENDPOINT"]
    assert config.load(env).traces_url == "http://traces:4318/custom/path"
    del env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    assert config.load(env).traces_url == "http://otel:4318/v1/traces"


def test_headers_and_token() -> None:
    """OTEL headers are URL-decoded, the traces variable wins per key, the token adds a bearer."""
    cfg = config.load(
        {
            "OTEL_EXPORTER_OTLP_HEADERS": "x-team=a%20b,api-key=one",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=two",
            "LAMBDAGUARD_TOKEN": "tok",
        }
    )
    assert dict(cfg.headers) == {"x-team": "a b", "api-key": "two", "authorization": "Bearer tok"}


@pytest.mark.parametrize(
    ("name", "value", "field", "default"),
    [
        ("LAMBDAGUARD_KEY_PREFIX_DEPTH", "deep", "key_prefix_depth", 1),
        ("LAMBDAGUARD_KEY_PREFIX_DEPTH", "-1", "key_prefix_depth", 1),
        ("LAMBDAGUARD_EXPORT_TIMEOUT_MS", "0", "export_timeout_ms", 1000),
        ("LAMBDAGUARD_LOG", "maybe", "log", True),
        ("LAMBDAGUARD_RECORD_FULL_KEYS", "sure", "record_full_keys", False),
        ("LAMBDAGUARD_ENDPOINT", "collector:4318", "traces_url", "http://localhost:4318/v1/traces"),
    ],
)
def test_bad_values_warn_once_and_fall_back(
    name: str, value: str, field: str, default: object
) -> None:
    """A bad value yields one warning naming the variable, and the default."""
    cfg = config.load({name: value})
    assert getattr(cfg, field) == default
    assert len(cfg.warnings) == 1
    assert name in cfg.warnings[0]


def test_good_values_are_read() -> None:
    """Each LAMBDAGUARD_* variable is honoured."""
    cfg = config.load(
        {
            "LAMBDAGUARD_KEY_PREFIX_DEPTH": "3",
            "LAMBDAGUARD_RECORD_FULL_KEYS": "true",
            "LAMBDAGUARD_LOG": "false",
            "LAMBDAGUARD_EXPORT_TIMEOUT_MS": "250",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "9999",
        }
    )
    assert (cfg.key_prefix_depth, cfg.record_full_keys, cfg.log, cfg.export_timeout_ms) == (
        3,
        True,
        False,
        250,
    )
    assert cfg.warnings == ()


def test_unknown_overrides_warn() -> None:
    """An unknown or ill-typed explicit argument is ignored with a warning."""
    cfg = config.load({}, nonsense=1, key_prefix_depth="2")
    assert cfg.key_prefix_depth == 1
    assert len(cfg.warnings) == 2


def test_carry_bounds_from_the_environment() -> None:
    """LAMBDAGUARD_CARRY_RECORDS/BYTES set the carry-over bounds; 0 is allowed, negatives fall back."""
    assert (config.load({}).carry_records, config.load({}).carry_bytes) == (100, 1024 * 1024)
    cfg = config.load({"LAMBDAGUARD_CARRY_RECORDS": "0", "LAMBDAGUARD_CARRY_BYTES": "4096"})
    assert (cfg.carry_records, cfg.carry_bytes) == (0, 4096)
    bad = config.load({"LAMBDAGUARD_CARRY_RECORDS": "-1"})
    assert bad.carry_records == 100
    assert any("LAMBDAGUARD_CARRY_RECORDS" in line for line in bad.warnings)
    assert config.load({}, carry_records=5).carry_records == 5
