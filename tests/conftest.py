"""Shared fixtures: the shipped configs and small scenario builders."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHIPPED = ["naerbolig.yaml", "naerbolig_brochure.yaml", "ungifokus.yaml", "hjem_job_helhed.yaml",
           "naerbolig_rules.yaml", "naerbolig_places.yaml"]


def load(name: str) -> dict:
    return yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8"))


@pytest.fixture
def brochure_data() -> dict:
    return load("naerbolig_brochure.yaml")


@pytest.fixture
def default_data() -> dict:
    return load("naerbolig.yaml")


def scenario(data: dict):
    from simulate.io import scenario_from_data

    return scenario_from_data(copy.deepcopy(data))


def write_yaml(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def pytest_terminal_summary(terminalreporter):
    import sys

    modules = [m for name, m in sys.modules.items() if name.endswith("test_bad_input_bulk")]
    CASES = next((m.CASES for m in modules if getattr(m, "CASES", {}).get("count")), None)
    if CASES:
        terminalreporter.write_line(f"bad-input cases generated and refused with exit 2: {CASES['count']}")
