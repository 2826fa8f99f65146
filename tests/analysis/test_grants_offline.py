"""Grants read from export files: every CLI shape, bad input named, nothing dropped."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from lambdaguard.analysis.grants import read_grants_offline
from lambdaguard.errors import ExportFileError

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-role"
MANAGED = f"arn:aws:iam::{ACCOUNT}:policy/app-data"
FUNCTION = {
    "FunctionName": "app",
    "FunctionArn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:app",
    "Role": ROLE,
    "Runtime": "python3.12",
    "LoggingConfig": {"LogFormat": "JSON", "LogGroup": "/custom/app"},
}
READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


def _write(folder: Path, name: str, doc: Any) -> Path:
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def _auth(
    roles: list[dict[str, Any]], policies: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "RoleDetailList": roles,
        "Policies": policies or [],
        "UserDetailList": [],
        "GroupDetailList": [],
    }


def _role(**extra: Any) -> dict[str, Any]:
    return {
        "RoleName": "app-role",
        "Arn": ROLE,
        "RolePolicyList": [],
        "AttachedManagedPolicies": [],
        **extra,
    }


def _policy(doc: Any, arn: str = MANAGED) -> dict[str, Any]:
    return {
        "PolicyName": arn.rsplit("/", 1)[-1],
        "Arn": arn,
        "DefaultVersionId": "v3",
        "PolicyVersionList": [
            {"VersionId": "v1", "IsDefaultVersion": False, "Document": {"Statement": []}},
            {"VersionId": "v3", "IsDefaultVersion": True, "Document": doc},
        ],
    }


def _read(tmp_path: Path, auth: Any, functions: Any = None, **kw: Any) -> Any:
    extra = {
        "event_source_mappings": _write(tmp_path, "esm.json", {"EventSourceMappings": []}),
        "event_invoke_configs": _write(tmp_path, "inv.json", {"FunctionEventInvokeConfigs": []}),
    }
    extra.update(kw)
    return read_grants_offline(
        _write(tmp_path, "auth.json", auth),
        _write(
            tmp_path,
            "functions.json",
            functions if functions is not None else {"Functions": [FUNCTION]},
        ),
        **extra,
    )


def test_url_encoded_documents_and_single_statements(tmp_path: Path) -> None:
    """IAM's URL-encoded documents and a single Statement object read like plain JSON lists."""
    single = {"Version": "2012-10-17", "Statement": READ["Statement"][0]}
    encoded = urllib.parse.quote(json.dumps(single))
    auth = _auth(
        [
            _role(
                RolePolicyList=[{"PolicyName": "inline", "PolicyDocument": encoded}],
                AttachedManagedPolicies=[{"PolicyName": "app-data", "PolicyArn": MANAGED}],
            )
        ],
        [_policy(encoded)],
    )
    (fg,) = _read(tmp_path, auth)
    assert fg.role is not None
    assert [p.name for p in fg.role.managed] == ["app-data"]
    assert [p.name for p in fg.role.inline] == ["app-role/inline"]
    assert not fg.partial, [str(w) for w in fg.all_warnings()]
    assert fg.grant().evaluate("s3:GetObject", "arn:aws:s3:::b/k").certainly_allowed
    assert fg.config.log_group == "/custom/app"


def test_default_version_is_the_one_read(tmp_path: Path) -> None:
    """Of a managed policy's versions, the default (IsDefaultVersion) is the grant."""
    auth = _auth([_role(AttachedManagedPolicies=[{"PolicyArn": MANAGED}])], [_policy(READ)])
    (fg,) = _read(tmp_path, auth)
    assert fg.role is not None
    assert fg.role.managed[0].statements[0].actions == ("s3:GetObject",)


@pytest.mark.parametrize(
    "functions",
    [
        {"Functions": [FUNCTION]},
        FUNCTION,
        {"Configuration": FUNCTION, "Code": {"Location": "https://example.invalid"}},
        [{"Configuration": FUNCTION}],
    ],
    ids=["list-functions", "get-function-configuration", "get-function", "list-of-get-function"],
)
def test_every_function_export_shape(tmp_path: Path, functions: Any) -> None:
    """list-functions, get-function-configuration and get-function outputs all read the same."""
    (fg,) = _read(tmp_path, _auth([_role()]), functions)
    assert (fg.config.name, fg.config.region, fg.config.account) == ("app", "eu-west-1", ACCOUNT)


def test_unknown_actions_and_broken_policies_warn(tmp_path: Path) -> None:
    """An unknown action warns naming its policy; a policy that is not JSON is left out, named."""
    bad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}],
    }
    auth = _auth(
        [
            _role(
                RolePolicyList=[
                    {"PolicyName": "typo", "PolicyDocument": bad},
                    {"PolicyName": "broken", "PolicyDocument": "{not json"},
                ]
            )
        ]
    )
    (fg,) = _read(tmp_path, auth)
    assert fg.partial
    messages = [str(w) for w in fg.all_warnings()]
    assert any(
        "app-role/typo" in m and "'s3:GetObjekt' is not a s3 action" in m for m in messages
    ), messages
    assert any(
        "app-role/broken" in m and "not valid JSON" in m and "left out" in m for m in messages
    ), messages
    assert fg.role is not None
    assert [p.name for p in fg.role.inline] == ["app-role/typo"]


