"""Start-up stays light: the command line imports no heavy library before a command runs.

Checked by module names in a fresh interpreter, not by timing, so it cannot
fail on a slow machine.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "pyarrow", "scipy", "lifelines", "SALib", "dask", "distributed", "matplotlib", "simpy")


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["run", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    probe = (
        "import json, sys\n"
        "from sim.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
