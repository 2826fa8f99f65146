"""The local stage shared by ``make demo`` and the end-to-end tests.

:class:`Stage` starts, in one process and on loopback only:

- moto in server mode, seeded as the sample account (:mod:`.aws`);
- a third-party API stand-in, plain HTTP and HTTPS (:mod:`.thirdparty`);
- the lambdaguard collector with its embedded SQLite store (optional);
- a *tap* in front of the collector that keeps every OTLP body it relays,
  so tests can prove what left the functions (and what did not);
- the local Lambda runtime (:mod:`.runtime`) with the sample functions
  (``examples/functions``), each with the layer zip unpacked into a fresh
  directory that plays ``/opt`` — or without the layer, for comparison.

:meth:`Stage.run_workload` drives the functions through their triggers and
returns, per invocation, what was sent and what came back; :class:`Expected`
derives from it the AWS calls the functions made, for comparison with what
lambdaguard recorded.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lambdaguard.errors import ConfigError
from lambdaguard.local import aws, events
from lambdaguard.local.runtime import (
    Credentials,
    FunctionConfig,
    InvokeResult,
    LocalLambda,
    build_task_root,
    unpack_layer,
)
from lambdaguard.local.thirdparty import ThirdPartyApi

__all__ = [
    "Expected",
    "Invocation",
    "Stage",
    "TelemetryTap",
    "build_host_layer",
    "repo_root",
]

WRAPPER = "/opt/lambdaguard-instrument"


def repo_root() -> Path:
    """The source checkout (``examples/`` and ``layer/`` live there)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "examples" / "functions").is_dir() and (parent / "layer").is_dir():
            return parent
    raise ConfigError("cannot find the lambdaguard checkout (examples/functions, layer/)")


def build_host_layer(root: Path | None = None) -> Path:
    """Build (or reuse) the layer zip for this machine's Python and architecture; return it."""
    root = root or repo_root()
    proc = subprocess.run(  # noqa: S603 - our own build script with fixed arguments
        [sys.executable, str(root / "layer" / "build.py"), "--host"],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
    )
    if proc.returncode != 0:
        raise ConfigError(f"make layer failed:\n{proc.stderr or proc.stdout}")
    first = proc.stdout.split()[0]
    return (root / first).resolve()


class _TapHandler(BaseHTTPRequestHandler):
    server: _TapServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        tap = self.server.tap
        with tap.lock:
            tap.bodies.append((self.path, body))
        status, reply, ctype = 503, b"", "text/plain"
        if tap.upstream:
            req = urllib.request.Request(  # noqa: S310 - loopback collector URL
                tap.upstream + self.path,
                data=body,
                method="POST",
                headers={
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("content-type", "content-encoding", "authorization")
                },
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                    status, reply = resp.status, resp.read()
                    ctype = resp.headers.get("Content-Type", "application/x-protobuf")
            except urllib.error.HTTPError as exc:
                status, reply = exc.code, exc.read()
            except OSError:
                status = 502
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class _TapServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tap: TelemetryTap) -> None:
        super().__init__(("127.0.0.1", 0), _TapHandler)
        self.tap = tap


