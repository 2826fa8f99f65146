"""The inventory: every function of an account, its triggers, and the evidence of its use.

Two ways in, one way through. The live reader (:mod:`lambdaguard.analysis._live`)
and the offline reader (:func:`read_exports`) both produce :class:`Section`\\ s,
which hold what AWS returned in AWS's own shapes (``list-functions``' items,
``list-event-source-mappings``' items, ``get-policy``'s document …), and
:func:`assemble` alone turns sections into :class:`FunctionInfo` records. So
the two paths cannot disagree on what a field means, and a test proves they
build the same model.

What was not read is unknown, never absent: a queue is "gone" only when the
queue listing of its account and region was read completely and does not hold
it. Every listing that failed, was denied, or had missing fields leaves a
:class:`ReadWarning` and marks the inventory partial; no function is dropped
without one.

Offline, the files people already export are read as they are (``aws lambda
list-functions``, ``list-event-source-mappings``, ``get-policy``,
``get-function-url-config``, ``aws events list-rules`` …; see the README's
inventory section) and so is lambdaguard's own bundle (``lambdaguard inventory
--save``), which is the live reader's sections written out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from lambdaguard.errors import ConfigError

__all__ = [
    "BUNDLE_FORMAT",
    "FunctionInfo",
    "Inventory",
    "ReadWarning",
    "Section",
    "Trigger",
    "assemble",
    "read_exports",
]

BUNDLE_FORMAT: Final = "lambdaguard.inventory/1"

# Trigger kinds.
ESM: Final = "event-source-mapping"
PERMISSION: Final = "permission"
URL: Final = "function-url"
RULE: Final = "eventbridge-rule"
SCHEDULE: Final = "scheduler-schedule"
SNS: Final = "sns-subscription"
S3: Final = "s3-notification"

# Runtimes whose deprecation date has passed (Lambda runtimes page). A newer
# list can be given with --deprecated-runtimes; anything not recognised here
# is not flagged.
DEPRECATED_RUNTIMES: Final = frozenset(
    {
        "python2.7",
        "python3.6",
        "python3.7",
        "python3.8",
        "nodejs",
        "nodejs4.3",
        "nodejs4.3-edge",
        "nodejs6.10",
        "nodejs8.10",
        "nodejs10.x",
        "nodejs12.x",
        "nodejs14.x",
        "nodejs16.x",
        "java8",
        "dotnetcore1.0",
        "dotnetcore2.0",
        "dotnetcore2.1",
        "dotnetcore3.1",
        "dotnet5.0",
        "dotnet6",
        "go1.x",
        "ruby2.5",
        "ruby2.7",
        "provided",
    }
)


@dataclass(frozen=True, slots=True)
class ReadWarning:
    """Something that could not be read; the inventory is partial because of it."""

    where: str  # region, file, or "global"
    what: str  # the API call or file field
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}: {self.message}"


@dataclass(frozen=True, slots=True)
class Trigger:
    """Something that can invoke the function, and whether it still can.

    ``enabled`` and ``source_exists`` are None when they could not be known.
    """

    kind: str
    source: str  # the source's ARN, a URL, or a principal
    enabled: bool | None = True
    source_exists: bool | None = True
    detail: str = ""
    ident: str = ""  # mapping UUID, statement id, rule name, group/schedule name …
    schedule: str = ""  # a rule's or schedule's expression
    timezone: str = "UTC"
    start: datetime | None = None
    end: datetime | None = None
    anchor: datetime | None = None
    public: bool = False  # anyone may invoke (a URL without auth, a "*" principal)
    region: str = ""

    @property
    def wired(self) -> bool:
        """True when it can still fire: enabled (or unknown) and its source not known gone.

        A function URL or a permission for an account (direct invocation) is
        an entry point, not a producer: it says nothing about whether anyone
        still calls it.
        """
        if self.kind == URL or (self.kind == PERMISSION and self.detail == "direct"):
            return False
        return self.enabled is not False and self.source_exists is not False

    @property
    def orphaned(self) -> bool:
        """The source it points at is known to no longer exist."""
        return self.source_exists is False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "source": self.source,
            "enabled": self.enabled,
            "source_exists": self.source_exists,
            "detail": self.detail or None,
            "id": self.ident or None,
            "schedule": self.schedule or None,
            "timezone": self.timezone if self.schedule else None,
            "public": self.public,
        }


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """One function as the account describes it, with CloudWatch's evidence of use."""

    name: str
    arn: str
    region: str
    account: str
    runtime: str = ""
    architectures: tuple[str, ...] = ()
    role: str = ""
    last_modified: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    package_type: str = "Zip"
    layers: tuple[str, ...] = ()
    lambdaguard: bool = False  # carries the lambdaguard layer (or its exec wrapper)
    state: str = ""
    log_group: str = ""
    triggers: tuple[Trigger, ...] = ()
    # CloudWatch AWS/Lambda per UTC day; None when the metric could not be read.
    invocations: Mapping[date, int] | None = None
    errors: Mapping[date, int] | None = None
    metrics_complete: bool = False
    last_log_event: datetime | None = None
    tags_known: bool = True
    # Trigger listings that could not be read for its region: its triggers may be incomplete.
    unread: tuple[str, ...] = ()

    @property
    def deprecated_runtime(self) -> bool:
        """The runtime's deprecation date has passed."""
        return self.runtime in DEPRECATED_RUNTIMES

    def last_metric_day(self) -> date | None:
        """The last day CloudWatch counted an invocation."""
        if not self.invocations:
            return None
        days = [d for d, n in self.invocations.items() if n > 0]
        return max(days) if days else None


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every function read, what could not be read, and what reading cost."""

    functions: tuple[FunctionInfo, ...]
    warnings: tuple[ReadWarning, ...] = ()
    api_calls: Mapping[str, int] = field(default_factory=dict)
    users: frozenset[str] | None = None  # IAM user names, when listed

    @property
    def partial(self) -> bool:
        """True when anything could not be read."""
        return bool(self.warnings)


@dataclass(slots=True)
class Section:
    """What one account and region returned, in AWS's own shapes.

    ``complete`` names the listings that were read in full: only those can
    prove that a source no longer exists.
    """

    region: str
    account: str = ""
    functions: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)  # function ARN -> State
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # function ARN -> tags
    policies: dict[str, Any] = field(default_factory=dict)  # function ARN -> policy document
    urls: list[dict[str, Any]] = field(default_factory=list)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)  # list-rules items + "Targets"
    schedules: list[dict[str, Any]] = field(default_factory=list)  # get-schedule outputs
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)  # bucket -> config
    queues: list[str] = field(default_factory=list)  # queue ARNs
    streams: list[str] = field(default_factory=list)  # Kinesis stream ARNs
    table_streams: list[str] = field(default_factory=list)  # DynamoDB stream ARNs
    kafka: list[str] = field(default_factory=list)  # MSK cluster ARNs
    apis: list[str] = field(default_factory=list)  # API Gateway REST/HTTP API ids
    # function name -> metric name -> "YYYY-MM-DD" -> sum; metrics_complete: names read in full
    metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    metrics_complete: set[str] = field(default_factory=set)
    last_log_events: dict[str, int] = field(default_factory=dict)  # log group -> epoch ms
    complete: set[str] = field(default_factory=set)
    warnings: list[ReadWarning] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The bundle form (``lambdaguard inventory --save``)."""
        return {
            "Region": self.region,
            "Account": self.account,
            "Functions": self.functions,
            "States": self.states,
            "Tags": self.tags,
            "Policies": self.policies,
            "FunctionUrlConfigs": self.urls,
            "EventSourceMappings": self.mappings,
            "Rules": self.rules,
            "Schedules": self.schedules,
            "Subscriptions": self.subscriptions,
            "Topics": self.topics,
            "Buckets": self.buckets,
            "BucketNotifications": self.notifications,
            "Queues": self.queues,
            "Streams": self.streams,
            "TableStreams": self.table_streams,
            "KafkaClusters": self.kafka,
            "Apis": self.apis,
            "Metrics": self.metrics,
            "MetricsComplete": sorted(self.metrics_complete),
            "LastLogEvents": self.last_log_events,
            "Complete": sorted(self.complete),
            "Warnings": [[w.where, w.what, w.message] for w in self.warnings],
        }


