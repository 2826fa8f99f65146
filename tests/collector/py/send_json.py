"""Send agent-shaped spans with the official Python OTLP/HTTP JSON exporter.

Runs in its own virtual environment (the JSON exporter pins an SDK other than
the project's dev one): ``python send_json.py <url> <gzip|none>``; prints
``ok`` when the export reported SUCCESS, the result otherwise (exit 1).
"""

from __future__ import annotations

import sys

from opentelemetry.exporter.otlp.common.http import Compression
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"


def main(url: str, compression: str) -> int:
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {
                "cloud.resource_id": ARN,
                "cloud.account.id": "123456789012",
                "cloud.region": "eu-west-1",
                "lambdaguard.layer.version": "0.1.0",
            }
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("lambdaguard.test.json")
    for i in range(3):
        with tracer.start_as_current_span(
            "orders",
            attributes={
                "faas.invocation_id": f"r{i}",
                "faas.coldstart": i == 0,
                "lambdaguard.invocation.outcome": "error" if i == 1 else "success",
            },
        ) as span:
            with tracer.start_as_current_span(
                "S3.PutObject",
                attributes={
                    "lambdaguard.aws.service": "s3",
                    "lambdaguard.aws.operation": "PutObject",
                    "lambdaguard.aws.params": '{"Bucket":"orders","Key":"in/"}',
                    "lambdaguard.aws.kms_key_id": "arn:aws:kms:eu-west-1:123456789012:key/k",
                },
            ):
                pass
            span.add_event(
                "lambdaguard.connection",
                {
                    "server.address": "api.stripe.com",
                    "server.port": 443,
                    "lambdaguard.net.tls": True,
                },
            )
    exporter = OTLPSpanExporter(
        endpoint=url,
        compression=Compression.from_str(compression),
    )
    result = exporter.export(memory.get_finished_spans())
    exporter.shutdown()
    print("ok" if result is SpanExportResult.SUCCESS else str(result))
    return 0 if result is SpanExportResult.SUCCESS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
