"""A policy proposal as the files people apply: Terraform, CloudFormation/SAM, and a plain diff.

Each renderer reads only the findings model (:class:`~lambdaguard.analysis.findings.PolicyProposal`)
and is deterministic: the same proposal gives the same bytes.

- :func:`terraform`: one ``aws_iam_policy_document`` data source per proposed
  document, statements with ``sid``, ``effect``, ``actions``, ``resources`` (or
  ``not_resources``) and ``condition`` blocks. Strings are HCL-escaped, and a
  policy variable ``${aws:username}`` is written ``$${aws:username}`` so Terraform
  passes it to IAM instead of interpolating it.
- :func:`cloudformation`: a template with one ``AWS::IAM::ManagedPolicy`` per
  document, attached to the role by name; it deploys on its own (``aws
  cloudformation deploy``) or its ``PolicyDocument`` pastes into a SAM
  function's ``Policies``. Written as YAML whose every string is a double-quoted
  JSON string (JSON's escapes are YAML's), so no value can change meaning.
- :func:`diff_text`: removed / kept / added lines, ``-``, `` `` and ``+``.

Every output opens with what the proposal rests on: the role, the confidence
and its reasons, the proof. A proposal whose proof failed is rendered only
with that warning in its first lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from lambdaguard.analysis.findings import PolicyProposal

__all__ = ["cloudformation", "diff_text", "header_lines", "resource_name", "terraform"]


def header_lines(proposal: PolicyProposal, function: str) -> list[str]:
    """What every output says first: function, role, confidence (and why), proof."""
    lines = [
        f"lambdaguard: right-sized policy for {proposal.role_arn} (function {function})",
        f"confidence: {proposal.confidence.level.value}",
    ]
    lines += [f"  - {r}" for r in proposal.confidence.reasons]
    if proposal.confidence.level.value == "low":
        lines.append("LOW CONFIDENCE: try it with `lambdaguard policy --pin` before applying")
    if proposal.proved:
        lines.append("proof: passed (" + ", ".join(c.name for c in proposal.proof) + ")")
    elif proposal.proved is False:
        failed = [c for c in proposal.proof if not c.passed]
        lines.append(
            "PROOF FAILED, DO NOT APPLY: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
        )
    lines.append(
        "replaces the role's identity policies: " + (", ".join(proposal.replaces) or "(none)")
    )
    if proposal.boundary:
        lines.append(f"the permissions boundary {proposal.boundary} stays attached")
    return lines


def resource_name(function: str, index: int, count: int) -> str:
    """A Terraform/CloudFormation-safe name for document ``index`` (1-based) of ``count``."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", function).strip("_").lower() or "function"
    if not base[0].isalpha():
        base = "fn_" + base
    return base if count == 1 else f"{base}_{index}"


# ---------------------------------------------------------------------------
# Terraform


def _hcl_string(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)[1:-1]
    # HCL template sequences: ${ and %{ start interpolation/directives unless doubled.
    text = text.replace("${", "$${").replace("%{", "%%{")
    return f'"{text}"'


def _hcl_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_hcl_string(v) for v in values) + "]"


def _condition_values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for v in items:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        else:
            out.append(str(v))
    return out


def terraform(proposal: PolicyProposal, function: str) -> str:
    """The proposal as Terraform ``aws_iam_policy_document`` data sources."""
    lines = [f"# {line}" for line in header_lines(proposal, function)]
    documents = proposal.policies
    for i, doc in enumerate(documents, 1):
        name = resource_name(function, i, len(documents))
        lines.append("")
        lines.append(f'data "aws_iam_policy_document" "{name}" {{')
        lines.append(f'  version = "{doc.get("Version", "2012-10-17")}"')
        for st in doc["Statement"]:
            lines.append("")
            lines.append("  statement {")
            attrs: list[tuple[str, str]] = []
            if "Sid" in st:
                attrs.append(("sid", _hcl_string(st["Sid"])))
            attrs.append(("effect", _hcl_string(st["Effect"])))
            for key, attr in (
                ("Action", "actions"),
                ("NotAction", "not_actions"),
                ("Resource", "resources"),
                ("NotResource", "not_resources"),
            ):
                if key in st:
                    value = st[key]
                    attrs.append((attr, _hcl_list(value if isinstance(value, list) else [value])))
            width = max(len(k) for k, _ in attrs)
            lines.extend(f"    {k:<{width}} = {v}" for k, v in attrs)
            for test, keys in (st.get("Condition") or {}).items():
                for variable, value in keys.items():
                    lines.append("")
                    lines.append("    condition {")
                    lines.append(f"      test     = {_hcl_string(test)}")
                    lines.append(f"      variable = {_hcl_string(variable)}")
                    lines.append(f"      values   = {_hcl_list(_condition_values(value))}")
                    lines.append("    }")
            lines.append("  }")
        lines.append("}")
    if not documents:
        lines.append("# nothing to propose")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# CloudFormation / SAM


