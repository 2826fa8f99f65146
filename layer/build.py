"""Build the lambdaguard Lambda layer: one zip per Python runtime and architecture.

Layout of every zip (Lambda unpacks a layer into ``/opt``)::

    lambdaguard-instrument          the exec wrapper (mode 755) -> /opt/lambdaguard-instrument
    python/lambdaguard.pth          runs agent/_early.py when Lambda's bootstrap adds python/
    python/lambdaguard/...          the agent (no collector, IAM, local or CLI code)
    python/<dependencies>           the agent's runtime dependencies, as wheels for the target
                                    (none today: the agent is standard library only)
    python/**/__pycache__/*.pyc     bytecode compiled by the target's own CPython version

Lambda puts ``/opt/python`` on ``sys.path`` for every Python runtime, so the
agent and its dependencies import without any further setup.

``/opt`` is read-only on Lambda, so Python cannot cache bytecode there: a layer
without ``.pyc`` files is compiled again on every cold start (billed INIT
time). The build therefore compiles with the target runtime's interpreter
(``python3.12`` for the python3.12 zips, found on ``PATH``) in
``unchecked-hash`` mode, which needs no source timestamps and gives the same
bytes on every build. Bytecode does not depend on the architecture. Where the
target's interpreter is missing, the zip ships source only and the build says so.

Dependencies are installed with ``pip install --platform … --python-version …
--only-binary=:all:`` so the wheels match the *target* runtime (glibc of the
Lambda OS, CPython version and architecture), never the build machine. Each
target's dependency tree is cached under ``build/layer/deps/`` keyed by a hash
of the requirements, so a repeat run only re-zips.

Usage::

    python layer/build.py                       # every runtime x architecture
    python layer/build.py --runtime python3.11 --arch x86_64
    python layer/build.py --host                # only the build machine's own runtime/arch
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "lambdaguard"
WRAPPER = ROOT / "layer" / "lambdaguard-instrument"
PTH = ROOT / "layer" / "lambdaguard.pth"
DEFAULT_OUT = ROOT / "dist" / "layer"
CACHE = ROOT / "build" / "layer"

# Python runtimes Lambda supports from 3.11 up (runtime identifiers as in
# CreateFunction's Runtime enum: python3.11 .. python3.14 at the time of writing).
RUNTIMES = ("python3.11", "python3.12", "python3.13", "python3.14")
ARCHS = ("x86_64", "arm64")

# Lambda's python3.11 runs on Amazon Linux 2 (glibc 2.26); python3.12 and later
# run on Amazon Linux 2023 (glibc 2.34). pip does not widen an explicit
# --platform to older manylinux levels, so every level from the target's glibc
# down to the oldest one built for the architecture is passed; without that pip
# silently falls back to pure-Python wheels (slower protobuf, wrapt without its C
# extension).
_GLIBC_MINOR = {"python3.11": 26}
_GLIBC_MINOR_DEFAULT = 34
_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
_OLDEST_MINOR = {"x86_64": 5, "arm64": 17}

# What the agent needs of the package: nothing from iam/, collector/, local/ or cli.
AGENT_FILES = ("__init__.py", "semconv.py", "recorded.py", "errors.py", "py.typed")
AGENT_DIRS = ("agent",)

SIZE_TARGET = 10 * 1024 * 1024
# Fixed timestamp for every zip entry so two builds of the same inputs give the same bytes.
_EPOCH = (2020, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """The layer cannot be built; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class Target:
    """One layer zip: a Lambda runtime identifier and an architecture."""

    runtime: str
    arch: str

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")

    @property
    def platform_tag(self) -> str:
        """The newest manylinux tag the target's OS satisfies."""
        return self.platform_tags[0]

    @property
    def platform_tags(self) -> tuple[str, ...]:
        """Every manylinux tag the target's OS satisfies, newest first."""
        machine = _MACHINE[self.arch]
        newest = _GLIBC_MINOR.get(self.runtime, _GLIBC_MINOR_DEFAULT)
        tags = [
            f"manylinux_2_{m}_{machine}" for m in range(newest, _OLDEST_MINOR[self.arch] - 1, -1)
        ]
        # The legacy aliases (PEP 599/571/513) that some projects still publish under.
        tags.append(f"manylinux2014_{machine}")
        if self.arch == "x86_64":
            tags += [f"manylinux2010_{machine}", f"manylinux1_{machine}"]
        return tuple(tags)

    @property
    def zip_name(self) -> str:
        return f"lambdaguard-{self.runtime}-{self.arch}.zip"


