"""The layer in a real runtime: exec wrapper, awslambdaric, the Extensions API, freeze and thaw."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdaguard import semconv
from lambdaguard.local.runtime import FunctionConfig, InvokeResult, LocalLambda

from .conftest import Sink, attributes

REPO = Path(__file__).resolve().parents[2]
WRAPPER = REPO / "layer" / "lambdaguard-instrument"


@pytest.fixture(scope="module")
def layer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory laid out as the layer lands in /opt: the wrapper and python/lambdaguard."""
    opt = tmp_path_factory.mktemp("opt")
    shutil.copy2(WRAPPER, opt / "lambdaguard-instrument")
    (opt / "python").mkdir()
    (opt / "python" / "lambdaguard").symlink_to(REPO / "src" / "lambdaguard")
    return opt


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LocalLambda]:
    """A local Lambda service, shut down after the test."""
    svc = LocalLambda(tmp_path / "lambda")
    try:
        yield svc
    finally:
        svc.close()


def function(tmp_path: Path, name: str, source: str) -> Path:
    root = tmp_path / name
    root.mkdir(parents=True)
    (root / "app.py").write_text(textwrap.dedent(source))
    return root


def add(
    service: LocalLambda,
    code: Path,
    *,
    handler: str = "app.handler",
    layer: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 5.0,
    name: str = "orders",
) -> None:
    environment = dict(env or {})
    if layer is not None:
        environment["AWS_LAMBDA_EXEC_WRAPPER"] = "/opt/lambdaguard-instrument"
    service.add(
        FunctionConfig(
            name=name,
            handler=handler,
            code_dir=code,
            layer_dir=layer,
            environment=environment,
            timeout_s=timeout_s,
        )
    )


APP = """
    import os
    import boto3

    sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name="us-east-1")
    QUEUE = sqs.create_queue(QueueName="e2e")["QueueUrl"]  # INIT-phase call

    def handler(event, context):
        sqs.send_message(QueueUrl=QUEUE, MessageBody="hello")
        if event.get("fail"):
            raise KeyError("missing " + event["fail"])
        return {"n": event.get("n")}
"""


# How the export runs after the response: on awslambdaric's thread before `next`
# (the default), or through the internal extension (LAMBDAGUARD_EXTENSION=always).
EXPORT_PATHS = {"runtime": {}, "extension": {"LAMBDAGUARD_EXTENSION": "always"}}


@pytest.mark.parametrize("path", sorted(EXPORT_PATHS))
def test_wrapped_function_exports_after_each_response(  # noqa: PLR0917 - fixtures
    path: str,
    tmp_path: Path,
    service: LocalLambda,
    layer_dir: Path,
    sink: Sink,
    moto_endpoint: str,
) -> None:
    """Through the exec wrapper, trace mode all: same responses, an INIT span once, a span per invoke."""
    code = function(tmp_path, "fn", APP)
    add(
        service,
        code,
        layer=layer_dir,
        env={
            "MOTO": moto_endpoint,
            "LAMBDAGUARD_ENDPOINT": sink.url,
            "LAMBDAGUARD_TRACES": "all",
            **EXPORT_PATHS[path],
        },
    )
    first = service.invoke("orders", {"n": 1})
    second = service.invoke("orders", {"n": 2})
    assert first.ok, (first, service.environment("orders").logs)
    assert second.ok, (second, service.environment("orders").logs)
    assert (first.json(), second.json()) == ({"n": 1}, {"n": 2})
    registered = service.environment("orders").extension_names
    assert registered == (("lambdaguard",) if path == "extension" else ())
    # The export ran before the runtime's (or the extension's) next `next`, so
    # the invoke ended after it: the spans are at the sink already.
    spans = sink.spans()
    names = [s.name for s in spans if s.name in ("orders", semconv.INIT_SPAN_NAME)]
    assert names == [semconv.INIT_SPAN_NAME, "orders", "orders"]
    init = next(s for s in spans if s.name == semconv.INIT_SPAN_NAME)
    invocations = [s for s in spans if s.name == "orders"]
    by_parent: dict[bytes, list[str]] = {}
    for span in spans:
        attrs = attributes(span.attributes)
        if attrs.get(semconv.RPC_SYSTEM) == semconv.RPC_SYSTEM_AWS:
            by_parent.setdefault(span.parent_span_id, []).append(span.name)
    assert by_parent[init.span_id] == ["SQS.CreateQueue"]
    assert by_parent[invocations[0].span_id] == ["SQS.SendMessage"]
    one = attributes(invocations[0].attributes)
    assert one[semconv.FAAS_INVOCATION_ID] == first.request_id
    assert one[semconv.FAAS_COLDSTART] is True
    assert attributes(invocations[1].attributes)[semconv.FAAS_COLDSTART] is False
    # The X-Ray header the runtime set for the invoke is a link, not the parent
    # (semconv: the X-Ray context is the parent only with the xray-lambda propagator).
    assert invocations[0].parent_span_id == b""
    assert len(invocations[0].links) == 1

    # The agent's log lines come through the function's stdout pipe, which may
    # be read after the invoke returned: wait for both, then check them.
    def agent_lines(lines: list[str]) -> list[dict[str, Any]]:
        return [json.loads(line) for line in lines if line.startswith('{"lambdaguard"')]

    env = service.environment("orders")
    logs = agent_lines(env.wait_for_logs(lambda lines: len(agent_lines(lines)) >= 2))
    assert [line[semconv.LOG_REQUEST_ID] for line in logs] == [first.request_id, second.request_id]


