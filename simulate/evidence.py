"""Evidence levels: a documented correction of effect inputs by the strength of their evidence.

Each effect input may carry ``evidence_level`` (the SØM grading: 1 RCT or meta-analysis, 2 quasi-experimental,
3 before-after or the provider's own claim). In the spirit of an optimism-bias correction, an input at level 2
or 3 is moved part of the way towards the value at which the programme has no effect, and its spread around
its mean is widened (:data:`CORRECTION`). For a draw ``x`` of an input with mean ``m`` and no-effect value
``x0``::

    x' = x0 + (1 - shift) (m - x0) + (1 + widen) (x - m),   clipped to the field's domain

The map is increasing, so ranks (and rank correlations) are kept; a fixed input is only shifted. The
correction is on by default and switched off by ``evidence_correction: false`` in the scenario or
``simulate run --no-evidence-correction``. docs/model.md gives the table and the no-effect values.
"""

from __future__ import annotations

import numpy as np

# level -> (shift towards no effect [-], widening of the spread around the mean [-])
CORRECTION = {1: (0.0, 0.0), 2: (0.10, 0.25), 3: (0.25, 0.50)}

# effect inputs that may carry an evidence level -> (value with no programme effect, domain low, domain high)
NO_EFFECT = {
    "participants.success_probability": (0.0, 0.0, 1.0),
    "participants.dropout_probability": (1.0, 0.0, 1.0),
    "participants.intake_year_effect_fraction": (0.0, 0.0, 1.0),
    "participants.effect.relapse_probability_per_year": (1.0, 0.0, 1.0),
    "participants.effect.duration_years": (0.0, 1e-9, 200.0),
}

_GRID = (np.arange(20_000) + 0.5) / 20_000  # midpoints for the corrected mean


def correct(values, dist, path: str):
    """Corrected values (array or float) of input ``path`` with distribution ``dist``; unchanged without a level."""
    level = dist.evidence_level
    if level is None or path not in NO_EFFECT:
        return values
    shift, widen = CORRECTION[level]
    x0, lo, hi = NO_EFFECT[path]
    m = float(dist.mean())
    out = x0 + (1.0 - shift) * (m - x0) + (1.0 + widen) * (np.asarray(values, dtype=float) - m)
    out = np.clip(out, lo, hi)
    return float(out) if np.ndim(values) == 0 else out


def corrected_mean(dist, path: str) -> float:
    """The mean of the corrected input (exact for a fixed input; a fine quantile grid otherwise)."""
    if dist.evidence_level is None or path not in NO_EFFECT:
        return float(dist.mean())
    if dist.is_fixed:
        return correct(float(dist.mean()), dist, path)
    return float(np.mean(correct(dist.ppf(_GRID), dist, path)))


def corrected_quantiles(dist, path: str, qs=(0.05, 0.5, 0.95)) -> list[float]:
    """Quantiles of the corrected input (the map is increasing, so quantiles map to quantiles)."""
    from simulate.distributions import describe_quantiles

    return [float(correct(q, dist, path)) for q in describe_quantiles(dist, qs)]


def evidence_table(scenario, *, enabled: bool) -> dict:
    """Summary view: the correction table, whether it is on, and each graded input before and after."""
    from simulate.scenario import numeric_inputs

    rows = {}
    for path, dist in numeric_inputs(scenario).items():
        if dist.evidence_level is None:
            continue
        shift, widen = CORRECTION[dist.evidence_level]
        rows[path] = {"evidence_level": dist.evidence_level, "no_effect_value": NO_EFFECT[path][0],
                      "shift": shift, "widen": widen, "mean": round(float(dist.mean()), 6),
                      "corrected_mean": round(corrected_mean(dist, path), 6) if enabled else round(
                          float(dist.mean()), 6)}
    return {"correction": enabled,
            "table": {str(k): {"shift": v[0], "widen": v[1]} for k, v in CORRECTION.items()}, "inputs": rows}
