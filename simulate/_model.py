"""The base of every validated input model: frozen, and strict about keys.

An unknown key is refused with the closest valid key suggested, so a typo in a
hand-edited YAML file is named rather than silently ignored.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


def closest(word: str, choices: list[str]) -> str | None:
    """The closest of ``choices`` to ``word``, or None when none is close."""
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return found[0] if found else None


class StrictModel(BaseModel):
    """A frozen model that refuses unknown keys, naming the closest valid one."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = [f.alias or name for name, f in cls.model_fields.items()]
            for key in data:
                if not isinstance(key, str) or key not in allowed:
                    guess = closest(key, allowed) if isinstance(key, str) else None
                    hint = f"did you mean {guess!r}? " if guess else ""
                    raise PydanticCustomError(
                        "unknown_key",
                        plain(f"unknown key {key!r}: {hint}allowed keys: {', '.join(allowed)}"),
                        {"key": key if isinstance(key, str) else repr(key), "guess": guess or "",
                         "allowed": ", ".join(allowed)},
                    )
        return data


def plain(text: str) -> str:
    """``text`` made safe as a pydantic message template (no placeholders)."""
    return text.replace("{", "(").replace("}", ")")
