"""The growth table's verdicts (bench/growth.py) and the ratio rows (bench/core.py)."""

from __future__ import annotations

from bench.core import key_row, ratio_row
from bench.growth import growth_rows

LADDER = [1_000, 10_000, 100_000]


def test_linear_and_n_log_n_growth_pass_quadratic_is_named() -> None:
    rows, worse = growth_rows(
        {
            "linear": {1_000: 0.01, 10_000: 0.1, 100_000: 1.0},
            "n log n": {1_000: 0.01, 10_000: 0.133, 100_000: 1.67},
            "quadratic at the top": {1_000: 0.01, 10_000: 0.1, 100_000: 10.0},
            "bounded": {1_000: 0.5, 10_000: 5.0, 100_000: None},
            "tiny": {1_000: 0.001, 10_000: 0.004, 100_000: 0.015},
            "floor: tomllib parsing inventory.toml": {1_000: 0.01, 10_000: 0.2, 100_000: 4.0},
            "load the inventory, no cache": {1_000: 0.01, 10_000: 0.22, 100_000: 4.8},
            "load the inventory from its cache": {1_000: 0.001, 10_000: 0.01, 100_000: 1.0},
        },
        LADDER,
    )
    verdicts = {row[0]: row[-1] for row in rows[1:]}
    assert verdicts["linear"] == verdicts["n log n"] == "linear (n^1.2 at most)"
    assert verdicts["quadratic at the top"].startswith("WORSE than linear (n^2.00 from 10,000")
    assert verdicts["bounded"].startswith("not done within")
    assert verdicts["tiny"].startswith("fixed cost")
    assert verdicts["floor: tomllib parsing inventory.toml"] == "a floor: n^1.30"
    assert verdicts["load the inventory, no cache"].startswith("as its floor (n^1.34 vs n^1.30)")
    assert verdicts["load the inventory from its cache"].startswith("WORSE than linear (n^2.00")
    assert [line.split(":")[0] for line in worse] == [
        "quadratic at the top",
        "bounded",
        "load the inventory from its cache",
    ]
    assert "100 ms -> 10.00 s" in worse[0].replace("100.0 ms", "100 ms")


def test_ratio_and_key_rows() -> None:
    held = ratio_row("P", "x", "ref", 2.0, [0.3, 0.2, 0.25], [0.1, 0.2, 0.15])
    assert held.passed and round(held.score, 3) == round(0.25 / 0.15, 3)
    assert held.figures == "250 [200-300] ms vs 150 [100-200] ms"
    assert not ratio_row("P", "x", "ref", 1.5, [0.3], [0.1]).passed
    assert not ratio_row("P", "x", "ref", 5.0, [0.3], [0.1], ok=False).passed
    key = key_row("P5", "move", "bare Tree", 16.0, [5.0] * 18 + [30.0] * 2, [2.0] * 20)
    assert key.score == 30.0 and not key.passed and "p95 2.0 ms" in key.reference
