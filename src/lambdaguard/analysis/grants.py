"""What each function's execution role grants: read live from AWS, or offline from exports.

::

    from lambdaguard.analysis.grants import read_grants_live, read_grants_offline
    grants = read_grants_live(regions=["eu-west-1"])                  # boto3, read-only
    grants = read_grants_offline("auth-details.json", "functions.json",
                                 event_source_mappings="esm.json")
    fg = grants[0]
    fg.config.name, fg.role.arn, fg.grant().evaluate("s3:GetObject", arn)

Both paths build the same model (a test proves it on a moto account):
:class:`FunctionGrant` = the function's configuration facts
(:class:`FunctionConfig`), its execution role (:class:`RoleGrant`: attached
managed policies at their default version, inline policies, permissions
boundary, each a parsed :class:`~lambdaguard.iam.Policy`), its event source
mappings (:class:`EventSource`) and its asynchronous-invocation destinations,
plus every problem met on the way (:class:`GrantWarning`). A function whose
grant could not be read whole is :attr:`FunctionGrant.partial`; nothing is
dropped silently.

Live (:func:`read_grants_live`): the default credential chain of a boto3
session, ``AWS_ENDPOINT_URL`` honoured (boto3 reads it; that is how the tests
point at moto). Listings use botocore paginators; throttling is retried by
botocore's own ``standard`` (default) or ``adaptive`` retry mode. A role or
policy shared by many functions is read once. AWS refusing a read of one role
or policy leaves a warning naming the API call and the IAM permission it
needs; refusing the listing of functions, or AWS being unreachable, raises
:class:`~lambdaguard.errors.AwsReadError`. A progress bar shows on a terminal
(stderr) only.

Offline (:func:`read_grants_offline`): the files people already export,

- ``aws iam get-account-authorization-details`` (``RoleDetailList`` with
  ``RolePolicyList``, ``AttachedManagedPolicies``, ``PermissionsBoundary``;
  ``Policies`` with ``PolicyVersionList``/``IsDefaultVersion``), several
  pages as several files if need be;
- ``aws lambda list-functions``, ``get-function-configuration`` or
  ``get-function`` outputs (one file or several, or a JSON list of them);
- optionally ``aws lambda list-event-source-mappings`` and
  ``aws lambda list-function-event-invoke-configs`` outputs. Without them the
  function's mappings and destinations are unknown (``None``) and the grant
  says so in a warning.

Documents may be JSON objects (as the CLI prints them) or the URL-encoded
strings IAM's API returns. A file that is not the export it should be raises
:class:`~lambdaguard.errors.ExportFileError` naming the file and the field.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from lambdaguard.errors import AwsReadError, ConfigError, ExportFileError, PolicyError
from lambdaguard.iam import Grant, Policy, parse_policy

__all__ = [
    "EventSource",
    "FunctionConfig",
    "FunctionGrant",
    "GrantWarning",
    "RoleGrant",
    "read_grants_live",
    "read_grants_offline",
    "role_reader_live",
    "role_reader_offline",
]

PathLike = str | Path


@dataclass(frozen=True, slots=True)
class GrantWarning:
    """Something that could not be read, or read only in part: what, and why."""

    subject: str  # the function, role, policy or file concerned
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """The configuration facts of a function that decide what it and Lambda need."""

    name: str
    arn: str  # unqualified
    account: str
    region: str
    runtime: str | None  # None for container images
    role_arn: str | None
    package_type: str
    architectures: tuple[str, ...]
    memory_mb: int | None
    timeout_s: int | None
    log_group: str  # LoggingConfig.LogGroup, else /aws/lambda/NAME
    vpc_subnets: tuple[str, ...]
    vpc_security_groups: tuple[str, ...]
    tracing_mode: str | None  # "Active" | "PassThrough"
    dead_letter_target: str | None
    kms_key_arn: str | None  # customer managed key of the environment variables
    file_systems: tuple[str, ...]  # EFS access point ARNs
    layers: tuple[str, ...]

    @property
    def partition(self) -> str:
        """The ARN partition (``aws``, ``aws-cn``, ``aws-us-gov``)."""
        return self.arn.split(":")[1]


@dataclass(frozen=True, slots=True)
class EventSource:
    """An event source mapping of a function: what Lambda polls on its behalf."""

    uuid: str
    kind: str  # sqs | kinesis | dynamodb | kafka (MSK) | self-managed-kafka | mq | docdb | unknown
    source_arn: str | None
    state: str | None
    on_failure: str | None  # DestinationConfig.OnFailure.Destination
    access: tuple[tuple[str, str], ...]  # SourceAccessConfigurations: (Type, URI)
    topics: tuple[str, ...]
    consumer_group: str | None
    kafka_servers: tuple[str, ...]  # self-managed Kafka bootstrap servers


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """An execution role's policies, parsed, and what could not be read of them."""

    arn: str
    name: str
    managed: tuple[Policy, ...]  # attached managed policies at their default version, by ARN
    inline: tuple[Policy, ...]  # by name
    boundary: Policy | None
    boundary_arn: str | None  # set even when the boundary could not be read
    warnings: tuple[GrantWarning, ...]

    @property
    def policies(self) -> tuple[Policy, ...]:
        """Every identity policy of the role: managed, then inline."""
        return self.managed + self.inline

    @property
    def partial(self) -> bool:
        """True if some policy (or statement) of the role could not be read or evaluated."""
        return (
            bool(self.warnings)
            or any(p.partial for p in self.policies)
            or (self.boundary_arn is not None and self.boundary is None)
        )

    def grant(self) -> Grant:
        """The role's policies and boundary compiled for evaluation (built once per role)."""
        return _compiled(self)


