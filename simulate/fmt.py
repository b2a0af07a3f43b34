"""Numbers the way the reader reads them: Danish (4.329.630 kr., 7,0 %) or English (DKK 4,329,630, 7.0%)."""

from __future__ import annotations

import math

LANGS = ("da", "en")


def _group(x: float, decimals: int, thousands: str, point: str) -> str:
    text = f"{abs(x):,.{decimals}f}"
    text = text.replace(",", "\x00").replace(".", point).replace("\x00", thousands)
    return ("-" if x < 0 and float(f"{abs(x):.{decimals}f}") != 0 else "") + text


def number(x: float | None, lang: str = "da", decimals: int = 0) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return _group(x, decimals, ".", ",") if lang == "da" else _group(x, decimals, ",", ".")


def money(x: float | None, lang: str = "da", decimals: int = 0) -> str:
    """4.329.630 kr. (da) or DKK 4,329,630 (en); minus signs as a finance department writes them."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if lang == "da":
        return f"{number(x, 'da', decimals)} kr."
    text = number(abs(x), "en", decimals)
    return f"-DKK {text}" if x < 0 and number(abs(x), "en", decimals).strip("0.,") else f"DKK {text}"


def money_m(x: float | None, lang: str = "da") -> str:
    """Millions with one decimal: 4,3 mio. kr. / DKK 4.3m."""
    if x is None:
        return "-"
    if lang == "da":
        return f"{number(x / 1e6, 'da', 1)} mio. kr."
    return f"DKK {number(x / 1e6, 'en', 1)}m"


def percent(x: float | None, lang: str = "da", decimals: int = 1) -> str:
    """7,0 % (da) or 7.0% (en)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if lang == "da":
        return f"{number(100 * x, 'da', decimals)} %"
    return f"{number(100 * x, 'en', decimals)}%"


def claim_value(metric: str, value, lang: str = "da") -> str:
    """A claimed or reproduced figure in the claim's own unit: ROI in %, break-even in people, else money."""
    if value is None:
        return "-"
    if metric == "roi":
        return percent(value, lang)
    if metric == "break_even_successes":
        return number(value, lang, 2)
    return money(value, lang)
