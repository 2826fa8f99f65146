"""Every listing follows its markers (botocore's Stubber), and bad or partial data is a warning.

moto 5 returns whole listings in one page whatever MaxItems says, so paging
is proven here: each listing is fed two pages and must ask for the second
with the first page's marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambdaguard.analysis import inventory as inv
from lambdaguard.analysis._live import LiveReader
from lambdaguard.analysis.inventory import Section, assemble, read_exports
from lambdaguard.analysis.verdicts import judge_all

NOW = datetime(2026, 5, 15, 12, tzinfo=UTC)
REGION = "us-east-1"
ACCOUNT = "123456789012"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
U1 = "11111111-1111-1111-1111-111111111111"
U2 = "22222222-2222-2222-2222-222222222222"
D1 = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t1/stream/2026-01-01T00:00:00.000"
D2 = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t2/stream/2026-01-01T00:00:00.000"


def client(service: str, region: str = REGION) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="http://127.0.0.1:9",  # never reached: the Stubber answers
    )


class Stubs:
    """One stubbed client per service; any other service is a test error."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def __call__(self, service: str) -> Stubber:
        if service not in self.stubbers:
            c = client(service)
            self.clients[service] = c
            self.stubbers[service] = Stubber(c)
            self.stubbers[service].activate()
        return self.stubbers[service]

    def factory(self, service: str, region: str) -> Any:
        return self.clients[service]

    def done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def stubs() -> Iterator[Stubs]:
    """Stubbed clients; each must have used every response it was given."""
    found = Stubs()
    yield found
    found.done()


def reader(stubs: Stubs) -> LiveReader:
    return LiveReader(stubs.factory, [REGION], now=NOW)


def fn(name: str) -> dict[str, Any]:
    return {
        "FunctionName": name,
        "FunctionArn": FN + name,
        "Runtime": "python3.12",
        "Role": f"arn:aws:iam::{ACCOUNT}:role/r",
        "LastModified": "2026-01-02T03:04:05.000+0000",
    }