# Keys YAML reads as the same plain string (CloudFormation's own keys all are).
_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _yaml(value: Any, indent: int) -> list[str]:
    """YAML lines for a JSON value: block style, every string a double-quoted JSON string."""
    pad = "  " * indent
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            key = str(k) if _PLAIN_KEY.fullmatch(str(k)) else json.dumps(str(k), ensure_ascii=False)
            if isinstance(v, dict | list) and v:
                out.append(f"{pad}{key}:")
                out.extend(_yaml(v, indent + 1))
            else:
                out.append(f"{pad}{key}: {_scalar(v)}")
        return out
    if isinstance(value, list):
        out = []
        for v in value:
            if isinstance(v, dict | list) and v:
                inner = _yaml(v, indent + 1)
                out.append(f"{pad}- {inner[0].lstrip()}")
                out.extend(inner[1:])
            else:
                out.append(f"{pad}- {_scalar(v)}")
        return out
    return [f"{pad}{_scalar(value)}"]


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)


def _logical_id(function: str, index: int, count: int) -> str:
    base = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", function) if p)
    base = base or "Function"
    if not base[0].isalpha():
        base = "Fn" + base
    return f"{base}Policy" + (str(index) if count > 1 else "")


def cloudformation(proposal: PolicyProposal, function: str) -> str:
    """The proposal as a CloudFormation (and SAM) template: managed policies on the role."""
    role_name = proposal.role_arn.rsplit("/", 1)[-1]
    documents = proposal.policies
    resources: dict[str, Any] = {}
    for i, doc in enumerate(documents, 1):
        resources[_logical_id(function, i, len(documents))] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": (
                    f"lambdaguard: right-sized policy {i} of {len(documents)} for {function} "
                    f"({proposal.confidence.level.value} confidence)"
                )[:1000],
                "Roles": [role_name],
                "PolicyDocument": doc,
            },
        }
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"lambdaguard: right-sized policy for the role of {function}"[:1024],
    }
    if resources:
        template["Resources"] = resources
    else:
        # A template needs a resource: a proposal that grants nothing deploys a no-op
        # (the role then keeps no identity policy of its own).
        template["Resources"] = {
            "NothingToGrant": {"Type": "AWS::CloudFormation::WaitConditionHandle"}
        }
    lines = [f"# {line}" for line in header_lines(proposal, function)]
    if proposal.replaces:
        lines.append(
            "# detach or delete the policies it replaces once this is deployed and the "
            "function still works"
        )
    lines.extend(_yaml(template, 0))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Diff


def diff_text(proposal: PolicyProposal, *, compact: bool = False) -> str:
    """The diff as plain text: ``-`` removed, ``+`` added, two spaces for kept, notes after ``#``.

    ``compact`` folds the lines of a service that are all removed and never used
    into one line per service (what the demo prints).
    """
    lines = []
    by_service: dict[str, list[Any]] = {}
    for d in proposal.diff:
        by_service.setdefault(d.service, []).append(d)
    for service, found in by_service.items():
        lines.append(f"{service}:")
        if compact and all(d.change == "removed" and "never used" in d.note for d in found):
            policies = sorted({d.note.split(":", 1)[0] for d in found})
            lines.append(
                f"- {len(found)} line(s) granting {service} actions, never used in the window "
                f"({', '.join(policies)})"
            )
            continue
        for d in found:
            sign = {"removed": "-", "added": "+"}.get(d.change, " ")
            lines.append(f"{sign} {d.text}" + (f"    # {d.note}" if d.note else ""))
    return "\n".join(lines) + ("\n" if lines else "")
