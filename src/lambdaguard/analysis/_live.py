"""Read an account live with boto3 and read-only credentials, into inventory sections.

Credentials come from the default chain and ``AWS_ENDPOINT_URL`` is honoured
(boto3 reads it), which is how the tests point it at moto. Every listing uses
botocore's paginator, so it follows its markers; throttling is retried by
botocore's own retry modes (standard by default, adaptive on request), never a
loop of ours. Fleet-wide listings come first (functions, mappings, rules,
schedules, subscriptions, tags, one GetMetricData per 250 functions); only
what has no fleet-wide form is read per function (its resource policy, its
URL, its state, its log group's last event). Every call is counted, so the
bench can print the API calls per function.

A listing that fails leaves a :class:`~lambdaguard.analysis.inventory.ReadWarning`
naming the call and the IAM permission it needs, and the inventory is partial;
nothing is dropped silently. Only when no region could be reached at all does
:class:`AwsUnreachable` end the run.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from lambdaguard.analysis import inventory as inv
from lambdaguard.analysis.inventory import ReadWarning, Section
from lambdaguard.errors import LambdaguardError

__all__ = ["AwsUnreachable", "ClientFactory", "LiveReader", "Progress"]

# service, region -> a boto3 client
ClientFactory = Callable[[str, str], Any]
# (done, total, what)
Progress = Callable[[int, int, str], None]

CLOUDWATCH_RETENTION_DAYS: Final = 455
_QUERIES_PER_CALL: Final = 500  # GetMetricData's limit on MetricDataQueries
_DENIED: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "AuthorizationErrorException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
_NOT_FOUND: Final = frozenset(
    {"ResourceNotFoundException", "NotFoundException", "NoSuchBucket", "NoSuchKey"}
)


class AwsUnreachable(LambdaguardError):
    """No region could be read at all (no endpoint, no credentials)."""


def _permission(service: str, operation: str) -> str:
    from lambdaguard.errors import IamDataError
    from lambdaguard.iam import authorizations

    try:
        found = authorizations(service, operation, {}, region="us-east-1", account="000000000000")
    except (IamDataError, ValueError):
        found = []
    actions = sorted({a.action for a in found})
    return ", ".join(actions) or f"{service}:{operation}"


def default_clients(retry_mode: str = "standard", max_attempts: int = 6) -> ClientFactory:
    """Clients from the default credential chain with botocore's retry mode."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(
        retries={"mode": retry_mode, "max_attempts": max_attempts},  # type: ignore[arg-type]
        connect_timeout=10,
        read_timeout=30,
    )
    lock = threading.Lock()
    cache: dict[tuple[str, str], Any] = {}

    def make(service: str, region: str) -> Any:
        with lock:
            key = (service, region)
            if key not in cache:
                cache[key] = session.client(service, region_name=region, config=config)  # type: ignore[call-overload]
            return cache[key]

    return make


def _queue_arn(url: str, region: str, account: str) -> str:
    # https://sqs.REGION.amazonaws.com/ACCOUNT/NAME (and moto's http://host:port/ACCOUNT/NAME)
    path = [p for p in urlsplit(url).path.split("/") if p]
    if len(path) >= 2:
        account, name = path[-2], path[-1]
    else:
        name = path[-1] if path else url
    host = urlsplit(url).hostname or ""
    if host.startswith("sqs.") and host.count(".") >= 3:
        region = host.split(".")[1]
    return f"arn:aws:sqs:{region}:{account}:{name}"


