"""Uncertain inputs: small frozen distribution objects, validated when built.

Every numeric input of a scenario is a fixed value or one of these. YAML picks
one with ``kind:``; a bare number is :class:`Fixed`. Each object draws with a
NumPy ``Generator`` passed in (``sample``), and gives its exact mean, standard
deviation and quantiles (``mean``, ``sd``, ``quantile``) for the expected mode,
for ``describe`` and for the Gaussian copula, which draws through ``ppf``.

Domains (``probability``, ``nonnegative``, ...) are checked where a distribution
is used, by :func:`in_domain`: a distribution whose support leaves the field's
domain is refused, and a 90 % interval with ``fit: auto`` is fitted to a shape
that respects the domain (Beta on [0, 1], lognormal on positive values).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, model_validator
from pydantic_core import PydanticCustomError

from simulate import kernels
from simulate._model import StrictModel, plain

Z95 = 1.6448536269514722  # standard normal 95 % quantile


def _reject_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("number", "a number, not true/false")
    return value


# A finite number; YAML's true/false are not numbers here.
FiniteFloat = Annotated[float, BeforeValidator(_reject_bool), Field(allow_inf_nan=False)]


class SourceNote(StrictModel):
    """Where an input comes from: document, page and the reasoning."""

    document: str | None = None
    page: str | int | None = None
    reasoning: str | None = None

    def text(self) -> str:
        parts = [self.document, f"p. {self.page}" if self.page is not None else None, self.reasoning]
        return "; ".join(p for p in parts if p)


Source = Union[str, SourceNote]


def source_text(source: Source | None) -> str:
    """The source as one paragraph (a folded YAML block's trailing newline removed)."""
    if source is None:
        return ""
    return (source if isinstance(source, str) else source.text()).strip()


def _bad(msg: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError("distribution", plain(msg.format(**ctx)))


class _Dist(StrictModel):
    source: Source | None = None
    evidence_level: Literal[1, 2, 3] | None = None  # 1 RCT/meta-analysis, 2 quasi-experimental, 3 before-after/claim

    # --- provided by each kind -------------------------------------------------
    @abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``(n,)`` draws."""

    @abstractmethod
    def frozen(self):
        """The equivalent frozen scipy.stats distribution."""

    @abstractmethod
    def label(self) -> str:
        """A short human-readable description."""

    # --- shared ----------------------------------------------------------------
    @property
    def is_fixed(self) -> bool:
        return False

    def mean(self) -> float:
        return float(self.frozen().mean())

    def sd(self) -> float:
        return float(self.frozen().std())

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Quantile function, vectorised: the copula draws through it."""
        return np.asarray(self.frozen().ppf(u), dtype=float)

    def quantile(self, q: float | np.ndarray) -> np.ndarray:
        return self.ppf(np.asarray(q, dtype=float))

    def support(self) -> tuple[float, float]:
        lo, hi = self.frozen().support()
        return float(lo), float(hi)


class Fixed(_Dist):
    """A known value. A bare number in YAML means this."""

    kind: Literal["fixed"] = "fixed"
    value: FiniteFloat

    @property
    def is_fixed(self) -> bool:
        return True

    def sample(self, rng, n):
        return np.full(n, self.value)

    def mean(self):
        return float(self.value)

    def sd(self):
        return 0.0

    def ppf(self, u):
        return np.full(np.shape(u), self.value, dtype=float)

    def support(self):
        return float(self.value), float(self.value)

    def frozen(self):
        """A fixed value has no scipy distribution; its mean, sd, quantiles and support are given directly."""
        return None

    def label(self):
        return number_text(self.value)


def number_text(x, digits: int = 6) -> str:
    """A parameter as a reader writes it, never in exponent form: from a million up in full (to the øre, so no
    digit of the amount is rounded away: 4653846.15, not 4.65385e+06), below 0.0001 positional (0.00001),
    otherwise ``digits`` significant digits."""
    x = float(x)
    if x != 0 and math.isfinite(x) and abs(x) >= 1e6:
        return np.format_float_positional(round(x, 2), trim="-")
    if x != 0 and math.isfinite(x) and abs(x) < 1e-4:
        return np.format_float_positional(x, precision=digits, unique=False, fractional=False, trim="-")
    return f"{x:.{digits}g}"


class Uniform(_Dist):
    """Uniform on [low, high]."""

    kind: Literal["uniform"]
    low: FiniteFloat
    high: FiniteFloat

    @model_validator(mode="after")
    def _check(self):
        if not self.low < self.high:
            raise _bad("uniform needs low < high, got low={low}, high={high}", low=self.low, high=self.high)
        return self

    def sample(self, rng, n):
        return rng.uniform(self.low, self.high, n)

    def frozen(self):
        from scipy import stats

        return stats.uniform(self.low, self.high - self.low)

    def mean(self):
        return 0.5 * (self.low + self.high)

    def support(self):
        return float(self.low), float(self.high)

    def label(self):
        return f"uniform({number_text(self.low)}, {number_text(self.high)})"


class Triangular(_Dist):
    """Triangular with minimum ``low``, most likely ``mode`` and maximum ``high``."""

    kind: Literal["triangular"]
    low: FiniteFloat
    mode: FiniteFloat
    high: FiniteFloat

    @model_validator(mode="after")
    def _check(self):
        if not (self.low <= self.mode <= self.high and self.low < self.high):
            raise _bad(
                "triangular needs low <= mode <= high and low < high, got {low}, {mode}, {high}",
                low=self.low, mode=self.mode, high=self.high,
            )
        return self

    def sample(self, rng, n):
        return rng.triangular(self.low, self.mode, self.high, n)

    def frozen(self):
        from scipy import stats

        width = self.high - self.low
        return stats.triang((self.mode - self.low) / width, loc=self.low, scale=width)

    def mean(self):
        return (self.low + self.mode + self.high) / 3.0

    def support(self):
        return float(self.low), float(self.high)

    def label(self):
        return f"triangular({number_text(self.low)}, {number_text(self.mode)}, {number_text(self.high)})"


class Pert(_Dist):
    """PERT: a Beta on [low, high] with its mode at ``mode``; ``lambda`` sets the peak (4 is classic)."""

    kind: Literal["pert"]
    low: FiniteFloat
    mode: FiniteFloat
    high: FiniteFloat
    lambda_: FiniteFloat = Field(4.0, alias="lambda", gt=0)

    @model_validator(mode="after")
    def _check(self):
        if not (self.low <= self.mode <= self.high and self.low < self.high):
            raise _bad(
                "pert needs low <= mode <= high and low < high, got {low}, {mode}, {high}",
                low=self.low, mode=self.mode, high=self.high,
            )
        return self

    @property
    def shape(self) -> tuple[float, float]:
        width = self.high - self.low
        a = 1.0 + self.lambda_ * (self.mode - self.low) / width
        b = 1.0 + self.lambda_ * (self.high - self.mode) / width
        return a, b

    def sample(self, rng, n):
        a, b = self.shape
        return self.low + (self.high - self.low) * beta_draws(rng, a, b, n)

    def frozen(self):
        from scipy import stats

        a, b = self.shape
        return stats.beta(a, b, loc=self.low, scale=self.high - self.low)

    def mean(self):
        return (self.low + self.lambda_ * self.mode + self.high) / (self.lambda_ + 2.0)

    def support(self):
        return float(self.low), float(self.high)

    def label(self):
        return f"PERT({number_text(self.low)}, {number_text(self.mode)}, {number_text(self.high)})"


class Normal(_Dist):
    """Normal with ``mean`` and ``sd``, optionally truncated to [low, high].

    When truncated, ``mean`` and ``sd`` are those of the untruncated parent; the
    truncated distribution's own mean is what the expected mode uses.
    """

    kind: Literal["normal"]
    mean_: FiniteFloat = Field(alias="mean")
    sd_: FiniteFloat = Field(alias="sd", gt=0)
    low: FiniteFloat | None = None
    high: FiniteFloat | None = None

    @model_validator(mode="after")
    def _check(self):
        lo = -math.inf if self.low is None else self.low
        hi = math.inf if self.high is None else self.high
        if not lo < hi:
            raise _bad("normal needs low < high, got low={low}, high={high}", low=self.low, high=self.high)
        from scipy.special import ndtr

        mass = ndtr((hi - self.mean_) / self.sd_) - ndtr((lo - self.mean_) / self.sd_)
        if not mass > 1e-9:
            raise _bad(
                "normal(mean={mean}, sd={sd}) has almost no mass between {low} and {high}",
                mean=self.mean_, sd=self.sd_, low=self.low, high=self.high,
            )
        return self

    @property
    def truncated(self) -> bool:
        return self.low is not None or self.high is not None

    def _bounds_z(self) -> tuple[float, float]:
        a = -math.inf if self.low is None else (self.low - self.mean_) / self.sd_
        b = math.inf if self.high is None else (self.high - self.mean_) / self.sd_
        return a, b

    def sample(self, rng, n):
        if not self.truncated:
            return rng.normal(self.mean_, self.sd_, n)
        return self.ppf(kernels.random(rng, n))

    def ppf(self, u):
        from scipy.special import ndtr, ndtri

        u = np.asarray(u, dtype=float)
        a, b = self._bounds_z()
        if a > 0:  # both bounds in the upper tail: invert by symmetry for accuracy
            fa, fb = ndtr(-b), ndtr(-a)
            z = -ndtri(fb - u * (fb - fa))
        else:
            fa, fb = ndtr(a), ndtr(b)
            z = ndtri(fa + u * (fb - fa))
        x = self.mean_ + self.sd_ * z
        lo = -math.inf if self.low is None else self.low
        hi = math.inf if self.high is None else self.high
        return np.clip(x, lo, hi)

    def support(self):
        return (-math.inf if self.low is None else float(self.low)), (math.inf if self.high is None else float(self.high))

    def frozen(self):
        from scipy import stats

        if not self.truncated:
            return stats.norm(self.mean_, self.sd_)
        a, b = self._bounds_z()
        return stats.truncnorm(a, b, loc=self.mean_, scale=self.sd_)

    def label(self):
        base = f"normal(mean={number_text(self.mean_)}, sd={number_text(self.sd_)}"
        if self.truncated:
            base += f", truncated to [{'-inf' if self.low is None else number_text(self.low)}, " \
                    f"{'inf' if self.high is None else number_text(self.high)}]"
        return base + ")"


class LogNormal(_Dist):
    """Lognormal, by its own ``mean`` and ``sd`` or by ``mu`` and ``sigma`` of its logarithm."""

    kind: Literal["lognormal"]
    mean_: FiniteFloat | None = Field(None, alias="mean", gt=0)
    sd_: FiniteFloat | None = Field(None, alias="sd", gt=0)
    mu: FiniteFloat | None = None
    sigma: FiniteFloat | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self):
        by_moments = self.mean_ is not None and self.sd_ is not None
        by_log = self.mu is not None and self.sigma is not None
        if by_moments == by_log or (by_moments and (self.mu is not None or self.sigma is not None)) or (
            by_log and (self.mean_ is not None or self.sd_ is not None)
        ):
            raise _bad("lognormal needs either mean and sd, or mu and sigma (not both, not one of a pair)")
        return self

    @property
    def log_params(self) -> tuple[float, float]:
        if self.mu is not None:
            return float(self.mu), float(self.sigma)
        s2 = math.log1p((self.sd_ / self.mean_) ** 2)
        return math.log(self.mean_) - 0.5 * s2, math.sqrt(s2)

    def sample(self, rng, n):
        mu, sigma = self.log_params
        return rng.lognormal(mu, sigma, n)

    def support(self):
        return 0.0, math.inf

    def ppf(self, u):
        from scipy.special import ndtri

        mu, sigma = self.log_params
        return np.exp(mu + sigma * ndtri(np.asarray(u, dtype=float)))

    def mean(self):
        mu, sigma = self.log_params
        return math.exp(mu + 0.5 * sigma * sigma)

    def frozen(self):
        from scipy import stats

        mu, sigma = self.log_params
        return stats.lognorm(s=sigma, scale=math.exp(mu))

    def label(self):
        mu, sigma = self.log_params
        return f"lognormal(median={number_text(math.exp(mu))}, sigma_log={number_text(sigma, 3)})"


class Beta(_Dist):
    """Beta on [0, 1], by shape ``a`` and ``b`` or by ``mean`` and ``sd``."""

    kind: Literal["beta"]
    a: FiniteFloat | None = Field(None, gt=0)
    b: FiniteFloat | None = Field(None, gt=0)
    mean_: FiniteFloat | None = Field(None, alias="mean")
    sd_: FiniteFloat | None = Field(None, alias="sd", gt=0)

    @model_validator(mode="after")
    def _check(self):
        by_shape = self.a is not None and self.b is not None
        by_moments = self.mean_ is not None and self.sd_ is not None
        given = [x is not None for x in (self.a, self.b, self.mean_, self.sd_)]
        if not (by_shape ^ by_moments) or sum(given) != 2:
            raise _bad("beta needs either a and b, or mean and sd")
        if by_moments:
            m, s = self.mean_, self.sd_
            if not 0 < m < 1:
                raise _bad("beta mean must lie strictly between 0 and 1, got {mean}", mean=m)
            if not s * s < m * (1 - m):
                raise _bad(
                    "beta with mean {mean} needs sd < sqrt(mean*(1-mean)) = {limit:.4g}, got sd={sd}",
                    mean=m, sd=s, limit=math.sqrt(m * (1 - m)),
                )
        return self

    @property
    def shape(self) -> tuple[float, float]:
        if self.a is not None:
            return float(self.a), float(self.b)
        m, s = self.mean_, self.sd_
        k = m * (1 - m) / (s * s) - 1.0
        return m * k, (1 - m) * k

    def sample(self, rng, n):
        a, b = self.shape
        return beta_draws(rng, a, b, n)

    def frozen(self):
        from scipy import stats

        return stats.beta(*self.shape)

    def mean(self):
        a, b = self.shape
        return a / (a + b)

    def support(self):
        return 0.0, 1.0

    def label(self):
        a, b = self.shape
        return f"beta(a={a:.4g}, b={b:.4g})"


class Interval90(_Dist):
    """A 90 % interval: 5 % chance below ``low``, 5 % above ``high``; the tool fits the shape.

    ``fit: auto`` picks Beta for a probability, lognormal for a positive amount
    and normal otherwise; ``normal``, ``lognormal`` or ``beta`` forces a shape.
    """

    kind: Literal["interval90"]
    low: FiniteFloat
    high: FiniteFloat
    fit: Literal["auto", "normal", "lognormal", "beta"] = "auto"
    _fitted: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self):
        if not self.low < self.high:
            raise _bad("interval90 needs low < high, got low={low}, high={high}", low=self.low, high=self.high)
        if self.fit == "lognormal" and self.low <= 0:
            raise _bad("a lognormal 90 % interval needs low > 0, got low={low}", low=self.low)
        if self.fit == "beta" and not (0 < self.low and self.high < 1):
            raise _bad(
                "a beta 90 % interval needs 0 < low < high < 1, got low={low}, high={high}",
                low=self.low, high=self.high,
            )
        self._fitted = self._fit()
        return self

    def _fit(self) -> _Dist:
        fit = "normal" if self.fit == "auto" else self.fit
        if fit == "normal":
            return Normal.model_validate(
                {"kind": "normal", "mean": 0.5 * (self.low + self.high), "sd": (self.high - self.low) / (2 * Z95)}
            )
        if fit == "lognormal":
            mu = 0.5 * (math.log(self.low) + math.log(self.high))
            sigma = (math.log(self.high) - math.log(self.low)) / (2 * Z95)
            return LogNormal.model_validate({"kind": "lognormal", "mu": mu, "sigma": sigma})
        a, b = fit_beta_interval90(self.low, self.high)
        return Beta.model_validate({"kind": "beta", "a": a, "b": b})

    def resolved_for(self, domain: str) -> "Interval90":
        """The same interval with ``fit: auto`` settled for a field's domain."""
        if self.fit != "auto":
            return self
        if domain == "probability" and 0 < self.low and self.high < 1:
            fit = "beta"
        elif domain in POSITIVE_DOMAINS and self.low > 0:
            fit = "lognormal"
        else:
            fit = "normal"
        return Interval90.model_validate(
            {"kind": "interval90", "low": self.low, "high": self.high, "fit": fit, "source": self.source,
             "evidence_level": self.evidence_level}
        )

    @property
    def fitted(self) -> _Dist:
        return self._fitted

    def sample(self, rng, n):
        return self._fitted.sample(rng, n)

    def frozen(self):
        return self._fitted.frozen()

    def mean(self):
        return self._fitted.mean()

    def ppf(self, u):
        return self._fitted.ppf(u)

    def support(self):
        return self._fitted.support()

    def label(self):
        return f"90% interval [{number_text(self.low)}, {number_text(self.high)}] -> {self._fitted.label()}"


