"""The layer zip, unpacked into an empty directory, runs a function with nothing else on the path."""

from __future__ import annotations

import json
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from lambdaguard.local.runtime import FunctionConfig, LocalLambda, unpack_layer

pytestmark = pytest.mark.integration

PROBE = """
import json, os, sys

def probe(event, context):
    mods = {}
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__file__", None)
        if path:
            mods[name] = path
    return {
        "sys_path": sys.path,
        "modules": mods,
        "handler_env": os.environ.get("LAMBDAGUARD_HANDLER"),
        "pythonpath": os.environ.get("PYTHONPATH"),
        "finders": {p: type(f).__name__ for p, f in sys.path_importer_cache.items()},
    }
"""


def test_layer_alone_runs_a_function(layer_zip: Path, tmp_path: Path) -> None:
    """Every module the instrumented function loads comes from the layer, the task, the runtime or the stdlib."""
    opt = unpack_layer(layer_zip, tmp_path / "opt")
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(textwrap.dedent(PROBE))
    with LocalLambda(tmp_path / "lambda") as service:
        service.add(
            FunctionConfig(
                name="probe",
                handler="app.probe",
                code_dir=task,
                layer_dir=opt,
                environment={
                    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/lambdaguard-instrument",
                    "LAMBDAGUARD_ENDPOINT": "http://127.0.0.1:9",
                },
            )
        )
        result = service.invoke("probe", {})
        assert result.ok, result.payload
        body = result.json()
        runtime_dir = str(service.runtime_dir.resolve())
        stdlib = sys.base_prefix
        service.environment("probe").shutdown()
        logs = service.environment("probe").logs
    assert body["handler_env"] == "app.probe"  # the wrapper kept the function's handler
    allowed = (str(opt.resolve()), str(task.resolve()), runtime_dir, stdlib)
    # __main__ is the local runtime's bootstrap script (Lambda's /var/runtime/bootstrap.py).
    outside = {
        n: p for n, p in body["modules"].items() if n != "__main__" and not p.startswith(allowed)
    }
    assert outside == {}
    assert body["modules"]["lambdaguard.agent.handler"].startswith(str(opt.resolve()))
    assert body["modules"]["lambdaguard.agent.recorder"].startswith(str(opt.resolve()))
    # The agent ran: its JSON log line for this request is on stdout.
    lines = [json.loads(line) for line in logs if line.startswith('{"lambdaguard"')]
    assert [line["request_id"] for line in lines] == [result.request_id]
    for entry in body["sys_path"]:
        assert entry.startswith(allowed), entry
    # The layer's .pth listed its python/ before the runtime's own imports (agent/_early.py).
    layer_python = [p for p in body["sys_path"] if p.rstrip("/").endswith("/python")]
    assert [body["finders"][p] for p in layer_python] == ["_ListedOnce"]


def test_layer_zip_layout(layer_zip: Path, tmp_path: Path) -> None:
    """The zip holds the wrapper (755) at its root and the agent, compiled, without collector code, under python/."""
    with zipfile.ZipFile(layer_zip) as zf:
        names = set(zf.namelist())
        wrapper = zf.getinfo("lambdaguard-instrument")
    assert (wrapper.external_attr >> 16) & 0o777 == 0o755
    assert "python/lambdaguard/agent/handler.py" in names
    assert "python/lambdaguard/semconv.py" in names
    with zipfile.ZipFile(layer_zip) as zf:
        pth = zf.read("python/lambdaguard.pth").decode()
    assert pth.startswith("import ")  # site runs only lines that start so
    assert '__import__("lambdaguard.agent._early")' in pth
    for excluded in ("collector", "iam", "local"):
        assert not any(n.startswith(f"python/lambdaguard/{excluded}/") for n in names)
    assert "python/lambdaguard/cli.py" not in names
    # /opt is read-only on Lambda: every module ships compiled for the zip's own
    # runtime, or each cold start would compile it again.
    tag = sys.implementation.cache_tag
    sources = {n for n in names if n.endswith(".py")}
    compiled = {n for n in names if n.endswith(".pyc")}
    assert compiled == {
        f"{n.rpartition('/')[0]}/__pycache__/{n.rpartition('/')[2][:-3]}.{tag}.pyc" for n in sources
    }
    assert layer_zip.name.startswith(
        f"lambdaguard-python{sys.version_info.major}.{sys.version_info.minor}-"
    )
    assert layer_zip.stat().st_size < 10 * 1024 * 1024


OTHER_LAYER_USER = """
import otherlib_in_site_packages
import otherlib_in_python

def handler(event, context):
    return [otherlib_in_site_packages.NAME, otherlib_in_python.NAME]
"""


def _other_layer(tmp_path: Path) -> Path:
    """A second layer using both documented layouts: python/ and python/lib/pythonX.Y/site-packages/."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr(
            f"python/lib/{version}/site-packages/otherlib_in_site_packages.py", "NAME = 'sp'\n"
        )
        zf.writestr("python/otherlib_in_python.py", "NAME = 'py'\n")
    return other


@pytest.mark.parametrize("instrumented", [False, True])
def test_other_layers_stay_importable(layer_zip: Path, tmp_path: Path, instrumented: bool) -> None:
    """A function using another layer's packages imports them the same with lambdaguard's layer added."""
    opt = tmp_path / "opt"
    # Lambda extracts every layer of the function into the same /opt, in order.
    unpack_layer(_other_layer(tmp_path), opt)
    env: dict[str, str] = {}
    if instrumented:
        unpack_layer(layer_zip, opt)
        env = {
            "AWS_LAMBDA_EXEC_WRAPPER": "/opt/lambdaguard-instrument",
            "LAMBDAGUARD_ENDPOINT": "http://127.0.0.1:9",
        }
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(textwrap.dedent(OTHER_LAYER_USER))
    with LocalLambda(tmp_path / "lambda") as service:
        service.add(
            FunctionConfig(
                name="uses-other-layer",
                handler="app.handler",
                code_dir=task,
                layer_dir=opt,
                environment=env,
            )
        )
        result = service.invoke("uses-other-layer", {})
    assert result.ok, result.payload
    assert result.json() == ["sp", "py"]