def test_failed_export_is_carried_across_a_freeze(
    tmp_path: Path, service: LocalLambda, layer_dir: Path, sink: Sink, moto_endpoint: str
) -> None:
    """In the real runtime: invocation 1's export gets 503; after the freeze, invocation 2's export carries it."""
    code = function(tmp_path, "fn", APP)
    add(
        service,
        code,
        layer=layer_dir,
        env={"MOTO": moto_endpoint, "LAMBDAGUARD_ENDPOINT": sink.url},
    )
    sink.status = 503
    first = service.invoke("orders", {"n": 1})
    assert first.ok, (first, service.environment("orders").logs)
    assert len(sink.bodies) == 1  # sent after the response, answered 503
    sink.status = 200
    second = service.invoke("orders", {"n": 2})
    assert second.ok, (second, service.environment("orders").logs)
    assert len(sink.bodies) == 2
    assert sink.bodies[1].startswith(sink.bodies[0])  # the very bytes, so ids are unchanged
    sink.bodies = sink.bodies[1:]
    ids = [
        attributes(s.attributes).get(semconv.FAAS_INVOCATION_ID)
        for s in sink.spans()
        if s.name == "orders"
    ]
    assert ids == [first.request_id, second.request_id]


def _same_failure(with_layer: InvokeResult, without: InvokeResult) -> None:
    assert with_layer.status == without.status
    assert with_layer.error is not None
    assert without.error is not None
    assert with_layer.error["errorType"] == without.error["errorType"]
    assert with_layer.error["errorMessage"] == without.error["errorMessage"]
    assert with_layer.error.get("stackTrace") == without.error.get("stackTrace")


@pytest.mark.parametrize(
    ("source", "handler"),
    [
        ("import no_such_module\ndef handler(e, c): pass\n", "app.handler"),
        ("def handler(e, c): pass\n", "app.missing"),
        ("def handler(e, c) pass\n", "app.handler"),
        ("raise ValueError('config is broken')\ndef handler(e, c): pass\n", "app.handler"),
        ("def handler(e, c): pass\n", "app"),
        ("def handler(e, c): pass\n", "nowhere/app.handler"),
    ],
    ids=[
        "import-error",
        "handler-not-found",
        "syntax-error",
        "module-raises",
        "malformed",
        "bad-path",
    ],
)
def test_unloadable_handler_fails_exactly_as_without_the_layer(  # noqa: PLR0917 - fixtures
    tmp_path: Path,
    service: LocalLambda,
    layer_dir: Path,
    sink: Sink,
    source: str,
    handler: str,
) -> None:
    """Init errors have the same type, message and stack trace with and without lambdaguard."""
    code = function(tmp_path, "fn", source)
    add(service, code, handler=handler, name="plain")
    add(service, code, handler=handler, layer=layer_dir, env={"LAMBDAGUARD_ENDPOINT": sink.url})
    _same_failure(service.invoke("orders", {}), service.invoke("plain", {}))


def test_handler_path_forms_both_load(
    tmp_path: Path, service: LocalLambda, layer_dir: Path, sink: Sink
) -> None:
    """Handlers named pkg.mod.fn and pkg/mod.fn both load through the layer."""
    code = tmp_path / "fn"
    (code / "pkg").mkdir(parents=True)
    (code / "pkg" / "__init__.py").write_text("")
    (code / "pkg" / "mod.py").write_text("def fn(e, c):\n    return 'loaded'\n")
    add(
        service, code, handler="pkg.mod.fn", layer=layer_dir, env={"LAMBDAGUARD_ENDPOINT": sink.url}
    )
    add(
        service,
        code,
        handler="pkg/mod.fn",
        layer=layer_dir,
        env={"LAMBDAGUARD_ENDPOINT": sink.url},
        name="slashed",
    )
    assert service.invoke("orders", {}).json() == "loaded"
    assert service.invoke("slashed", {}).json() == "loaded"


