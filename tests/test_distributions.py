"""Each distribution form against its closed-form moments and quantiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from scipy import stats

from simulate.distributions import (
    Distribution,
    Interval90,
    NonNegative,
    Probability,
    beta_draws,
    fit_beta_interval90,
)

dist = TypeAdapter(Distribution)
N = 400_000


def draw(d, n=N, seed=1):
    return d.sample(np.random.default_rng(seed), n)


def within_4se(x: np.ndarray, mean: float, sd: float) -> None:
    se = sd / math.sqrt(len(x)) if sd > 0 else 1e-12
    assert abs(x.mean() - mean) < 4 * se, (x.mean(), mean, se)


@pytest.mark.parametrize(
    ("spec", "mean", "sd"),
    [
        ({"kind": "uniform", "low": 2, "high": 5}, 3.5, 3 / math.sqrt(12)),
        ({"kind": "triangular", "low": 0, "mode": 1, "high": 4}, 5 / 3, math.sqrt((0 + 1 + 16 - 0 - 0 - 4) / 18)),
        ({"kind": "pert", "low": 0, "mode": 2, "high": 10}, (0 + 4 * 2 + 10) / 6, None),
        ({"kind": "normal", "mean": 3, "sd": 2}, 3, 2),
        ({"kind": "lognormal", "mean": 100, "sd": 30}, 100, 30),
        ({"kind": "lognormal", "mu": 1, "sigma": 0.5}, math.exp(1 + 0.125), math.sqrt((math.exp(0.25) - 1) * math.exp(2 + 0.25))),
        ({"kind": "beta", "a": 2, "b": 6}, 0.25, math.sqrt(2 * 6 / (64 * 9))),
        ({"kind": "beta", "mean": 0.3, "sd": 0.1}, 0.3, 0.1),
    ],
)
def test_sample_moments_match_closed_form(spec, mean, sd):
    d = dist.validate_python(spec)
    assert d.mean() == pytest.approx(mean, rel=1e-12)
    if sd is not None:
        assert d.sd() == pytest.approx(sd, rel=1e-9)
    x = draw(d)
    within_4se(x, mean, d.sd())
    assert x.std() == pytest.approx(d.sd(), rel=0.01)


def test_pert_sd_is_the_beta_formula():
    d = dist.validate_python({"kind": "pert", "low": 0, "mode": 2, "high": 10})
    a, b = 1 + 4 * 0.2, 1 + 4 * 0.8
    assert d.sd() == pytest.approx(10 * math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))


def test_truncated_normal_stays_inside_and_has_the_truncated_mean():
    d = dist.validate_python({"kind": "normal", "mean": 0.2, "sd": 0.2, "low": 0, "high": 1})
    x = draw(d)
    assert x.min() >= 0 and x.max() <= 1
    exact = stats.truncnorm(-1, 4, loc=0.2, scale=0.2)
    assert d.mean() == pytest.approx(exact.mean())
    within_4se(x, exact.mean(), exact.std())


def test_truncated_normal_far_in_the_upper_tail_is_accurate():
    d = dist.validate_python({"kind": "normal", "mean": 0, "sd": 1, "low": 5, "high": 6})
    x = draw(d, 10_000)
    assert x.min() >= 5 and x.max() <= 6
    assert x.mean() == pytest.approx(stats.truncnorm(5, 6).mean(), abs=0.01)


def test_fixed_is_exact():
    d = dist.validate_python(4.5)
    assert d.is_fixed and d.mean() == 4.5 and d.sd() == 0
    assert np.all(draw(d, 10) == 4.5)


@pytest.mark.parametrize("fit", ["normal", "lognormal", "beta"])
def test_interval90_hits_its_interval(fit):
    d = dist.validate_python({"kind": "interval90", "low": 0.2, "high": 0.6, "fit": fit})
    assert d.quantile(0.05) == pytest.approx(0.2, abs=1e-7)
    assert d.quantile(0.95) == pytest.approx(0.6, abs=1e-7)
    x = draw(d)
    assert np.mean(x < 0.2) == pytest.approx(0.05, abs=4 * math.sqrt(0.05 * 0.95 / N))
    assert np.mean(x > 0.6) == pytest.approx(0.05, abs=4 * math.sqrt(0.05 * 0.95 / N))


def test_interval90_auto_fits_by_domain():
    prob = TypeAdapter(Probability).validate_python({"kind": "interval90", "low": 0.35, "high": 0.75})
    assert prob.fit == "beta" and prob.support() == (0.0, 1.0)
    money = TypeAdapter(NonNegative).validate_python({"kind": "interval90", "low": 1000, "high": 5000})
    assert money.fit == "lognormal" and money.support()[0] >= 0
    assert money.quantile(0.05) == pytest.approx(1000) and money.quantile(0.95) == pytest.approx(5000)


def test_beta_fit_agrees_with_scipy_quantiles():
    a, b = fit_beta_interval90(0.1, 0.3)
    assert stats.beta(a, b).ppf([0.05, 0.95]) == pytest.approx([0.1, 0.3], abs=1e-9)


@pytest.mark.parametrize("low, high", [(0.001, 0.01), (0.05, 0.95), (0.35, 0.75), (0.9, 0.999), (0.2, 0.21)])
def test_beta_fit_hits_both_quantiles_without_the_fallback_solver(low, high):
    a, b = fit_beta_interval90(low, high)
    assert stats.beta(a, b).ppf([0.05, 0.95]) == pytest.approx([low, high], abs=1e-9)


@pytest.mark.parametrize("a, b", [(6.3, 25.3), (25.3, 6.3), (1.05, 1.02), (2.0, 2.0), (1.5, 400.0), (800.0, 900.0),
                                  (0.5, 3.0), (0.4, 0.6)])
def test_vectorised_beta_sampler_has_the_beta_law(a, b):
    # Cheng's BB for shapes above 1 (NumPy's sampler below): Kolmogorov-Smirnov against SciPy's CDF
    x = beta_draws(np.random.default_rng(11), a, b, 100_000)
    assert x.shape == (100_000,) and np.all((x >= 0) & (x <= 1))
    assert stats.kstest(x, stats.beta(a, b).cdf).pvalue > 1e-3
    assert np.array_equal(x, beta_draws(np.random.default_rng(11), a, b, 100_000))  # reproducible


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "uniform", "low": 5, "high": 2},
        {"kind": "triangular", "low": 0, "mode": 5, "high": 4},
        {"kind": "pert", "low": 1, "mode": 1, "high": 1},
        {"kind": "normal", "mean": 0, "sd": -1},
        {"kind": "normal", "mean": 0, "sd": 1, "low": 50, "high": 60},
        {"kind": "lognormal", "mean": -3, "sd": 1},
        {"kind": "lognormal", "mean": 3},
        {"kind": "beta", "mean": 0.5, "sd": 0.6},
        {"kind": "beta", "a": 0, "b": 1},
        {"kind": "beta", "a": 1, "b": 2, "mean": 0.3},
        {"kind": "interval90", "low": 3, "high": 3},
        {"kind": "interval90", "low": -1, "high": 3, "fit": "lognormal"},
        {"kind": "gamma", "a": 2},
        {"kind": "uniform", "low": 0, "hihg": 1},
        {"kind": "fixed", "value": float("nan")},
        {"low": 1, "high": 2},
        True,
    ],
)
def test_impossible_parameters_are_refused(spec):
    with pytest.raises(ValidationError):
        dist.validate_python(spec)


def test_untruncated_normal_is_refused_for_a_probability():
    with pytest.raises(ValidationError, match="probability"):
        TypeAdapter(Probability).validate_python({"kind": "normal", "mean": 0.5, "sd": 0.1})
    ok = TypeAdapter(Probability).validate_python({"kind": "normal", "mean": 0.5, "sd": 0.1, "low": 0, "high": 1})
    assert ok.support() == (0.0, 1.0)


def test_interval90_label_names_the_fitted_shape():
    d = Interval90.model_validate({"kind": "interval90", "low": 1, "high": 2, "fit": "lognormal"})
    assert "lognormal" in d.label()


@pytest.mark.parametrize("a, b", [(6.3, 25.3), (1.44, 4.56), (25.3, 6.3)])
def test_beta_draws_do_not_depend_on_how_many_candidates_are_tried(a, b, monkeypatch):
    """The share of candidates accepted, learnt on a first batch, only decides how many candidates are tried at
    first: far too low (all tried), far too high (a second range needed) or learnt, the draws are the same."""
    from simulate import distributions

    monkeypatch.setattr(distributions, "_BB_ACCEPTANCE", {})
    first = beta_draws(np.random.default_rng(3), a, b, 20_000)  # learns the share
    assert list(distributions._BB_ACCEPTANCE) == [(min(a, b), max(a, b))]
    share = distributions._BB_ACCEPTANCE[min(a, b), max(a, b)]
    assert 0.6 < share < 1.0
    for guess in (share, 0.06, 1.0, 5.0):
        distributions._BB_ACCEPTANCE[min(a, b), max(a, b)] = guess
        assert np.array_equal(beta_draws(np.random.default_rng(3), a, b, 20_000), first)
