"""The command line's comparison table and sweep summary, laid out for a given width (no run needed)."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from rich.console import Console

from sim.analysis.summary import MEASURES
from sim.cli.tables import comparison_tables, natural_width, sensitivity_lines

STRATEGIES = ["r3_blina", "mitcl", "r3_chemo", "reduced_blina"]


def _summary(replications: int) -> pd.DataFrame:
    rows = []
    for measure in MEASURES:
        value = 900.0 if measure.endswith("days") else 0.42
        half = 1.96 * 0.01 * value if replications > 1 else math.nan
        for k, strategy in enumerate(STRATEGIES):
            rows.append({"subgroup": "all", "level": "all", "measure": measure, "strategy": strategy,
                         "comparison": "value", "mean": value, "ci_low": value - half, "ci_high": value + half,
                         "variance_reduction": math.nan})
            if k:
                rows.append({"subgroup": "all", "level": "all", "measure": measure, "strategy": strategy,
                             "comparison": "difference", "mean": -0.05 * k, "ci_low": -0.05 * k - 0.01,
                             "ci_high": -0.05 * k + 0.01, "variance_reduction": 0.1 * k})
    return pd.DataFrame(rows)


def _render(items: list, width: int | None) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 1000, color_system=None)
    for item in items:
        if isinstance(item, str):
            buffer.write(item + "\n")
        else:
            console.print(item)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [40, 60, 80, 100, 160, None])
def test_every_layout_fits_and_keeps_every_column(width: int | None) -> None:
    items = comparison_tables(_summary(20), STRATEGIES, "r3_blina", 20, width)
    text = _render(items, width)
    if width is not None:
        assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    else:
        assert len([i for i in items if not isinstance(i, str)]) == 1  # piped: the one full table
        assert "42.0 [41.2, 42.8]" in text
    tables = [i for i in items if not isinstance(i, str)]
    headers = [column.header for table in tables for column in table.columns]
    for strategy in STRATEGIES:
        assert strategy in headers
        if strategy != "r3_blina":
            assert f"{strategy}\n− r3_blina" in headers
    assert all(table.row_count == len(MEASURES) for table in tables)
    assert "(range 10% to 30%)" in " ".join(text.split())


def test_one_replication_shows_values_without_intervals() -> None:
    items = comparison_tables(_summary(1)[lambda s: s["strategy"] == "r3_blina"], ["r3_blina"], "r3_blina", 1, 80)
    text = _render(items, 80)
    assert "nan" not in text
    assert "r3_blina: outcomes over 1 replication" in " ".join(text.split())
    assert "no Monte Carlo SE or interval; they need --reps 2 or more" in " ".join(text.split())
    assert "differences" not in text.lower()


def test_natural_width_is_the_widest_line() -> None:
    from rich.table import Table

    table = Table()
    table.add_column("a")
    table.add_row("x" * 30)
    assert natural_width(table) == 34  # 30 characters, padding and two borders


def test_sweep_summary_names_the_reference_and_the_unit() -> None:
    table = pd.DataFrame([
        ("os_4y", "mitcl", "", "monte_carlo_share", 0.2, math.nan),
        ("os_4y", "mitcl", "hsct.trm_prob", "swing", 0.061, math.nan),
        ("os_4y", "mitcl", "mitcl.second_cycle_cr_prob", "swing", 0.0004, math.nan),
        ("os_4y", "mitcl", "hsct.trm_prob", "at_low", -0.2, math.nan),
    ], columns=["outcome", "strategy", "parameter", "statistic", "value", "conf"])
    assert sensitivity_lines(table, "one_way", "r3_blina") == [
        "4-year OS, mitcl minus r3_blina: swing (percentage points) hsct.trm_prob +6.1, "
        "mitcl.second_cycle_cr_prob +0.04; Monte Carlo share of variance 20%"
    ]
    sobol = table.assign(statistic=table["statistic"].replace({"swing": "ST"}))
    assert sensitivity_lines(sobol, "sobol", "r3_blina")[0].startswith("4-year OS, mitcl minus r3_blina: ST hsct")


def test_subgroup_grid_has_a_row_per_cell_in_the_views_order() -> None:
    """Each (strategy, cell) once, cells in the view's order (MRD bands are not alphabetical), every
    (endpoint, years) a column; not the cross product of cells and their patient counts."""
    from sim.cli.main import subgroup_grid

    cells = [("< 0.01%", 300.0), ("0.01-0.1%", 60.0), ("unknown", 35.0)]
    view = pd.DataFrame([
        {"strategy": strategy, "cell": cell, "patients_per_replication": n, "endpoint": endpoint, "years": years,
         "mean": 0.5 + k / 100, "mc_se": math.nan if cell == "unknown" else 0.01}
        for strategy in ("a", "b") for k, (cell, n) in enumerate(cells)
        for endpoint in ("EFS", "OS") for years in (3, 4)
    ])
    grid = subgroup_grid(view, "mean")
    assert list(grid.index) == [(s, cell, n) for s in ("a", "b") for cell, n in cells]
    assert list(grid.columns) == [("EFS", 3), ("EFS", 4), ("OS", 3), ("OS", 4)]
    assert grid.loc[("a", "0.01-0.1%", 60.0), ("OS", 4)] == 0.51
    assert subgroup_grid(view, "mc_se").loc[("b", "unknown", 35.0)].isna().all()