# (service, reader method, operation, first page, second page, marker request, check)
Listing = tuple[
    str, str, str, dict[str, Any], dict[str, Any], dict[str, Any], Callable[[Section], Any]
]
LISTINGS: list[Listing] = [
    (
        "lambda",
        "_functions",
        "list_functions",
        {"Functions": [fn("a")], "NextMarker": "m1"},
        {"Functions": [fn("b")]},
        {"Marker": "m1"},
        lambda s: [f["FunctionName"] for f in s.functions] == ["a", "b"],
    ),
    (
        "lambda",
        "_mappings",
        "list_event_source_mappings",
        {"EventSourceMappings": [{"UUID": U1, "FunctionArn": FN + "a"}], "NextMarker": "m1"},
        {"EventSourceMappings": [{"UUID": U2, "FunctionArn": FN + "b"}]},
        {"Marker": "m1"},
        lambda s: [m["UUID"] for m in s.mappings] == [U1, U2],
    ),
    (
        "resourcegroupstaggingapi",
        "_tags",
        "get_resources",
        {
            "ResourceTagMappingList": [
                {"ResourceARN": FN + "a", "Tags": [{"Key": "owner", "Value": "x"}]}
            ],
            "PaginationToken": "t1",
        },
        {"ResourceTagMappingList": [{"ResourceARN": FN + "b", "Tags": []}]},
        {"PaginationToken": "t1", "ResourceTypeFilters": ["lambda:function"]},
        lambda s: s.tags == {FN + "a": {"owner": "x"}, FN + "b": {}},
    ),
    (
        "scheduler",
        "_schedules",
        "list_schedules",
        {
            "Schedules": [{"Name": "s1", "Arn": "arn:s1", "Target": {"Arn": "arn:aws:sqs:::q"}}],
            "NextToken": "t1",
        },
        {"Schedules": [{"Name": "s2", "Arn": "arn:s2", "Target": {"Arn": "arn:aws:sqs:::q"}}]},
        {"NextToken": "t1"},
        lambda s: s.schedules == [],  # neither targets a function: no GetSchedule
    ),
    (
        "sns",
        "_subscriptions",
        "list_subscriptions",
        {
            "Subscriptions": [
                {
                    "Protocol": "lambda",
                    "Endpoint": FN + "a",
                    "TopicArn": "t",
                    "SubscriptionArn": "s1",
                }
            ],
            "NextToken": "t1",
        },
        {
            "Subscriptions": [
                {
                    "Protocol": "email",
                    "Endpoint": "x@example.com",
                    "TopicArn": "t",
                    "SubscriptionArn": "s2",
                }
            ]
        },
        {"NextToken": "t1"},
        lambda s: [x["SubscriptionArn"] for x in s.subscriptions] == ["s1"],
    ),
    (
        "sqs",
        "_queues_",
        "list_queues",
        {"QueueUrls": [f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/q1"], "NextToken": "t1"},
        {"QueueUrls": [f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/q2"]},
        {"NextToken": "t1"},
        lambda s: (
            s.queues == [f"arn:aws:sqs:{REGION}:{ACCOUNT}:q1", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q2"]
        ),
    ),
    (
        "kinesis",
        "_streams",
        "list_streams",
        {
            "StreamNames": ["s1"],
            "HasMoreStreams": True,
            "NextToken": "t1",
            "StreamSummaries": [
                {
                    "StreamName": "s1",
                    "StreamARN": "arn:s1",
                    "StreamStatus": "ACTIVE",
                    "StreamCreationTimestamp": NOW,
                }
            ],
        },
        {
            "StreamNames": ["s2"],
            "HasMoreStreams": False,
            "StreamSummaries": [
                {
                    "StreamName": "s2",
                    "StreamARN": "arn:s2",
                    "StreamStatus": "ACTIVE",
                    "StreamCreationTimestamp": NOW,
                }
            ],
        },
        {"NextToken": "t1"},
        lambda s: s.streams == ["arn:s1", "arn:s2"],
    ),
    (
        "dynamodbstreams",
        "_table_streams",
        "list_streams",
        {"Streams": [{"StreamArn": D1}], "LastEvaluatedStreamArn": D1},
        {"Streams": [{"StreamArn": D2}]},
        {"ExclusiveStartStreamArn": D1},
        lambda s: s.table_streams == [D1, D2],
    ),
    (
        "kafka",
        "_kafka",
        "list_clusters_v2",
        {"ClusterInfoList": [{"ClusterArn": "arn:k1"}], "NextToken": "t1"},
        {"ClusterInfoList": [{"ClusterArn": "arn:k2"}]},
        {"NextToken": "t1"},
        lambda s: s.kafka == ["arn:k1", "arn:k2"],
    ),
    (
        "sns",
        "_topics",
        "list_topics",
        {"Topics": [{"TopicArn": "arn:t1"}], "NextToken": "t1"},
        {"Topics": [{"TopicArn": "arn:t2"}]},
        {"NextToken": "t1"},
        lambda s: s.topics == ["arn:t1", "arn:t2"],
    ),
]


@pytest.mark.parametrize("listing", LISTINGS, ids=[f"{x[0]}.{x[2]}" for x in LISTINGS])
def test_each_listing_follows_its_markers(stubs: Stubs, listing: Listing) -> None:
    """Page two is requested with page one's marker, and both pages' items are kept."""
    service, method, operation, first, second, marker, check = listing
    stub = stubs(service)
    stub.add_response(operation, first)
    stub.add_response(operation, second, marker)
    section = Section(region=REGION, account=ACCOUNT)
    live = reader(stubs)
    if method == "_queues_":
        live._queues(section, ACCOUNT)
    else:
        getattr(live, method)(section)
    assert check(section), section


def test_rules_and_their_targets_follow_markers(stubs: Stubs) -> None:
    """Rules page by NextToken on every bus; each rule's targets page too."""
    events = stubs("events")
    events.add_response("list_event_buses", {"EventBuses": [{"Name": "default"}]})
    events.add_response(
        "list_rules",
        {"Rules": [{"Name": "r1", "Arn": "arn:r1"}], "NextToken": "t1"},
        {"EventBusName": "default"},
    )
    events.add_response(
        "list_targets_by_rule",
        {"Targets": [{"Id": "1", "Arn": FN + "a"}], "NextToken": "x"},
        {"Rule": "r1", "EventBusName": "default"},
    )
    events.add_response(
        "list_targets_by_rule",
        {"Targets": [{"Id": "2", "Arn": FN + "b"}]},
        {"Rule": "r1", "EventBusName": "default", "NextToken": "x"},
    )
    events.add_response(
        "list_rules",
        {"Rules": [{"Name": "r2", "Arn": "arn:r2"}]},
        {"EventBusName": "default", "NextToken": "t1"},
    )
    events.add_response(
        "list_targets_by_rule",
        {"Targets": [{"Id": "3", "Arn": "arn:aws:sqs:us-east-1:1:q"}]},
        {"Rule": "r2", "EventBusName": "default"},
    )
    section = Section(region=REGION, account=ACCOUNT)
    reader(stubs)._rules(section)
    assert [r["Name"] for r in section.rules] == ["r1", "r2"]
    assert [t["Id"] for t in section.rules[0]["Targets"]] == ["1", "2"]


def test_metrics_follow_next_token_and_gaps_make_it_partial(stubs: Stubs) -> None:
    """GetMetricData pages are merged; a PartialData status or a NaN value is a warning, not a crash."""
    cw = stubs("cloudwatch")
    day1 = datetime(2026, 5, 1, tzinfo=UTC)
    day2 = datetime(2026, 5, 2, tzinfo=UTC)
    cw.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "i0", "Timestamps": [day1], "Values": [3.0], "StatusCode": "PartialData"},
                {
                    "Id": "i1",
                    "Timestamps": [day1],
                    "Values": [float("nan")],
                    "StatusCode": "Complete",
                },
            ],
            "NextToken": "t1",
        },
    )
    cw.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "i0", "Timestamps": [day2], "Values": [4.0], "StatusCode": "Complete"},
                {"Id": "e0", "Timestamps": [day2], "Values": [1.0], "StatusCode": "Complete"},
            ],
            "Messages": [{"Code": "MaxQueryTimeRangeExceed", "Value": "trimmed"}],
        },
    )
    section = Section(region=REGION, account=ACCOUNT, functions=[fn("a"), fn("b")])
    reader(stubs)._metrics(section)
    assert section.metrics["a"]["Invocations"] == {"2026-05-01": 3.0, "2026-05-02": 4.0}
    assert section.metrics["a"]["Errors"] == {"2026-05-02": 1.0}
    assert "a" in section.metrics_complete  # the last page completed it
    assert "b" not in section.metrics_complete  # a NaN is a gap, not a zero
    text = " ".join(str(w) for w in section.warnings)
    assert "MaxQueryTimeRangeExceed" in text
    assert "partial Invocations data for b" in text


