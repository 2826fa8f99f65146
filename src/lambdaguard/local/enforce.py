"""The second proof of a proposal: moto's own IAM enforcement runs the functions with it.

The evaluator proves a proposal by replaying the recorded requests; this
module proves it again with somebody else's IAM: moto in server mode with its
IAM enforcement switched on (what ``INITIAL_NO_AUTH_ACTION_COUNT`` controls,
set at run time through ``/moto-api/reset-auth``), the sample functions run
with credentials of a role that carries only the proposal (assumed through
STS), and calls the functions never made are tried with the same credentials.

What moto 5 enforces, and how the proposal is adapted to it (each adaptation
is said in :attr:`MotoPolicy.notes`):

- it matches resources for S3 (a GetObject outside the allowed prefix is
  refused), but authorizes DynamoDB, SQS and most other services against
  ``*``, so a statement scoped to a table ARN is refused there even when
  right. Statements of those services are attached with their resources
  widened to ``*``: an action-level proof; their resource-level proof is the
  evaluator's replay;
- it names the action after the operation (``sqs:SendMessageBatch``,
  ``dynamodb:TransactWriteItems``) where IAM authorizes others
  (``sqs:SendMessage``; ``dynamodb:PutItem`` and ``UpdateItem`` per item).
  Such a name is added for a recorded operation only when the proposal allows
  every action IAM authorizes it with, so moto still refuses an operation the
  proposal does not cover.

The drivers keep working under enforcement with an administrator's key
(:func:`administrator`), which moto issued, as it only accepts its own keys then.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from lambdaguard.analysis.findings import MappedCall
from lambdaguard.local.aws import REGION, MotoServer
from lambdaguard.local.runtime import Credentials

__all__ = [
    "RESOURCE_LEVEL",
    "MotoPolicy",
    "administrator",
    "enforcing",
    "moto_environment",
    "moto_policy",
    "proposed_role",
]

# Services whose resources moto 5 matches against the policy; the others it
# authorizes against "*".
RESOURCE_LEVEL: Final = frozenset({"s3"})
_TRUST: Final = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True, slots=True)
class MotoPolicy:
    """A proposal as moto can enforce it, and what was changed for moto."""

    documents: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]


def _list(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


def moto_policy(documents: Sequence[str], calls: Sequence[MappedCall]) -> MotoPolicy:
    """The proposed documents adapted to what moto enforces (see the module docstring)."""
    from lambdaguard.errors import IamDataError
    from lambdaguard.iam import iam_prefix

    out: list[dict[str, Any]] = []
    notes: list[str] = []
    allowed: set[str] = set()
    widened: list[str] = []
    for text in documents:
        doc = json.loads(text)
        statements = []
        for original in doc["Statement"]:
            st = dict(original)
            actions = _list(st.get("Action", []))
            services = {a.split(":", 1)[0].lower() for a in actions}
            if st.get("Effect") == "Allow":
                allowed.update(a.lower() for a in actions)
            if not services <= RESOURCE_LEVEL and st.get("Resource") != "*":
                st.pop("NotResource", None)
                st["Resource"] = "*"
                widened.append(str(st.get("Sid", "?")))
            statements.append(st)
        out.append({"Version": doc.get("Version", "2012-10-17"), "Statement": statements})
    if widened:
        notes.append(
            f"resources of {', '.join(widened)} widened to * (moto authorizes those services "
            "against *; the evaluator's replay proves the resources)"
        )
    aliases: dict[str, None] = {}
    for m in calls:
        # What moto checks is the operation itself; the actions AWS asks for only in
        # some cases (dependent: SSE-KMS, PassRole) are not its business.
        needed = {r.action.lower() for r in m.requests if r.confidence != "dependent"}
        if not needed or not needed <= allowed:
            continue
        try:
            prefix = iam_prefix(m.call.service)
        except IamDataError:
            continue
        if prefix in RESOURCE_LEVEL:
            continue  # moto maps S3 operations to IAM's own action names
        name = f"{prefix}:{m.call.operation}"
        if name.lower() not in allowed:
            aliases[name] = None
    if aliases:
        names = sorted(aliases)
        out.append(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "MotoOperationNames",
                        "Effect": "Allow",
                        "Action": names,
                        "Resource": "*",
                    }
                ],
            }
        )
        notes.append(
            "moto names these actions after their operation, where IAM authorizes the "
            "proposal's actions: " + ", ".join(names)
        )
    return MotoPolicy(tuple(out), tuple(dict.fromkeys(notes)))


def administrator(server: MotoServer, name: str = "lambdaguard-driver") -> tuple[str, str]:
    """An administrator's access key moto issued; the server's own clients sign with it."""
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    server.credentials = (key["AccessKeyId"], key["SecretAccessKey"])
    return server.credentials


def proposed_role(
    server: MotoServer, name: str, documents: Sequence[Mapping[str, Any]]
) -> tuple[str, Credentials]:
    """A role carrying only ``documents`` (inline), and credentials of it assumed through STS."""
    iam = server.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_TRUST))["Role"]["Arn"]
    for i, doc in enumerate(documents, 1):
        iam.put_role_policy(
            RoleName=name, PolicyName=f"proposed-{i}", PolicyDocument=json.dumps(doc)
        )
    session = server.client("sts").assume_role(RoleArn=arn, RoleSessionName=name)["Credentials"]
    return arn, Credentials(
        session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"]
    )


def _reset_auth(server: MotoServer, count: str) -> None:
    # A form content type would have Flask eat the body as form fields.
    request = urllib.request.Request(  # noqa: S310 - our loopback moto
        f"{server.endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


@contextmanager
def enforcing(server: MotoServer) -> Iterator[None]:
    """moto authorizes every request inside the block (an unknown key is refused too)."""
    _reset_auth(server, "0")
    try:
        yield
    finally:
        _reset_auth(server, "inf")


@contextmanager
def moto_environment(server: MotoServer, region: str = REGION) -> Iterator[None]:
    """The default credential chain and ``AWS_ENDPOINT_URL`` point at moto inside the block.

    How a user's shell points the live grant reader at an account; restored after.
    """
    key, secret = server.credentials
    values = {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    removed = ("AWS_PROFILE", "AWS_SESSION_TOKEN")
    saved = {k: os.environ.get(k) for k in (*values, *removed)}
    os.environ.update(values)
    for k in removed:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