# Listing names used in Section.complete.
FUNCTIONS: Final = "functions"
QUEUES: Final = "queues"
STREAMS: Final = "streams"
TABLE_STREAMS: Final = "table_streams"
KAFKA: Final = "kafka"
TOPICS: Final = "topics"
BUCKETS: Final = "buckets"
RULES: Final = "rules"
SCHEDULES: Final = "schedules"
APIS: Final = "apis"
TAGS: Final = "tags"
POLICIES: Final = "policies"
URLS: Final = "urls"
MAPPINGS: Final = "mappings"
SUBSCRIPTIONS: Final = "subscriptions"
NOTIFICATIONS: Final = "notifications"
LOGS: Final = "logs"
# The listings that together hold every trigger of a function.
_TRIGGER_LISTINGS: Final = frozenset(
    {MAPPINGS, POLICIES, URLS, RULES, SCHEDULES, SUBSCRIPTIONS, NOTIFICATIONS}
)


# -- assembling ---------------------------------------------------------------------
def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip()
    # Lambda: 2026-01-02T03:04:05.000+0000; others ISO 8601 with Z or an offset.
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    # Python 3.11 takes at most 6 fraction digits; moto writes 9.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _arn_parts(arn: str) -> list[str]:
    parts = arn.split(":")
    return parts if len(parts) >= 6 and parts[0] == "arn" else []


