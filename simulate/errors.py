"""The one user-error type.

A :class:`ScenarioError` names what was wrong (the field's path), what was given
(the value) and what is allowed. The command line turns it into one message and
exit status 2; every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class ScenarioError(ValueError):
    """A user's input is wrong: a scenario, sweep or rule file, a flag, a path.

    Parameters
    ----------
    path : str
        Where the problem is, e.g. ``participants.success_probability.mean``.
    value : object
        The offending value as given (shown with ``repr``, shortened).
    allowed : str
        What would have been accepted.
    file : str, optional
        The file the value came from, prefixed to the message.
    """

    def __init__(self, path: str, value: object, allowed: str, *, file: str | None = None):
        self.path, self.value, self.allowed, self.file = path, value, allowed, file
        super().__init__(self._format())

    def _format(self) -> str:
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.path}: got {shown}; expected {self.allowed}"

    def in_file(self, file: str) -> "ScenarioError":
        """The same error, attributed to ``file``."""
        return ScenarioError(self.path, self.value, self.allowed, file=file)


class ScenarioErrors(ScenarioError):
    """Several problems found in one file, reported together in one message."""

    def __init__(self, errors: list[ScenarioError], *, file: str | None = None):
        self.errors = [e if file is None else e.in_file(file) for e in errors]
        first = self.errors[0]
        super().__init__(first.path, first.value, first.allowed, file=first.file)

    def in_file(self, file: str) -> "ScenarioErrors":
        return ScenarioErrors(self.errors, file=file)

    def _format(self) -> str:
        errors = getattr(self, "errors", [])
        if len(errors) <= 1:
            return ScenarioError._format(errors[0]) if errors else super()._format()
        files = {e.file for e in errors}
        shared = files.pop() if len(files) == 1 else None
        lines = [ScenarioError._format(e) if shared is None else
                 ScenarioError(e.path, e.value, e.allowed)._format() for e in errors]
        head = f"{shared}: {len(lines)} problems:" if shared else f"{len(lines)} problems:"
        return "\n".join([head] + [f"  - {line}" for line in lines[:10]] + (["  - ..."] if len(lines) > 10 else []))