class TelemetryTap:
    """An OTLP/HTTP relay that keeps a copy of every body (for leak checks)."""

    def __init__(self, upstream: str | None) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.lock = threading.Lock()
        self.bodies: list[tuple[str, bytes]] = []
        self._server = _TapServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL to give the agent as its endpoint."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        """Stop relaying."""
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True, slots=True)
class Invocation:
    """One invocation the workload made: which function, through what, and the result."""

    function: str
    trigger: str
    event: Any
    result: InvokeResult
    note: str = ""


@dataclass(slots=True)
class Expected:
    """What the functions did, derived from the workload (the ground truth for comparisons)."""

    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (fn, service, op)
    init_calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    invocations: Counter[str] = field(default_factory=Counter)
    cold_starts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    failed_calls: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    presigned: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    hosts: dict[str, set[tuple[str, bool]]] = field(default_factory=dict)  # fn -> {(host, tls)}

    @classmethod
    def from_workload(cls, runs: list[Invocation], third_party: ThirdPartyApi) -> Expected:
        """Count the AWS calls each invocation made, from what the sample code does."""
        exp = cls()
        https_host = third_party.https_url.split("//")[1].split(":")[0]
        http_host = third_party.http_url.split("//")[1].split(":")[0]
        for run in runs:
            fn, res = run.function, run.result
            exp.invocations[fn] += 1
            exp.cold_starts[fn] += int(res.cold_start)
            exp.errors[fn] += int(res.status in ("error", "init_error"))
            exp.timeouts[fn] += int(res.status == "timeout")
            if res.status == "init_error":
                continue
            if fn == "orders-api" and res.cold_start:
                exp.init_calls[(fn, "secretsmanager", "GetSecretValue")] += 1
            if res.status == "error":
                continue  # the samples' handler errors happen before their first AWS call
            if fn == "orders-api":
                if run.trigger == "api:POST":
                    for op in ("BatchWriteItem", "TransactWriteItems"):
                        exp.calls[(fn, "dynamodb", op)] += 1
                    exp.calls[(fn, "sqs", "SendMessageBatch")] += 1
                    exp.hosts.setdefault(fn, set()).add((https_host, True))
                else:
                    exp.calls[(fn, "dynamodb", "Scan")] += json.loads(res.json()["body"])["pages"]
            elif fn == "thumbnailer":
                for _ in res.json()["thumbnails"]:
                    exp.calls[(fn, "s3", "GetObject")] += 2  # the source, the missing marker
                    exp.failed_calls[(fn, "s3", "GetObject", "NoSuchKey")] += 1
                    exp.calls[(fn, "s3", "CreateMultipartUpload")] += 1
                    exp.calls[(fn, "s3", "UploadPart")] += 3  # 11 MiB in 5 MiB parts
                    exp.calls[(fn, "s3", "CompleteMultipartUpload")] += 1
                    exp.presigned[(fn, "s3", "GetObject")] += 1
            elif fn == "nightly-report":
                body = res.json()
                exp.calls[(fn, "ssm", "GetParameter")] += 1
                exp.calls[(fn, "s3", "ListObjectsV2")] += body["pages"]
                exp.calls[(fn, "s3", "PutObject")] += 1
                exp.calls[(fn, "sns", "Publish")] += 1
                exp.hosts.setdefault(fn, set()).add((http_host, False))
            elif fn == "queue-worker":
                n = len(run.event["Records"])
                exp.calls[(fn, "dynamodb", "UpdateItem")] += n
                exp.calls[(fn, "sqs", "SendMessageBatch")] += -(-n // 10)
            elif fn == "slow-export":
                exp.calls[(fn, "s3", "PutObject")] += 1
        return exp


class Stage:
    """Everything ``make demo`` and the end-to-end tests run against, on loopback.

    ``layer_zip``: the layer to unpack for every function (None: run without
    the layer). ``collector``: start the embedded collector (SQLite at
    ``work_dir/lambdaguard.db``); when False, or when ``endpoint`` is given,
    the agent exports there instead (e.g. a closed port: "collector down").
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        layer_zip: Path | None,
        collector: bool = True,
        endpoint: str | None = None,
        functions: tuple[aws.FunctionSpec, ...] = aws.FUNCTIONS,
        echo: bool = False,
    ) -> None:
        self.work_dir = work_dir
        self.layer_zip = layer_zip
        self.specs = functions
        self.echo = echo
        self._want_collector = collector and endpoint is None
        self._endpoint = endpoint
        self.store_url = f"sqlite:///{work_dir / 'lambdaguard.db'}"
        self.log_path = work_dir / "functions.log"
        self.moto: aws.MotoServer | None = None
        self.account: aws.Account | None = None
        self.third_party: ThirdPartyApi | None = None
        self.collector: Any = None
        self.tap: TelemetryTap | None = None
        self.service: LocalLambda | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Stage:
        """Start every part; on failure, stop what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.moto = aws.start_moto()
        self.account = aws.seed_account(self.moto, self.specs)
        self.third_party = ThirdPartyApi(self.work_dir / "certs")
        endpoint = self._endpoint
        if self._want_collector:
            from lambdaguard.collector.server import start_collector
            from lambdaguard.collector.settings import CollectorConfig

            self.collector = start_collector(
                CollectorConfig(store_url=self.store_url, http_port=0, grpc_port=None)
            )
            self.tap = TelemetryTap(self.collector.http_url)
            endpoint = self.tap.url
        self.service = LocalLambda(self.work_dir / "lambda", log_path=self.log_path, echo=self.echo)
        examples = repo_root() / "examples" / "functions"
        for spec in self.specs:
            task_root = build_task_root(
                examples / spec.source, self.work_dir / "tasks" / spec.name, spec.packages
            )
            env = self.account.function_environment(spec.name)
            env.update(
                {
                    "THIRD_PARTY_CA": str(self.third_party.ca_file),
                    "PAYMENTS_URL": self.third_party.https_url,
                    "WEBHOOK_URL": self.third_party.http_url,
                }
            )
            layer_dir = None
            if self.layer_zip is not None:
                # A fresh /opt per function, unpacked from the built zip, as Lambda does.
                layer_dir = self.work_dir / "opt" / spec.name
                if layer_dir.exists():
                    shutil.rmtree(layer_dir)
                unpack_layer(self.layer_zip, layer_dir)
                env["AWS_LAMBDA_EXEC_WRAPPER"] = WRAPPER
                env["LAMBDAGUARD_ENDPOINT"] = endpoint or "http://127.0.0.1:9"
                # Evidence mode as shipped (new facts as spans, repeats counted), but
                # the counts are flushed after every invocation instead of every
                # minute: the workload is compared with exact per-invocation truth
                # and ends in seconds, before any real interval would pass.
                env["LAMBDAGUARD_FLUSH_INTERVAL"] = "0"
            self.service.add(
                FunctionConfig(
                    name=spec.name,
                    handler=spec.handler,
                    code_dir=task_root,
                    memory_mb=spec.memory_mb,
                    timeout_s=spec.timeout_s,
                    environment=env,
                    layer_dir=layer_dir,
                    region=self.account.region,
                    account=self.account.account_id,
                    credentials=self.account.credentials[spec.name],
                )
            )

    def stop(self) -> None:
        """Stop every part that was started (functions first, so their exports land)."""
        if self.service is not None:
            self.service.close()
            self.service = None
        if self.tap is not None:
            self.tap.close()
            self.tap = None
        if self.collector is not None:
            self.collector.stop()
            self.collector = None
        if self.third_party is not None:
            self.third_party.close()
            self.third_party = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None

    def __enter__(self) -> Stage:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the workload -------------------------------------------------------------

    def invoke(self, function: str, trigger: str, event: Any, note: str = "") -> Invocation:
        """Invoke one function and keep the record."""
        if self.service is None:
            raise ConfigError("Stage.start() must run before invoking")
        trace_id = None
        header = (
            (event.get("headers") or {}).get("x-amzn-trace-id") if isinstance(event, dict) else None
        )
        if header:
            # API Gateway with active tracing passes its trace on: Lambda's trace
            # header for the invocation continues the request's X-Ray root.
            trace_id = f"{header};Parent={secrets.token_hex(8)};Sampled=1"
        result = self.service.invoke(function, event, trace_id=trace_id)
        return Invocation(function, trigger, event, result, note)

    def run_workload(
        self, *, orders: int = 8, uploads: int = 3, reports: int = 2, burst: int = 2
    ) -> list[Invocation]:
        """Drive every sample function through its trigger a realistic number of times."""
        if self.account is None or self.moto is None:
            raise ConfigError("Stage.start() must run before the workload")
        acct = self.account
        runs: list[Invocation] = []
        api = {"api_id": acct.api_id or "local", "account": acct.account_id, "region": acct.region}

        # API Gateway -> orders-api: orders come in, someone lists them. The
        # first `burst` orders arrive at once, so Lambda scales out (several
        # cold starts, each with its own INIT-phase secret read).
        def post(n: int) -> Invocation:
            body = {
                "order_id": f"order-{n:03d}",
                "items": [
                    {"sku": f"sku-{1 + (n + i) % 3}", "qty": 1 + i} for i in range(2 + n % 2)
                ],
            }
            event = events.api_gateway_http("POST", "/orders", body=body, **api)
            return self.invoke("orders-api", "api:POST", event)

        with ThreadPoolExecutor(max_workers=max(1, burst)) as pool:
            runs += pool.map(post, range(min(burst, orders)))
        for n in range(min(burst, orders), orders):
            runs.append(post(n))
            if n % 3 == 2:
                runs.append(
                    self.invoke(
                        "orders-api", "api:GET", events.api_gateway_http("GET", "/orders", **api)
                    )
                )
        # A malformed request: the handler raises (KeyError) before any AWS call.
        runs.append(
            self.invoke(
                "orders-api",
                "api:POST",
                events.api_gateway_http("POST", "/orders", body={"order_id": "bad"}, **api),
                note="malformed request: no items",
            )
        )
        # SQS -> queue-worker: poll the order events the API emitted, as the mapping would.
        sqs = self.moto.client("sqs", acct.region)
        queue_url = acct.queues[aws.QUEUE_ORDERS]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        while True:
            got = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                break
            run = self.invoke("queue-worker", "sqs", events.sqs_batch(got, queue_arn=queue_arn))
            runs.append(run)
            if run.result.ok:  # Lambda deletes a batch its function processed
                sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(got)
                    ],
                )
        # S3 -> thumbnailer: new uploads land under new/.
        s3 = self.moto.client("s3", acct.region)
        for n in range(uploads):
            key = f"new/holiday photo {n}.jpg"
            put = s3.put_object(Bucket=aws.BUCKET_UPLOADS, Key=key, Body=b"\xff\xd8\xff" * 1000)
            event = events.s3_object_created(
                aws.BUCKET_UPLOADS, key, size=3000, etag=put["ETag"], region=acct.region
            )
            runs.append(self.invoke("thumbnailer", "s3", event))
        # EventBridge schedule -> nightly-report.
        rule_arn = f"arn:aws:events:{acct.region}:{acct.account_id}:rule/nightly-report-schedule"
        for _ in range(reports):
            runs.append(
                self.invoke(
                    "nightly-report",
                    "schedule",
                    events.schedule(rule_arn, account=acct.account_id, region=acct.region),
                )
            )
        # Direct -> slow-export: two quick exports, one that runs past its timeout.
        for n, wait in enumerate((0, 0, 5)):
            runs.append(
                self.invoke(
                    "slow-export",
                    "direct",
                    {"export_id": f"export-{n}", "wait_s": wait},
                    note="runs past its timeout" if wait else "",
                )
            )
        # A quick export after the timeout: a fresh (cold) environment.
        runs.append(
            self.invoke("slow-export", "direct", {"export_id": "export-after", "wait_s": 0})
        )
        # Direct -> broken-import: every attempt fails at INIT.
        for _ in range(2):
            runs.append(self.invoke("broken-import", "direct", {"ping": True}))
        return runs

    def use_credentials(
        self, function: str, credentials: Credentials, *, environment: dict[str, str] | None = None
    ) -> None:
        """Run ``function`` from now on with other credentials (and environment variables
        added), in a fresh environment, as Lambda does after a configuration change."""
        if self.service is None:
            raise ConfigError("Stage.start() must run before changing a function's credentials")
        config = self.service.config(function)
        env = {**config.environment, **(environment or {})}
        self.service.add(dataclasses.replace(config, credentials=credentials, environment=env))

    def shutdown_functions(self) -> None:
        """Shut the execution environments down (SIGTERM), so buffered telemetry is flushed."""
        if self.service is not None:
            for name in self.service.functions:
                for env in self.service.environments(name):
                    env.shutdown()
