"""Options every view command shares, and loading the findings they draw."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from lambdaguard.analysis.findings import Findings

__all__ = ["add_common", "emit_json", "load", "store_url"]


def add_common(
    parser: argparse.ArgumentParser, *, formats: tuple[str, ...] = ("text", "json")
) -> None:
    """--store, --format and --window, accepted anywhere on the command line."""
    parser.add_argument(
        "--store",
        metavar="URL",
        help="sqlite:///PATH or postgresql://… (default: $LAMBDAGUARD_STORE, else "
        "sqlite:///.lambdaguard/lambdaguard.db); read only, never created",
    )
    parser.add_argument("--format", choices=formats, default=formats[0])
    parser.add_argument(
        "--window",
        metavar="DURATION",
        help="only what was seen in the last DURATION, e.g. 30d or 12h (default: all the store holds)",
    )


def _progress(label: str) -> Any:
    """A rich progress bar on stderr when it is a terminal; otherwise nothing."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )


def store_url(args: argparse.Namespace) -> str:
    """--store, else $LAMBDAGUARD_STORE, else the default store."""
    from lambdaguard.collector.settings import DEFAULT_STORE_URL, ENV

    return str(args.store or os.environ.get(ENV["store_url"]) or DEFAULT_STORE_URL)


# Judgement steps for a view, made once the store is open: (store, now, window) -> steps.
Steps = Callable[[Any, datetime, timedelta | None], Sequence[Any]]


def load(
    args: argparse.Namespace,
    *,
    only: str | None = None,
    label: str = "reading",
    steps: Steps | None = None,
) -> Findings:
    """The findings for the command's store and window, read now (the CLI is where the clock is read).

    ``steps`` adds judgement steps (the policy proposal, the inventory's verdicts).
    """
    from lambdaguard.analysis.fleet import analyse, open_for_reading, printable_url
    from lambdaguard.collector.settings import parse_duration

    url = store_url(args)
    window = (
        timedelta(seconds=parse_duration(args.window, name="--window")) if args.window else None
    )
    now = datetime.now(UTC)
    store = open_for_reading(url)
    bar = _progress(label)
    try:
        extra = list(steps(store, now, window)) if steps is not None else []
        if bar is None:
            return analyse(
                store, now=now, window=window, source=printable_url(url), only=only, steps=extra
            )
        with bar:
            task = bar.add_task(label, total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return analyse(
                store,
                now=now,
                window=window,
                source=printable_url(url),
                only=only,
                progress=progress,
                steps=extra,
            )
    finally:
        store.close()


def emit_json(value: Any) -> None:
    """Print a JSON value: indented on a terminal, compact otherwise."""
    indent = 2 if sys.stdout.isatty() else None
    print(json.dumps(value, indent=indent, ensure_ascii=False))