def _unqualified(arn: str) -> str:
    parts = arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 and parts[5] == "function" else arn


def _policy_statements(
    policy: Any, where: str, warnings: list[ReadWarning]
) -> list[dict[str, Any]]:
    doc = policy
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            warnings.append(
                ReadWarning(where, "GetPolicy", "the resource policy is not valid JSON")
            )
            return []
    if not isinstance(doc, dict):
        return []
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)]


def _principal(statement: Mapping[str, Any]) -> tuple[str, bool]:
    """(principal as text, anyone?)."""
    principal = statement.get("Principal", "")
    if principal == "*":
        return "*", True
    if isinstance(principal, dict):
        for key in ("Service", "AWS", "Federated"):
            value = principal.get(key)
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            if value:
                return str(value), str(value) == "*"
    return str(principal), False


def _condition_value(statement: Mapping[str, Any], key: str) -> str:
    conditions = statement.get("Condition", {})
    if not isinstance(conditions, dict):
        return ""
    for block in conditions.values():
        if not isinstance(block, dict):
            continue
        for name, value in block.items():
            if name.lower() == key.lower():
                if isinstance(value, list):
                    return str(value[0]) if value else ""
                return str(value)
    return ""


class _Index:
    """Which sources exist, per listing, across every section read."""

    def __init__(self, sections: Sequence[Section]) -> None:
        self.complete: dict[tuple[str, str, str], bool] = {}  # (listing, account, region)
        self.known: dict[str, set[str]] = {
            QUEUES: set(),
            STREAMS: set(),
            TABLE_STREAMS: set(),
            KAFKA: set(),
            TOPICS: set(),
            BUCKETS: set(),
            RULES: set(),
            SCHEDULES: set(),
            APIS: set(),
        }
        self.bucket_accounts: set[str] = set()
        for s in sections:
            for listing in s.complete:
                self.complete[(listing, s.account, s.region)] = True
            self.known[QUEUES].update(s.queues)
            self.known[STREAMS].update(s.streams)
            self.known[TABLE_STREAMS].update(s.table_streams)
            self.known[KAFKA].update(s.kafka)
            self.known[TOPICS].update(s.topics)
            self.known[BUCKETS].update(s.buckets)
            self.known[RULES].update(str(r.get("Arn", "")) for r in s.rules)
            self.known[APIS].update(s.apis)
            if BUCKETS in s.complete:
                self.bucket_accounts.add(s.account)

    def exists(self, listing: str, item: str, account: str, region: str) -> bool | None:
        if item in self.known[listing]:
            return True
        if self.complete.get((listing, account, region)):
            return False
        return None

    def bucket_exists(self, bucket: str, account: str) -> bool | None:
        # Bucket names are global: one account's complete listing answers for its own buckets.
        if bucket in self.known[BUCKETS]:
            return True
        if account and account in self.bucket_accounts:
            return False
        return None