def test_missing_pieces_are_named(tmp_path: Path) -> None:
    """A policy or role missing from the export, and unread mappings, are warnings; partial."""
    auth = _auth([_role(AttachedManagedPolicies=[{"PolicyArn": MANAGED}])])
    (fg,) = _read(tmp_path, auth, event_source_mappings=None, event_invoke_configs=None)
    text = " | ".join(str(w) for w in fg.all_warnings())
    assert f"{MANAGED}: the policy is not in the authorization details export" in text
    assert "event source mappings not read" in text
    assert "asynchronous destinations not read" in text
    assert fg.partial
    assert fg.event_sources is None
    assert fg.destinations is None

    other = dict(FUNCTION, Role=f"arn:aws:iam::{ACCOUNT}:role/gone")
    (fg,) = _read(tmp_path, _auth([]), {"Functions": [other]})
    assert fg.role is None
    assert fg.partial
    assert "role/gone is not in the authorization details export" in str(fg.warnings[0])
    assert not fg.grant().evaluate("s3:GetObject", "*").allowed


@pytest.mark.parametrize(
    ("auth", "functions", "expected"),
    [
        ("{oops", {"Functions": []}, "auth.json: not valid JSON"),
        ({"Policies": []}, {"Functions": []}, "auth.json: field RoleDetailList must be a list"),
        ([1, 2], {"Functions": []}, "auth.json: expected a JSON object with RoleDetailList"),
        (
            _auth([{"RoleName": "x"}]),
            {"Functions": []},
            "auth.json: a RoleDetailList entry has no Arn",
        ),
        (
            _auth([]),
            {"Functions": [{"FunctionName": "x"}]},
            "functions.json: a function configuration needs FunctionName and FunctionArn",
        ),
        (
            _auth([]),
            {"Things": []},
            "functions.json: no Functions, Configuration or FunctionArn field",
        ),
    ],
)
def test_wrong_files_raise_naming_file_and_field(
    tmp_path: Path, auth: Any, functions: Any, expected: str
) -> None:
    """A file that is not the export it should be raises ExportFileError naming file and field."""
    with pytest.raises(ExportFileError, match=expected):
        _read(tmp_path, auth, functions)


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is named in the error."""
    with pytest.raises(ExportFileError, match=r"nope\.json: cannot be read"):
        read_grants_offline(tmp_path / "nope.json", tmp_path / "nope2.json")


def test_event_sources_and_destinations(tmp_path: Path) -> None:
    """Mappings and destinations (qualified ARNs included) attach to their unqualified function."""
    esm = {
        "EventSourceMappings": [
            {
                "UUID": "u1",
                "FunctionArn": FUNCTION["FunctionArn"] + ":live",
                "EventSourceArn": f"arn:aws:kafka:eu-west-1:{ACCOUNT}:cluster/c/abc",
                "Topics": ["orders"],
                "SourceAccessConfigurations": [
                    {
                        "Type": "SASL_SCRAM_512_AUTH",
                        "URI": "arn:aws:secretsmanager:eu-west-1:1:secret:k",
                    }
                ],
                "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:eu-west-1:1:dlq"}},
                "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "g1"},
            }
        ]
    }
    invoke = [
        {
            "FunctionEventInvokeConfigs": [
                {
                    "FunctionArn": FUNCTION["FunctionArn"] + ":$LATEST",
                    "DestinationConfig": {
                        "OnSuccess": {"Destination": "arn:aws:sns:eu-west-1:1:t"},
                        "OnFailure": {},
                    },
                }
            ]
        }
    ]
    (fg,) = _read(
        tmp_path,
        _auth([_role()]),
        event_source_mappings=_write(tmp_path, "e.json", esm),
        event_invoke_configs=_write(tmp_path, "i.json", invoke),
    )
    (source,) = fg.event_sources
    assert (source.kind, source.topics, source.consumer_group, source.on_failure) == (
        "kafka",
        ("orders",),
        "g1",
        "arn:aws:sqs:eu-west-1:1:dlq",
    )
    assert source.access == (
        ("SASL_SCRAM_512_AUTH", "arn:aws:secretsmanager:eu-west-1:1:secret:k"),
    )
    assert fg.destinations == (("on-success", "arn:aws:sns:eu-west-1:1:t"),)


def test_large_account_reads_whole(tmp_path: Path) -> None:
    """Thousands of roles and functions sharing managed policies are all read, none dropped."""
    n = 3000
    shared = [f"arn:aws:iam::{ACCOUNT}:policy/shared-{i}" for i in range(20)]
    roles = [
        _role(
            RoleName=f"r{i}",
            Arn=f"arn:aws:iam::{ACCOUNT}:role/r{i}",
            AttachedManagedPolicies=[{"PolicyArn": shared[i % 20]}],
            RolePolicyList=[{"PolicyName": "own", "PolicyDocument": READ}],
        )
        for i in range(n)
    ]
    functions = [
        dict(
            FUNCTION,
            FunctionName=f"f{i}",
            FunctionArn=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f{i}",
            Role=f"arn:aws:iam::{ACCOUNT}:role/r{i}",
        )
        for i in range(n)
    ]
    grants = _read(
        tmp_path, _auth(roles, [_policy(READ, arn) for arn in shared]), {"Functions": functions}
    )
    assert len(grants) == n
    assert all(g.role is not None and len(g.role.policies) == 2 and not g.partial for g in grants)
    # The shared policies are parsed once: the same object in every role that attaches it.
    first = {id(g.role.managed[0]) for g in grants if g.role is not None}
    assert len(first) == 20
