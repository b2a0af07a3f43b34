"""Reading scenario files safely and writing run outputs atomically.

YAML is read with a safe loader that also refuses aliases (no "billion laughs"),
deep nesting, duplicate keys, files over 1 MiB and text that is not UTF-8; every
problem becomes a :class:`ScenarioError` naming the file, the place and what is
allowed. Outputs are written into a staging directory beside the target and
moved into place only when complete, so an interrupted run never leaves a
half-written result.
"""

from __future__ import annotations

import difflib

import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml

from simulate.errors import ScenarioError, ScenarioErrors

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 40


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases, with a depth limit and refusal of duplicate keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in scenario files; write the value out", event.start_mark
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the mapping constructor reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path, *, what: str = "file") -> tuple[Any, bytes]:
    """Parse a YAML file safely. Returns the data and the raw bytes.

    ``what`` names the file in messages as the user gave it, e.g. ``CONFIG`` or ``--observed``."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise ScenarioError(what, name, "an existing YAML file (no such file)")
    if path.is_dir():
        raise ScenarioError(what, name, "a YAML file, not a directory")
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(what, name, f"a readable file ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(what, f"{name} (over {MAX_FILE_BYTES} bytes)", "a scenario file of at most 1 MiB")
    return parse_yaml_bytes(raw, name), raw


def parse_yaml_bytes(raw: bytes, name: str) -> Any:
    """Parse YAML bytes safely; ``name`` is the file named in messages."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"byte {exc.start}", raw[exc.start:exc.start + 4], "UTF-8 text (save the file as UTF-8)", file=name
        ) from None
    if "\x00" in text:
        raise ScenarioError("file", "a NUL character", "YAML text", file=name)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise ScenarioError(where, problem, "valid YAML without aliases or Python tags", file=name) from None
    except yaml.YAMLError as exc:
        raise ScenarioError("YAML", str(exc).splitlines()[0], "valid YAML", file=name) from None
    except RecursionError:
        raise ScenarioError("YAML", "nesting too deep", f"at most {MAX_DEPTH} levels", file=name) from None


def _clean_path(loc: tuple, data: Any) -> tuple[str, Any, bool]:
    """A pydantic error location as a field path, walking the input.

    Returns the path, the input value there and whether the location's union
    branch matches the input's type (errors of other branches are dropped).
    """
    parts: list[str] = []
    node, consistent = data, True
    for step in loc:
        if isinstance(node, dict) and step in node:
            parts.append(str(step))
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            parts[-1:] = [f"{parts[-1]}[{step}]"] if parts else [f"[{step}]"]
            node = node[step]
        elif isinstance(step, str):
            is_list_branch = step.startswith("list[")
            if is_list_branch != isinstance(node, list) and not step.startswith(("tagged-union", "dict[")):
                if not (isinstance(node, dict) and node.get("kind") == step):
                    consistent = False
        # other steps are pydantic's own labels (union branches, tags): skipped
    return ".".join(parts) or "(top level)", node, consistent


