// Send agent-shaped spans to a lambdaguard collector with an official OpenTelemetry
// JavaScript exporter. Usage: node send_spans.js <http-proto|http-json|grpc> <url> <gzip|none>
// Prints "ok" when the export reported SUCCESS, the error otherwise (exit 1).
"use strict";
const [kind, url, compression] = process.argv.slice(2);
const {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} = require("@opentelemetry/sdk-trace-base");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders";
let Exporter;
if (kind === "http-proto") Exporter = require("@opentelemetry/exporter-trace-otlp-proto").OTLPTraceExporter;
else if (kind === "http-json") Exporter = require("@opentelemetry/exporter-trace-otlp-http").OTLPTraceExporter;
else Exporter = require("@opentelemetry/exporter-trace-otlp-grpc").OTLPTraceExporter;
const memory = new InMemorySpanExporter();
const exporter = new Exporter({ url, compression: compression === "gzip" ? "gzip" : "none" });
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({
    "cloud.resource_id": ARN,
    "cloud.account.id": "123456789012",
    "cloud.region": "eu-west-1",
    "lambdaguard.layer.version": "0.1.0",
  }),
  spanProcessors: [new SimpleSpanProcessor(memory)],
});
const tracer = provider.getTracer("lambdaguard.test.js");
const api = require("@opentelemetry/api");
for (let i = 0; i < 3; i++) {
  const inv = tracer.startSpan("orders", {
    attributes: {
      "faas.invocation_id": `r${i}`,
      "faas.coldstart": i === 0,
      "lambdaguard.invocation.outcome": i === 1 ? "error" : "success",
    },
  });
  const ctx = api.trace.setSpan(api.context.active(), inv);
  const call = tracer.startSpan("S3.PutObject", {
    attributes: {
      "lambdaguard.aws.service": "s3",
      "lambdaguard.aws.operation": "PutObject",
      "lambdaguard.aws.params": '{"Bucket":"orders","Key":"in/"}',
      "lambdaguard.aws.kms_key_id": "arn:aws:kms:eu-west-1:123456789012:key/k",
    },
  }, ctx);
  call.end();
  inv.addEvent("lambdaguard.connection", {
    "server.address": "api.stripe.com",
    "server.port": 443,
    "lambdaguard.net.tls": true,
  });
  inv.end();
}
exporter.export(memory.getFinishedSpans(), (result) => {
  exporter.shutdown().finally(() => {
    if (result.code === 0) {
      console.log("ok");
    } else {
      console.log(String(result.error));
      process.exit(1);
    }
  });
});