_LOG4 = math.log(4.0)


def beta_draws(rng: np.random.Generator, a: float, b: float, n: int) -> np.ndarray:
    """``n`` exact Beta(a, b) draws, vectorised: Cheng's algorithm BB when both shapes exceed 1.

    R. C. H. Cheng (1978), "Generating beta variates with nonintegral shape parameters", Communications
    of the ACM 21(4), 317-322: a rejection method (exact), here run on all trials at once, redrawing
    only the rejected ones. About three times faster than NumPy's per-element sampler. Shapes of 1 or
    less use NumPy's ``Generator.beta``.
    """
    if min(a, b) <= 1.0:
        return rng.beta(a, b, n)
    lo, hi = min(a, b), max(a, b)
    alpha = lo + hi
    beta = math.sqrt((alpha - 2.0) / (2.0 * lo * hi - alpha))
    gamma = lo + 1.0 / beta
    out = np.empty(n)
    filled = 0
    while filled < n:  # candidates in batches; the accepted ones are taken in order
        need = n - filled
        m = int(1.3 * need) + 16
        u = kernels.random(rng, (2, m))
        # Only as many of the batch's candidates are tried as will very probably fill the draws (the rest only if
        # they do not): the draws are the same, as the candidates are taken in order either way.
        accept = _BB_ACCEPTANCE.get((lo, hi))
        stop = m if accept is None else min(m, int((need + 4.0 * math.sqrt(need)) / accept) + 64)
        start = 0
        while start < m and filled < n:
            accepted = kernels.beta_candidates(u, lo, hi, alpha, beta, gamma, _LOG4, out[filled:], start=start,
                                               stop=stop)
            if start == 0 and stop == m and m >= 1024:
                _BB_ACCEPTANCE[lo, hi] = max(accepted / m, 0.05)
            filled += min(accepted, n - filled)
            start, stop = stop, m
    return out if lo == a else 1.0 - out