def _allowed_text(err: dict) -> str:
    msg = err.get("msg", "")
    for prefix in ("Input should be ", "Value error, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if err.get("type") == "missing":
        return "this required field to be present"
    if err.get("type") == "unknown_key":
        ctx = err.get("ctx") or {}
        hint = f" (did you mean {ctx['guess']!r}?)" if ctx.get("guess") else ""
        return f"a known key{hint}; allowed here: {ctx.get('allowed', '')}"
    if err.get("type") == "literal_error":
        return msg
    value = err.get("input")
    if isinstance(value, str) and re.fullmatch(r"\s*-?[1-9][0-9]{0,2}(,[0-9]{3})+\s*", value):  # 250,000: ambiguous
        whole, danish = value.strip().replace(",", ""), value.strip().replace(",", ".")
        return (f"{msg} (write numbers without a thousands separator and with a decimal point: {whole}, or "
                f"{float(danish):g} if the comma was a decimal comma)")
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9][0-9.]*,[0-9]+\s*%?\s*", value):
        english = value.strip().rstrip("%").strip().replace(".", "").replace(",", ".")
        if "%" in value:
            return f"{msg} (write a share as a decimal number with a point: {float(english) / 100:g})"
        return f"{msg} (write numbers with a decimal point: {english})"
    if err.get("type") == "union_tag_invalid":  # a distribution's kind: that is not one of the kinds
        ctx = err.get("ctx") or {}
        tag = ctx.get("tag", "")
        kinds = str(ctx.get("expected_tags", "")).replace("'", "")
        close = difflib.get_close_matches(str(tag), [k.strip() for k in kinds.split(",")], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"a known {ctx.get('discriminator', 'kind').strip(chr(39))}{hint}: one of {kinds}"
    return msg


def errors_from_validation(exc, data: Any) -> ScenarioErrors:
    """Turn a pydantic ``ValidationError`` into one :class:`ScenarioErrors`."""
    found: dict[str, ScenarioError] = {}
    fallback: dict[str, ScenarioError] = {}
    for err in exc.errors(include_url=False):
        path, value, consistent = _clean_path(tuple(err["loc"]), data)
        if err.get("type") == "missing":
            missing = err["loc"][-1]
            path = f"{path}.{missing}" if path != "(top level)" else str(missing)
            value = None
        elif err.get("type") == "unknown_key":
            ctx = err.get("ctx") or {}
            key = ctx.get("key")
            if key is not None:
                path = f"{path}.{key}" if path != "(top level)" else str(key)
                value = value.get(key) if isinstance(value, dict) else value
        if isinstance(value, dict) and "source" in value:
            value = {k: v for k, v in value.items() if k != "source"}
        target = found if consistent else fallback
        if path not in target:
            target[path] = ScenarioError(path, value, _allowed_text(err))
    chosen = found or fallback
    return ScenarioErrors(list(chosen.values()))


def read_scenario(path: str | Path, *, rules: str | Path | None = None):
    """Read and validate a scenario file; ``rules`` (a rule file) overrides the scenario's ``rules:``."""
    data, _ = load_yaml(path)
    return scenario_from_data(data, file=str(path), rules=rules)


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _rules_path(name: str, base: Path | None) -> Path:
    """A rule file named in a scenario: relative to the scenario file, the cwd, the project or its configs/."""
    path = Path(name)
    if path.is_absolute():
        return path
    for root in ([base] if base is not None else []) + [Path.cwd(), PROJECT_ROOT, PROJECT_ROOT / "configs"]:
        if (root / path).is_file():
            return root / path
    return (base or Path.cwd()) / path


def _refusion_items(data: dict):
    """``(field path, item dict)`` of every cost item in raw scenario data marked with ``refusion``."""
    cf = data.get("counterfactual")
    if not isinstance(cf, dict):
        return
    groups = []
    states = cf.get("states")
    if isinstance(states, dict):
        for name, st in states.items():
            if isinstance(st, dict) and isinstance(st.get("cost_per_year_dkk"), dict):
                groups.append((f"counterfactual.states.{name}.cost_per_year_dkk", st["cost_per_year_dkk"]))
    for key in ("saving_per_success_year_dkk", "success_residual_cost_per_year_dkk"):
        if isinstance(cf.get(key), dict):
            groups.append((f"counterfactual.{key}", cf[key]))
    for base, items in groups:
        for item, value in items.items():
            if isinstance(value, dict) and "refusion" in value and "kind" not in value:
                yield f"{base}.{item}", value


def apply_rules(data: Any, *, file: str | None, rules=None, base: Path | None = None):
    """Fill in the split of each ``refusion:`` cost item from the rule set(s) (``rules`` overrides ``data['rules']``).

    One rule file applies to the whole horizon. Several are applied by programme year: each programme year's
    days are shared between the rule sets in force on them (``rule_periods``), every day of the horizon must be
    covered by exactly one, and the items' ``split`` is that of the rule set in force on 1 January of year 1.
    Returns ``(data, rule sets)``; ``data`` is a copy when anything was filled in.
    """
    import copy

    from simulate.refusion import check_covers_start, read_rules, refusion_split

    if not isinstance(data, dict):
        return data, []
    name = rules if rules is not None else data.get("rules")
    items = list(_refusion_items(data))
    if items and rules is None and all("split" in v and "rule_set" in v for _, v in items):
        return data, []  # already resolved (a run's resolved_scenario): keep the recorded splits
    if name is None and items:
        raise ScenarioError(f"{items[0][0]}.refusion", items[0][1]["refusion"],
                            "a rule set to take the split from: name one with rules: FILE in the scenario "
                            "(e.g. rules: configs/rules/dk-2026.yaml) or run with --rules FILE", file=file)
    names = list(name) if isinstance(name, (list, tuple)) else [name]
    if name is None or not names or not all(isinstance(n, (str, Path)) for n in names):
        return data, []  # the schema says what is wrong
    if base is None:
        base = Path(file).resolve().parent if file and Path(file).is_file() else None
    rule_sets, paths = [], []
    for i, n in enumerate(names):
        path = Path(n) if rules is not None else _rules_path(str(n), base)
        field = "--rules" if rules is not None else ("rules" if len(names) == 1 and not isinstance(name, list)
                                                     else f"rules[{i}]")
        if not path.is_file():
            raise ScenarioError(field, str(n), "an existing refusion rule file, e.g. configs/rules/dk-2026.yaml",
                                file=file)
        rule_sets.append(read_rules(path))
        paths.append(path)
    start = data.get("start_year")
    start = start if isinstance(start, int) and not isinstance(start, bool) else None
    periods = None
    if len(rule_sets) == 1:
        check_covers_start(rule_sets[0], start, file=str(paths[0]))
        first = rule_sets[0]
    else:
        horizon = data.get("horizon_years", 10)
        if start is None:
            raise ScenarioError("start_year", None, "a calendar year, to apply several rule sets by programme year",
                                file=file)
        if not isinstance(horizon, int) or isinstance(horizon, bool) or not 1 <= horizon <= 100:
            return data, rule_sets  # the schema says what is wrong
        weights = _rule_weights(rule_sets, start, horizon, file=file)
        keep = [i for i in range(len(rule_sets)) if any(weights[i])]
        first = next(r for r in rule_sets if r.covers(_date(start, 1, 1)))
        periods = [(rule_sets[i], weights[i]) for i in keep]
    if not items:
        return data, rule_sets
    data = copy.deepcopy(data)
    by_period = [{} for _ in periods or []]
    for where, _ in items:
        target = data
        for part in where.split("."):
            target = target[part]
        if "split" in target:
            raise ScenarioError(f"{where}.split", target["split"],
                                "split or refusion, not both (refusion takes the split from the rule set)", file=file)
        kind = target["refusion"]
        if kind not in ("benefit", "shelter"):
            continue  # the schema names the allowed values
        opts = {k: target[k] for k in ("weeks_on_benefit_at_intake", "days_in_shelter_per_year")
                if isinstance(target.get(k), (int, float)) and not isinstance(target.get(k), bool)}
        target["split"] = refusion_split(first, kind, **opts)
        target["rule_set"] = first.name
        for j, (rule_set, _) in enumerate(periods or []):
            by_period[j][where] = refusion_split(rule_set, kind, **opts)
    if periods:
        data["rule_periods"] = [{"rule_set": r.name, "year_weights": w, "splits": by_period[j]}
                                for j, (r, w) in enumerate(periods)]
    return data, rule_sets


def _date(year: int, month: int, day: int):
    import datetime as dt

    return dt.date(year, month, day)


def _rule_weights(rule_sets: list, start: int, horizon: int, *, file: str | None) -> list[list[float]]:
    """Each rule set's share of the days of each programme year (calendar years from ``start``)."""
    import datetime as dt

    out = [[0.0] * horizon for _ in rule_sets]
    for y in range(horizon):
        first, last = dt.date(start + y, 1, 1), dt.date(start + y, 12, 31)
        n_days = (last - first).days + 1
        covered = [0] * len(rule_sets)
        for i, r in enumerate(rule_sets):
            lo = max(first, r.valid_from)
            hi = last if r.valid_to is None else min(last, r.valid_to)
            covered[i] = max(0, (hi - lo).days + 1)
        if sum(covered) != n_days:  # find the first day covered by none, or by more than one
            day = first
            while day <= last:
                hits = [r.name for r in rule_sets if r.covers(day)]
                if len(hits) != 1:
                    what = "no rule set" if not hits else "rule sets " + ", ".join(hits)
                    raise ScenarioError("rules", str(day), f"a day of the horizon covered by exactly one of the rule "
                                        f"sets (programme year {y + 1}; {what} covers it)", file=file)
                day += dt.timedelta(days=1)
        for i in range(len(rule_sets)):
            out[i][y] = covered[i] / n_days
    return out


def scenario_from_data(data: Any, *, file: str | None = None, rules: str | Path | None = None,
                       base: Path | None = None):
    """Validate already-parsed scenario data (refusion splits filled in from the rule set first)."""
    from pydantic import ValidationError

    from simulate.scenario import Scenario

    if not isinstance(data, dict):
        kind = "an empty file" if data is None else type(data).__name__
        raise ScenarioError("(top level)", kind, "a mapping of scenario fields (name:, intake_per_year:, ...)",
                            file=file)
    data, _ = apply_rules(data, file=file, rules=rules, base=base)
    if rules is not None:
        data = {**data, "rules": [str(r) for r in rules] if isinstance(rules, (list, tuple)) else str(rules)}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise errors_from_validation(exc, data).in_file(file) if file else errors_from_validation(exc, data) from None
    except RecursionError:
        raise ScenarioError("(top level)", "nesting too deep", "a scenario file", file=file) from None


SCENARIO_KEYS = {"programme", "participants", "counterfactual", "horizon_years"}


def refuse_scenario_file(data: dict, expected: str, *, file: str | None) -> None:
    """A scenario file given where another kind of file belongs (a portfolio, a sweep, rules): say so."""
    if len(SCENARIO_KEYS & set(data)) >= 2:
        raise ScenarioError("(top level)", "a scenario file",
                            f"{expected} (a scenario file goes to the commands that take CONFIG: run, validate, "
                            "describe, sensitivity, breakeven, update, voi)", file=file)


def read_yaml_model(path: str | Path, model, expected: str, *, what: str = "file"):
    """Read a YAML file into a pydantic ``model``; every problem is one :class:`ScenarioError` naming the file.

    ``expected`` says what the top level must be, e.g. "a mapping of rule fields".
    """
    from pydantic import ValidationError

    data, _ = load_yaml(path, what=what)
    if not isinstance(data, dict):
        raise ScenarioError("(top level)", type(data).__name__, expected, file=str(path))
    refuse_scenario_file(data, expected, file=str(path))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors_from_validation(exc, data).in_file(str(path)) from None


def config_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- outputs --------------------------------------------------------------------------------------
def check_output_dir(out: str | Path, *, force: bool) -> Path:
    """Refuse an output directory before any work: an existing file, an existing directory without
    ``force``, or a place that cannot be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ScenarioError("--out", str(out), "a directory path, not an existing file")
    if out.exists() and not force:
        raise ScenarioError("--out", str(out), "a directory that does not exist yet (or --force to replace it)")
    parent = out.resolve().parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ScenarioError("--out", str(out), f"a place this user can write ({probe} is not writable)")
    return out


class OutputDir:
    """Stage outputs in a hidden sibling directory; move them into place only on success.

    ``with OutputDir(out, force=True) as stage: ...`` writes into ``stage``; on
    leaving without an exception, an existing ``out`` is replaced (renamed aside,
    the new one renamed in, the old one removed). On an exception, or when the
    process dies, the previous outputs are left as they were.

    Ctrl-C and SIGTERM wait while the outputs are swapped (noted, then delivered), so an interruption
    never leaves the swap half done. ``hold_signals_after_commit`` (set by the command line, whose process
    ends right after): once the new outputs are in place, such a signal ends the process at once with status 0,
    so it cannot make the finished command report an interruption or exit with an error while its outputs have
    been replaced (and it still stops a command whose printout is stuck on a full pipe).
    """

    hold_signals_after_commit = False

    def __init__(self, out: str | Path, *, force: bool):
        self.out = check_output_dir(out, force=force)
        self.force = force
        self.stage: Path | None = None

    def __enter__(self) -> Path:
        parent = self.out.resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        self._recover(parent)
        self.stage = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.partial-{os.getpid()}-", dir=parent))
        os.chmod(self.stage, 0o777 & ~_umask())  # as a plain mkdir would make it, not mkdtemp's 0700
        return self.stage

    def _recover(self, parent: Path) -> None:
        """Tidy what a killed run left beside the output: restore a swapped-out previous result if the
        new one never arrived, and remove staging directories of processes that no longer run."""
        target = parent / self.out.name
        for old in sorted(parent.glob(f".{self.out.name}.old-*")):
            previous = old / "previous"
            if not target.exists() and previous.is_dir():
                os.rename(previous, target)
            shutil.rmtree(old, ignore_errors=True)
        for stage in parent.glob(f".{self.out.name}.partial-*"):
            pid = stage.name.split(".partial-", 1)[1].split("-", 1)[0]
            if not pid.isdigit() or not _alive(int(pid)):
                shutil.rmtree(stage, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            return False
        held = _hold_signals()
        old = None
        try:
            _fsync_dir(self.stage)
            target = self.out.resolve()
            if target.exists() and not self.force:
                raise ScenarioError("--out", str(self.out), "a directory that does not exist yet (or --force)")
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-", dir=target.parent))
                os.rename(target, old / "previous")
            os.rename(self.stage, target)
            _fsync_dir(target.parent)
            if old is not None:  # the previous outputs, moved aside (a killed run's are removed by the next run)
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(self.stage, ignore_errors=True)  # gone already if it was renamed into place
            _release_signals(held, deliver=False)  # the error, not a signal noted meanwhile, says what happened
            raise
        if self.hold_signals_after_commit:
            _finished(held)
        else:
            _release_signals(held)
        return False


_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


def _hold_signals():
    """Let Ctrl-C and SIGTERM only be noted from now on (Python runs signal handlers in the main thread, whichever
    thread the system gave the signal to); the previous handlers and the signals noted, or None outside the main
    thread (where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    noted: list = []
    previous: dict = {}
    try:
        for s in _SIGNALS:
            previous[s] = signal.signal(s, lambda signum, frame: noted.append(signum))
    except BaseException:  # a signal before both were set: put back what was changed
        _release_signals((previous, []))
        raise
    return previous, noted


def _release_signals(held, *, deliver: bool = True) -> None:
    """Put the handlers back and deliver the first signal noted meanwhile, if any (``deliver``)."""
    if held is None:
        return
    previous, noted = held
    for s, handler in previous.items():
        signal.signal(s, signal.SIG_DFL if handler is None else handler)  # None: a handler set outside Python
    if noted and deliver:
        signal.raise_signal(noted[0])


def _finished(held) -> None:
    """The command line's outputs are in place: from now on Ctrl-C or SIGTERM ends the process at once with
    status 0 (the run is done, only its printout is cut short; nothing is flushed, so a printout stuck on a
    full pipe cannot keep the process alive), and so does a signal noted during the swap. The console script
    ignores them once the command returns, while the interpreter shuts down (see ``simulate.cli.main``)."""
    if held is None:
        return
    for s in _SIGNALS:
        signal.signal(s, _exit_done)
    if held[1]:
        _exit_done()


def _exit_done(*_) -> None:
    os._exit(0)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # readable as a plain open() would make it, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summary_text(doc: Any) -> str:
    """The exact text written for a JSON document (summary.json, manifest.json)."""
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | Path, doc: Any) -> None:
    write_text_atomic(path, summary_text(doc))


def read_manifest(run_dir: str | Path) -> tuple[dict, str]:
    """The manifest of a run directory, with its scenario rebuilt, and the recorded summary.json text."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ScenarioError("RUN_DIR", str(run_dir), "a directory written by simulate run")
    paths = {name: run_dir / name for name in ("manifest.json", "summary.json")}
    for name, path in paths.items():
        if not path.is_file():
            raise ScenarioError("RUN_DIR", str(run_dir), f"a run directory with {name}")
    try:
        manifest = json.loads(paths["manifest.json"].read_text(encoding="utf-8"))
        recorded = paths["summary.json"].read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(str(paths["manifest.json"]), str(exc)[:60], "a readable manifest.json") from None
    needed = ("config_text", "options", "versions")
    if not isinstance(manifest, dict) or any(k not in manifest for k in needed):
        raise ScenarioError(str(paths["manifest.json"]), "incomplete", f"a manifest with {', '.join(needed)}")
    raw = manifest["config_text"].encode("utf-8")
    name = f"{paths['manifest.json']} (config_text)"
    rules = manifest["options"].get("rules") if isinstance(manifest["options"], dict) else None
    config_path = manifest.get("config_path")
    base = Path(config_path).resolve().parent if isinstance(config_path, str) else None
    manifest["scenario"] = scenario_from_data(parse_yaml_bytes(raw, name), file=name, rules=rules, base=base)
    manifest["raw"] = raw
    return manifest, recorded


def differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Paths at which two JSON documents differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += differing_keys(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += differing_keys(x, y, f"{prefix}[{i}]")
        return out
    return [] if a == b else [prefix or "(document)"]


def write_run(stage: Path, result, manifest: dict) -> None:
    """Write summary.json, yearly.csv and manifest.json of a run into ``stage``."""
    import csv
    import io as _io

    from simulate.metrics import yearly_rows

    write_json(stage / "summary.json", result.summary)
    rows = yearly_rows(result.summary)
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    write_text_atomic(stage / "yearly.csv", buffer.getvalue())
    write_json(stage / "manifest.json", manifest)


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("simulate", "numpy", "scipy", "pandas", "pydantic", "PyYAML", "click", "pyarrow"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def build_manifest(scenario, *, config_path: str | None, raw: bytes | None, options: dict) -> dict:
    import platform
    import sys
    from datetime import datetime, timezone

    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config_path": config_path,
        "config_sha256": hashlib.sha256(raw).hexdigest() if raw is not None else None,
        "config_text": raw.decode("utf-8") if raw is not None else None,
        "options": options,
        "resolved_scenario": scenario.model_dump(mode="json", by_alias=True, exclude_none=True),
        "versions": {**package_versions(), "python": sys.version.split()[0]},
        "platform": platform.platform(),
    }


class TrialWriter:
    """Append per-trial tables to a parquet file, in block order."""

    def __init__(self, path: Path):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ScenarioError(
                "--save-trials", "pyarrow is not installed", "pip install 'simulate[parquet]'"
            ) from None
        self.path, self.writer = path, None

    def __call__(self, block: int, table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        t = pa.Table.from_pandas(table, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, t.schema)
        self.writer.write_table(t)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