def _esm_trigger(m: Mapping[str, Any], index: _Index, region: str, account: str) -> Trigger:
    state = str(m.get("State", "") or "")
    enabled: bool | None = None
    if state:
        enabled = state in ("Enabled", "Enabling", "Updating", "Creating")
    source = str(m.get("EventSourceArn", "") or "")
    exists: bool | None = None
    detail = state or "state unknown"
    if source:
        parts = _arn_parts(source)
        service = parts[2] if parts else ""
        s_region = parts[3] if parts else region
        s_account = parts[4] if parts else account
        if service == "sqs":
            exists = index.exists(QUEUES, source, s_account, s_region)
        elif service == "kinesis":
            exists = index.exists(STREAMS, source, s_account, s_region)
        elif service == "dynamodb":
            exists = index.exists(TABLE_STREAMS, source, s_account, s_region)
        elif service == "kafka":
            exists = index.exists(KAFKA, source, s_account, s_region)
        # Amazon MQ, DocumentDB: no listing read; existence stays unknown.
    else:
        endpoints = (m.get("SelfManagedEventSource") or {}).get("Endpoints") or {}
        brokers = ",".join(endpoints.get("KAFKA_BOOTSTRAP_SERVERS", []) or [])
        source = f"kafka://{brokers}" if brokers else "self-managed source"
        detail = f"{detail}; self-managed Kafka (existence cannot be checked)"
    return Trigger(
        kind=ESM,
        source=source,
        enabled=enabled,
        source_exists=exists,
        detail=detail,
        ident=str(m.get("UUID", "") or ""),
        region=region,
    )


def _permission_trigger(
    statement: Mapping[str, Any], index: _Index, region: str, account: str
) -> Trigger:
    principal, anyone = _principal(statement)
    action = statement.get("Action", "")
    actions = [action] if isinstance(action, str) else list(action or [])
    source_arn = _condition_value(statement, "AWS:SourceArn")
    source_account = _condition_value(statement, "AWS:SourceAccount") or account
    sid = str(statement.get("Sid", "") or "")
    url_only = actions and all(str(a).lower() == "lambda:invokefunctionurl" for a in actions)
    if url_only:
        auth = _condition_value(statement, "lambda:FunctionUrlAuthType")
        return Trigger(
            kind=PERMISSION,
            source=principal,
            detail="direct",
            ident=sid,
            public=anyone and auth.upper() == "NONE",
            region=region,
        )
    if principal.endswith(".amazonaws.com"):
        service = principal.split(".", 1)[0]
        exists: bool | None = None
        if source_arn:
            parts = _arn_parts(source_arn)
            s_region = parts[3] if parts and parts[3] else region
            s_account = parts[4] if parts and parts[4] else source_account
            if service == "s3":
                exists = index.bucket_exists(
                    source_arn.split(":::", 1)[-1].split("/")[0], s_account
                )
            elif service == "sns":
                exists = index.exists(TOPICS, source_arn, s_account, s_region)
            elif service == "events":
                exists = index.exists(RULES, source_arn, s_account, s_region)
            elif service == "sqs":
                exists = index.exists(QUEUES, source_arn, s_account, s_region)
            elif service == "apigateway" and len(parts) > 5:
                exists = index.exists(APIS, parts[5].split("/")[0], s_account, s_region)
        return Trigger(
            kind=PERMISSION,
            source=source_arn or f"any {principal} source",
            source_exists=exists,
            detail=principal,
            ident=sid,
            public=False,
            region=region,
        )
    return Trigger(
        kind=PERMISSION,
        source=principal,
        detail="direct",
        ident=sid,
        public=anyone and not source_arn,
        region=region,
    )


