"""The wire contract between the agent and the collector.

Every attribute, span name and event name lambdaguard puts on the wire is
defined here, once. The agent writes them; the collector reads them. Standard
OpenTelemetry semantic-convention names (FaaS, cloud, RPC, network) are used
where one exists; everything lambdaguard adds lives under ``lambdaguard.*``.

Shape of what one invocation emits (OTLP traces):

- Resource: ``service.name`` (function name), ``cloud.provider=aws``,
  ``cloud.platform=aws_lambda``, ``cloud.region``, ``cloud.account.id``,
  ``cloud.resource_id`` (unqualified function ARN), ``faas.name``,
  ``faas.version``, ``faas.instance`` (log stream name), ``faas.max_memory``
  (bytes), ``telemetry.distro.name/version``, ``lambdaguard.layer.version`` and
  ``lambdaguard.function.runtime``.
- One invocation span (name: function name; kind SERVER for HTTP triggers,
  CONSUMER for queue/stream/notification triggers, otherwise SERVER) with
  ``faas.invocation_id``, ``faas.coldstart``, ``faas.trigger`` and the
  ``lambdaguard.invocation.*`` / ``lambdaguard.trigger.*`` attributes below.
- Once per execution environment, an init span (name :data:`INIT_SPAN_NAME`,
  ``lambdaguard.phase=init``) carrying the AWS calls and connections made
  while the module was imported.
- One CLIENT child span per AWS API call (name ``"{ServiceId}.{Operation}"``
  as the OpenTelemetry botocore instrumentation names them), carrying
  ``rpc.*`` and ``lambdaguard.aws.*``. When a single invocation makes more
  calls than the agent's span cap, the overflow is folded into one span per
  distinct call whose :data:`AWS_COUNT` is greater than one.
- One span event :data:`CONNECTION_EVENT` per distinct outbound
  (host, port, tls) on the invocation or init span, with counts.

In evidence mode (the default) only invocations holding a fact new to their
execution environment are exported as above; every invocation is counted,
and the counts go out as OTLP metrics (``METRIC_*`` below) under the scope
:data:`AGENT_SCOPE`: cumulative monotonic integer sums whose start time is the
environment's start, one series per fact (the call's span attributes without
per-occurrence values, plus ``lambdaguard.phase``; a host's
``server.address``/``server.port``/``lambdaguard.net.*``; an invocation's
``faas.trigger``, ``lambdaguard.trigger.*``, alias and ``error.type``), each
split by :data:`COUNTED_IN_SPANS`; durations as a base-2 exponential histogram
at :data:`DURATION_SCALE`. The resource adds :data:`SERVICE_INSTANCE_ID`.
"""

from __future__ import annotations

from typing import Final

# -- resource ----------------------------------------------------------------
SERVICE_NAME: Final = "service.name"
CLOUD_PROVIDER: Final = "cloud.provider"
CLOUD_PLATFORM: Final = "cloud.platform"
CLOUD_REGION: Final = "cloud.region"
CLOUD_ACCOUNT_ID: Final = "cloud.account.id"
CLOUD_RESOURCE_ID: Final = "cloud.resource_id"
FAAS_NAME: Final = "faas.name"
FAAS_VERSION: Final = "faas.version"
FAAS_INSTANCE: Final = "faas.instance"
FAAS_MAX_MEMORY: Final = "faas.max_memory"
TELEMETRY_DISTRO_NAME: Final = "telemetry.distro.name"
TELEMETRY_DISTRO_VERSION: Final = "telemetry.distro.version"
LAYER_VERSION: Final = "lambdaguard.layer.version"
# The Lambda runtime identifier ("python3.12"), from AWS_EXECUTION_ENV: the inventory
# flags deprecated runtimes with it.
FUNCTION_RUNTIME: Final = "lambdaguard.function.runtime"

CLOUD_PROVIDER_AWS: Final = "aws"
CLOUD_PLATFORM_LAMBDA: Final = "aws_lambda"
DISTRO_NAME: Final = "lambdaguard"

# -- invocation span ---------------------------------------------------------
FAAS_INVOCATION_ID: Final = "faas.invocation_id"
FAAS_COLDSTART: Final = "faas.coldstart"
FAAS_TRIGGER: Final = "faas.trigger"  # http | pubsub | datasource | timer | other
FAAS_TRIGGER_VALUES: Final = ("http", "pubsub", "datasource", "timer", "other")

FUNCTION_ARN: Final = "lambdaguard.function.arn"  # unqualified
FUNCTION_ALIAS: Final = "lambdaguard.function.alias"  # from a qualified invoked ARN, if any
PHASE: Final = "lambdaguard.phase"  # init | invoke
PHASE_INIT: Final = "init"
PHASE_INVOKE: Final = "invoke"

