"""Monte Carlo risk of social investments: a programme's net result for a municipality as a distribution."""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("simulate")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# The sensitivity and break-even functions live in their modules of the same name:
# ``from simulate.sensitivity import sensitivity``, ``from simulate.breakeven import breakeven``.
__all__ = ["run", "read_scenario", "Scenario", "ScenarioError", "read_sweep", "run_sweep", "__version__"]

_LAZY = {
    "read_sweep": ("simulate.sweep", "read_sweep"),
    "run_sweep": ("simulate.sweep", "run_sweep"),
}


def __getattr__(name: str):
    # Lazy imports keep `import simulate` (and the CLI's --help) fast.
    if name == "run":
        from simulate.api import run

        return run
    if name == "read_scenario":
        from simulate.io import read_scenario

        return read_scenario
    if name == "Scenario":
        from simulate.scenario import Scenario

        return Scenario
    if name == "ScenarioError":
        from simulate.errors import ScenarioError

        return ScenarioError
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(name)