def host_target() -> Target:
    """The target matching the interpreter running this script."""
    machine = platform.machine().lower()
    arch = "arm64" if machine in ("aarch64", "arm64") else "x86_64"
    return Target(f"python{sys.version_info.major}.{sys.version_info.minor}", arch)


def agent_requirements() -> list[str]:
    """The agent's runtime dependencies: ``[project].dependencies`` of pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        project = tomllib.load(fh)["project"]
    return list(project["dependencies"])


def _install_deps(target: Target, requirements: list[str], *, quiet: bool) -> Path:
    """Install the requirements for the target into a cached directory; return it."""
    key = hashlib.sha256(
        "\n".join([target.runtime, target.platform_tag, *sorted(requirements)]).encode()
    ).hexdigest()[:16]
    dest = CACHE / "deps" / f"{target.runtime}-{target.arch}-{key}"
    if (dest / ".complete").exists():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    if not requirements:
        dest.mkdir(parents=True)
        (dest / ".complete").write_text("\n")
        return dest
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--target",
        str(dest),
        *(arg for tag in target.platform_tags for arg in ("--platform", tag)),
        "--python-version",
        target.python_version,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        "--no-compile",
        *requirements,
    ]
    if quiet:
        cmd.insert(4, "--quiet")
    # argv is built here from pyproject.toml and fixed flags; no shell is involved.
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise BuildError(
            f"no complete set of wheels for {target.runtime} {target.arch} "
            f"({target.platform_tag}):\n{proc.stderr.strip() or proc.stdout.strip()}"
        )
    (dest / ".complete").write_text(" ".join(requirements) + "\n")
    return dest


def _stage(target: Target, deps: Path, wrapper: Path) -> Path:
    """Lay out the zip's content in a fresh staging directory; return it."""
    stage = CACHE / "stage" / f"{target.runtime}-{target.arch}"
    if stage.exists():
        shutil.rmtree(stage)
    python = stage / "python"
    shutil.copytree(
        deps,
        python,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".complete", "bin"),
    )
    package = python / "lambdaguard"
    package.mkdir()
    for name in AGENT_FILES:
        if (SRC / name).exists():
            shutil.copy2(SRC / name, package / name)
    for name in AGENT_DIRS:
        if (SRC / name).is_dir():
            shutil.copytree(
                SRC / name, package / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
    # Lambda's bootstrap makes python/ a site directory: this .pth starts the
    # agent's listing of it before the runtime's own imports (agent/_early.py).
    shutil.copy2(PTH, python / PTH.name)
    if not wrapper.exists():
        raise BuildError(f"the exec wrapper {wrapper} does not exist")
    # Lambda runs AWS_LAMBDA_EXEC_WRAPPER=/opt/lambdaguard-instrument: the name is fixed.
    shutil.copy2(wrapper, stage / WRAPPER.name)
    return stage


def _zip(stage: Path, out: Path) -> None:
    """Write a deterministic zip of the staging directory, keeping Unix modes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(stage.rglob("*")):
            if path.is_dir():
                continue
            rel = path.relative_to(stage).as_posix()
            executable = rel == WRAPPER.name or path.suffix == ".so"
            mode = 0o755 if executable else 0o644
            info = zipfile.ZipInfo(rel, date_time=_EPOCH)
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    os.replace(tmp, out)


# Top-level packages the managed Python runtime already provides in /var/runtime
# (the AWS SDK and what it imports). Lambda puts /opt/python *before*
# /var/runtime on sys.path, so a copy in the layer replaces the runtime's copy
# for the function's own boto3 too.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def shadowed(stage: Path) -> list[str]:
    """Runtime-provided packages the staged layer would shadow (with their versions)."""
    found = []
    python = stage / "python"
    for name in RUNTIME_PROVIDED:
        if (python / name).is_dir() or (python / f"{name}.py").exists():
            versions = sorted(
                d.name.removesuffix(".dist-info").split("-")[1]
                for d in python.glob("*.dist-info")
                if d.name.split("-")[0].lower().replace("_", "-") in (name, f"python-{name}")
            )
            found.append(f"{name} {versions[0]}" if versions else name)
    return found


def _interpreter(target: Target) -> str | None:
    """A CPython of the target's version on this machine: PATH first, then pyenv's versions."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(target.runtime)]
    candidates += sorted(
        str(p) for p in pyenv.glob(f"{target.python_version}.*/bin/{target.runtime}")
    )
    for candidate in filter(None, candidates):
        # argv is a located interpreter and fixed flags; no shell is involved.
        proc = subprocess.run(  # noqa: S603
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0 and proc.stdout.strip() == target.python_version:
            return candidate
    return None


def _compile(target: Target, stage: Path) -> str | None:
    """Compile the staged python/ tree with the target's interpreter; return why not, or None."""
    interpreter = _interpreter(target)
    if interpreter is None:
        return f"no CPython {target.python_version} on this machine"
    proc = subprocess.run(  # noqa: S603
        [
            interpreter,
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-d",
            "/opt/python",  # the path tracebacks show, as on Lambda
            str(stage / "python"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return f"compileall failed: {proc.stderr.strip() or proc.stdout.strip()}"
    return None


def build(
    target: Target, out_dir: Path = DEFAULT_OUT, *, wrapper: Path = WRAPPER, quiet: bool = True
) -> Path:
    """Build one layer zip and return its path."""
    deps = _install_deps(target, agent_requirements(), quiet=quiet)
    stage = _stage(target, deps, wrapper)
    why_not = _compile(target, stage)
    if why_not is not None:
        print(
            f"warning: {target.zip_name} ships source without bytecode ({why_not}); "
            "/opt is read-only on Lambda, so each cold start compiles the agent",
            file=sys.stderr,
        )
    overlap = shadowed(stage)
    if overlap:
        print(
            f"warning: {target.zip_name} ships {', '.join(overlap)}, which the runtime also "
            "provides; /opt/python comes first on sys.path, so the function's boto3 will use "
            "the layer's copy",
            file=sys.stderr,
        )
    out = out_dir / target.zip_name
    _zip(stage, out)
    return out


def _targets(args: argparse.Namespace) -> list[Target]:
    if args.host:
        return [host_target()]
    runtimes = args.runtime or list(RUNTIMES)
    archs = args.arch or list(ARCHS)
    return [Target(r, a) for r in runtimes for a in archs]


def main(argv: list[str] | None = None) -> int:
    """Build the requested layer zips; print each one's path and size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", action="append", choices=RUNTIMES)
    parser.add_argument("--arch", action="append", choices=ARCHS)
    parser.add_argument("--host", action="store_true", help="only this machine's runtime/arch")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--wrapper", type=Path, default=WRAPPER, help=argparse.SUPPRESS)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    too_big = False
    for target in _targets(args):
        try:
            path = build(target, args.out, wrapper=args.wrapper, quiet=not args.verbose)
        except BuildError as exc:
            print(f"layer build failed: {exc}", file=sys.stderr)
            return 1
        size = path.stat().st_size
        flag = "" if size < SIZE_TARGET else "  (over the 10 MB target)"
        too_big = too_big or size >= SIZE_TARGET
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{shown}  {size / 1024 / 1024:.2f} MB{flag}")
    return 1 if too_big else 0


if __name__ == "__main__":
    sys.exit(main())