INVOCATION_OUTCOME: Final = "lambdaguard.invocation.outcome"  # success | error | timeout
OUTCOME_SUCCESS: Final = "success"
OUTCOME_ERROR: Final = "error"
OUTCOME_TIMEOUT: Final = "timeout"
INVOCATION_ERROR_TYPE: Final = "lambdaguard.invocation.error_type"  # exception class name only
INVOCATION_DURATION_MS: Final = "lambdaguard.invocation.duration_ms"
INVOCATION_REMAINING_MS: Final = "lambdaguard.invocation.remaining_ms"
INVOCATION_INIT_DURATION_MS: Final = "lambdaguard.invocation.init_duration_ms"
INVOCATION_MEMORY_LIMIT_MB: Final = "lambdaguard.invocation.memory_limit_mb"

TRIGGER_KIND: Final = "lambdaguard.trigger.kind"
TRIGGER_SOURCE: Final = "lambdaguard.trigger.source"  # ARN or name of the source; never payload
# Values of TRIGGER_KIND. The collector treats unknown values as "other".
TRIGGER_KINDS: Final = (
    "api_gateway_rest",
    "api_gateway_http",
    "api_gateway_websocket",
    "alb",
    "function_url",
    "sqs",
    "sns",
    "s3",
    "eventbridge",
    "schedule",
    "dynamodb_stream",
    "kinesis",
    "step_functions",
    "cloudwatch_logs",
    "cognito",
    "direct",
    "other",
)

# -- AWS API call span ---------------------------------------------------------
RPC_SYSTEM: Final = "rpc.system"
RPC_SYSTEM_AWS: Final = "aws-api"
RPC_SERVICE: Final = "rpc.service"  # botocore service id, e.g. "S3", "DynamoDB"
RPC_METHOD: Final = "rpc.method"  # operation name, e.g. "PutObject"
AWS_REQUEST_ID: Final = "aws.request_id"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"

AWS_SERVICE: Final = "lambdaguard.aws.service"  # botocore client name, e.g. "s3", "iot-data"
AWS_OPERATION: Final = "lambdaguard.aws.operation"  # botocore operation name, e.g. "ListObjectsV2"
AWS_REGION: Final = "lambdaguard.aws.region"  # the client's region (also in cloud.region)
AWS_ENDPOINT: Final = "lambdaguard.aws.endpoint"  # scheme://host[:port], no path or query
# JSON object in botocore's request shape holding only the members that
# identify resources (see lambdaguard.agent for the reduction rules): object
# keys cut to a prefix, PartiQL statements reduced to verb and table, batch
# maps reduced to their keys. Sorted keys, no whitespace.
AWS_PARAMS: Final = "lambdaguard.aws.params"
AWS_ERROR_CODE: Final = "lambdaguard.aws.error_code"
AWS_KMS_KEY_ID: Final = "lambdaguard.aws.kms_key_id"  # SSE-KMS key id from the response
AWS_VERSION_ID: Final = "lambdaguard.aws.version_id"  # object version from the response
AWS_RETRIES: Final = "lambdaguard.aws.retries"
AWS_LATENCY_MS: Final = "lambdaguard.aws.latency_ms"
AWS_PRESIGN: Final = "lambdaguard.aws.presign"  # True: a presigned URL was generated, not sent
AWS_COUNT: Final = "lambdaguard.aws.count"  # > 1 only on folded overflow spans
# Compact sorted JSON object of the response facts in lambdaguard.recorded.RESPONSE_FACTS
# ({"KeyId": "...", "SSEKMSKeyId": "..."}); supersedes AWS_KMS_KEY_ID / AWS_VERSION_ID,
# which the collector still reads from older agents.
AWS_RESPONSE: Final = "lambdaguard.aws.response"
# True when the agent could not keep the identifying params whole (a list was cut):
# the mapping then widens the resource and says so; the call is never dropped.
AWS_PARAMS_TRUNCATED: Final = "lambdaguard.aws.params_truncated"
# Whose credentials signed the call (never the credentials themselves):
AWS_CREDENTIALS: Final = "lambdaguard.aws.credentials"
CREDENTIALS_EXECUTION_ROLE: Final = "execution-role"  # the function's own, as Lambda set them
CREDENTIALS_ASSUMED_ROLE: Final = "assumed-role"  # returned by an sts:AssumeRole* call it made
CREDENTIALS_STATIC: Final = "static"  # any other credentials (keys in code or config)
CREDENTIALS_UNKNOWN: Final = "unknown"
# The role ARN (arn:aws:iam::ACCOUNT:role/NAME) of assumed-role credentials.
AWS_CREDENTIALS_ROLE: Final = "lambdaguard.aws.credentials.role_arn"
# How the call was seen: absent or "sdk" = a botocore-based client's operation;
# "sigv4" = a SigV4-signed HTTP request made without an SDK operation (opensearch-py,
# requests-aws4auth, execute-api ...); "extension" = made for the function by an AWS
# Lambda extension on localhost (Parameters and Secrets, AppConfig), counts are lower bounds.
AWS_VIA: Final = "lambdaguard.aws.via"
VIA_SDK: Final = "sdk"
VIA_SIGV4: Final = "sigv4"
VIA_EXTENSION: Final = "extension"
# A SigV4-signed request (AWS_VIA = "sigv4") is recorded as a pseudo-operation of its
# signing service (lambdaguard.aws.service = "es", "execute-api", "lambda", "appsync",
# "neptune-db" ...): operation "HTTP " + its method ("HTTP GET"; no botocore operation
# has a space in its name), params {"Host": host, "Path": path cut like an object key}.
SIGV4_OPERATION_PREFIX: Final = "HTTP "

