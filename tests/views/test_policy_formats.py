"""Every policy output format passes a tool of its own ecosystem and says the same as the JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.analysis.policy_kit import ACCOUNT, ROLE, SURE, allow, deny, managed, need, pol

from lambdaguard.analysis.findings import Confidence, Level, PolicyProposal
from lambdaguard.analysis.proposal import Options, Role, propose
from lambdaguard.iam import parse_policy
from lambdaguard.iam.validity import action_problem, resource_problem
from lambdaguard.views.policy_formats import cloudformation, diff_text, terraform

TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table"
# The aws_iam_policy_document schema (Terraform AWS provider): the blocks and attributes it takes.
_DOCUMENT_ATTRS = {
    "version",
    "statement",
    "policy_id",
    "source_policy_documents",
    "override_policy_documents",
}
_STATEMENT_ATTRS = {
    "sid",
    "effect",
    "actions",
    "not_actions",
    "resources",
    "not_resources",
    "principals",
    "not_principals",
    "condition",
}
_CONDITION_ATTRS = {"test", "variable", "values"}


@pytest.fixture(scope="module")
def rich_proposal() -> PolicyProposal:
    """A proposal with everything a renderer must carry: conditions, a variable, a deny, two documents."""
    tls = {"Bool": {"aws:SecureTransport": "false"}}
    role = Role(
        ROLE,
        (
            managed("AmazonDynamoDBFullAccess"),
            pol(
                allow("s3:GetObject", "arn:aws:s3:::home/${aws:PrincipalTag/team}/*"),
                allow("s3:PutObject", "*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}}),
                deny("s3:*", "*", Condition=tls),
                name="orders-role/inline",
            ),
        ),
    )
    needs = [
        need("s3:GetObject", "arn:aws:s3:::home/blue/*"),
        need("s3:PutObject", 'arn:aws:s3:::out/"q"/*'),
    ]
    needs += [
        need(a, f"{TABLE}/tenant-{i:03d}")
        for i in range(120)
        for a in ("dynamodb:GetItem", "dynamodb:Query")
    ]
    p = propose(
        role,
        needs,
        account=ACCOUNT,
        confidence=Confidence(Level.LOW, ("3 days observed",)),
        options=Options(document_limit=4000),
    )
    assert p.proved, p.proof
    assert len(p.documents) > 1
    return p


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _hcl_value(text: str) -> str:
    # python-hcl2 keeps the quotes and the template escapes of a string literal.
    assert text.startswith('"'), text
    assert text.endswith('"'), text
    value: str = json.loads(text.replace("$${", "${").replace("%%{", "%{"))
    return value


def test_terraform_parses_as_hcl_and_says_what_the_json_says(rich_proposal: PolicyProposal) -> None:
    """python-hcl2 parses it; each data source is a valid aws_iam_policy_document equal to a document."""
    import hcl2

    parsed = hcl2.loads(terraform(rich_proposal, "orders-api"))
    blocks = [
        (name.strip('"'), body)
        for data in parsed["data"]
        for kind, named in data.items()
        if kind.strip('"') == "aws_iam_policy_document"
        for name, body in named.items()
    ]
    assert [n for n, _ in blocks] == [
        f"orders_api_{i}" for i in range(1, len(rich_proposal.documents) + 1)
    ]
    for (_, body), document in zip(blocks, rich_proposal.policies, strict=True):
        assert set(body) - {"__is_block__"} <= _DOCUMENT_ATTRS
        statements = []
        for st in body["statement"]:
            assert set(st) - {"__is_block__"} <= _STATEMENT_ATTRS
            out: dict[str, Any] = {"Sid": _hcl_value(st["sid"]), "Effect": _hcl_value(st["effect"])}
            out["Action"] = [_hcl_value(a) for a in st["actions"]]
            if "resources" in st:
                out["Resource"] = [_hcl_value(r) for r in st["resources"]]
            if "not_resources" in st:
                out["NotResource"] = [_hcl_value(r) for r in st["not_resources"]]
            for c in st.get("condition", []):
                assert set(c) - {"__is_block__"} <= _CONDITION_ATTRS
                values = [_hcl_value(v) for v in c["values"]]
                slot = out.setdefault("Condition", {}).setdefault(_hcl_value(c["test"]), {})
                slot[_hcl_value(c["variable"])] = values[0] if len(values) == 1 else values
            statements.append(out)
        expected = [
            {
                k: (_as_list(v) if k in ("Action", "Resource", "NotResource") else v)
                for k, v in st.items()
            }
            for st in document["Statement"]
        ]
        assert statements == expected


def test_terraform_escapes_policy_variables_so_iam_gets_them(rich_proposal: PolicyProposal) -> None:
    """A ``${...}`` in a policy reaches IAM: Terraform must see ``$${...}``, never an interpolation."""
    text = terraform(rich_proposal, "orders-api")
    assert "${" not in text.replace("$${", "")


def test_cloudformation_passes_cfn_lint_and_carries_the_documents(
    rich_proposal: PolicyProposal,
) -> None:
    """cfn-lint finds nothing; each ManagedPolicy's document equals a proposed document."""
    import yaml
    from cfnlint.api import ManualArgs, lint

    text = cloudformation(rich_proposal, "orders-api")
    matches = lint(text, config=ManualArgs(regions=["us-east-1"]))
    assert matches == [], [str(m) for m in matches]
    template = yaml.safe_load(text)
    policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert [r["Properties"]["PolicyDocument"] for r in policies] == list(rich_proposal.policies)
    assert all(r["Properties"]["Roles"] == ["orders-role"] for r in policies)


def test_a_proposal_with_nothing_to_grant_still_renders_valid_files() -> None:
    """No statements: the template still lints and the Terraform still parses."""
    import hcl2
    from cfnlint.api import ManualArgs, lint

    empty = PolicyProposal(role_arn=ROLE, documents=(), confidence=SURE, proved=True)
    assert lint(cloudformation(empty, "idle"), config=ManualArgs(regions=["us-east-1"])) == []
    assert "data" not in hcl2.loads(terraform(empty, "idle"))


def test_json_documents_are_valid_by_the_iam_data(rich_proposal: PolicyProposal) -> None:
    """Each document parses without a warning; every action exists; every resource fits its action."""
    for i, text in enumerate(rich_proposal.documents):
        policy = parse_policy(text, name=f"doc{i}")
        assert policy.warnings == ()
        assert policy.version == "2012-10-17"
        for st in policy.statements:
            for action in st.actions:
                assert action_problem(action) is None
                if st.effect == "Allow":
                    for resource in st.resources:
                        assert resource_problem(action, resource) is None, (action, resource)


def test_every_output_says_the_confidence_and_the_proof_first(
    rich_proposal: PolicyProposal,
) -> None:
    """Terraform and CloudFormation open with the confidence (low, in capitals) and the proof."""
    for text in (
        terraform(rich_proposal, "orders-api"),
        cloudformation(rich_proposal, "orders-api"),
    ):
        head = text.splitlines()[:8]
        assert any("confidence: low" in line for line in head)
        assert any("LOW CONFIDENCE" in line for line in head)
        assert any("proof: passed" in line for line in text.splitlines()[:12])


def test_the_diff_marks_removed_kept_and_added(rich_proposal: PolicyProposal) -> None:
    """The plain diff: ``-`` for what goes, ``+`` for the narrower lines, notes after ``#``."""
    text = diff_text(rich_proposal)
    assert "- Allow dynamodb:* on *" in text
    assert any(line.startswith("+ Allow dynamodb:GetItem") for line in text.splitlines())
    assert "never used in the window" in text
