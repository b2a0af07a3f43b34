"""The model core imports nothing from the command line, files or reports."""

import subprocess
import sys


def test_core_does_not_import_cli_io_or_plotting():
    code = (
        "import sys; import simulate.engine, simulate.metrics, simulate.scenario, simulate.distributions, "
        "simulate.sampling; bad = [m for m in ('click', 'matplotlib', 'simulate.io', 'simulate.cli', 'yaml') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