class LiveReader:
    """Reads the chosen regions of one account; thread-safe call counting."""

    def __init__(
        self,
        clients: ClientFactory,
        regions: Sequence[str],
        *,
        now: datetime,
        lookback_days: int = CLOUDWATCH_RETENTION_DAYS,
        s3_notifications: bool = True,
        progress: Progress | None = None,
        workers: int = 8,
    ) -> None:
        self._clients = clients
        self.regions = list(regions)
        self.now = now
        self.lookback_days = min(max(lookback_days, 1), CLOUDWATCH_RETENTION_DAYS)
        self.s3_notifications = s3_notifications
        self._progress = progress
        self._workers = max(1, workers)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._hooked: set[int] = set()

    # -- plumbing ----------------------------------------------------------------
    def client(self, service: str, region: str) -> Any:
        """A client whose every API call is counted."""
        client = self._clients(service, region)
        with self._lock:
            if id(client) not in self._hooked:
                self._hooked.add(id(client))
                # before-parameter-build runs for every call (each page too), before
                # anything can answer it, so stubbed and retried calls count alike.
                client.meta.events.register("before-parameter-build", self._count)
        return client

    def _count(self, model: Any = None, **_: Any) -> None:
        name = f"{model.service_model.service_name}:{model.name}" if model is not None else "?"
        with self._lock:
            self.calls[name] += 1

    def _pages(self, client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield from client.get_paginator(operation).paginate(**kwargs)

    def _fail(
        self, section: Section, service: str, operation: str, exc: Exception, what: str = ""
    ) -> None:
        from botocore.exceptions import ClientError

        code = ""
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _DENIED:
            message = f"access denied; needs {_permission(service, operation)}"
        elif "Throttl" in code or code in ("TooManyRequestsException", "RequestLimitExceeded"):
            message = f"throttled after botocore's retries ({code})"
        else:
            message = f"{type(exc).__name__}: {exc}"
        if what:
            message = f"{what}: {message}"
        section.warnings.append(ReadWarning(section.region, f"{service}:{operation}", message))

    def _tick(self, done: int, total: int, what: str) -> None:
        if self._progress is not None:
            self._progress(done, total, what)

    # -- the whole read ------------------------------------------------------------
    def read(self) -> tuple[list[Section], frozenset[str] | None, list[ReadWarning]]:
        """Every region's section, the IAM user names (None if not listed), global warnings."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        sections: list[Section] = []
        warnings: list[ReadWarning] = []
        reached = 0
        unreachable: list[str] = []
        for region in self.regions:
            section = Section(region=region)
            sections.append(section)
            try:
                self._functions(section)
                reached += 1
            except NoCredentialsError as exc:
                raise AwsUnreachable(f"no AWS credentials: {exc}") from exc
            except ClientError as exc:
                reached += 1  # AWS answered, it just refused
                self._fail(section, "lambda", "ListFunctions", exc, "functions not listed")
                continue
            except BotoCoreError as exc:
                unreachable.append(f"{region} ({exc})")
                section.warnings.append(
                    ReadWarning(region, "lambda:ListFunctions", f"unreachable: {exc}")
                )
                continue
            self._region(section)
        if not reached:
            raise AwsUnreachable("AWS could not be reached: " + "; ".join(unreachable))
        users = self._users(warnings, self.regions[0])
        if self.s3_notifications:
            self._buckets(sections, warnings)
        return sections, users, warnings

    # -- per region ------------------------------------------------------------------
    def _functions(self, section: Section) -> None:
        lam = self.client("lambda", section.region)
        for page in self._pages(lam, "list_functions"):
            section.functions.extend(page.get("Functions") or [])
        section.complete.add(inv.FUNCTIONS)
        for fn in section.functions:
            parts = str(fn.get("FunctionArn", "")).split(":")
            if len(parts) > 4 and parts[4]:
                section.account = parts[4]
                break

    def _guard(
        self, section: Section, service: str, operation: str, work: Callable[[], None]
    ) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            work()
        except (ClientError, BotoCoreError) as exc:
            self._fail(section, service, operation, exc)
            return False
        return True

    def _region(self, section: Section) -> None:
        region = section.region
        steps: list[tuple[str, str, Callable[[], None]]] = [
            ("lambda", "ListEventSourceMappings", lambda: self._mappings(section)),
            ("resourcegroupstaggingapi", "GetResources", lambda: self._tags(section)),
            ("events", "ListRules", lambda: self._rules(section)),
            ("scheduler", "ListSchedules", lambda: self._schedules(section)),
            ("sns", "ListSubscriptions", lambda: self._subscriptions(section)),
        ]
        total = len(steps) + 3
        for done, (service, operation, work) in enumerate(steps):
            self._tick(done, total, f"{region}: {service} {operation}")
            ok = self._guard(section, service, operation, work)
            if service == "resourcegroupstaggingapi" and not ok:
                section.warnings.pop()  # the per-function fallback below reports its own
                self._tags_per_function(section)
        self._tick(len(steps), total, f"{region}: per-function details")
        self._per_function(section)
        self._tick(len(steps) + 1, total, f"{region}: sources")
        self._sources(section)
        self._tick(len(steps) + 2, total, f"{region}: CloudWatch metrics")
        self._metrics(section)
        self._tick(total, total, f"{region}: done")

    def _mappings(self, section: Section) -> None:
        lam = self.client("lambda", section.region)
        for page in self._pages(lam, "list_event_source_mappings"):
            section.mappings.extend(page.get("EventSourceMappings") or [])
        section.complete.add(inv.MAPPINGS)

    def _tags(self, section: Section) -> None:
        tagging = self.client("resourcegroupstaggingapi", section.region)
        for page in self._pages(tagging, "get_resources", ResourceTypeFilters=["lambda:function"]):
            for item in page.get("ResourceTagMappingList") or []:
                arn = str(item.get("ResourceARN", ""))
                section.tags[arn] = {
                    str(t.get("Key")): str(t.get("Value")) for t in item.get("Tags") or []
                }
        section.complete.add(inv.TAGS)

    def _tags_per_function(self, section: Section) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        lam = self.client("lambda", section.region)
        failed = 0
        for fn in section.functions:
            arn = str(fn.get("FunctionArn", ""))
            try:
                section.tags[arn] = dict(lam.list_tags(Resource=arn).get("Tags") or {})
            except (ClientError, BotoCoreError) as exc:
                failed += 1
                if failed == 1:
                    self._fail(section, "lambda", "ListTags", exc, "tags unknown")
        if not failed:
            section.complete.add(inv.TAGS)

    def _rules(self, section: Section) -> None:
        events = self.client("events", section.region)
        buses = ["default"]
        try:
            more = events.list_event_buses().get("EventBuses") or []
            buses = sorted({"default", *(str(b.get("Name")) for b in more if b.get("Name"))})
        except Exception as exc:  # noqa: BLE001 - custom buses are optional; the default is always read
            section.warnings.append(
                ReadWarning(
                    section.region, "events:ListEventBuses", f"custom buses not read: {exc}"
                )
            )
        for bus in buses:
            for page in self._pages(events, "list_rules", EventBusName=bus):
                for rule in page.get("Rules") or []:
                    targets: list[dict[str, Any]] = []
                    for tpage in self._pages(
                        events, "list_targets_by_rule", Rule=rule["Name"], EventBusName=bus
                    ):
                        targets.extend(tpage.get("Targets") or [])
                    section.rules.append({**rule, "Targets": targets})
        section.complete.add(inv.RULES)

    def _schedules(self, section: Section) -> None:
        scheduler = self.client("scheduler", section.region)
        for page in self._pages(scheduler, "list_schedules"):
            for summary in page.get("Schedules") or []:
                target = str((summary.get("Target") or {}).get("Arn", ""))
                if ":lambda:" not in target:
                    continue  # ListSchedules omits the expression: only ours are fetched
                full = scheduler.get_schedule(
                    Name=summary["Name"], GroupName=summary.get("GroupName", "default")
                )
                full.pop("ResponseMetadata", None)
                section.schedules.append(full)
        section.complete.add(inv.SCHEDULES)

    def _subscriptions(self, section: Section) -> None:
        sns = self.client("sns", section.region)
        for page in self._pages(sns, "list_subscriptions"):
            section.subscriptions.extend(
                s for s in page.get("Subscriptions") or [] if s.get("Protocol") == "lambda"
            )
        section.complete.add(inv.SUBSCRIPTIONS)

    def _per_function(self, section: Section) -> None:
        """Resource policy, URL, state and last log event: no fleet-wide form exists."""
        from botocore.exceptions import BotoCoreError, ClientError

        lam = self.client("lambda", section.region)
        logs = self.client("logs", section.region)
        calls: list[tuple[str, Callable[[str], Any]]] = [
            ("GetPolicy", lambda arn: lam.get_policy(FunctionName=arn)),
            ("GetFunctionUrlConfig", lambda arn: lam.get_function_url_config(FunctionName=arn)),
            (
                "GetFunctionConfiguration",
                lambda arn: lam.get_function_configuration(FunctionName=arn),
            ),
        ]
        failures: Counter[str] = Counter()
        first_error: dict[str, Exception] = {}
        lock = threading.Lock()

        def one(fn: Mapping[str, Any]) -> None:
            name = str(fn.get("FunctionName", ""))
            arn = str(fn.get("FunctionArn", ""))
            for operation, call in calls:
                try:
                    result = call(arn)
                except ClientError as exc:
                    code = str(exc.response.get("Error", {}).get("Code", ""))
                    if code in _NOT_FOUND:
                        continue  # no policy / no URL: a fact, not a failure
                    with lock:
                        failures[operation] += 1
                        first_error.setdefault(operation, exc)
                    continue
                except BotoCoreError as exc:
                    with lock:
                        failures[operation] += 1
                        first_error.setdefault(operation, exc)
                    continue
                with lock:
                    if operation == "GetPolicy":
                        section.policies[arn] = result.get("Policy", "{}")
                    elif operation == "GetFunctionUrlConfig":
                        result.pop("ResponseMetadata", None)
                        section.urls.append(result)
                    else:
                        section.states[arn] = str(result.get("State", "") or "")
            group = str((fn.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}")
            try:
                streams = (
                    logs.describe_log_streams(
                        logGroupName=group, orderBy="LastEventTime", descending=True, limit=1
                    ).get("logStreams")
                    or []
                )
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code not in _NOT_FOUND:
                    with lock:
                        failures["DescribeLogStreams"] += 1
                        first_error.setdefault("DescribeLogStreams", exc)
                return
            except BotoCoreError as exc:
                with lock:
                    failures["DescribeLogStreams"] += 1
                    first_error.setdefault("DescribeLogStreams", exc)
                return
            last = max((int(s.get("lastEventTimestamp") or 0) for s in streams), default=0)
            if last:
                with lock:
                    section.last_log_events[group] = last

        total = len(section.functions)
        with ThreadPoolExecutor(self._workers) as pool:
            for done, _ in enumerate(pool.map(one, section.functions), start=1):
                if done % 25 == 0 or done == total:
                    self._tick(done, total, f"{section.region}: functions")
        for operation, count in sorted(failures.items()):
            service = "logs" if operation == "DescribeLogStreams" else "lambda"
            self._fail(
                section,
                service,
                operation,
                first_error[operation],
                f"failed for {count} of {total} function(s)",
            )
        if not failures.get("GetPolicy"):
            section.complete.add(inv.POLICIES)
        if not failures.get("GetFunctionUrlConfig"):
            section.complete.add(inv.URLS)
        if not failures.get("DescribeLogStreams"):
            section.complete.add(inv.LOGS)

    def _needed_sources(self, section: Section) -> set[str]:
        needed: set[str] = set()
        for m in section.mappings:
            arn = str(m.get("EventSourceArn", "") or "")
            service = arn.split(":")[2] if arn.count(":") > 2 else ""
            needed.add(
                {
                    "sqs": inv.QUEUES,
                    "kinesis": inv.STREAMS,
                    "dynamodb": inv.TABLE_STREAMS,
                    "kafka": inv.KAFKA,
                }.get(service, "")
            )
        for policy in section.policies.values():
            text = policy if isinstance(policy, str) else str(policy)
            for principal, listing in (
                ("sns.amazonaws.com", inv.TOPICS),
                ("sqs.amazonaws.com", inv.QUEUES),
                ("apigateway.amazonaws.com", inv.APIS),
            ):
                if principal in text:
                    needed.add(listing)
        if section.subscriptions:
            needed.add(inv.TOPICS)
        needed.discard("")
        return needed

    def _sources(self, section: Section) -> None:
        account = section.account
        readers: dict[str, tuple[str, str, Callable[[], None]]] = {
            inv.QUEUES: ("sqs", "ListQueues", lambda: self._queues(section, account)),
            inv.STREAMS: ("kinesis", "ListStreams", lambda: self._streams(section)),
            inv.TABLE_STREAMS: (
                "dynamodbstreams",
                "ListStreams",
                lambda: self._table_streams(section),
            ),
            inv.KAFKA: ("kafka", "ListClustersV2", lambda: self._kafka(section)),
            inv.TOPICS: ("sns", "ListTopics", lambda: self._topics(section)),
            inv.APIS: ("apigateway", "GetRestApis", lambda: self._apis(section)),
        }
        for listing in sorted(self._needed_sources(section)):
            service, operation, work = readers[listing]
            if self._guard(section, service, operation, work):
                section.complete.add(listing)

    def _queues(self, section: Section, account: str) -> None:
        sqs = self.client("sqs", section.region)
        for page in self._pages(sqs, "list_queues"):
            section.queues.extend(
                _queue_arn(url, section.region, account) for url in page.get("QueueUrls") or []
            )

    def _streams(self, section: Section) -> None:
        kinesis = self.client("kinesis", section.region)
        for page in self._pages(kinesis, "list_streams"):
            section.streams.extend(
                str(s["StreamARN"]) for s in page.get("StreamSummaries") or [] if "StreamARN" in s
            )

    def _table_streams(self, section: Section) -> None:
        streams = self.client("dynamodbstreams", section.region)
        # No botocore paginator for this one: follow LastEvaluatedStreamArn.
        kwargs: dict[str, Any] = {}
        while True:
            page = streams.list_streams(**kwargs)
            section.table_streams.extend(str(s["StreamArn"]) for s in page.get("Streams") or [])
            marker = page.get("LastEvaluatedStreamArn")
            if not marker:
                return
            kwargs["ExclusiveStartStreamArn"] = marker

    def _kafka(self, section: Section) -> None:
        kafka = self.client("kafka", section.region)
        for page in self._pages(kafka, "list_clusters_v2"):
            section.kafka.extend(str(c["ClusterArn"]) for c in page.get("ClusterInfoList") or [])

    def _topics(self, section: Section) -> None:
        sns = self.client("sns", section.region)
        for page in self._pages(sns, "list_topics"):
            section.topics.extend(str(t["TopicArn"]) for t in page.get("Topics") or [])

    def _apis(self, section: Section) -> None:
        rest = self.client("apigateway", section.region)
        for page in self._pages(rest, "get_rest_apis"):
            section.apis.extend(str(a["id"]) for a in page.get("items") or [])
        http = self.client("apigatewayv2", section.region)
        for page in self._pages(http, "get_apis"):
            section.apis.extend(str(a["ApiId"]) for a in page.get("Items") or [])

    def _metrics(self, section: Section) -> None:
        """Invocations and Errors per UTC day for every function, 250 functions a call."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not section.functions:
            return
        cw = self.client("cloudwatch", section.region)
        end = (self.now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        # Daily periods are a multiple of every resolution CloudWatch keeps (1 min
        # for 15 days, 5 min for 63, 1 h for 455), and day boundaries satisfy the
        # start-time alignment it asks of older data.
        start = end - timedelta(days=self.lookback_days + 1)
        names = [str(fn.get("FunctionName", "")) for fn in section.functions]
        per_call = _QUERIES_PER_CALL // 2
        for offset in range(0, len(names), per_call):
            batch = names[offset : offset + per_call]
            queries: list[dict[str, Any]] = []
            for i, name in enumerate(batch):
                for metric, prefix in (("Invocations", "i"), ("Errors", "e")):
                    queries.append(
                        {
                            "Id": f"{prefix}{i}",
                            "MetricStat": {
                                "Metric": {
                                    "Namespace": "AWS/Lambda",
                                    "MetricName": metric,
                                    "Dimensions": [{"Name": "FunctionName", "Value": name}],
                                },
                                "Period": 86400,
                                "Stat": "Sum",
                            },
                            "ReturnData": True,
                        }
                    )
            values: dict[str, dict[str, float]] = {q["Id"]: {} for q in queries}
            status: dict[str, str] = {}
            try:
                for page in self._pages(
                    cw,
                    "get_metric_data",
                    MetricDataQueries=queries,
                    StartTime=start,
                    EndTime=end,
                    ScanBy="TimestampAscending",
                ):
                    for result in page.get("MetricDataResults") or []:
                        rid = str(result.get("Id", ""))
                        stamps = result.get("Timestamps") or []
                        numbers = result.get("Values") or []
                        if len(stamps) != len(numbers):
                            status[rid] = "Mismatched"
                        for stamp, value in zip(stamps, numbers, strict=False):
                            if math.isnan(value):  # a gap, not a zero
                                status[rid] = "Gap"
                                continue
                            day = stamp.astimezone(UTC).date().isoformat()
                            values.setdefault(rid, {})[day] = values.get(rid, {}).get(
                                day, 0.0
                            ) + float(value)
                        if status.get(rid) not in ("Gap", "Mismatched"):
                            status[rid] = str(result.get("StatusCode", "Complete"))
                    for message in page.get("Messages") or []:
                        section.warnings.append(
                            ReadWarning(
                                section.region,
                                "cloudwatch:GetMetricData",
                                f"{message.get('Code')}: {message.get('Value')}",
                            )
                        )
            except (ClientError, BotoCoreError) as exc:
                self._fail(
                    section,
                    "cloudwatch",
                    "GetMetricData",
                    exc,
                    f"no metrics for {len(batch)} function(s)",
                )
                continue
            incomplete: list[str] = []
            for i, name in enumerate(batch):
                section.metrics[name] = {
                    "Invocations": values.get(f"i{i}", {}),
                    "Errors": values.get(f"e{i}", {}),
                }
                if status.get(f"i{i}", "Complete") == "Complete":
                    section.metrics_complete.add(name)
                else:
                    incomplete.append(f"{name} ({status.get(f'i{i}')})")
            if incomplete:
                section.warnings.append(
                    ReadWarning(
                        section.region,
                        "cloudwatch:GetMetricData",
                        "partial Invocations data for "
                        + ", ".join(incomplete[:10])
                        + (f" and {len(incomplete) - 10} more" if len(incomplete) > 10 else ""),
                    )
                )

    # -- global ------------------------------------------------------------------------
    def _users(self, warnings: list[ReadWarning], region: str) -> frozenset[str] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        iam = self.client("iam", region)
        users: set[str] = set()
        try:
            for page in self._pages(iam, "list_users"):
                users.update(str(u["UserName"]) for u in page.get("Users") or [])
        except (ClientError, BotoCoreError) as exc:
            holder = Section(region="global")
            self._fail(holder, "iam", "ListUsers", exc, "owner-gone checks IAM users")
            warnings.extend(holder.warnings)
            return None
        return frozenset(users)

    def _buckets(self, sections: Sequence[Section], warnings: list[ReadWarning]) -> None:
        """Buckets and their Lambda notifications (bucket names are account-wide)."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not sections:
            return
        by_region = {s.region: s for s in sections}
        first = sections[0]
        s3 = self.client("s3", first.region)
        buckets: list[dict[str, Any]] = []
        try:
            for page in self._pages(s3, "list_buckets"):
                buckets.extend(page.get("Buckets") or [])
        except (ClientError, BotoCoreError) as exc:
            holder = Section(region="global")
            self._fail(holder, "s3", "ListBuckets", exc, "bucket sources unknown")
            warnings.extend(holder.warnings)
            return
        names = [str(b["Name"]) for b in buckets]
        for s in sections:
            s.buckets = list(names)
            s.complete.add(inv.BUCKETS)
        failed = 0
        for bucket in buckets:
            name = str(bucket["Name"])
            region = str(bucket.get("BucketRegion") or "")
            if not region:
                try:
                    region = str(
                        s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
                    )
                except (ClientError, BotoCoreError):
                    region = ""
            section = by_region.get(region)
            if section is None:
                continue  # a bucket in a region not being read
            try:
                config = self.client("s3", region).get_bucket_notification_configuration(
                    Bucket=name
                )
            except (ClientError, BotoCoreError) as exc:
                failed += 1
                if failed == 1:
                    self._fail(section, "s3", "GetBucketNotificationConfiguration", exc, name)
                continue
            lambdas = config.get("LambdaFunctionConfigurations") or []
            if lambdas:
                section.notifications[name] = {"LambdaFunctionConfigurations": lambdas}
        if not failed:
            for s in sections:
                s.complete.add(inv.NOTIFICATIONS)


def list_regions_of(sections: Iterable[Section]) -> list[str]:
    """The regions read, in order (for reports)."""
    return [s.region for s in sections]
