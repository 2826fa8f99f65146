"""The command line's own contract."""

from __future__ import annotations

import pytest

from lambdaguard.cli import COMMANDS, main


def test_version_flag_prints_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`lambdaguard --version` prints the package version and exits 0."""
    from lambdaguard import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_installed(name: str) -> None:
    """Every command listed in the CLI imports in the dev environment (none is a dead entry)."""
    import importlib

    module = importlib.import_module(COMMANDS[name][0])
    assert callable(module.configure)
    assert callable(module.run)