@lru_cache(maxsize=4096)
def _compiled(role: RoleGrant) -> Grant:
    return Grant(role.policies, boundary=role.boundary)


@dataclass(frozen=True, slots=True)
class FunctionGrant:
    """A function, its execution role's grant, its event sources and destinations."""

    config: FunctionConfig
    role: RoleGrant | None  # None when the role could not be read at all
    event_sources: tuple[EventSource, ...] | None  # None: not read
    destinations: tuple[tuple[str, str], ...] | None  # (on-success|on-failure, ARN); None: not read
    warnings: tuple[GrantWarning, ...]

    @property
    def partial(self) -> bool:
        """True if anything about this function's grant is missing (see the warnings)."""
        return bool(self.warnings) or self.role is None or self.role.partial

    def grant(self) -> Grant:
        """The execution role's compiled grant (an empty one, denying everything, if unread)."""
        return self.role.grant() if self.role is not None else Grant(())

    def all_warnings(self) -> tuple[GrantWarning, ...]:
        """The function's warnings and its role's."""
        return self.warnings + (self.role.warnings if self.role is not None else ())


# ---------------------------------------------------------------------------
# Shared: AWS shapes (boto3 responses and CLI JSON are the same) to the model


def _unqualified(arn: str) -> str:
    # arn:aws:lambda:region:account:function:name[:qualifier]
    return ":".join(arn.split(":")[:7])


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _obj(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in (value or ()) if isinstance(v, str)) if isinstance(value, list) else ()


def _function_config(raw: Mapping[str, Any], where: str) -> FunctionConfig:
    name, arn = _str(raw.get("FunctionName")), _str(raw.get("FunctionArn"))
    if name is None or arn is None or arn.count(":") < 6:
        raise ExportFileError(
            f"{where}: a function configuration needs FunctionName and FunctionArn "
            "(as aws lambda list-functions or get-function-configuration print them)"
        )
    arn = _unqualified(arn)
    parts = arn.split(":")
    logging = _obj(raw, "LoggingConfig")
    vpc = _obj(raw, "VpcConfig")
    tracing = _obj(raw, "TracingConfig")
    dlq = _obj(raw, "DeadLetterConfig")
    memory, timeout = raw.get("MemorySize"), raw.get("Timeout")
    return FunctionConfig(
        name=name,
        arn=arn,
        account=parts[4],
        region=parts[3],
        runtime=_str(raw.get("Runtime")),
        role_arn=_str(raw.get("Role")),
        package_type=_str(raw.get("PackageType")) or "Zip",
        architectures=_strings(raw.get("Architectures")) or ("x86_64",),
        memory_mb=memory if isinstance(memory, int) else None,
        timeout_s=timeout if isinstance(timeout, int) else None,
        log_group=_str(logging.get("LogGroup")) or f"/aws/lambda/{name}",
        vpc_subnets=_strings(vpc.get("SubnetIds")),
        vpc_security_groups=_strings(vpc.get("SecurityGroupIds")),
        tracing_mode=_str(tracing.get("Mode")),
        dead_letter_target=_str(dlq.get("TargetArn")),
        kms_key_arn=_str(raw.get("KMSKeyArn")),
        file_systems=tuple(
            a
            for fs in raw.get("FileSystemConfigs") or ()
            if isinstance(fs, Mapping)
            if (a := _str(fs.get("Arn")))
        ),
        layers=tuple(
            a
            for layer in raw.get("Layers") or ()
            if isinstance(layer, Mapping)
            if (a := _str(layer.get("Arn")))
        ),
    )


