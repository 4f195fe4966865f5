"""A small run of the bench (`python -m bench --smoke`): every quick scenario produces its row
in the table and in latest.json, with real measurements. Targets are not asserted here: the
machine is shared while the tests run; `python -m bench` at full scale judges them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["P2", "P3", "P4", "P5", "P6", "P8", "P9", "P9tui", "P10", "P11"]  # ids of `--only`


def test_smoke_run_writes_table_and_json(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--only", ",".join(QUICK), "--dir", tmp_path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode in (0, 1), run.stderr
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["errors"] == {}, report["errors"]
    rows = report["results"]
    assert {r["scenario"] for r in rows} == {q.removesuffix("tui") for q in QUICK}  # a P9 row
    for row in rows:
        assert row["value"] > 0 and row["samples"], row
        assert row["scenario"] in run.stdout and row["what"] in run.stdout
    by_what = {r["what"]: r for r in rows}
    cli = next(r for r in rows if r["scenario"] == "P2")
    assert cli["detail"] == "no Textual import"
    save = next(r for w, r in by_what.items() if w.startswith("save one image change"))
    assert "rewritten" not in save["detail"]  # only images.toml was written
    assert not (tmp_path / "sshd" / "sshd.pid").exists() or not _alive(tmp_path / "sshd")


def _alive(sshd_dir: Path) -> bool:
    pid = int((sshd_dir / "sshd.pid").read_text())
    return Path(f"/proc/{pid}").exists()