def _has_lambdaguard(fn: Mapping[str, Any], layer_marker: str) -> bool:
    for layer in fn.get("Layers") or []:
        arn = str(layer.get("Arn", "") if isinstance(layer, dict) else layer)
        if layer_marker in arn.lower():
            return True
    env = (fn.get("Environment") or {}).get("Variables") or {}
    # Only the wrapper's path is read: environment values are never kept or printed.
    return "lambdaguard" in str(env.get("AWS_LAMBDA_EXEC_WRAPPER", "")).lower()


def _days(raw: Mapping[str, float] | None) -> dict[date, int] | None:
    if raw is None:
        return None
    days: dict[date, int] = {}
    for key, value in raw.items():
        try:
            days[date.fromisoformat(str(key)[:10])] = int(value)
        except (TypeError, ValueError):
            continue
    return days


def assemble(
    sections: Sequence[Section],
    *,
    users: Iterable[str] | None = None,
    layer_marker: str = "lambdaguard",
    api_calls: Mapping[str, int] | None = None,
    extra_warnings: Sequence[ReadWarning] = (),
) -> Inventory:
    """Build the inventory model from what was read (live or from files)."""
    index = _Index(sections)
    warnings: list[ReadWarning] = list(extra_warnings)
    functions: list[FunctionInfo] = []
    seen: set[str] = set()
    for section in sections:
        warnings.extend(section.warnings)
        region, account = section.region, section.account
        by_arn: dict[str, list[Trigger]] = {}

        def add(arn: str, trigger: Trigger, _by: dict[str, list[Trigger]] = by_arn) -> None:
            _by.setdefault(_unqualified(arn), []).append(trigger)

        for m in section.mappings:
            fn_arn = str(m.get("FunctionArn", "") or "")
            if fn_arn:
                add(fn_arn, _esm_trigger(m, index, region, account))
        for arn, policy in section.policies.items():
            for st in _policy_statements(policy, region, warnings):
                if str(st.get("Effect", "Allow")) != "Allow":
                    continue
                add(arn, _permission_trigger(st, index, region, account))
        for url in section.urls:
            fn_arn = str(url.get("FunctionArn", "") or "")
            auth = str(url.get("AuthType", "") or "")
            if fn_arn:
                add(
                    fn_arn,
                    Trigger(
                        kind=URL,
                        source=str(url.get("FunctionUrl", "") or ""),
                        detail=f"auth {auth or 'unknown'}",
                        public=auth == "NONE",
                        region=region,
                    ),
                )
        for rule in section.rules:
            expression = str(rule.get("ScheduleExpression", "") or "")
            state = str(rule.get("State", "") or "")
            for target in rule.get("Targets") or []:
                arn = str(target.get("Arn", "") or "")
                if ":lambda:" not in arn:
                    continue
                add(
                    arn,
                    Trigger(
                        kind=RULE,
                        source=str(rule.get("Arn", "") or rule.get("Name", "")),
                        enabled=(state == "ENABLED") if state else None,
                        detail=state or "state unknown",
                        ident=str(rule.get("Name", "") or ""),
                        schedule=expression,
                        region=region,
                    ),
                )
        for sched in section.schedules:
            target_arn = str((sched.get("Target") or {}).get("Arn", "") or "")
            if ":lambda:" not in target_arn:
                continue
            state = str(sched.get("State", "") or "")
            created = _parse_time(sched.get("CreationDate"))
            start = _parse_time(sched.get("StartDate"))
            add(
                target_arn,
                Trigger(
                    kind=SCHEDULE,
                    source=str(sched.get("Arn", "") or sched.get("Name", "")),
                    enabled=(state == "ENABLED") if state else None,
                    detail=state or "state unknown",
                    ident=f"{sched.get('GroupName', 'default')}/{sched.get('Name', '')}",
                    schedule=str(sched.get("ScheduleExpression", "") or ""),
                    timezone=str(sched.get("ScheduleExpressionTimezone", "") or "UTC"),
                    start=start,
                    end=_parse_time(sched.get("EndDate")),
                    anchor=start or created,
                    region=region,
                ),
            )
        for sub in section.subscriptions:
            if str(sub.get("Protocol", "")).lower() != "lambda":
                continue
            topic = str(sub.get("TopicArn", "") or "")
            parts = _arn_parts(topic)
            pending = str(sub.get("SubscriptionArn", "")) in ("PendingConfirmation", "Deleted")
            add(
                str(sub.get("Endpoint", "") or ""),
                Trigger(
                    kind=SNS,
                    source=topic,
                    enabled=not pending,
                    source_exists=index.exists(
                        TOPICS,
                        topic,
                        parts[4] if parts else account,
                        parts[3] if parts else region,
                    ),
                    detail=str(sub.get("SubscriptionArn", "") or ""),
                    ident=str(sub.get("SubscriptionArn", "") or ""),
                    region=region,
                ),
            )
        for bucket, config in section.notifications.items():
            for item in (config or {}).get("LambdaFunctionConfigurations") or []:
                fn_arn = str(item.get("LambdaFunctionArn", "") or "")
                if fn_arn:
                    add(
                        fn_arn,
                        Trigger(
                            kind=S3,
                            source=f"arn:aws:s3:::{bucket}",
                            detail=",".join(item.get("Events") or []),
                            ident=str(item.get("Id", "") or ""),
                            region=region,
                        ),
                    )

        for position, fn in enumerate(section.functions):
            name = str(fn.get("FunctionName", "") or "")
            arn = _unqualified(str(fn.get("FunctionArn", "") or ""))
            if not name and arn:
                name = arn.split(":")[6] if len(arn.split(":")) > 6 else ""
            if not arn and name:
                if account:
                    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
                warnings.append(
                    ReadWarning(
                        region,
                        "Functions",
                        f"function {name!r} has no FunctionArn"
                        + ("; built from the account and region" if arn else "; kept by name"),
                    )
                )
            if not name and not arn:
                warnings.append(
                    ReadWarning(
                        region,
                        "Functions",
                        f"entry {position} has neither FunctionName nor FunctionArn: "
                        "it cannot be identified and is left out",
                    )
                )
                continue
            key = arn or f"{region}:{name}"
            if key in seen:
                continue
            seen.add(key)
            parts = _arn_parts(arn)
            fn_account = parts[4] if parts else account
            fn_region = parts[3] if parts else region
            missing = [
                f
                for f in ("Runtime", "Role", "LastModified")
                if f not in fn and fn.get("PackageType") != "Image"
            ]
            if missing:
                warnings.append(
                    ReadWarning(
                        region, "Functions", f"{name}: missing field(s) {', '.join(missing)}"
                    )
                )
            logging_config = fn.get("LoggingConfig") or {}
            log_group = str(logging_config.get("LogGroup", "") or f"/aws/lambda/{name}")
            tags_known = TAGS in section.complete or arn in section.tags
            metric = section.metrics.get(name)
            unread = tuple(sorted(_TRIGGER_LISTINGS - section.complete))
            last_log = section.last_log_events.get(log_group)
            functions.append(
                FunctionInfo(
                    name=name,
                    arn=arn,
                    region=fn_region,
                    account=fn_account,
                    runtime=str(fn.get("Runtime", "") or ""),
                    architectures=tuple(fn.get("Architectures") or ()),
                    role=str(fn.get("Role", "") or ""),
                    last_modified=_parse_time(fn.get("LastModified")),
                    tags=dict(section.tags.get(arn, {})),
                    package_type=str(fn.get("PackageType", "") or "Zip"),
                    layers=tuple(
                        str(layer.get("Arn", "") if isinstance(layer, dict) else layer)
                        for layer in fn.get("Layers") or []
                    ),
                    lambdaguard=_has_lambdaguard(fn, layer_marker),
                    state=section.states.get(arn, str(fn.get("State", "") or "")),
                    log_group=log_group,
                    triggers=tuple(by_arn.get(arn, ())),
                    invocations=_days(metric.get("Invocations")) if metric is not None else None,
                    errors=_days(metric.get("Errors")) if metric is not None else None,
                    metrics_complete=name in section.metrics_complete,
                    last_log_event=(
                        datetime.fromtimestamp(last_log / 1000, UTC) if last_log else None
                    ),
                    tags_known=tags_known,
                    unread=unread,
                )
            )
    functions.sort(key=lambda f: (f.account, f.region, f.name))
    return Inventory(
        functions=tuple(functions),
        warnings=tuple(warnings),
        api_calls=dict(api_calls or {}),
        users=frozenset(users) if users is not None else None,
    )