def test_handler_error_is_reported_identically(
    tmp_path: Path, service: LocalLambda, layer_dir: Path, sink: Sink, moto_endpoint: str
) -> None:
    """A handler's exception reaches the caller with the same type, message and stack trace."""
    code = function(tmp_path, "fn", APP)
    env = {"MOTO": moto_endpoint}
    add(service, code, env=env, name="plain")
    add(service, code, layer=layer_dir, env={**env, "LAMBDAGUARD_ENDPOINT": sink.url})
    _same_failure(service.invoke("orders", {"fail": "x"}), service.invoke("plain", {"fail": "x"}))
    span = next(s for s in sink.spans() if s.name == "orders")
    attrs = attributes(span.attributes)
    assert attrs[semconv.INVOCATION_OUTCOME] == semconv.OUTCOME_ERROR
    assert attrs[semconv.INVOCATION_ERROR_TYPE] == "KeyError"


@pytest.mark.parametrize("path", sorted(EXPORT_PATHS))
def test_timing_out_invocation_still_leaves_its_record(
    path: str, tmp_path: Path, service: LocalLambda, layer_dir: Path, sink: Sink
) -> None:
    """A handler still running near its deadline is exported with outcome timeout before the kill."""
    code = function(tmp_path, "fn", "import time\ndef handler(e, c):\n    time.sleep(30)\n")
    add(
        service,
        code,
        layer=layer_dir,
        env={
            "LAMBDAGUARD_ENDPOINT": sink.url,
            "LAMBDAGUARD_EXPORT_TIMEOUT_MS": "200",
            **EXPORT_PATHS[path],
        },
        timeout_s=1.5,
    )
    result = service.invoke("orders", {})
    assert result.status == "timeout"
    spans = [s for s in sink.spans() if s.name == "orders"]
    assert len(spans) == 1
    assert attributes(spans[0].attributes)[semconv.INVOCATION_OUTCOME] == semconv.OUTCOME_TIMEOUT