def _source_kind(raw: Mapping[str, Any], arn: str | None) -> str:
    if arn is None:
        return "self-managed-kafka" if raw.get("SelfManagedEventSource") else "unknown"
    service = arn.split(":")[2] if arn.count(":") >= 2 else ""
    if service == "rds":
        return "docdb"
    return {
        "sqs": "sqs",
        "kinesis": "kinesis",
        "dynamodb": "dynamodb",
        "kafka": "kafka",
        "mq": "mq",
    }.get(service, "unknown")


def _event_source(raw: Mapping[str, Any]) -> tuple[str | None, EventSource]:
    arn = _str(raw.get("EventSourceArn"))
    dest = _obj(raw, "DestinationConfig")
    on_failure = _obj(dest, "OnFailure")
    managed = raw.get("AmazonManagedKafkaEventSourceConfig")
    self_managed = raw.get("SelfManagedKafkaEventSourceConfig")
    group = None
    for cfg in (managed, self_managed):
        if isinstance(cfg, Mapping) and _str(cfg.get("ConsumerGroupId")):
            group = _str(cfg.get("ConsumerGroupId"))
    servers: tuple[str, ...] = ()
    sme = raw.get("SelfManagedEventSource")
    if isinstance(sme, Mapping) and isinstance(sme.get("Endpoints"), Mapping):
        servers = _strings(sme["Endpoints"].get("KAFKA_BOOTSTRAP_SERVERS"))
    access = tuple(
        (t, u)
        for c in raw.get("SourceAccessConfigurations") or ()
        if isinstance(c, Mapping)
        if (t := _str(c.get("Type"))) and (u := _str(c.get("URI")))
    )
    fn = _str(raw.get("FunctionArn"))
    return (
        _unqualified(fn) if fn else None,
        EventSource(
            uuid=_str(raw.get("UUID")) or "",
            kind=_source_kind(raw, arn),
            source_arn=arn,
            state=_str(raw.get("State")),
            on_failure=_str(on_failure.get("Destination")),
            access=access,
            topics=_strings(raw.get("Topics")),
            consumer_group=group,
            kafka_servers=servers,
        ),
    )


def _destinations(raw: Mapping[str, Any]) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    fn = _str(raw.get("FunctionArn"))
    dest = _obj(raw, "DestinationConfig")
    out: list[tuple[str, str]] = []
    for key, label in (("OnSuccess", "on-success"), ("OnFailure", "on-failure")):
        entry = dest.get(key)
        if isinstance(entry, Mapping) and (arn := _str(entry.get("Destination"))):
            out.append((label, arn))
    return (_unqualified(fn) if fn else None), tuple(out)


def _parse(
    document: Any, *, name: str, arn: str | None, warnings: list[GrantWarning]
) -> Policy | None:
    try:
        policy = parse_policy(document, name=name, arn=arn)
    except PolicyError as exc:
        warnings.append(GrantWarning(arn or name, f"{exc}; the policy is left out of the grant"))
        return None
    warnings.extend(GrantWarning(w.policy, str(w)) for w in policy.warnings)
    return policy


def _policy_name(policy_arn: str) -> str:
    # arn:aws:iam::account:policy/path/NAME: the name is the last path segment.
    return policy_arn.rsplit("/", 1)[-1]


def _role_name(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]


def _assemble(
    fn: FunctionConfig,
    role: RoleGrant | None,
    sources: tuple[EventSource, ...] | None,
    destinations: tuple[tuple[str, str], ...] | None,
    warnings: list[GrantWarning],
) -> FunctionGrant:
    return FunctionGrant(
        config=fn,
        role=role,
        event_sources=tuple(sorted(sources, key=lambda s: s.uuid)) if sources is not None else None,
        destinations=tuple(sorted(set(destinations))) if destinations is not None else None,
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------
# Live


_DENIED: Final = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
)
_NOT_FOUND: Final = frozenset(
    {"NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException"}
)
_CREDENTIALS: Final = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
    }
)


