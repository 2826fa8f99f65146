"""The peer: OpenTelemetry's AWS Lambda + botocore instrumentation with the OTLP/HTTP exporter.

This is what the OpenTelemetry Lambda layer's ``otel_wrapper.py`` handler does
(``_HANDLER`` points here, ``ORIG_HANDLER`` at the function), with the SDK set
up explicitly instead of by ``opentelemetry-instrument``'s entry-point scan
(which would load every installed instrumentor and cost the peer more): one
TracerProvider, a BatchSpanProcessor over ``OTLPSpanExporter`` (HTTP/protobuf,
endpoint from ``OTEL_EXPORTER_OTLP_ENDPOINT``), the botocore instrumentor, and
the Lambda instrumentor, which wraps ``ORIG_HANDLER`` and force-flushes the
provider at the end of every invocation.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_provider = TracerProvider(resource=Resource.create())
_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(_provider)
BotocoreInstrumentor().instrument()
AwsLambdaInstrumentor().instrument()

_module, _name = os.environ["ORIG_HANDLER"].replace("/", ".").rsplit(".", 1)
lambda_handler: Any = getattr(import_module(_module), _name)