# The share of Cheng's candidates accepted, by shape (lo, hi): measured on a first whole batch, and used to try only
# as many candidates as a batch will need. It changes how much work is done, never which draws come out.
_BB_ACCEPTANCE: dict = {}


def fit_beta_interval90(low: float, high: float) -> tuple[float, float]:
    """Shape (a, b) of the Beta whose 5 % and 95 % quantiles are ``low`` and ``high``.

    Newton's method on (log a, log b) from the moment-matched start, which converges in a few steps for
    the intervals met in practice; SciPy's least-squares solver takes over if it does not (it is not
    imported otherwise: it is large, and a run should not pay for it).
    """
    from scipy import special

    m = 0.5 * (low + high)
    s = min((high - low) / (2 * Z95), 0.99 * math.sqrt(m * (1 - m)))
    k = m * (1 - m) / (s * s) - 1.0
    x0 = np.log([max(m * k, 1e-3), max((1 - m) * k, 1e-3)])
    target = np.array([low, high])
    tol = 1e-10 * max(1.0, high - low)

    def residual(logab):
        a, b = np.exp(logab)
        return special.betaincinv(a, b, [0.05, 0.95]) - target

    x = x0.copy()
    for _ in range(60):
        res = residual(x)
        if np.all(np.isfinite(res)) and np.max(np.abs(res)) < tol:
            return tuple(float(v) for v in np.exp(x))
        h = 1e-6
        jac = np.column_stack([(residual(x + h * e) - res) / h for e in np.eye(2)])
        try:
            step = np.linalg.solve(jac, res)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        x = x - np.clip(step, -1.0, 1.0)  # damped: at most a factor e per step
    from scipy import optimize

    sol = optimize.least_squares(residual, x0, xtol=1e-14, ftol=1e-14, gtol=1e-14)
    if not np.all(np.abs(residual(sol.x)) < 1e-7 * max(1.0, high - low)):
        raise _bad("no Beta distribution has the 90 % interval [{low}, {high}]", low=low, high=high)
    return tuple(float(v) for v in np.exp(sol.x))


