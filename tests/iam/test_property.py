"""Property: any operation of the 40 favourite services, with any valid request, maps without error.

Requests are generated from botocore's input shapes (structures with their
required members and any of the optional ones, lists, maps, strings that are
names, ARNs, s3:// URIs or free text, numbers, booleans), as JSON, the way a
recorded request reaches the mapping.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdaguard.errors import IamDataError
from lambdaguard.iam import TOP_SERVICES, Confidence, authorizations, operation_plan
from lambdaguard.iam._models import _model, service_info

from .conftest import ACCOUNT, REGION

OPERATIONS = sorted(
    (service, op) for service in TOP_SERVICES for op in service_info(service).operations
)

_STRINGS = st.one_of(
    st.sampled_from(
        [
            "example",
            "default",
            "prod/db",
            "in/2026/a.pdf",
            "",
            "*",
            "arn:aws:iam::123456789012:role/app",
            "arn:aws:s3:::bucket/key",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:sqs:us-east-1:123456789012:q",
            "s3://bucket/prefix/object",
            "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            "alias/app",
            "${aws:username}",
        ]
    ),
    st.text(max_size=24),
)


def _shape(shape: Any, depth: int) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return st.just({})
        required = set(shape.required_members)
        members = {n: _shape(m, depth + 1) for n, m in shape.members.items()}
        return st.fixed_dictionaries(
            {n: s for n, s in members.items() if n in required},
            optional={n: s for n, s in members.items() if n not in required},
        )
    if kind == "list":
        if depth > 3:
            return st.just([])
        return st.lists(_shape(shape.member, depth + 1), max_size=3)
    if kind == "map":
        if depth > 3:
            return st.just({})
        return st.dictionaries(_STRINGS, _shape(shape.value, depth + 1), max_size=2)
    if kind in ("integer", "long"):
        return st.integers(min_value=-1, max_value=10_000)
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if kind == "boolean":
        return st.booleans()
    if kind in ("blob", "timestamp"):
        return st.just("*")
    return _STRINGS


@cache
def _request(service: str, operation: str) -> st.SearchStrategy[Any]:
    shape = _model(service).operation_model(operation).input_shape
    return st.just({}) if shape is None else _shape(shape, 0)


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """A (service, operation, request) of the 40 favourite services."""
    service, operation = draw(st.sampled_from(OPERATIONS))
    return service, operation, draw(_request(service, operation))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(calls())
def test_any_request_maps_without_error(call: tuple[str, str, dict[str, Any]]) -> None:
    """Mapping never raises; an operation that needs a permission never gets an empty answer."""
    service, operation, params = call
    plan = operation_plan(service, operation)
    if plan.kind == "unknown":
        with pytest.raises(IamDataError, match=r"older than this API|no IAM data|has no"):
            authorizations(service, operation, params, region=REGION, account=ACCOUNT)
        return
    found = authorizations(service, operation, params, region=REGION, account=ACCOUNT)
    if plan.kind == "free":
        assert found == []
        return
    assert found, (service, operation, params)
    assert any(a.confidence is not Confidence.DEPENDENT for a in found)
    for auth in found:
        assert auth.action
        assert auth.resource
        assert auth.explanation