class _Refused(Exception):
    def __init__(self, operation: str, permission: str, message: str) -> None:
        super().__init__(message)
        self.operation = operation
        self.permission = permission


class _Missing(Exception):
    pass


def _call(service: str, operation: str, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """One AWS call (or paginated listing), its failures translated at this one boundary."""
    from botocore.exceptions import BotoCoreError, ClientError

    # Every call made here is authorized by the IAM action of the same name.
    permission = f"{service}:{operation}"
    try:
        return fn(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        if code in _DENIED:
            raise _Refused(operation, permission, message) from exc
        if code in _NOT_FOUND:
            raise _Missing(message) from exc
        if code in _CREDENTIALS:
            raise AwsReadError(
                f"{service} {operation}: AWS did not accept the credentials ({code}: {message})",
                operation=permission,
            ) from exc
        raise AwsReadError(
            f"{service} {operation} failed ({code}: {message})", operation=permission
        ) from exc
    except BotoCoreError as exc:
        raise AwsReadError(
            f"{service} {operation}: AWS could not be reached ({exc})", operation=permission
        ) from exc


class _LiveIam:
    """IAM reads, each role and managed policy read once however many functions share it."""

    def __init__(self, client: Any) -> None:
        self._iam = client
        self._roles: dict[str, RoleGrant] = {}
        self._policies: dict[str, tuple[Policy | None, tuple[GrantWarning, ...]]] = {}

    def _managed(self, arn: str) -> tuple[Policy | None, tuple[GrantWarning, ...]]:
        found = self._policies.get(arn)
        if found is not None:
            return found
        warnings: list[GrantWarning] = []
        policy: Policy | None = None
        try:
            meta = _call("iam", "GetPolicy", self._iam.get_policy, PolicyArn=arn)["Policy"]
            version = _call(
                "iam",
                "GetPolicyVersion",
                self._iam.get_policy_version,
                PolicyArn=arn,
                VersionId=meta["DefaultVersionId"],
            )["PolicyVersion"]
            policy = _parse(
                version.get("Document"),
                name=_str(meta.get("PolicyName")) or _policy_name(arn),
                arn=arn,
                warnings=warnings,
            )
        except _Refused as exc:
            warnings.append(_refused(arn, exc))
        except _Missing:
            warnings.append(GrantWarning(arn, "the managed policy does not exist (deleted?)"))
        result = (policy, tuple(warnings))
        self._policies[arn] = result
        return result

    def role(self, role_arn: str) -> RoleGrant:
        found = self._roles.get(role_arn)
        if found is not None:
            return found
        name = _role_name(role_arn)
        warnings: list[GrantWarning] = []
        managed: list[Policy] = []
        inline: list[Policy] = []
        boundary: Policy | None = None
        boundary_arn: str | None = None
        try:
            role = _call("iam", "GetRole", self._iam.get_role, RoleName=name)["Role"]
            pb = role.get("PermissionsBoundary") or {}
            boundary_arn = _str(pb.get("PermissionsBoundaryArn"))
        except _Refused as exc:
            warnings.append(_refused(role_arn, exc, what="its permissions boundary is unknown"))
        except _Missing:
            warnings.append(GrantWarning(role_arn, "the execution role does not exist"))
            result = RoleGrant(role_arn, name, (), (), None, None, tuple(warnings))
            self._roles[role_arn] = result
            return result
        try:
            attached = [
                p
                for page in _call(
                    "iam",
                    "ListAttachedRolePolicies",
                    lambda **kw: list(
                        self._iam.get_paginator("list_attached_role_policies").paginate(**kw)
                    ),
                    RoleName=name,
                )
                for p in page.get("AttachedPolicies", ())
            ]
            for entry in sorted(attached, key=lambda p: str(p.get("PolicyArn"))):
                policy, problems = self._managed(str(entry["PolicyArn"]))
                warnings.extend(problems)
                if policy is not None:
                    managed.append(policy)
        except _Refused as exc:
            warnings.append(_refused(role_arn, exc, what="its managed policies are unknown"))
        try:
            names = [
                n
                for page in _call(
                    "iam",
                    "ListRolePolicies",
                    lambda **kw: list(self._iam.get_paginator("list_role_policies").paginate(**kw)),
                    RoleName=name,
                )
                for n in page.get("PolicyNames", ())
            ]
            for policy_name in sorted(names):
                try:
                    doc = _call(
                        "iam",
                        "GetRolePolicy",
                        self._iam.get_role_policy,
                        RoleName=name,
                        PolicyName=policy_name,
                    )["PolicyDocument"]
                except _Refused as exc:
                    warnings.append(_refused(f"{name}/{policy_name}", exc))
                    continue
                policy = _parse(doc, name=f"{name}/{policy_name}", arn=None, warnings=warnings)
                if policy is not None:
                    inline.append(policy)
        except _Refused as exc:
            warnings.append(_refused(role_arn, exc, what="its inline policies are unknown"))
        if boundary_arn is not None:
            boundary, problems = self._managed(boundary_arn)
            warnings.extend(problems)
        result = RoleGrant(
            arn=role_arn,
            name=name,
            managed=tuple(managed),
            inline=tuple(inline),
            boundary=boundary,
            boundary_arn=boundary_arn,
            warnings=tuple(warnings),
        )
        self._roles[role_arn] = result
        return result


def _refused(
    subject: str, exc: _Refused, *, what: str = "it is left out of the grant"
) -> GrantWarning:
    return GrantWarning(
        subject,
        f"AWS refused {exc.operation} ({exc}); the reader needs the IAM permission "
        f"{exc.permission}; {what}",
    )


@contextmanager
def _progress(enabled: bool | None, total: int) -> Iterator[Callable[[str], None]]:
    """A rich progress bar on a terminal's stderr (or when asked), else a no-op."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show or total == 0:
        yield lambda what: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("reading grants"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=total)

        def advance(what: str) -> None:
            bar.update(task, advance=1, description=what)

        yield advance


def _live_destinations(
    lam: Any, fn: FunctionConfig, warnings: list[GrantWarning]
) -> tuple[tuple[str, str], ...] | None:
    found: list[tuple[str, str]] = []
    try:
        pages = _call(
            "lambda",
            "ListFunctionEventInvokeConfigs",
            lambda: list(
                lam.get_paginator("list_function_event_invoke_configs").paginate(
                    FunctionName=fn.arn
                )
            ),
        )
    except _Refused as exc:
        warnings.append(_refused(fn.arn, exc, what="its asynchronous destinations are unknown"))
        return None
    except _Missing:
        return ()
    for page in pages:
        for cfg in page.get("FunctionEventInvokeConfigs", ()):
            found.extend(_destinations(cfg)[1])
    return tuple(found)


def read_grants_live(
    session: Any = None,
    regions: Sequence[str] | None = None,
    functions: Sequence[str] | None = None,
    *,
    progress: bool | None = None,
    retry_mode: str = "standard",
    max_attempts: int = 10,
) -> list[FunctionGrant]:
    """Every function's grant in ``regions`` (or only ``functions``, by name or ARN), read live.

    ``session`` is a ``boto3.Session`` (default: a new one, with the default
    credential chain); ``regions`` default to the session's region.
    ``retry_mode`` is botocore's ``standard`` or ``adaptive``.
    """
    import boto3
    from botocore.config import Config

    if retry_mode not in ("standard", "adaptive", "legacy"):
        raise ConfigError(
            f"retry_mode {retry_mode!r}: botocore accepts standard, adaptive or legacy"
        )
    session = session or boto3.Session()
    wanted = list(functions or ())
    arn_regions = [a.split(":")[3] for a in wanted if a.startswith("arn:") and a.count(":") >= 6]
    region_list = list(dict.fromkeys([*(regions or ()), *arn_regions]))
    if not region_list:
        if session.region_name is None:
            raise ConfigError(
                "no AWS region: pass regions, or set AWS_REGION / AWS_DEFAULT_REGION (or a profile region)"
            )
        region_list = [session.region_name]
    retries: Any = {"mode": retry_mode, "max_attempts": max_attempts}
    config = Config(retries=retries)
    iam = _LiveIam(session.client("iam", config=config))

    found: list[tuple[Mapping[str, Any], str]] = []
    sources: dict[str, list[EventSource]] = {}
    clients: dict[str, Any] = {}
    names_left = {w for w in wanted if not w.startswith("arn:")}
    for region in region_list:
        lam = clients[region] = session.client("lambda", region_name=region, config=config)
        try:
            if not wanted:
                for page in _call(
                    "lambda",
                    "ListFunctions",
                    lambda lam=lam: list(lam.get_paginator("list_functions").paginate()),
                ):
                    found.extend((f, region) for f in page.get("Functions", ()))
            else:
                for ref in wanted:
                    if ref.startswith("arn:") and ref.split(":")[3] != region:
                        continue
                    try:
                        cfg = _call(
                            "lambda",
                            "GetFunctionConfiguration",
                            lam.get_function_configuration,
                            FunctionName=ref,
                        )
                    except _Missing:
                        continue
                    names_left.discard(ref)
                    found.append((cfg, region))
            for page in _call(
                "lambda",
                "ListEventSourceMappings",
                lambda lam=lam: list(lam.get_paginator("list_event_source_mappings").paginate()),
            ):
                for raw in page.get("EventSourceMappings", ()):
                    fn_arn, source = _event_source(raw)
                    if fn_arn is not None:
                        sources.setdefault(fn_arn, []).append(source)
        except _Refused as exc:
            raise AwsReadError(
                f"AWS refused lambda {exc.operation} in {region} ({exc}); the reader needs the IAM "
                f"permission {exc.permission}",
                operation=exc.permission,
                permission=exc.permission,
            ) from exc
    missing = sorted(
        names_left
        | {
            w
            for w in wanted
            if w.startswith("arn:")
            and not any(
                _unqualified(w) == _unqualified(str(c.get("FunctionArn"))) for c, _ in found
            )
        }
    )
    if missing:
        raise ConfigError(
            f"function(s) {', '.join(missing)} not found in region(s) {', '.join(region_list)}; "
            "give a name or an ARN of an existing function"
        )

    out: list[FunctionGrant] = []
    with _progress(progress, len(found)) as advance:
        for raw, region in found:
            fn = _function_config(raw, f"lambda {region}")
            warnings: list[GrantWarning] = []
            role = iam.role(fn.role_arn) if fn.role_arn else None
            if fn.role_arn is None:
                warnings.append(GrantWarning(fn.arn, "the configuration names no execution role"))
            destinations = _live_destinations(clients[region], fn, warnings)
            out.append(_assemble(fn, role, tuple(sources.get(fn.arn, ())), destinations, warnings))
            advance(fn.name)
    return sorted(out, key=lambda g: g.config.arn)


# ---------------------------------------------------------------------------
# Offline


def _paths(value: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(value, str | Path):
        return [Path(value)]
    return [Path(v) for v in value]


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExportFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportFileError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "expected the JSON the AWS CLI prints"
        ) from exc


def _list_field(doc: Any, field: str, path: Path, *, required: bool = True) -> list[Any]:
    if not isinstance(doc, Mapping):
        raise ExportFileError(
            f"{path}: expected a JSON object with {field}, found a JSON {type(doc).__name__}"
        )
    value = doc.get(field)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ExportFileError(
            f"{path}: field {field} must be a list (the output of aws iam get-account-authorization-details)"
        )
    return value


def _default_version(policy: Mapping[str, Any]) -> Any:
    versions = [v for v in policy.get("PolicyVersionList") or () if isinstance(v, Mapping)]
    for v in versions:
        if v.get("IsDefaultVersion") is True:
            return v.get("Document")
    default = policy.get("DefaultVersionId")
    for v in versions:
        if default is not None and v.get("VersionId") == default:
            return v.get("Document")
    return None


class _Export:
    """The authorization details export, indexed, turned into roles on demand (each once)."""

    def __init__(self, paths: list[Path]) -> None:
        self.roles: dict[str, Mapping[str, Any]] = {}
        self.policies: dict[str, Mapping[str, Any]] = {}
        self.where: dict[str, Path] = {}
        for path in paths:
            doc = _load(path)
            for entry in _list_field(doc, "RoleDetailList", path):
                if isinstance(entry, Mapping) and _str(entry.get("Arn")):
                    self.roles[str(entry["Arn"])] = entry
                    self.where[str(entry["Arn"])] = path
                else:
                    raise ExportFileError(f"{path}: a RoleDetailList entry has no Arn")
            for entry in _list_field(doc, "Policies", path, required=False):
                if isinstance(entry, Mapping) and _str(entry.get("Arn")):
                    self.policies[str(entry["Arn"])] = entry
                    self.where[str(entry["Arn"])] = path
                else:
                    raise ExportFileError(f"{path}: a Policies entry has no Arn")
        self._built: dict[str, RoleGrant | None] = {}
        self._managed: dict[str, tuple[Policy | None, tuple[GrantWarning, ...]]] = {}

    def managed(self, arn: str) -> tuple[Policy | None, tuple[GrantWarning, ...]]:
        found = self._managed.get(arn)
        if found is not None:
            return found
        warnings: list[GrantWarning] = []
        entry = self.policies.get(arn)
        policy: Policy | None = None
        if entry is None:
            warnings.append(
                GrantWarning(
                    arn,
                    "the policy is not in the authorization details export (export it with "
                    "--filter LocalManagedPolicy AWSManagedPolicy as well); left out of the grant",
                )
            )
        else:
            doc = _default_version(entry)
            if doc is None:
                warnings.append(
                    GrantWarning(
                        arn,
                        "the export has no default version (PolicyVersionList/IsDefaultVersion) of it",
                    )
                )
            else:
                policy = _parse(
                    doc,
                    name=_str(entry.get("PolicyName")) or _policy_name(arn),
                    arn=arn,
                    warnings=warnings,
                )
        result = (policy, tuple(warnings))
        self._managed[arn] = result
        return result

    def role(self, arn: str) -> RoleGrant | None:
        if arn in self._built:
            return self._built[arn]
        entry = self.roles.get(arn)
        if entry is None:
            self._built[arn] = None
            return None
        name = _str(entry.get("RoleName")) or _role_name(arn)
        warnings: list[GrantWarning] = []
        managed: list[Policy] = []
        attached = [p for p in entry.get("AttachedManagedPolicies") or () if isinstance(p, Mapping)]
        for p in sorted(attached, key=lambda p: str(p.get("PolicyArn"))):
            policy_arn = _str(p.get("PolicyArn"))
            if policy_arn is None:
                warnings.append(
                    GrantWarning(arn, "an AttachedManagedPolicies entry has no PolicyArn")
                )
                continue
            policy, problems = self.managed(policy_arn)
            warnings.extend(problems)
            if policy is not None:
                managed.append(policy)
        inline: list[Policy] = []
        listed = [p for p in entry.get("RolePolicyList") or () if isinstance(p, Mapping)]
        for p in sorted(listed, key=lambda p: str(p.get("PolicyName"))):
            policy_name = _str(p.get("PolicyName")) or "?"
            policy = _parse(
                p.get("PolicyDocument"), name=f"{name}/{policy_name}", arn=None, warnings=warnings
            )
            if policy is not None:
                inline.append(policy)
        boundary: Policy | None = None
        pb = entry.get("PermissionsBoundary")
        boundary_arn = _str(pb.get("PermissionsBoundaryArn")) if isinstance(pb, Mapping) else None
        if boundary_arn is not None:
            boundary, problems = self.managed(boundary_arn)
            warnings.extend(problems)
        result = RoleGrant(
            arn, name, tuple(managed), tuple(inline), boundary, boundary_arn, tuple(warnings)
        )
        self._built[arn] = result
        return result


def _function_entries(doc: Any, path: Path) -> Iterator[Mapping[str, Any]]:
    """Function configurations from list-functions, get-function-configuration or get-function."""
    if isinstance(doc, list):
        for item in doc:
            yield from _function_entries(item, path)
        return
    if not isinstance(doc, Mapping):
        raise ExportFileError(
            f"{path}: expected the JSON of aws lambda list-functions, found a {type(doc).__name__}"
        )
    if "Functions" in doc:
        if not isinstance(doc["Functions"], list):
            raise ExportFileError(f"{path}: field Functions must be a list")
        for item in doc["Functions"]:
            if not isinstance(item, Mapping):
                raise ExportFileError(f"{path}: a Functions entry is not an object")
            yield item
    elif isinstance(doc.get("Configuration"), Mapping):
        yield doc["Configuration"]
    elif "FunctionArn" in doc or "FunctionName" in doc:
        yield doc
    else:
        raise ExportFileError(
            f"{path}: no Functions, Configuration or FunctionArn field; expected the output of "
            "aws lambda list-functions, get-function-configuration or get-function"
        )


def _entries(doc: Any, field: str, path: Path) -> Iterator[Mapping[str, Any]]:
    if isinstance(doc, list):
        for item in doc:
            yield from _entries(item, field, path)
        return
    if not isinstance(doc, Mapping):
        raise ExportFileError(f"{path}: expected a JSON object with {field}")
    if field in doc:
        if not isinstance(doc[field], list):
            raise ExportFileError(f"{path}: field {field} must be a list")
        yield from (e for e in doc[field] if isinstance(e, Mapping))
    elif "FunctionArn" in doc:
        yield doc  # one entry, as a get-* command prints it
    else:
        raise ExportFileError(f"{path}: no {field} field")


def read_grants_offline(
    authorization_details: PathLike | Sequence[PathLike],
    functions: PathLike | Sequence[PathLike],
    *,
    event_source_mappings: PathLike | Sequence[PathLike] | None = None,
    event_invoke_configs: PathLike | Sequence[PathLike] | None = None,
) -> list[FunctionGrant]:
    """Every function's grant from exported files (see the module docstring for the formats)."""
    export = _Export(_paths(authorization_details))
    configs: dict[str, FunctionConfig] = {}
    for path in _paths(functions):
        for raw in _function_entries(_load(path), path):
            fn = _function_config(raw, str(path))
            configs[fn.arn] = fn
    sources: dict[str, list[EventSource]] | None = None
    if event_source_mappings is not None:
        sources = {}
        for path in _paths(event_source_mappings):
            for raw in _entries(_load(path), "EventSourceMappings", path):
                fn_arn, source = _event_source(raw)
                if fn_arn is not None:
                    sources.setdefault(fn_arn, []).append(source)
    destinations: dict[str, list[tuple[str, str]]] | None = None
    if event_invoke_configs is not None:
        destinations = {}
        for path in _paths(event_invoke_configs):
            for raw in _entries(_load(path), "FunctionEventInvokeConfigs", path):
                fn_arn, found = _destinations(raw)
                if fn_arn is not None:
                    destinations.setdefault(fn_arn, []).extend(found)
    out: list[FunctionGrant] = []
    for arn in sorted(configs):
        fn = configs[arn]
        warnings: list[GrantWarning] = []
        role: RoleGrant | None = None
        if fn.role_arn is None:
            warnings.append(GrantWarning(fn.arn, "the configuration names no execution role"))
        else:
            role = export.role(fn.role_arn)
            if role is None:
                warnings.append(
                    GrantWarning(
                        fn.arn,
                        f"its execution role {fn.role_arn} is not in the authorization details export",
                    )
                )
        if sources is None:
            warnings.append(
                GrantWarning(
                    fn.arn,
                    "event source mappings not read (pass the output of aws lambda list-event-source-mappings)",
                )
            )
        if destinations is None:
            warnings.append(
                GrantWarning(
                    fn.arn,
                    "asynchronous destinations not read (pass the output of aws lambda "
                    "list-function-event-invoke-configs)",
                )
            )
        out.append(
            _assemble(
                fn,
                role,
                tuple(sources.get(arn, ())) if sources is not None else None,
                tuple(destinations.get(arn, ())) if destinations is not None else None,
                warnings,
            )
        )
    return out


# ---------------------------------------------------------------------------
# Any role by ARN: the roles functions assumed (their calls are proposed for them)


def _readable(role: RoleGrant | None) -> RoleGrant | None:
    # A role of which nothing could be read (refused, another account, deleted)
    # is not a grant to propose within: the caller reports its need instead.
    if role is None or (not role.policies and role.boundary is None and role.warnings):
        return None
    return role


def role_reader_live(
    session: Any = None, *, retry_mode: str = "standard", max_attempts: int = 10
) -> Callable[[str], RoleGrant | None]:
    """A reader of any role's grant by ARN, live; None for a role that cannot be read.

    For the roles functions assume (``sts:AssumeRole``): the calls they make
    with those credentials are that role's need. Each role is read once.
    """
    import boto3
    from botocore.config import Config

    session = session or boto3.Session()
    retries: Any = {"mode": retry_mode, "max_attempts": max_attempts}
    iam = _LiveIam(session.client("iam", config=Config(retries=retries)))

    def read(role_arn: str) -> RoleGrant | None:
        try:
            return _readable(iam.role(role_arn))
        except AwsReadError:
            return None

    return read


def role_reader_offline(
    authorization_details: PathLike | Sequence[PathLike],
) -> Callable[[str], RoleGrant | None]:
    """A reader of any role's grant by ARN from the authorization details export; None if absent."""
    export = _Export(_paths(authorization_details))

    def read(role_arn: str) -> RoleGrant | None:
        return _readable(export.role(role_arn))

    return read
