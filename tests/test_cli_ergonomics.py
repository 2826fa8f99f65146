"""What a newcomer meets at the command line: help text, option order, read-only commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lambdaguard.cli import COMMANDS, main

# reStructuredText that leaks into help when a docstring is used as a description.
_MARKUP = re.compile(r"``|:(?:func|class|mod|data|meth|attr):`|^\s*::\s*$", re.MULTILINE)


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], *([name] for name in sorted(COMMANDS))])
def test_help_has_no_docstring_markup(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`lambdaguard [COMMAND] --help` is plain text, without reStructuredText markup."""
    text = _help(argv, capsys)
    assert "usage: lambdaguard" in text
    assert not _MARKUP.search(text), text


def test_top_level_help_names_the_store_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """The top-level help says where the store is and what the exit codes mean."""
    text = _help([], capsys)
    assert "LAMBDAGUARD_STORE" in text
    assert "exit codes" in text


def _store_with_schema(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'made' / 'lambdaguard.db'}"
    assert main(["store", "--store", url, "migrate"]) == 0
    return url


@pytest.mark.parametrize("where", ["before", "after"])
def test_store_options_work_before_or_after_the_action(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`store --store X stats` and `store stats --store X` read the same store."""
    url = _store_with_schema(tmp_path)
    capsys.readouterr()
    argv = (
        ["store", "--store", url, "stats", "--format", "json"]
        if where == "before"
        else ["store", "stats", "--store", url, "--format", "json"]
    )
    assert main(argv) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["schema_version"] >= 1
    assert stats["functions"] == 0


def test_the_old_json_flag_still_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`store stats --json` (the first release's spelling) prints the same JSON as --format json."""
    url = _store_with_schema(tmp_path)
    capsys.readouterr()
    assert main(["store", "stats", "--json", "--store", url]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "sqlite"


@pytest.mark.parametrize(
    "action", [["stats"], ["prune", "--older-than", "30d"]], ids=["stats", "prune"]
)
def test_a_missing_store_is_an_error_and_nothing_is_created(
    action: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store command pointed at a path with no store exits 3 naming it, and creates nothing."""
    missing = tmp_path / "nowhere" / "lambdaguard.db"
    code = main(["store", *action, "--store", f"sqlite:///{missing}"])
    assert code == 3
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "does not exist" in err
    assert list(tmp_path.iterdir()) == []


def test_a_file_without_the_schema_is_not_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing SQLite file without lambdaguard's schema is refused (exit 3), not reported as zeros."""
    import sqlite3

    path = tmp_path / "other.db"
    sqlite3.connect(path).close()
    assert main(["store", "stats", "--store", f"sqlite:///{path}"]) == 3
    assert "no lambdaguard schema" in capsys.readouterr().err


def test_store_errors_from_any_command_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    """A StoreError escaping a command is exit 3 (a store that could not be used), not 2."""
    import argparse

    from lambdaguard import cli
    from lambdaguard.errors import StoreNotFound

    def boom(args: argparse.Namespace) -> int:
        raise StoreNotFound("no store at /x")

    args = cli._parser().parse_args(["store", "stats"])
    args._run = boom
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", lambda self, argv=None: args)
    assert cli.main([]) == 3
