"""moto seeded as the sample account: over-broad roles, resources, triggers and a canary."""

from __future__ import annotations

import json

from lambdaguard.local import aws
from lambdaguard.local.aws import Account, MotoServer


def test_every_function_has_a_role_with_its_grants(moto: MotoServer, seeded: Account) -> None:
    """Each sample's role carries the managed and inline policies its spec names."""
    iam = moto.client("iam")
    for spec in aws.FUNCTIONS:
        role = seeded.roles[spec.name].rsplit("/", 1)[1]
        attached = {
            p["PolicyArn"]
            for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        }
        assert attached == set(spec.managed_policies)
        assert set(iam.list_role_policies(RoleName=role)["PolicyNames"]) == set(
            spec.inline_policies
        )


def test_roles_are_deliberately_over_broad(moto: MotoServer, seeded: Account) -> None:
    """The account holds a full-access managed policy, an Action '*' and a NotAction grant."""
    iam = moto.client("iam")
    statements = []
    for spec in aws.FUNCTIONS:
        role = seeded.roles[spec.name].rsplit("/", 1)[1]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            doc = json.loads(doc) if isinstance(doc, str) else doc
            statements += doc["Statement"]
    assert any(s.get("Action") == "*" for s in statements)
    assert any("NotAction" in s for s in statements)
    managed = {p for spec in aws.FUNCTIONS for p in spec.managed_policies}
    assert any(p.endswith("FullAccess") for p in managed)


def test_resources_and_triggers_exist(moto: MotoServer, seeded: Account) -> None:
    """Buckets, tables, queues, topics, parameters, functions and their triggers are in place."""
    s3 = moto.client("s3")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {aws.BUCKET_UPLOADS, aws.BUCKET_THUMBNAILS, aws.BUCKET_REPORTS} <= buckets
    listed = s3.list_objects_v2(Bucket=aws.BUCKET_UPLOADS, Prefix="incoming/")
    assert listed["KeyCount"] == aws.SEEDED_UPLOADS
    tables = set(moto.client("dynamodb").list_tables()["TableNames"])
    assert {aws.TABLE_ORDERS, aws.TABLE_INVENTORY} <= tables
    assert (
        moto.client("ssm").get_parameter(Name=aws.PARAM_FEATURE_FLAG)["Parameter"]["Value"] == "on"
    )
    lam = moto.client("lambda")
    names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert names == {spec.name for spec in aws.FUNCTIONS}
    mappings = lam.list_event_source_mappings(FunctionName="queue-worker")["EventSourceMappings"]
    assert [m["EventSourceArn"].rsplit(":", 1)[1] for m in mappings] == [aws.QUEUE_ORDERS]
    notif = s3.get_bucket_notification_configuration(Bucket=aws.BUCKET_UPLOADS)
    assert (
        notif["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"]
        == seeded.functions["thumbnailer"]
    )
    targets = moto.client("events").list_targets_by_rule(Rule="nightly-report-schedule")["Targets"]
    assert targets[0]["Arn"] == seeded.functions["nightly-report"]
    policy = json.loads(lam.get_policy(FunctionName="orders-api")["Policy"])
    assert policy["Statement"][0]["Principal"]["Service"] == "apigateway.amazonaws.com"


def test_the_canary_secret_holds_the_canary(moto: MotoServer, seeded: Account) -> None:
    """The API key secret's value is the canary the leak tests look for."""
    value = moto.client("secretsmanager").get_secret_value(SecretId=aws.SECRET_API_KEY)
    assert json.loads(value["SecretString"]) == {"api_key": seeded.canary}
    assert seeded.canary.startswith("lg-canary-")


def test_functions_get_temporary_role_credentials(seeded: Account) -> None:
    """Each function's credentials are an assumed-role session (ASIA key and a token)."""
    for spec in aws.FUNCTIONS:
        creds = seeded.credentials[spec.name]
        assert creds.access_key_id.startswith("ASIA")
        assert creds.session_token


def test_function_environment_points_at_moto(seeded: Account) -> None:
    """The samples' environment names every resource and sends the SDK to moto."""
    env = seeded.function_environment("orders-api")
    assert env["AWS_ENDPOINT_URL"] == seeded.endpoint
    assert env["ORDER_EVENTS_QUEUE_URL"] == seeded.queues[aws.QUEUE_ORDERS]


# Last in the module on purpose: starting a server resets moto's process-global
# state, which the module's shared server also sees.
def test_a_new_server_starts_empty(moto: MotoServer, seeded: Account) -> None:
    """moto's state is process-global; a new server is reset, so each stage starts empty."""
    assert moto.client("s3").list_buckets()["Buckets"]
    with aws.moto_server() as server:
        assert server.client("s3").list_buckets()["Buckets"] == []