def test_a_region_that_denies_access_is_a_warning_not_a_crash(stubs: Stubs) -> None:
    """AccessDenied on ListFunctions names the permission; other regions are still read."""
    stubs("lambda").add_client_error(
        "list_functions", "AccessDeniedException", http_status_code=403
    )
    live = LiveReader(stubs.factory, [REGION], now=NOW, s3_notifications=False)
    stubs("iam").add_response("list_users", {"Users": []})
    sections, users, warnings = live.read()
    inventory = assemble(sections, users=users, extra_warnings=warnings)
    assert inventory.partial
    assert any("needs lambda:ListFunctions" in str(w) for w in inventory.warnings)


def test_a_throttled_listing_leaves_the_function_and_a_warning(stubs: Stubs) -> None:
    """Throttling past botocore's retries marks the result partial; no function goes missing."""
    lam = stubs("lambda")
    lam.add_response("list_functions", {"Functions": [fn("a")]})
    lam.add_client_error("list_event_source_mappings", "ThrottlingException", http_status_code=429)
    lam.add_client_error("get_policy", "ResourceNotFoundException", http_status_code=404)
    lam.add_client_error(
        "get_function_url_config", "ResourceNotFoundException", http_status_code=404
    )
    lam.add_response("get_function_configuration", {"FunctionName": "a", "State": "Active"})
    stubs("resourcegroupstaggingapi").add_response("get_resources", {"ResourceTagMappingList": []})
    events = stubs("events")
    events.add_response("list_event_buses", {"EventBuses": []})
    events.add_response("list_rules", {"Rules": []})
    stubs("scheduler").add_response("list_schedules", {"Schedules": []})
    stubs("sns").add_response("list_subscriptions", {"Subscriptions": []})
    stubs("logs").add_client_error(
        "describe_log_streams", "ResourceNotFoundException", http_status_code=400
    )
    stubs("cloudwatch").add_response("get_metric_data", {"MetricDataResults": []})
    stubs("iam").add_response("list_users", {"Users": []})
    live = LiveReader(stubs.factory, [REGION], now=NOW, s3_notifications=False)
    sections, users, warnings = live.read()
    inventory = assemble(sections, users=users, extra_warnings=warnings)
    assert [f.name for f in inventory.functions] == ["a"]
    assert inventory.partial
    assert any(
        "throttled" in str(w) and "ListEventSourceMappings" in str(w) for w in inventory.warnings
    )
    (finding,) = judge_all(inventory, now=NOW, window=timedelta(days=90))
    assert finding.confidence != "high"
    assert any("not read for its region: mappings" in r for r in finding.reasons)
    assert live.calls["lambda:ListFunctions"] == 1


