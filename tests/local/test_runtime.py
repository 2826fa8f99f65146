"""The local Lambda runtime drives functions through awslambdaric as Lambda does."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import time
import zipfile
from pathlib import Path

import pytest

from lambdaguard.local.runtime import (
    ExecutionEnvironment,
    FunctionConfig,
    InvokeTimeline,
    LocalLambda,
    build_task_root,
    unpack_layer,
)

from .conftest import WriteFunction

ECHO = """
import os, sys

INIT_PID = os.getpid()

def handler(event, context):
    if event.get("raise"):
        raise KeyError(event["raise"])
    if event.get("exit"):
        os._exit(event["exit"])
    if event.get("sleep"):
        import time
        time.sleep(event["sleep"])
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "pid": INIT_PID,
        "sys_path": sys.path,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AWS_LAMBDA", "LAMBDA", "_HANDLER", "AWS_REGION", "MY_"))},
        "client_context": getattr(context.client_context, "custom", None),
    }
"""


def _config(root: Path, **kw: object) -> FunctionConfig:
    base: dict[str, object] = {"name": "echo", "handler": "app.handler", "code_dir": root}
    base.update(kw)
    return FunctionConfig(**base)  # type: ignore[arg-type]


def _state(pid: int) -> str:
    # Field 3 of /proc/<pid>/stat: R running, S sleeping, T stopped (SIGSTOP).
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_invoke_passes_event_context_and_environment(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """The handler gets the event, a context with request id, ARN, deadline, and Lambda's variables."""
    root = write_function(app=ECHO)
    service.add(_config(root, memory_mb=256, timeout_s=5, environment={"MY_VAR": "x"}))
    result = service.invoke(
        "echo", {"k": [1, 2]}, request_id="req-1", client_context={"custom": {"a": "b"}}
    )
    assert result.ok, result.payload
    body = result.json()
    assert body["event"] == {"k": [1, 2]}
    assert body["request_id"] == "req-1"
    assert body["function_name"] == "echo"
    assert body["memory"] == "256"
    assert body["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:echo"
    assert 0 < body["remaining_ms"] <= 5000
    assert body["trace"].startswith("Root=1-")
    assert body["client_context"] == {"a": "b"}
    env = body["env"]
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(root.resolve())
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/echo"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["MY_VAR"] == "x"
    assert body["sys_path"][0] == str(root.resolve())
    assert result.cold_start
    assert result.init_duration_ms is not None


def test_function_sees_nothing_of_the_calling_environment(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """The function process imports only from the task root, layers and the runtime directory."""
    root = write_function(
        app="""
        def handler(event, context):
            out = {}
            for name in ("opentelemetry", "pytest", "lambdaguard", "boto3", "awslambdaric"):
                try:
                    __import__(name)
                    out[name] = True
                except ImportError:
                    out[name] = False
            import os
            out["VIRTUAL_ENV"] = os.environ.get("VIRTUAL_ENV")
            return out
        """
    )
    service.add(_config(root))
    body = service.invoke("echo", {}).json()
    assert body == {
        "opentelemetry": False,
        "pytest": False,
        "lambdaguard": False,
        "boto3": True,  # the runtime's AWS SDK, as in /var/runtime
        "awslambdaric": True,
        "VIRTUAL_ENV": None,
    }


def test_warm_invokes_reuse_the_process_and_freeze_it_between(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """A second invoke is warm (same process, no init) and the process is stopped between invokes."""
    service.add(_config(write_function(app=ECHO)))
    first = service.invoke("echo", {})
    env = service.environment("echo")
    assert env.pid is not None
    assert _state(env.pid) == "T"
    second = service.invoke("echo", {})
    assert not second.cold_start
    assert second.init_duration_ms is None
    assert first.json()["pid"] == second.json()["pid"]
    assert env.init_count == 1


def test_handler_error_is_reported_as_awslambdaric_reports_it(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """A raising handler gives status error with errorType, errorMessage and the user's frames."""
    service.add(_config(write_function(app=ECHO)))
    result = service.invoke("echo", {"raise": "nope"})
    assert result.status == "error"
    assert result.function_error == "Unhandled"
    assert result.error is not None
    assert result.error["errorType"] == "KeyError"
    assert result.error["errorMessage"] == "'nope'"
    assert any("app.py" in frame for frame in result.error["stackTrace"])
    # The environment survives a handler error.
    assert not service.invoke("echo", {}).cold_start


def test_import_error_is_an_init_error_and_the_next_invoke_retries_init(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """A handler module that cannot be imported gives Runtime.ImportModuleError on every invoke."""
    root = write_function(app="import no_such_module_anywhere\n")
    service.add(_config(root))
    first = service.invoke("echo", {})
    assert first.status == "init_error"
    assert first.error is not None
    assert first.error["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module_anywhere" in first.error["errorMessage"]
    second = service.invoke("echo", {})
    assert second.status == "init_error"
    assert second.cold_start
    assert service.environment("echo").init_count == 2


def test_missing_handler_function_is_an_init_error(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """A handler name that is not on the module gives Runtime.HandlerNotFound."""
    service.add(_config(write_function(app="x = 1\n")))
    result = service.invoke("echo", {})
    assert result.status == "init_error"
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.HandlerNotFound"


def test_timeout_kills_the_environment_and_the_next_invoke_is_cold(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """Past the deadline the invoke is a timeout, the process is gone, the next invoke re-inits."""
    service.add(_config(write_function(app=ECHO), timeout_s=1.0))
    warm = service.invoke("echo", {})
    pid = warm.json()["pid"]
    result = service.invoke("echo", {"sleep": 30})
    assert result.status == "timeout"
    assert result.error is not None
    assert result.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result.error["errorMessage"]
    assert not Path(f"/proc/{pid}").exists()
    after = service.invoke("echo", {})
    assert after.ok
    assert after.cold_start
    assert after.json()["pid"] != pid


def test_runtime_exit_during_invoke_is_an_exit_error(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """A process that exits mid-invoke gives Runtime.ExitError and a cold next invoke."""
    service.add(_config(write_function(app=ECHO)))
    result = service.invoke("echo", {"exit": 3})
    assert result.status == "error"
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in result.error["errorMessage"]
    assert service.invoke("echo", {}).cold_start


EXTENSION = """
import json, os, threading, time, urllib.request

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
MARK = os.environ["MARK_DIR"]
STATUS = {}

def _call(method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://{API}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()

status, headers, body = _call(
    "POST", "/2020-01-01/extension/register", json.dumps({"events": ["INVOKE"]}).encode(),
    {"Lambda-Extension-Name": "test-ext"},
)
IDENT = headers["Lambda-Extension-Identifier"]
REGISTERED = json.loads(body)

def loop():
    while True:
        _, _, event = _call("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": IDENT})
        event = json.loads(event)
        time.sleep(0.2)  # work after the response, e.g. an export
        # perf_counter is CLOCK_MONOTONIC on Linux: comparable across processes.
        event["back_ns"] = time.perf_counter_ns()
        with open(os.path.join(MARK, event["requestId"]), "w") as fh:
            fh.write(json.dumps(event))

threading.Thread(target=loop, daemon=True).start()

def handler(event, context):
    if event.get("late"):
        status, _, body = _call(
            "POST", "/2020-01-01/extension/register", json.dumps({"events": ["INVOKE"]}).encode(),
            {"Lambda-Extension-Name": "late-ext"},
        )
        return {"late_status": status}
    return {"registered": REGISTERED}
"""


def test_invoke_waits_for_internal_extensions_to_call_next(
    service: LocalLambda, write_function: WriteFunction, tmp_path: Path
) -> None:
    """An invoke ends only after every registered extension has processed its INVOKE event."""
    marks = tmp_path / "marks"
    marks.mkdir()
    root = write_function(app=EXTENSION)
    service.add(_config(root, environment={"MARK_DIR": str(marks)}))
    result = service.invoke("echo", {}, request_id="r-ext")
    assert result.ok, result.payload
    assert result.json()["registered"] == {
        "functionName": "echo",
        "functionVersion": "$LATEST",
        "handler": "app.handler",
    }
    event = json.loads((marks / "r-ext").read_text())
    assert event["eventType"] == "INVOKE"
    assert event["requestId"] == "r-ext"
    assert event["invokedFunctionArn"].endswith(":function:echo")
    assert event["tracing"]["type"] == "X-Amzn-Trace-Id"
    assert event["deadlineMs"] > int(time.time() * 1000) - 60_000
    assert result.post_runtime_ms > 0
    assert service.environment("echo").extension_names == ("test-ext",)


def test_extension_registration_after_init_is_refused(
    service: LocalLambda, write_function: WriteFunction, tmp_path: Path
) -> None:
    """Extensions register during INIT only; a later register call gets 403."""
    marks = tmp_path / "marks"
    marks.mkdir()
    service.add(_config(write_function(app=EXTENSION), environment={"MARK_DIR": str(marks)}))
    assert service.invoke("echo", {"late": True}).json() == {"late_status": 403}


def test_exec_wrapper_runs_around_the_runtime_command(
    service: LocalLambda, write_function: WriteFunction, tmp_path: Path
) -> None:
    """AWS_LAMBDA_EXEC_WRAPPER under /opt is run from the layer dir and may rewrite _HANDLER."""
    opt = tmp_path / "opt"
    opt.mkdir()
    wrapper = opt / "wrap"
    wrapper.write_text(
        '#!/bin/bash\nexport MY_WRAPPED="$(dirname "$0")"\nexport _HANDLER=other.handler\nexec "$@"\n'
    )
    wrapper.chmod(0o755)
    root = write_function(
        app=ECHO,
        other="def handler(event, context):\n    import os\n    return os.environ['MY_WRAPPED']\n",
    )
    service.add(_config(root, layer_dir=opt, environment={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrap"}))
    result = service.invoke("echo", {})
    assert result.ok, result.payload
    assert result.json() == str(opt.resolve())


def test_shutdown_sends_sigterm_then_the_process_is_gone(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """Closing the service ends a frozen function with SIGTERM (not SIGKILL) and leaves no process."""
    # The function keeps SIGTERM's default action, so the kernel ends it the
    # moment the signal is delivered. A Python-level handler would only run if
    # the main thread got to a bytecode boundary, which depends on which thread
    # the kernel picks (awslambdaric's poller may be blocked in C): a race on
    # Lambda too, so it is no test of what this service sends.
    root = write_function(app=ECHO)
    service.add(_config(root))
    environment = service.environment("echo")
    service.invoke("echo", {"n": 1})
    pid = environment.pid
    assert pid is not None
    service.close()
    assert environment.exit_code == -signal.SIGTERM
    assert not Path(f"/proc/{pid}").exists()


def test_large_response_is_refused(service: LocalLambda, write_function: WriteFunction) -> None:
    """A response over Lambda's 6 MB limit turns into Function.ResponseSizeTooLarge."""
    root = write_function(app="def handler(e, c):\n    return 'x' * (7 * 1024 * 1024)\n")
    service.add(_config(root))
    result = service.invoke("echo", {})
    assert result.status == "error"
    assert result.error is not None
    assert result.error["errorType"] == "Function.ResponseSizeTooLarge"


def test_unpack_layer_keeps_modes_and_refuses_escapes(tmp_path: Path) -> None:
    """Unpacking keeps the wrapper executable and rejects entries that leave the directory."""
    layer = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer, "w") as zf:
        info = zipfile.ZipInfo("wrapper")
        info.external_attr = (stat.S_IFREG | 0o755) << 16
        zf.writestr(info, "#!/bin/sh\n")
        zf.writestr("python/mod.py", "x = 1\n")
    opt = unpack_layer(layer, tmp_path / "opt")
    assert os.access(opt / "wrapper", os.X_OK)
    assert (opt / "python" / "mod.py").read_text() == "x = 1\n"
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil", "x")
    with pytest.raises(ValueError, match="escapes"):
        unpack_layer(bad, tmp_path / "opt2")


def test_build_task_root_vendors_distributions(tmp_path: Path) -> None:
    """A task root gets the source files and the named distributions' top-level packages."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("x = 1\n")
    root = build_task_root(src, tmp_path / "root", packages=["jmespath"])
    assert (root / "app.py").exists()
    assert (root / "jmespath" / "__init__.py").exists()


def test_platform_lines_frame_each_invocation(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """START, END and REPORT lines name the request; only a cold start reports Init Duration."""
    service.add(_config(write_function(app=ECHO)))
    service.invoke("echo", {}, request_id="cold-1")
    service.invoke("echo", {}, request_id="warm-2")
    logs = service.environment("echo").logs
    assert "START RequestId: cold-1 Version: $LATEST" in logs
    assert "END RequestId: warm-2" in logs
    reports = {line.split()[2]: line for line in logs if line.startswith("REPORT ")}
    assert "Init Duration" in reports["cold-1"]
    assert "Init Duration" not in reports["warm-2"]
    assert "Memory Size: 128 MB" in reports["warm-2"]


def test_init_past_its_time_limit_is_a_timeout(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """A module that takes longer than the INIT limit fails the invoke and is killed."""
    root = write_function(app="import time\ntime.sleep(30)\ndef handler(e, c):\n    return 1\n")
    service.add(_config(root, init_timeout_s=0.5))
    result = service.invoke("echo", {})
    assert result.status == "init_error"
    assert result.error is not None
    assert result.error["errorType"] == "Sandbox.Timedout"
    assert service.environment("echo").pid is None


def test_process_exit_during_init_is_an_exit_error(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """A module that exits while being imported gives Runtime.ExitError with its status."""
    service.add(_config(write_function(app="import os\nos._exit(7)\n")))
    result = service.invoke("echo", {})
    assert result.status == "init_error"
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.ExitError"
    assert "exit status 7" in result.error["errorMessage"]


def test_internal_extension_cannot_register_for_shutdown(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """Registering SHUTDOWN from inside the runtime process is refused, as Lambda refuses it."""
    root = write_function(
        app="""
        import json, os, urllib.request, urllib.error
        req = urllib.request.Request(
            f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2020-01-01/extension/register",
            data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
            headers={"Lambda-Extension-Name": "x"},
            method="POST",
        )
        try:
            urllib.request.urlopen(req)
            STATUS = 200
        except urllib.error.HTTPError as err:
            STATUS = err.code
        def handler(e, c):
            return STATUS
        """
    )
    service.add(_config(root))
    assert service.invoke("echo", {}).json() == 400
    assert service.environment("echo").extension_names == ()


EXTERNAL = """#!{python} -S
import json, os, sys, urllib.request

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
OUT = {out!r}

def call(method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://{{API}}{{path}}", data=body, method=method, headers=headers or {{}})
    with urllib.request.urlopen(req) as resp:
        return dict(resp.headers), resp.read()

headers, _ = call(
    "POST", "/2020-01-01/extension/register", json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}).encode(),
    {{"Lambda-Extension-Name": os.path.basename(sys.argv[0])}},
)
ident = headers["Lambda-Extension-Identifier"]
while True:
    _, body = call("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": ident}})
    event = json.loads(body)
    with open(OUT, "a") as fh:
        fh.write(event["eventType"] + " " + event.get("requestId", event.get("shutdownReason", "")) + "\\n")
    if event["eventType"] == "SHUTDOWN":
        sys.exit(0)
"""


def test_external_extension_gets_invokes_and_shutdown(
    service: LocalLambda, write_function: WriteFunction, tmp_path: Path
) -> None:
    """An executable in /opt/extensions is started, sees every INVOKE, and gets SHUTDOWN at the end."""
    opt = tmp_path / "opt"
    (opt / "extensions").mkdir(parents=True)
    out = tmp_path / "events.txt"
    ext = opt / "extensions" / "recorder-ext"
    ext.write_text(EXTERNAL.format(python=sys.executable, out=str(out)))
    ext.chmod(0o755)
    service.add(_config(write_function(app=ECHO), layer_dir=opt))
    assert service.invoke("echo", {}, request_id="a").ok
    assert service.invoke("echo", {}, request_id="b").ok
    env = service.environment("echo")
    assert env.extension_names == ("recorder-ext",)
    env.shutdown()
    assert out.read_text().splitlines() == ["INVOKE a", "INVOKE b", "SHUTDOWN spindown"]


def test_extension_error_reports_are_kept(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """An extension's /extension/init/error is accepted, kept, and fails INIT with its type."""
    root = write_function(
        app="""
        import json, os, urllib.request
        API = os.environ["AWS_LAMBDA_RUNTIME_API"]
        def post(path, headers, body=b"{}"):
            req = urllib.request.Request(f"http://{API}{path}", data=body, method="POST", headers=headers)
            with urllib.request.urlopen(req) as resp:
                return resp.status, resp.headers
        _, headers = post(
            "/2020-01-01/extension/register",
            {"Lambda-Extension-Name": "failing"},
            json.dumps({"events": []}).encode(),
        )
        STATUS, _ = post(
            "/2020-01-01/extension/init/error",
            {
                "Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"],
                "Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid",
            },
        )
        assert STATUS == 202
        def handler(e, c):
            return STATUS
        """
    )
    service.add(_config(root))
    env = service.environment("echo")
    result = service.invoke("echo", {})
    assert result.status == "init_error"
    assert result.error is not None
    assert result.error["errorType"] == "Extension.ConfigInvalid"
    assert env.extension_errors == (("init", "Extension.ConfigInvalid"),)


def test_concurrent_invokes_scale_out_and_then_reuse_warm_environments(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """Overlapping invokes get separate (cold) environments; later invokes reuse them warm."""
    from concurrent.futures import ThreadPoolExecutor

    service.add(_config(write_function(app=ECHO), timeout_s=10))
    with ThreadPoolExecutor(max_workers=3) as pool:
        first = list(pool.map(lambda _: service.invoke("echo", {"sleep": 1.0}), range(3)))
    assert all(r.ok for r in first)
    assert [r.cold_start for r in first] == [True, True, True]
    assert len({r.json()["pid"] for r in first}) == 3
    assert len(service.environments("echo")) == 3
    again = service.invoke("echo", {})
    assert not again.cold_start
    assert again.json()["pid"] in {r.json()["pid"] for r in first}


def test_invokes_beyond_the_concurrency_limit_are_throttled(
    tmp_path: Path, write_function: WriteFunction
) -> None:
    """With every allowed environment busy, another invoke is refused like Lambda's 429."""
    import threading

    from lambdaguard.local.runtime import TooManyRequests

    with LocalLambda(tmp_path / "svc", concurrency=1) as svc:
        svc.add(_config(write_function(app=ECHO), timeout_s=10))
        busy = threading.Thread(target=svc.invoke, args=("echo", {"sleep": 1.5}))
        busy.start()
        deadline = time.monotonic() + 5
        while svc.environment("echo").pid is None and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(TooManyRequests):
            svc.invoke("echo", {})
        busy.join()
        assert svc.invoke("echo", {}).ok


@pytest.mark.parametrize(
    ("make", "status"), [(None, "exit status 127"), (0o644, "exit status 126")]
)
def test_a_missing_or_non_executable_wrapper_fails_init(
    service: LocalLambda,
    write_function: WriteFunction,
    tmp_path: Path,
    make: int | None,
    status: str,
) -> None:
    """The runtime's bootstrap refuses a wrapper that is missing (127) or not executable (126)."""
    opt = tmp_path / "opt"
    opt.mkdir()
    if make is not None:
        (opt / "wrap").write_text('#!/bin/sh\nexec "$@"\n')
        (opt / "wrap").chmod(make)
    service.add(
        _config(
            write_function(app=ECHO),
            layer_dir=opt,
            environment={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrap"},
        )
    )
    result = service.invoke("echo", {})
    assert result.status == "init_error"
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.ExitError"
    assert status in result.error["errorMessage"]
    logs = service.environment("echo").logs
    assert any(line.endswith(("does not exist", "is not an executable")) for line in logs)


def test_timeline_orders_dispatch_response_and_the_extensions_return(
    service: LocalLambda, write_function: WriteFunction, tmp_path: Path
) -> None:
    """An invoke's instants are dispatch < response <= idle, and idle waits for the extension's next."""
    marks = tmp_path / "marks"
    marks.mkdir()
    service.add(_config(write_function(app=EXTENSION), environment={"MARK_DIR": str(marks)}))
    before = time.perf_counter_ns()
    result = service.invoke("echo", {}, request_id="r-time")
    assert result.ok, result.payload
    t = result.timeline
    assert before < t.dispatched_ns < t.responded_ns <= t.idle_ns < time.perf_counter_ns()
    # The extension stamped its clock just before calling next: idle is not earlier.
    assert t.idle_ns >= json.loads((marks / "r-time").read_text())["back_ns"]
    init = service.environment("echo").last_init
    assert init is not None
    assert init.error is None
    assert before < init.started_ns < init.ready_ns < t.dispatched_ns


def test_initialize_runs_init_ahead_and_leaves_the_environment_frozen(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """initialize() starts and freezes the process; the following invoke is warm in that process."""
    service.add(_config(write_function(app=ECHO)))
    env = service.environment("echo")
    init = env.initialize()
    assert init.error is None
    assert 0 < init.started_ns < init.ready_ns
    assert env.pid is not None
    assert _state(env.pid) == "T"
    assert env.initialize() == init  # a live environment is left as it is
    result = env.invoke({})
    assert result.ok, result.payload
    assert not result.cold_start
    assert result.init_duration_ms is None
    assert result.json()["pid"] == env.pid
    assert env.init_count == 1
    assert result.timeline.dispatched_ns > init.ready_ns


def test_initialize_reports_a_failed_init_with_its_error(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """A handler module that fails to import gives an INIT timeline with the error and no process."""
    service.add(_config(write_function(app="import no_such_module_anywhere\n")))
    env = service.environment("echo")
    init = env.initialize()
    assert init.ready_ns == 0
    assert init.error is not None
    assert json.loads(init.error)["errorType"] == "Runtime.ImportModuleError"
    assert env.pid is None


def test_results_without_an_invoke_carry_an_empty_timeline(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """An invoke that never reached the runtime (INIT failed) has no instants, not made-up ones."""
    service.add(_config(write_function(app="import no_such_module_anywhere\n")))
    result = service.invoke("echo", {})
    assert result.status == "init_error"
    assert result.timeline == InvokeTimeline()


def test_an_invoke_without_extensions_ends_when_the_runtime_is_back_in_next(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """With no extension, the invoke still lasts until the runtime's next, so the freeze follows it."""
    service.add(_config(write_function(app=ECHO)))
    for _ in range(3):
        result = service.invoke("echo", {})
        assert result.ok, result.payload
        t = result.timeline
        assert 0 < t.dispatched_ns < t.responded_ns <= t.idle_ns


def test_an_environment_asked_not_to_freeze_keeps_running_between_invokes(
    service: LocalLambda, write_function: WriteFunction
) -> None:
    """With freeze=False the process is idle (sleeping in next), not stopped, after INIT and invokes."""
    env = ExecutionEnvironment(
        _config(write_function(app=ECHO)), runtime_dir=service.runtime_dir, freeze=False
    )
    with env:
        assert env.initialize().error is None
        assert env.pid is not None
        assert _state(env.pid) != "T"
        assert env.invoke({}).ok
        assert _state(env.pid) != "T"
        assert not env.invoke({}).cold_start
