"""The public surface of lambdaguard.iam is what __all__ says, and nothing more."""

from __future__ import annotations

import dataclasses
import inspect

from lambdaguard import iam


def test_all_names_exist_and_are_documented() -> None:
    """Every name in __all__ exists and has a docstring."""
    for name in iam.__all__:
        obj = getattr(iam, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, name


def test_no_public_module_level_extras() -> None:
    """Public (non-underscore) attributes are __all__ plus the public submodules."""
    public = {n for n in dir(iam) if not n.startswith("_")}
    assert public - set(iam.__all__) <= {
        "annotations",
        "cli",
        "evaluation",
        "policy",
        "risk",
        "validity",
    }


def test_authorization_is_frozen_and_slotted() -> None:
    """Authorization is a frozen, slotted dataclass."""
    params = iam.Authorization.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert "__slots__" in vars(iam.Authorization)
    assert [f.name for f in dataclasses.fields(iam.Authorization)] == [
        "action",
        "resource",
        "confidence",
        "explanation",
    ]


def test_signature_matches_the_contract() -> None:
    """authorizations() takes service, operation, params, then keyword-only context."""
    sig = inspect.signature(iam.authorizations)
    assert list(sig.parameters) == [
        "service",
        "operation",
        "params",
        "region",
        "account",
        "partition",
        "response",
    ]
    assert sig.parameters["partition"].default == "aws"
    assert sig.parameters["region"].kind is inspect.Parameter.KEYWORD_ONLY
