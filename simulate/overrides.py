"""Overrides by field path on a scenario's raw data, revalidated like a scenario file.

A field path is written as elsewhere in the project: ``participants.success_probability``,
``programme.cost_per_year_dkk``, list items as ``intake_per_year[2]``. An override value is

- a number: the input becomes fixed at that value;
- a distribution mapping (``{kind: beta, mean: 0.5, sd: 0.1}``): the input gets that distribution;
- ``{times: x}``: the base value multiplied by ``x`` (numbers, lists of numbers and fixed values).

Overrides are applied to a copy of the raw data and the result is validated with
:func:`simulate.io.scenario_from_data`, so an override is checked with the same
messages as a scenario file. A path the scenario does not have is refused with
the closest valid path suggested.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from simulate._model import closest
from simulate.errors import ScenarioError, ScenarioErrors

_PATH = re.compile(r"^[A-Za-z_]\w*(\[\d+\])*(\.[A-Za-z_]\w*(\[\d+\])*)*$")
_STEP = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")
TIMES = "times"


def parse_path(path: str) -> list[str | int]:
    """``"a.b[2].c"`` -> ``["a", "b", 2, "c"]``; refuses anything else."""
    if not isinstance(path, str) or not _PATH.match(path.strip()):
        raise ScenarioError("override", path, "a field path such as participants.success_probability or x[2]")
    return [name if name else int(index) for name, index in _STEP.findall(path.strip())]


def format_path(steps: list[str | int]) -> str:
    out = ""
    for s in steps:
        out += f"[{s}]" if isinstance(s, int) else (f".{s}" if out else s)
    return out


def field_paths(scenario) -> list[str]:
    """Every field path of a validated scenario (inner and leaf fields, defaults included)."""
    paths: list[str] = []

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                p = f"{prefix}.{key}" if prefix else str(key)
                paths.append(p)
                walk(value, p)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                p = f"{prefix}[{i}]"
                paths.append(p)
                walk(value, p)

    walk(scenario.model_dump(mode="json", by_alias=True), "")
    return paths


def check_paths(scenario, paths, *, where: str = "override") -> None:
    """Refuse paths the scenario does not have, suggesting the closest valid one."""
    valid = set(field_paths(scenario))
    for path in paths:
        canonical = format_path(parse_path(path))
        if canonical not in valid:
            ordered = field_paths(scenario)
            guess = closest(canonical, ordered)
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise ScenarioError(where, path, f"a field path of the base scenario{hint}")


def _is_times(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {TIMES}


def _scaled(base: Any, factor: Any, path: str) -> Any:
    """``base`` (a raw value) multiplied by ``factor``."""
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor):
        raise ScenarioError(path, {TIMES: factor}, "times: a finite number")
    if isinstance(base, bool):
        raise ScenarioError(path, {TIMES: factor}, "times: applies to numbers, lists of numbers and fixed values")
    if isinstance(base, (int, float)):
        return base * factor
    if isinstance(base, list):
        return [_scaled(b, factor, path) for b in base]
    if isinstance(base, dict) and base.get("kind", "fixed") == "fixed" and "value" in base:
        return {**base, "value": _scaled(base["value"], factor, path)}
    raise ScenarioError(path, {TIMES: factor},
                        "times: applies to numbers, lists of numbers and fixed values (not distributions)")


def _dumped(scenario, steps: list[str | int]) -> Any:
    node = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    for s in steps:
        node = node[s]
    return copy.deepcopy(node)


def set_path(data: dict, steps: list[str | int], value: Any, scenario=None) -> None:
    """Set ``value`` at ``steps`` in raw scenario ``data`` (in place).

    A missing mapping on the way is created; where the raw data has a shortcut
    (a bare number) that the path descends into, the validated form from
    ``scenario`` replaces it first. ``{times: x}`` scales the base value.
    """
    node = data
    for i, step in enumerate(steps[:-1]):
        nxt = steps[i + 1]
        child = node[step] if (isinstance(node, dict) and step in node) or (
            isinstance(node, list) and isinstance(step, int) and step < len(node)) else None
        want_list = isinstance(nxt, int)
        if not (isinstance(child, list) if want_list else isinstance(child, dict)):
            if scenario is not None:
                try:
                    child = _dumped(scenario, steps[:i + 1])
                except (KeyError, IndexError, TypeError):
                    child = None
            if not (isinstance(child, list) if want_list else isinstance(child, dict)):
                if want_list:
                    raise ScenarioError(format_path(steps), value, "a path into an existing list")
                child = {}
            node[step] = child
        node = child
    last = steps[-1]
    if _is_times(value):
        if isinstance(node, dict) and last in node:
            base = node[last]
        elif isinstance(node, list) and isinstance(last, int) and last < len(node):
            base = node[last]
        elif scenario is not None:
            base = _dumped(scenario, steps)
        else:
            raise ScenarioError(format_path(steps), value, "times: needs a value in the base scenario")
        value = _scaled(base, value[TIMES], format_path(steps))
    if isinstance(node, list) and not (isinstance(last, int) and last < len(node)):
        raise ScenarioError(format_path(steps), value, f"an index below {len(node)}")
    node[last] = copy.deepcopy(value)


def apply_overrides(data: dict, overrides: dict[str, Any], *, base=None) -> dict:
    """A copy of raw scenario ``data`` with ``overrides`` (field path -> value) applied.

    ``base`` is the validated base scenario (used to expand shortcuts and defaults).
    """
    out = copy.deepcopy(data)
    for path, value in overrides.items():
        set_path(out, parse_path(path), value, base)
    return out


def scenario_with(data: dict, overrides: dict[str, Any], *, base=None, label: str | None = None,
                  file: str | None = None):
    """The validated scenario of ``data`` with ``overrides``; errors name the override.

    A validation error is reported at its field path with the offending
    override(s) added, e.g. ``participants.success_probability: got 1.5;
    expected a probability in [0, 1] (scenario 3: participants.success_probability=1.5)``.
    """
    from simulate.io import scenario_from_data

    new = apply_overrides(data, overrides, base=base)
    try:
        return scenario_from_data(new)
    except ScenarioError as exc:
        errors = exc.errors if isinstance(exc, ScenarioErrors) else [exc]
        shown = ", ".join(f"{p}={_short(v)}" for p, v in overrides.items())
        where = f" ({label}: {shown})" if label else f" (with {shown})"
        raise ScenarioErrors([ScenarioError(e.path, e.value, e.allowed + where) for e in errors],
                             file=file) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
