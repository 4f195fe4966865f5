"""A small run of the bench (`python -m bench --smoke`): every quick scenario produces its row
in the table and in latest.json, each a ratio to a reference measured in the same run (or a
key's p95 beside the bare widget's), with real samples on both sides; and a growth run at
1,000 hosts renders every class of the generated-file registry. Targets are not asserted
here: the machine is shared while the tests run; `python -m bench` judges them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from qlutui.backend.files import CLASSES

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["P2", "P3", "P4", "P5", "P6", "P8", "P9", "P9tui", "P10", "P11"]  # ids of `--only`


def _bench(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_smoke_run_writes_table_and_json(tmp_path: Path) -> None:
    run = _bench("--smoke", "--only", ",".join(QUICK), "--dir", tmp_path)
    assert run.returncode in (0, 1), run.stderr
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["errors"] == {}, report["errors"]
    rows = report["results"]
    assert {r["scenario"] for r in rows} == {q.removesuffix("tui") for q in QUICK}  # a P9 row
    for row in rows:
        assert row["score"] > 0 and row["samples"] and row["reference_samples"], row
        assert row["reference"] and row["unit"] in ("x", "ms"), row
        if row["unit"] == "x":  # the score is the ratio of the two medians
            a, b = sorted(row["samples"]), sorted(row["reference_samples"])
            assert min(a) / max(b) <= row["score"] <= max(a) / min(b), row
        assert row["what"] in run.stdout and row["reference"] in run.stdout
    assert (tmp_path / "latest.md").read_text().count("\n") == len(rows) + 2
    cli = next(r for r in rows if r["scenario"] == "P2")
    assert cli["detail"] == "no Textual import"
    save = next(r for r in rows if r["what"].startswith("save one image change"))
    assert "rewritten" not in save["detail"]  # only images.toml was written
    assert not (tmp_path / "sshd" / "sshd.pid").exists() or not _alive(tmp_path / "sshd")


def test_growth_renders_every_registered_class(tmp_path: Path) -> None:
    run = _bench("--scale", "1000", "--only", "render,check", "--dir", tmp_path)
    assert run.returncode in (0, 1), run.stderr
    figures = json.loads((tmp_path / "growth.json").read_text())["figures"]
    classes = {name.split(":")[0].removeprefix("render ") for name in figures}
    assert {cls.id for cls in CLASSES} <= classes, figures
    assert all(f["1000"] > 0 for f in figures.values()), figures
    assert "| render ssh: known_hosts |" in (tmp_path / "growth.md").read_text()


def _alive(sshd_dir: Path) -> bool:
    pid = int((sshd_dir / "sshd.pid").read_text())
    return Path(f"/proc/{pid}").exists()