# -- offline: exported files ------------------------------------------------------------
def _files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.json") if p.is_file())
        elif path.exists():
            yield path
        else:
            raise ConfigError(f"{path}: no such file or directory (give exported JSON files)")


def _section_for(
    sections: dict[tuple[str, str], Section], arn: str, default_region: str
) -> Section:
    parts = _arn_parts(arn)
    region = parts[3] if parts and parts[3] else default_region
    account = parts[4] if parts and parts[4] else ""
    key = (account, region)
    if key not in sections:
        sections[key] = Section(region=region, account=account)
    return sections[key]


def _bundle_section(data: Mapping[str, Any], where: str) -> Section:
    s = Section(
        region=str(data.get("Region", "") or ""), account=str(data.get("Account", "") or "")
    )
    if not s.region:
        s.warnings.append(ReadWarning(where, "Region", "the bundle section names no region"))
    s.functions = list(data.get("Functions") or [])
    s.states = dict(data.get("States") or {})
    s.tags = dict(data.get("Tags") or {})
    s.policies = dict(data.get("Policies") or {})
    s.urls = list(data.get("FunctionUrlConfigs") or [])
    s.mappings = list(data.get("EventSourceMappings") or [])
    s.rules = list(data.get("Rules") or [])
    s.schedules = list(data.get("Schedules") or [])
    s.subscriptions = list(data.get("Subscriptions") or [])
    s.topics = list(data.get("Topics") or [])
    s.buckets = list(data.get("Buckets") or [])
    s.notifications = dict(data.get("BucketNotifications") or {})
    s.queues = list(data.get("Queues") or [])
    s.streams = list(data.get("Streams") or [])
    s.table_streams = list(data.get("TableStreams") or [])
    s.kafka = list(data.get("KafkaClusters") or [])
    s.apis = list(data.get("Apis") or [])
    s.metrics = dict(data.get("Metrics") or {})
    s.metrics_complete = set(data.get("MetricsComplete") or [])
    s.last_log_events = dict(data.get("LastLogEvents") or {})
    s.complete = set(data.get("Complete") or [])
    for entry in data.get("Warnings") or []:
        if isinstance(entry, list) and len(entry) == 3:
            s.warnings.append(ReadWarning(*(str(x) for x in entry)))
    return s