# -- outbound connections ------------------------------------------------------
CONNECTION_EVENT: Final = "lambdaguard.connection"
# server.address / server.port as above: the host name as the code asked for it
NET_TLS: Final = "lambdaguard.net.tls"  # bool
NET_AWS: Final = "lambdaguard.net.aws"  # bool: an AWS service endpoint
NET_COUNT: Final = "lambdaguard.net.count"  # connections opened
NET_FAILURES: Final = "lambdaguard.net.failures"  # connections that failed to open
# "host:port" of the HTTP proxy the connection went through (absent: direct). The
# event's server.address/server.port are then the destination: the CONNECT target,
# or the host of an absolute-form request ("GET http://host/ HTTP/1.1").
NET_PROXY: Final = "lambdaguard.net.proxy"

# -- span names ----------------------------------------------------------------
INIT_SPAN_NAME: Final = "lambdaguard.init"

# -- evidence mode: what is counted instead of exported (OTLP metrics) -----------
# Resource: a random id per execution environment (process), beside faas.instance
# (the log stream name, which only Lambda sets): the collector keys the last
# cumulative value it saw per (environment, series) on them.
SERVICE_INSTANCE_ID: Final = "service.instance.id"
# Every metric is a cumulative monotonic sum (or, for durations, an exponential
# histogram) whose start time is the environment's start: the same for every
# flush of one environment, so a resend after a failure carries the same value.
# OpenTelemetry FaaS metric names where they exist (faas-metrics.md):
METRIC_INVOCATIONS: Final = "faas.invocations"  # {invocation}: successful invocations
METRIC_ERRORS: Final = "faas.errors"  # {error}: invocations that raised (error.type)
METRIC_TIMEOUTS: Final = "faas.timeouts"  # {timeout}
METRIC_COLDSTARTS: Final = "faas.coldstarts"  # {coldstart}
METRIC_INVOKE_DURATION: Final = "faas.invoke_duration"  # s, base-2 exponential histogram
# lambdaguard's own: one series per distinct fact, with the fact's span attributes.
METRIC_AWS_CALLS: Final = "lambdaguard.aws.calls"  # {call}
METRIC_CONNECTIONS: Final = "lambdaguard.connections"  # {connection}
METRIC_CONNECTION_FAILURES: Final = "lambdaguard.connection.failures"  # {connection}
# On every data point: True for the part of the count whose invocations were
# also exported as spans (the collector already counted those from the spans
# and adds only the False series; a metrics backend sums both for totals).
COUNTED_IN_SPANS: Final = "lambdaguard.counted_in_spans"
ERROR_TYPE: Final = "error.type"  # the exception class name, on faas.errors
# The instrumentation scope of the agent's spans and metrics: the collector
# turns only this scope's metrics into evidence.
AGENT_SCOPE: Final = "lambdaguard.agent"
# Scale of the faas.invoke_duration exponential histogram: bucket i holds
# durations in (2**(i / 16), 2**((i + 1) / 16)] seconds, each within 2.2 %.
DURATION_SCALE: Final = 4

# -- JSON log line (one per invocation, on stdout) -------------------------------
# Keys of the structured log line. Flat keys so CloudWatch Logs Insights can
# filter on them directly (`filter lambdaguard = "invocation"`).
LOG_MARKER: Final = "lambdaguard"  # value: "invocation"
LOG_TRACE_ID: Final = "trace_id"
LOG_SPAN_ID: Final = "span_id"
LOG_REQUEST_ID: Final = "request_id"
LOG_COLDSTART: Final = "cold_start"
LOG_DURATION_MS: Final = "duration_ms"
LOG_OUTCOME: Final = "outcome"
LOG_AWS_CALLS: Final = "aws_calls"  # list of {service, operation, count, errors}
LOG_HOSTS: Final = "hosts"  # list of {host, port, tls, count, failures}
