"""The coverage report counts honestly and the Lambda-favourite list is real."""

from __future__ import annotations

from lambdaguard.iam import TOP_SERVICES, coverage
from lambdaguard.iam._models import available_services


def test_top_services_are_forty_real_services_with_reasons() -> None:
    """TOP_SERVICES lists 40 distinct botocore services, each with a reason."""
    assert len(TOP_SERVICES) == 40
    assert set(TOP_SERVICES) <= set(available_services())
    assert all(len(reason) > 10 for reason in TOP_SERVICES.values())


def test_counts_add_up() -> None:
    """For each service, mapped + permission-free + unknown = operations, and ARNs <= mapped."""
    report = coverage(TOP_SERVICES)
    for s in report.services:
        assert s.mapped + s.free + len(s.unknown) == s.operations, s.service
        assert s.scoped + len(s.unscoped) == s.needs_resource <= s.mapped, s.service
        assert s.templated <= s.mapped, s.service
    assert report.operations == sum(s.operations for s in report.services)


def test_core_lambda_services_fully_mapped() -> None:
    """The services nearly every function calls map every operation to an action or none."""
    core = ["sqs", "sns", "stepfunctions", "firehose", "events", "kms", "ses", "rds-data"]
    for s in coverage(core).services:
        assert s.unknown == (), s.service


def test_top_services_mostly_known() -> None:
    """At least 94% of the Lambda-favourite operations map to an action or are permission-free."""
    report = coverage(TOP_SERVICES)
    assert report.known / report.operations >= 0.94


def test_mapped_lambda_favourites_have_arn_templates() -> None:
    """Every mapped operation of the 40 services has ARN templates wherever its actions have resource types."""
    report = coverage(TOP_SERVICES)
    assert report.templated == report.mapped


def test_second_pass_counts_are_consistent() -> None:
    """Data-older operations are unknown ones; dependent and nested-role counts stay within the mapped."""
    for s in coverage(TOP_SERVICES).services:
        assert set(s.data_older) <= set(s.unknown), s.service
        assert s.with_dependent <= s.mapped, s.service
        assert s.nested_roles <= s.mapped, s.service
