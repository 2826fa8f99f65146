"""Every runtime's layer zip runs on that runtime's own CPython, not only the build machine's.

`make layer` builds a zip per Python runtime; the end-to-end tests drive the one
for this machine's Python through awslambdaric. This module takes each other
zip this machine has an interpreter for (pyenv's 3.12 and 3.13 here), unpacks it
into an empty directory playing /opt, and runs an instrumented handler on that
interpreter with nothing but the layer on its path, exporting to a real
collector. It proves the agent's code and its shipped bytecode load on that
version, and that what it sends is stored.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from lambdaguard.collector.server import CollectorHandle, start_collector
from lambdaguard.collector.settings import CollectorConfig
from lambdaguard.local.harness import repo_root
from lambdaguard.local.runtime import unpack_layer

pytestmark = pytest.mark.integration

ARN = "arn:aws:lambda:us-east-1:123456789012:function:probe-{tag}"

PROBE = """
import json, sys
import lambdaguard.agent
from lambdaguard import instrument

class Context:
    aws_request_id = "req-1"
    invoked_function_arn = sys.argv[1]
    function_name = sys.argv[1].rsplit(":", 1)[1]
    function_version = "$LATEST"
    memory_limit_in_mb = "128"
    def get_remaining_time_in_millis(self):
        return 30000

@instrument
def handler(event, context):
    return {"python": "%d.%d" % sys.version_info[:2], "echo": event["n"]}

result = handler({"n": 7}, Context())
flushed = lambdaguard.agent.flush(5000)
modules = {
    name: {"file": m.__file__, "cached": m.__cached__}
    for name, m in sys.modules.items()
    if name.startswith("lambdaguard")
}
print(json.dumps({"result": result, "flushed": flushed, "modules": modules}))
"""


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layer_build", repo_root() / "layer" / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["layer_build"] = module
    spec.loader.exec_module(module)
    return module


build = _build_module()
ARCH = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorHandle]:
    """A real collector on loopback with its own SQLite store."""
    handle = start_collector(
        CollectorConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}", http_port=0, grpc_port=None)
    )
    try:
        yield handle
    finally:
        handle.stop()


@pytest.mark.parametrize("runtime", build.RUNTIMES)
def test_zip_runs_on_its_own_runtime(
    runtime: str, tmp_path: Path, collector: CollectorHandle
) -> None:
    """The zip for a runtime, alone on that CPython's path, instruments a handler from its bytecode and exports."""
    target = build.Target(runtime, ARCH)
    interpreter = build._interpreter(target)
    if interpreter is None:
        pytest.skip(f"no CPython {target.python_version} on this machine to run {runtime}'s zip")
    zip_path = build.build(target, tmp_path / "dist")
    opt = unpack_layer(zip_path, tmp_path / "opt")
    arn = ARN.format(tag=runtime.replace(".", "-"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(opt / "python"),
        "PYTHONDONTWRITEBYTECODE": "1",  # /opt is read-only on Lambda
        "AWS_LAMBDA_FUNCTION_NAME": arn.rsplit(":", 1)[1],
        "AWS_REGION": "us-east-1",
        "LAMBDAGUARD_ENDPOINT": collector.http_url,
        "LAMBDAGUARD_EXTENSION": "false",  # no Runtime API here: the export worker sends
    }
    # -I would drop PYTHONPATH; -S keeps the interpreter's own site-packages out.
    proc = subprocess.run(
        [interpreter, "-S", "-c", PROBE, arn],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["result"] == {"python": target.python_version, "echo": 7}
    assert report["flushed"] is True
    for name, where in report["modules"].items():
        assert where["file"].startswith(str(opt.resolve())), name
        # The build compiled with this same interpreter: the bytecode it loads was in the zip.
        assert Path(where["cached"]).is_file(), name
    functions = {f.arn: f for f in collector.store.functions()}
    assert arn in functions, sorted(functions)
    days = collector.store.invocations(arn)
    assert sum(d.count for d in days) == 1
