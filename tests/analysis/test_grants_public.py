"""The grant readers' and the risk knowledge's public surfaces are what __all__ says, documented."""

from __future__ import annotations

import dataclasses
import inspect
from types import ModuleType

import pytest

from lambdaguard.analysis import grants, service_needs
from lambdaguard.iam import evaluation, policy, risk


@pytest.mark.parametrize("module", [grants, service_needs, evaluation, policy, risk])
def test_all_names_exist_and_are_documented(module: ModuleType) -> None:
    """Every name in __all__ exists; functions and classes have docstrings; the module has one."""
    assert module.__doc__
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, f"{module.__name__}.{name}"


@pytest.mark.parametrize(
    "cls",
    [
        grants.FunctionGrant,
        grants.FunctionConfig,
        grants.RoleGrant,
        grants.EventSource,
        grants.GrantWarning,
        service_needs.ServiceNeed,
        evaluation.Decision,
        evaluation.StatementRef,
        policy.Policy,
        policy.Statement,
        risk.RiskPath,
    ],
)
def test_records_are_frozen_and_slotted(cls: type) -> None:
    """The records are frozen, slotted dataclasses: immutable and cheap."""
    assert dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert "__slots__" in vars(cls)


def test_the_agent_never_imports_the_analysis() -> None:
    """The readers live collector-side: nothing under lambdaguard.agent imports them."""
    import pathlib

    agent = pathlib.Path(grants.__file__).parents[1] / "agent"
    for path in agent.rglob("*.py"):
        text = path.read_text()
        assert "lambdaguard.analysis" not in text, path
        assert "lambdaguard.iam" not in text, path
