"""Every ARN placeholder of the 40 favourite services is bound when a request names it.

The list below is what no request member of those services binds today
(AWS-generated ids, names only reachable through nested or unrelated
members). It may only shrink: a new unbound placeholder fails the first
test, and a placeholder that became bound must be removed from the list.
API Gateway is left out: it is authorized by HTTP verb on the resource path
(``_mapper._rest_authorize``), not through ARN templates.
"""

from __future__ import annotations

import pytest

from lambdaguard.iam import TOP_SERVICES, authorizations
from lambdaguard.iam._coverage import unbound_placeholders

KNOWN_UNBOUND: frozenset[tuple[str, str, str]] = frozenset(
    [
        ("bedrock", "application-inference-profile", "ResourceId"),
        ("bedrock", "custom-model-deployment", "ResourceId"),
        ("bedrock", "default-prompt-router", "ResourceId"),
        ("bedrock", "guardrail-profile", "ResourceId"),
        ("bedrock", "imported-model", "ResourceId"),
        ("bedrock", "inference-profile", "ResourceId"),
        ("bedrock", "project", "ResourceId"),
        ("bedrock", "prompt-router", "ResourceId"),
        ("bedrock", "provisioned-model", "ResourceId"),
        ("bedrock", "system-tool", "ResourceId"),
        ("ecs", "daemon-deployment", "ClusterName"),
        ("ecs", "daemon-deployment", "DaemonDeploymentId"),
        ("ecs", "daemon-deployment", "DaemonName"),
        ("ecs", "daemon-revision", "ClusterName"),
        ("ecs", "daemon-revision", "DaemonName"),
        ("ecs", "daemon-revision", "DaemonRevisionId"),
        ("ecs", "service-revision", "ClusterName"),
        ("ecs", "service-revision", "ServiceName"),
        ("ecs", "service-revision", "ServiceRevisionId"),
        ("iam", "mfa", "MfaTokenIdWithPath"),
        ("iam", "sms-mfa", "MfaTokenIdWithPath"),
        ("lambda", "microvmImage", "MicrovmImageName"),
        ("lambda", "networkConnector", "NetworkConnectorId"),
        ("s3", "accesspoint", "AccessPointName"),
        ("s3", "accesspointobject", "AccessPointName"),
        ("s3", "accesspointobject", "ObjectName"),
        ("s3-object-lambda", "objectlambdaaccesspoint", "AccessPointName"),
        ("s3express", "accesspoint", "AccessPointName"),
        ("sagemaker", "inference-component", "InferenceComponentName"),
        ("ses", "export-job", "ExportJobId"),
        ("ses", "import-job", "ImportJobId"),
        ("ses", "reputation-policy", "ReputationPolicyName"),
        ("ssm", "automation-definition", "AutomationDefinitionName"),
        ("ssm", "automation-definition", "VersionId"),
        ("ssm", "servicesetting", "ResourceId"),
        ("ssm", "task", "TaskId"),
    ]
)


@pytest.fixture(scope="module")
def unbound() -> frozenset[tuple[str, str, str]]:
    """The placeholders of the 40 favourite services no request binds (API Gateway aside)."""
    return frozenset(x for x in unbound_placeholders(TOP_SERVICES) if x[0] != "apigateway")


def test_no_new_unbound_placeholder(unbound: frozenset[tuple[str, str, str]]) -> None:
    """No placeholder outside the known list is left unbound."""
    assert sorted(unbound - KNOWN_UNBOUND) == []


def test_known_list_only_shrinks(unbound: frozenset[tuple[str, str, str]]) -> None:
    """Every placeholder in the known list is still unbound (bound ones must leave the list)."""
    assert sorted(KNOWN_UNBOUND - unbound) == []


def test_key_name_binds_key_pair() -> None:
    """ec2:ImportKeyPair with KeyName names the key pair (was '*': no parameter gave ${KeyPairName})."""
    [auth] = [
        a
        for a in authorizations(
            "ec2",
            "ImportKeyPair",
            {"KeyName": "deploy"},
            region="eu-west-1",
            account="123456789012",
        )
        if a.action == "ec2:ImportKeyPair"
    ]
    assert auth.resource == "arn:aws:ec2:eu-west-1:123456789012:key-pair/deploy"