def _wrapper_env(
    env: dict[str, str],
    tmp_path: Path,
    *,
    shell: tuple[str, ...] = (),
    relative: bool = False,
) -> dict[str, Any]:
    # shell: run the wrapper through this shell instead of its #! line;
    # relative: invoke it as opt/lambdaguard-instrument from tmp_path.
    opt = tmp_path / "opt"
    opt.mkdir(exist_ok=True)
    shutil.copy2(WRAPPER, opt / "lambdaguard-instrument")
    script = "import json, os; print(json.dumps(dict(os.environ)))"
    wrapper = "opt/lambdaguard-instrument" if relative else str(opt / "lambdaguard-instrument")
    out = subprocess.run(
        [*shell, wrapper, sys.executable, "-c", script],
        env={"PATH": os.environ["PATH"], **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    result["_opt"] = str(opt.resolve())
    return result


def test_exec_wrapper_sets_handler_and_keeps_other_layers_paths(tmp_path: Path) -> None:
    """The wrapper keeps the original handler, points _HANDLER at lambdaguard, and touches PYTHONPATH only when set."""
    env = _wrapper_env({"_HANDLER": "app.handler", "PYTHONPATH": "/opt/other:/var/task"}, tmp_path)
    assert env["LAMBDAGUARD_HANDLER"] == "app.handler"
    assert env["_HANDLER"] == "lambdaguard.agent.handler.lambda_handler"
    assert env["PYTHONPATH"] == f"/opt/other:/var/task:{env['_opt']}/python"
    again = _wrapper_env(
        {
            "_HANDLER": "x.y",
            "LAMBDAGUARD_HANDLER": "app.handler",
            "PYTHONPATH": f"{tmp_path.resolve()}/opt/python:/a",
        },
        tmp_path,
    )
    assert again["LAMBDAGUARD_HANDLER"] == "app.handler"
    assert again["PYTHONPATH"] == f"{tmp_path.resolve()}/opt/python:/a"
    # Unset PYTHONPATH stays unset: Lambda's bootstrap then adds every layer's
    # python/ and site-packages directories itself (setting it would hide them).
    empty = _wrapper_env({"_HANDLER": "m.f"}, tmp_path)
    assert "PYTHONPATH" not in empty


def test_exec_wrapper_is_posix_sh() -> None:
    """The wrapper runs under /bin/sh (no env lookup, no bash needed), as Lambda's OS provides it."""
    assert WRAPPER.read_text().splitlines()[0] == "#!/bin/sh"
    assert os.access(WRAPPER, os.X_OK)


@pytest.mark.parametrize(
    "shell",
    [("sh",), ("bash", "--posix")],
    ids=["sh", "bash-posix"],
)
def test_exec_wrapper_behaves_the_same_under_each_sh(
    shell: tuple[str, ...], tmp_path: Path
) -> None:
    """Under the system's sh and under bash as sh (Amazon Linux's /bin/sh), the variables come out the same."""
    if shutil.which(shell[0]) is None:
        pytest.skip(f"no {shell[0]} here")
    env = _wrapper_env(
        {"_HANDLER": "app.handler", "PYTHONPATH": "/var/task"}, tmp_path, shell=shell
    )
    assert env["LAMBDAGUARD_HANDLER"] == "app.handler"
    assert env["_HANDLER"] == "lambdaguard.agent.handler.lambda_handler"
    assert env["PYTHONPATH"] == f"/var/task:{env['_opt']}/python"
    assert "PYTHONPATH" not in _wrapper_env({"_HANDLER": "m.f"}, tmp_path, shell=shell)


def test_exec_wrapper_invoked_by_a_relative_path_appends_an_absolute_site(tmp_path: Path) -> None:
    """Lambda execs the wrapper by its absolute path; a relative one still gives an absolute python/ entry."""
    env = _wrapper_env(
        {"_HANDLER": "app.handler", "PYTHONPATH": "/var/task"}, tmp_path, relative=True
    )
    assert env["PYTHONPATH"] == f"/var/task:{env['_opt']}/python"


def test_disabled_layer_is_a_pass_through(
    tmp_path: Path, service: LocalLambda, layer_dir: Path, sink: Sink
) -> None:
    """LAMBDAGUARD_ENABLED=false: the handler runs, no extension registers, nothing is exported."""
    code = function(tmp_path, "fn", "def handler(e, c):\n    return 'plain'\n")
    add(
        service,
        code,
        layer=layer_dir,
        env={"LAMBDAGUARD_ENDPOINT": sink.url, "LAMBDAGUARD_ENABLED": "false"},
    )
    assert service.invoke("orders", {}).json() == "plain"
    assert service.environment("orders").extension_names == ()
    assert sink.bodies == []


@pytest.mark.parametrize(
    ("source", "handler", "error_type"),
    [
        (
            "import no_such_module\ndef handler(e, c): pass\n",
            "app.handler",
            "Runtime.ImportModuleError",
        ),
        ("def handler(e, c): pass\n", "app.missing", "Runtime.HandlerNotFound"),
        (
            "raise ValueError('secret=hunter2')\ndef handler(e, c): pass\n",
            "app.handler",
            "ValueError",
        ),
    ],
    ids=["import-error", "handler-not-found", "module-raises"],
)
def test_unloadable_handler_sends_its_init_error_by_name_and_region(  # noqa: PLR0917 - fixtures
    tmp_path: Path,
    service: LocalLambda,
    layer_dir: Path,
    sink: Sink,
    source: str,
    handler: str,
    error_type: str,
) -> None:
    """A handler that cannot be loaded leaves an init error naming the function, never its message."""
    code = function(tmp_path, "fn", source)
    add(service, code, handler=handler, name="plain")
    add(service, code, handler=handler, layer=layer_dir, env={"LAMBDAGUARD_ENDPOINT": sink.url})
    _same_failure(service.invoke("orders", {}), service.invoke("plain", {}))
    init = [s for s in sink.spans() if s.name == semconv.INIT_SPAN_NAME]
    assert init, "no init span was exported"
    attrs = attributes(init[0].attributes)
    assert attrs[semconv.INVOCATION_OUTCOME] == semconv.OUTCOME_ERROR
    assert attrs[semconv.INVOCATION_ERROR_TYPE] == error_type
    assert semconv.FUNCTION_ARN not in attrs
    resource = sink.resources()[0]
    assert resource[semconv.FAAS_NAME] == "orders"
    assert resource[semconv.CLOUD_REGION]
    assert b"hunter2" not in b"".join(sink.bodies)


def test_init_error_export_failing_changes_nothing(
    tmp_path: Path, service: LocalLambda, layer_dir: Path
) -> None:
    """With the collector unreachable, the init error Lambda reports is exactly the same."""
    code = function(tmp_path, "fn", "import no_such_module\ndef handler(e, c): pass\n")
    add(service, code, name="plain")
    add(
        service,
        code,
        layer=layer_dir,
        env={"LAMBDAGUARD_ENDPOINT": "http://127.0.0.1:9", "LAMBDAGUARD_EXPORT_TIMEOUT_MS": "200"},
    )
    _same_failure(service.invoke("orders", {}), service.invoke("plain", {}))