def _number_to_fixed(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("number", "a number or a distribution (with kind:), not true/false", {})
    if isinstance(value, (int, float)):
        return {"kind": "fixed", "value": value}
    if isinstance(value, dict) and "kind" not in value and "value" in value:
        return {"kind": "fixed", **value}
    if isinstance(value, dict) and "kind" not in value:
        raise PydanticCustomError(
            "distribution_kind",
            "a distribution needs kind: one of fixed, uniform, triangular, pert, normal, lognormal, beta, interval90",
            {},
        )
    return value


Distribution = Annotated[
    Union[Fixed, Uniform, Triangular, Pert, Normal, LogNormal, Beta, Interval90],
    Field(discriminator="kind"),
]
Distribution = Annotated[Distribution, BeforeValidator(_number_to_fixed)]

MAX_MONEY_DKK = 1e12

DOMAINS = {
    "probability": (0.0, 1.0, "a probability in [0, 1]"),
    "nonnegative": (0.0, math.inf, "a value >= 0"),
    "positive": (0.0, math.inf, "a value > 0"),
    "money": (0.0, MAX_MONEY_DKK, "an amount from 0 to 1,000,000,000,000 DKK"),
    "factor": (0.0, 100.0, "a factor from 0 to 100"),
    "years": (0.0, 200.0, "a number of years above 0 and at most 200"),
    "any": (-math.inf, math.inf, "any finite value"),
}
POSITIVE_DOMAINS = ("nonnegative", "positive", "money", "factor", "years")


def in_domain(domain: str):
    """An after-validator: the distribution's support must lie inside ``domain``."""
    lo_ok, hi_ok, text = DOMAINS[domain]

    def check(dist: _Dist) -> _Dist:
        if isinstance(dist, Interval90):
            dist = dist.resolved_for(domain)
        lo, hi = dist.support()
        if math.isinf(hi) and math.isfinite(hi_ok):  # unbounded tail: judge it by a far quantile
            hi = float(dist.quantile(1 - 1e-9))
        bad = lo < lo_ok or hi > hi_ok or (domain in ("positive", "years") and lo <= 0 and dist.is_fixed)
        if bad and dist.is_fixed:
            raise _bad("{text}", text=text)
        if bad:
            hint = ""
            if isinstance(dist, Normal):
                hint = " (truncate it with low: and high:)"
            elif isinstance(dist, Interval90):
                hint = " (use fit: beta for a probability)"
            raise _bad(
                "{label} can take values in [{lo:g}, {hi:g}], but this input must be {text}{hint}",
                label=dist.label(), lo=lo, hi=hi, text=text, hint=hint,
            )
        return dist

    return AfterValidator(check)


Probability = Annotated[Distribution, in_domain("probability")]
NonNegative = Annotated[Distribution, in_domain("nonnegative")]
Positive = Annotated[Distribution, in_domain("positive")]
Money = Annotated[Distribution, in_domain("money")]
Factor = Annotated[Distribution, in_domain("factor")]
Years = Annotated[Distribution, in_domain("years")]
AnyValue = Annotated[Distribution, in_domain("any")]


def describe_quantiles(dist: _Dist, qs=(0.05, 0.5, 0.95)) -> list[float]:
    """The distribution's quantiles, exact."""
    if dist.is_fixed:
        return [float(dist.mean())] * len(qs)
    return [float(x) for x in dist.quantile(np.asarray(qs))]
