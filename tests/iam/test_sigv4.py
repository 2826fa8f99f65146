"""SigV4-signed requests (pseudo-operations "HTTP <METHOD>") map to the IAM requests AWS evaluates."""

from __future__ import annotations

from typing import Any

import pytest

from lambdaguard.errors import IamDataError
from lambdaguard.iam import Confidence, action_exists, authorizations

ACCOUNT = "123456789012"
REGION = "eu-west-1"


def mapped(service: str, method: str, host: str, path: str = "/") -> list[tuple[str, str, str]]:
    """(action, resource, confidence) of one signed request."""
    return [
        (a.action, a.resource, a.confidence.value)
        for a in authorizations(
            service,
            f"HTTP {method}",
            {"Host": host, "Path": path},
            region=REGION,
            account=ACCOUNT,
        )
    ]


CASES: list[tuple[str, str, str, str, set[tuple[str, str]]]] = [
    (
        "es",
        "DELETE",
        f"vpc-logs-abcdefghijklmnopqrstuvwxyz.{REGION}.es.amazonaws.com",
        "/2026/",
        {("es:ESHttpDelete", f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs/2026/*")},
    ),
    (
        "es",
        "HEAD",
        "search.example.com",  # a custom endpoint names no domain
        "/",
        {("es:ESHttpHead", f"arn:aws:es:{REGION}:{ACCOUNT}:domain/*/*")},
    ),
    (
        "aoss",
        "PUT",
        f"abc123def456.{REGION}.aoss.amazonaws.com",
        "/idx/",
        {("aoss:APIAccessAll", f"arn:aws:aoss:{REGION}:{ACCOUNT}:collection/abc123def456")},
    ),
    (
        "execute-api",
        "PATCH",
        f"a1b2c3d4e5.execute-api.{REGION}.amazonaws.com",
        "/prod/orders/",
        {
            (
                "execute-api:Invoke",
                f"arn:aws:execute-api:{REGION}:{ACCOUNT}:a1b2c3d4e5/prod/PATCH/orders/*",
            )
        },
    ),
    (
        "execute-api",
        "GET",
        "api.example.com",
        "/v1/",
        {("execute-api:Invoke", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*/*/GET/*")},
    ),
    (
        "appsync",
        "POST",
        "graphql.example.com",
        "/",
        {("appsync:GraphQL", f"arn:aws:appsync:{REGION}:{ACCOUNT}:apis/*/*")},
    ),
    (
        "neptune-db",
        "GET",
        f"db.cluster-abc.{REGION}.neptune.amazonaws.com",
        "/",
        {("neptune-db:ReadDataViaQuery", f"arn:aws:neptune-db:{REGION}:{ACCOUNT}:*/*")},
    ),
]


@pytest.mark.parametrize(("service", "method", "host", "path", "expected"), CASES)
def test_signed_requests_map_to_existing_actions(
    service: str, method: str, host: str, path: str, expected: set[tuple[str, str]]
) -> None:
    """Each signing service maps to real actions on the resource its host and path name."""
    found = mapped(service, method, host, path)
    assert {(action, resource) for action, resource, _ in found} == expected
    assert all(action_exists(action) for action, _, _ in found)


def test_write_queries_to_neptune_need_every_data_action() -> None:
    """A POST query's verbs are in its body, which is not recorded: read, write and delete."""
    actions = {action for action, _, _ in mapped("neptune-db", "POST", "db")}
    assert actions == {
        "neptune-db:ReadDataViaQuery",
        "neptune-db:WriteDataViaQuery",
        "neptune-db:DeleteDataViaQuery",
    }


def test_confidence_says_what_the_host_could_not_name() -> None:
    """A collection the host names is exact; an unnamed function or domain is not."""
    (aoss,) = mapped("aoss", "GET", f"abc123def456.{REGION}.aoss.amazonaws.com")
    assert aoss[2] == Confidence.EXACT.value
    assert {c for _, _, c in mapped("lambda", "POST", "x.lambda-url.on.aws")} == {
        Confidence.WILDCARD.value
    }
    (es,) = mapped("es", "GET", "search.example.com")
    assert es[2] == Confidence.TEMPLATE.value


@pytest.mark.parametrize(
    ("service", "operation", "params", "message"),
    [
        ("s3", "HTTP GET", {"Host": "b.s3.amazonaws.com"}, "no IAM mapping for requests signed"),
        ("es", "HTTP BREW", {}, "not a signed request's operation"),
        ("es", "HTTP GET", ["not", "a", "map"], "params must be a JSON object"),
    ],
)
def test_bad_or_unmapped_signed_requests_name_the_fault(
    service: str, operation: str, params: Any, message: str
) -> None:
    """An unmapped signing service, an unknown method or bad params raise IamDataError saying so."""
    with pytest.raises(IamDataError, match=message):
        authorizations(service, operation, params, region=REGION, account=ACCOUNT)