def read_exports(
    paths: Sequence[Path], *, default_region: str = ""
) -> tuple[list[Section], list[ReadWarning], frozenset[str] | None]:
    """Read exported JSON files: sections, warnings (unknown or broken files), IAM users."""
    users: set[str] | None = None
    sections: dict[tuple[str, str], Section] = {}
    bundles: list[Section] = []
    warnings: list[ReadWarning] = []
    for path in _files(paths):
        where = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            warnings.append(ReadWarning(where, "file", f"not readable JSON ({exc})"))
            continue
        if not isinstance(data, dict):
            warnings.append(ReadWarning(where, "file", "expected a JSON object at the top"))
            continue
        if data.get("lambdaguard") == BUNDLE_FORMAT:
            bundles.extend(_bundle_section(r, where) for r in data.get("regions") or [])
            if isinstance(data.get("users"), list):
                users = (users or set()) | {str(u) for u in data["users"]}
            continue
        if isinstance(data.get("Users"), list) or isinstance(data.get("UserDetailList"), list):
            listed = data.get("Users") or data.get("UserDetailList") or []
            users = (users or set()) | {
                str(u.get("UserName")) for u in listed if isinstance(u, dict)
            }
            continue
        used = False
        if "Functions" in data:
            used = True
            for fn in data.get("Functions") or []:
                if not isinstance(fn, dict):
                    warnings.append(ReadWarning(where, "Functions", "an entry is not an object"))
                    continue
                arn = str(fn.get("FunctionArn", "") or "")
                if not arn and not default_region:
                    warnings.append(
                        ReadWarning(
                            where,
                            "Functions",
                            f"function {fn.get('FunctionName', '?')!r} has no FunctionArn and "
                            "no --region was given: region unknown",
                        )
                    )
                section = _section_for(sections, arn, default_region or "unknown")
                section.functions.append(fn)
                section.complete.add(FUNCTIONS)
        if "EventSourceMappings" in data:
            used = True
            for m in data.get("EventSourceMappings") or []:
                arn = str(m.get("FunctionArn", "") or "")
                if not arn:
                    warnings.append(
                        ReadWarning(
                            where,
                            "EventSourceMappings",
                            f"mapping {m.get('UUID')} has no FunctionArn",
                        )
                    )
                    continue
                _section_for(sections, arn, default_region).mappings.append(m)
        if "Policy" in data:
            used = True
            for st in _policy_statements(data["Policy"], where, warnings):
                resource = st.get("Resource", "")
                arn = _unqualified(str(resource[0] if isinstance(resource, list) else resource))
                if ":function:" in arn:
                    section = _section_for(sections, arn, default_region)
                    doc = section.policies.setdefault(arn, {"Statement": []})
                    doc["Statement"].append(st)
                else:
                    warnings.append(
                        ReadWarning(where, "Policy", "a statement's Resource is not a function ARN")
                    )
        if "FunctionUrlConfigs" in data or ("FunctionUrl" in data and "FunctionArn" in data):
            used = True
            for url in data.get("FunctionUrlConfigs") or [data]:
                arn = str(url.get("FunctionArn", "") or "")
                if arn:
                    _section_for(sections, arn, default_region).urls.append(url)
        if "Rules" in data:
            used = True
            for rule in data.get("Rules") or []:
                _section_for(sections, str(rule.get("Arn", "")), default_region).rules.append(rule)
                if "Targets" not in rule:
                    warnings.append(
                        ReadWarning(
                            where,
                            "Rules",
                            f"rule {rule.get('Name')} has no Targets (export them with "
                            "list-targets-by-rule into the rule's Targets)",
                        )
                    )
        if "Schedules" in data or ("ScheduleExpression" in data and "Target" in data):
            used = True
            for sched in data.get("Schedules") or [data]:
                if "ScheduleExpression" not in sched:
                    warnings.append(
                        ReadWarning(
                            where,
                            "Schedules",
                            f"schedule {sched.get('Name')} has no ScheduleExpression "
                            "(list-schedules omits it: export get-schedule per schedule)",
                        )
                    )
                _section_for(sections, str(sched.get("Arn", "")), default_region).schedules.append(
                    sched
                )
        if "Subscriptions" in data:
            used = True
            for sub in data.get("Subscriptions") or []:
                _section_for(
                    sections, str(sub.get("TopicArn", "")), default_region
                ).subscriptions.append(sub)
        if "ResourceTagMappingList" in data:
            used = True
            for item in data.get("ResourceTagMappingList") or []:
                arn = _unqualified(str(item.get("ResourceARN", "")))
                if ":function:" in arn:
                    _section_for(sections, arn, default_region).tags[arn] = {
                        str(t.get("Key")): str(t.get("Value")) for t in item.get("Tags") or []
                    }
        if not used:
            warnings.append(
                ReadWarning(
                    where,
                    "file",
                    "not a recognised export (expected list-functions, list-event-source-mappings, "
                    "get-policy, get-function-url-config, list-rules, get-schedule, "
                    "list-subscriptions, get-resources output, or a lambdaguard bundle)",
                )
            )
    return [*bundles, *sections.values()], warnings, frozenset(users) if users is not None else None
