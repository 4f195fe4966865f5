"""The layering rule, checked in a fresh interpreter: model/ and backend/ never load Textual
or rich, and the CLI entry point starts without Textual."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import qlutui

UI_PACKAGES = ("textual", "rich")


def fresh_import(code: str) -> dict:
    """Run `code` (it must set `imported`) in a new interpreter; return what it imported
    and which of the UI packages ended up loaded."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"loaded = sorted(m for m in {UI_PACKAGES!r} if m in sys.modules)\n"
        "print(json.dumps({'imported': imported, 'loaded': loaded}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_model_and_backend_never_import_textual_or_rich() -> None:
    result = fresh_import(
        "import importlib, pkgutil\n"
        "import qlutui.model, qlutui.backend\n"
        "imported = []\n"
        "for package in (qlutui.model, qlutui.backend):\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "        imported.append(info.name)\n"
    )
    assert "qlutui.backend.config" in result["imported"]
    assert "qlutui.backend.store" in result["imported"]
    assert "qlutui.model.names" in result["imported"]
    assert result["loaded"] == []


@pytest.mark.skipif(
    not (Path(qlutui.__file__).parent / "cli.py").exists(),
    reason="qlutui/cli.py does not exist yet",
)
def test_cli_starts_without_textual() -> None:
    result = fresh_import("import qlutui.cli\nimported = ['qlutui.cli']")
    assert "textual" not in result["loaded"]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the package under `root` with the project's contracts."""
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--config", str(root / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
    )


def test_import_contracts_hold_and_catch_an_upward_import(tmp_path: Path) -> None:
    """The contracts in pyproject.toml pass on the code, and fail on a copy whose model
    imports a screen (and so Textual)."""
    source = Path(qlutui.__file__).parent
    project = source.parent
    assert _lint_imports(project).returncode == 0

    copy = tmp_path / "qlutui"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(project / "pyproject.toml", tmp_path / "pyproject.toml")
    names = copy / "model" / "names.py"
    names.write_text(names.read_text() + "\nfrom qlutui.screens import menu  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1
    assert "Layers: imports point down BROKEN" in result.stdout
    assert "qlutui.model.names -> qlutui.screens.menu" in result.stdout