def test_exports_with_missing_fields_warn_and_keep_every_function(tmp_path: Path) -> None:
    """Missing ARNs, runtimes or targets, broken and unknown files: warnings, never a lost function."""
    (tmp_path / "functions.json").write_text(
        json.dumps(
            {
                "Functions": [
                    fn("whole"),
                    {"FunctionName": "no-arn", "Runtime": "python3.12"},
                    {"FunctionArn": FN + "no-runtime"},
                    {"Description": "nameless"},
                ]
            }
        )
    )
    (tmp_path / "mappings.json").write_text(
        json.dumps({"EventSourceMappings": [{"UUID": "u1", "State": "Enabled"}]})
    )
    (tmp_path / "rules.json").write_text(
        json.dumps({"Rules": [{"Name": "r", "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r"}]})
    )
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"Something": 1}))
    sections, warnings, _ = read_exports([tmp_path], default_region=REGION)
    inventory = assemble(sections, extra_warnings=warnings)
    names = sorted(f.name for f in inventory.functions)
    assert names == ["no-arn", "no-runtime", "whole"]
    text = "\n".join(str(w) for w in inventory.warnings)
    for expected in (
        "no-arn' has no FunctionArn",
        "no-runtime: missing field(s) Runtime",
        "neither FunctionName nor FunctionArn",
        "mapping u1 has no FunctionArn",
        "rule r has no Targets",
        "not readable JSON",
        "not a recognised export",
    ):
        assert expected in text, expected
    findings = judge_all(inventory, now=NOW, window=timedelta(days=90))
    assert all(f.confidence == "low" for f in findings)


def test_missing_listing_makes_sources_unknown_not_gone() -> None:
    """Without a queue listing, a mapping's queue is unknown (idle), never 'gone' (dead)."""
    section = Section(
        region=REGION,
        account=ACCOUNT,
        functions=[fn("a")],
        mappings=[
            {
                "UUID": "u",
                "FunctionArn": FN + "a",
                "State": "Enabled",
                "EventSourceArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
            }
        ],
        complete={inv.FUNCTIONS, inv.MAPPINGS},
    )
    (trigger,) = assemble([section]).functions[0].triggers
    assert trigger.source_exists is None
    section.complete.add(inv.QUEUES)
    (trigger,) = assemble([section]).functions[0].triggers
    assert trigger.source_exists is False
