"""Bad scenario files in bulk: random mutations of the shipped valid files, each guaranteed to be invalid.

Every case must give exit status 2 and one message naming the file and the place, in bounded time,
with no traceback, no file written and no code executed. The number of cases run is printed at the end
of the session (tests/conftest.py) and must be at least 500.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulate.cli import cli
from tests.conftest import SHIPPED, load

CASES = {"count": 0}
FREE_KEY_PARENTS = ("financing", "states", "cost_per_year_dkk", "initial_distribution", "transitions",
                    "saving_per_success_year_dkk", "success_residual_cost_per_year_dkk")
PROBABILITY_WORDS = ("probability", "fraction", "initial_distribution", "transitions")
DATA = {name: load(name) for name in SHIPPED}
MARKER = Path("/tmp/simulate-bulk-code-executed")


def leaves(node, path=()):
    """(path, value) of every scalar in a parsed YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, path + (i,))
    else:
        yield path, node


def mappings(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from mappings(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from mappings(v, path + (i,))


def get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def numeric_leaves(doc):
    return [p for p, v in leaves(doc) if isinstance(v, (int, float)) and not isinstance(v, bool)
            and "tolerance" not in p and p[-1] != "lambda"]


def is_probability(path) -> bool:
    text = ".".join(map(str, path))
    if "cost" in text or "saving" in text:
        return False
    return any(w in text for w in PROBABILITY_WORDS) or path[-1] in ("mean", "sd", "low", "high", "mode", "value") and \
        any(w in text for w in PROBABILITY_WORDS)


def is_money(path) -> bool:
    text = ".".join(map(str, path))
    return ("cost_per_year_dkk" in text or "saving_per_success_year_dkk" in text) and path[-1] in (
        "value", "low", "mode", "high") or (("cost_per_year_dkk" in text or "saving" in text)
                                            and isinstance(path[-1], str) and path[-1] not in ("kind", "source"))


@st.composite
def bad_documents(draw):
    """A (text or bytes) scenario file that is certainly invalid, and what kind of mutation made it."""
    name = draw(st.sampled_from(SHIPPED))
    doc = copy.deepcopy(DATA[name])
    kind = draw(st.sampled_from([
        "wrong_type", "nan_inf", "out_of_range", "huge", "missing_key", "unknown_key", "deep_nesting",
        "empty", "non_utf8", "alias_bomb", "python_tag", "duplicate_key", "negative_horizon", "bad_kind",
    ]))
    nums = numeric_leaves(doc)
    if kind == "wrong_type":
        path = draw(st.sampled_from(nums))
        get(doc, path[:-1])[path[-1]] = draw(st.sampled_from(["abc", "ti procent", [[1]], {"x": "abc"}, True, False]))
    elif kind == "nan_inf":
        path = draw(st.sampled_from(nums))
        get(doc, path[:-1])[path[-1]] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    elif kind == "out_of_range":
        probs = [p for p in nums if is_probability(p) and p[-1] not in ("sd",)]
        money = [p for p in nums if is_money(p)]
        choice = draw(st.sampled_from(["prob", "money"] if probs and money else (["prob"] if probs else ["money"])))
        if choice == "prob":
            path = draw(st.sampled_from(probs))
            value = draw(st.one_of(st.floats(1.0001, 1e6), st.floats(-1e6, -0.0001)))
        else:
            path = draw(st.sampled_from(money))
            value = draw(st.floats(-1e9, -0.01))
        get(doc, path[:-1])[path[-1]] = value
    elif kind == "huge":
        money = [p for p in nums if is_money(p)] or nums
        path = draw(st.sampled_from(money))
        get(doc, path[:-1])[path[-1]] = draw(st.sampled_from([1e13, 1e300, 10**400, -10**30]))
    elif kind == "missing_key":
        path = draw(st.sampled_from([("name",), ("intake_per_year",), ("programme",), ("participants",),
                                     ("counterfactual",), ("programme", "cost_per_year_dkk"),
                                     ("participants", "success_probability")]))
        del get(doc, path[:-1])[path[-1]]
    elif kind == "unknown_key":
        spots = [p for p, m in mappings(doc) if not p or p[-1] not in FREE_KEY_PARENTS]
        path = draw(st.sampled_from(spots))
        key = draw(st.sampled_from(["sucess", "horizon", "zzz", "Programme", "cost", "kind2"]))
        target = get(doc, path)
        if key in target:
            key = key + "_x"
        target[key] = "not a number"
    elif kind == "deep_nesting":
        path = draw(st.sampled_from(nums))
        value = get(doc, path)
        for _ in range(draw(st.integers(45, 200))):
            value = [value] if draw(st.booleans()) else {"kind": value}
        get(doc, path[:-1])[path[-1]] = value
    elif kind == "negative_horizon":
        doc["horizon_years"] = draw(st.sampled_from([0, -1, 101, 2.5, "ten"]))
    elif kind == "bad_kind":
        doc["participants"]["success_probability"] = {"kind": draw(st.sampled_from(["gamma", "Beta", "", "uniform"])),
                                                      "mean": 0.5, "sd": 0.1}
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    if kind == "empty":
        return draw(st.sampled_from(["", "\n", "# only a comment\n", "---\n", "null\n", "[]\n", "42\n"])).encode(), kind
    if kind == "non_utf8":
        data = text.encode("utf-8")
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.sampled_from([b"\xff", b"\xc3(", b"\xe6\xf8\xe5", b"\x80\x80"])) + data[at:], kind
    if kind == "alias_bomb":
        bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(9))
        return (bomb + text).encode(), kind
    if kind == "python_tag":
        tag = draw(st.sampled_from([
            f"!!python/object/apply:os.system ['touch {MARKER}']",
            f"!!python/object/apply:subprocess.call [['touch', '{MARKER}']]",
            "!!python/name:os.system",
            "!!python/object/new:int [5]",
        ]))
        return text.replace("name: ", f"name: {tag}\nunused_: ", 1).encode(), kind
    if kind == "duplicate_key":
        return (text + "horizon_years: 10\nhorizon_years: 11\n").encode(), kind
    return text.encode("utf-8"), kind


@settings(max_examples=520, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=bad_documents())
def test_every_bad_file_gets_exit_2_and_one_clear_message(tmp_path_factory, case):
    content, kind = case
    folder = tmp_path_factory.mktemp("bad")
    config = folder / "scenario.yaml"
    config.write_bytes(content)
    out = folder / "out"
    runner = CliRunner()
    for args in (["validate", str(config)], ["run", str(config), "--trials", "50", "--out", str(out)]):
        start = time.perf_counter()
        result = runner.invoke(cli, args)
        elapsed = time.perf_counter() - start
        assert result.exit_code == 2, (kind, result.output, result.exception)
        assert elapsed < 5, (kind, elapsed)
        message = result.output
        assert message.startswith("Error: ") and "Traceback" not in message, (kind, message)
        assert str(config) in message, (kind, message)
        assert " got " in message and "expected" in message, (kind, message)
    assert not out.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["scenario.yaml"]
    assert not MARKER.exists()
    CASES["count"] += 1


def test_bulk_case_count_is_reported():
    """Runs after the bulk test in file order; the count is also printed at the end of the session."""
    if CASES["count"]:
        assert CASES["count"] >= 500  # scenario files; sweep files add 150 more


# --- sweep files --------------------------------------------------------------------------------------------
BASE = str((Path(__file__).resolve().parents[1] / "configs" / "naerbolig.yaml"))
GOOD_SWEEP = {"name": "bulk", "base": BASE, "trials": 200,
              "design": {"grid": {"participants.success_probability": [0.4, 0.6],
                                  "programme.cost_overrun": [1.0, 1.2]}}}


@st.composite
def bad_sweeps(draw):
    doc = copy.deepcopy(GOOD_SWEEP)
    kind = draw(st.sampled_from([
        "typo_path", "out_of_range", "negative_cost", "empty_design", "empty_values", "trials", "unknown_key",
        "missing_base", "no_base_file", "design_kind", "lhs_bad", "alias_bomb", "python_tag", "non_utf8",
        "empty", "wrong_type_value", "deep_nesting",
    ]))
    grid = doc["design"]["grid"]
    if kind == "typo_path":
        grid[draw(st.sampled_from(["participants.succes_probability", "programme.cost_overrrun",
                                   "participant.success_probability", "participants.effect.relapse"]))] = [0.5]
    elif kind == "out_of_range":
        grid["participants.success_probability"] = [0.5, draw(st.sampled_from([1.5, -0.1, 7]))]
    elif kind == "negative_cost":
        grid["programme.cost_per_year_dkk"] = [draw(st.floats(-1e9, -0.01))]
    elif kind == "empty_design":
        doc["design"] = draw(st.sampled_from([{}, {"grid": {}}, {"list": []}, None]))
    elif kind == "empty_values":
        grid["participants.success_probability"] = []
    elif kind == "trials":
        doc["trials"] = draw(st.sampled_from([0, -5, "many", 1.5, True, 10**12]))
    elif kind == "unknown_key":
        doc[draw(st.sampled_from(["trails", "desing", "workers", "zzz"]))] = "not a number"
    elif kind == "missing_base":
        del doc["base"]
    elif kind == "no_base_file":
        doc["base"] = "/nonexistent/scenario.yaml"
    elif kind == "design_kind":
        doc["design"] = {draw(st.sampled_from(["grids", "random", "cartesian"])): {"x": [1]}}
    elif kind == "lhs_bad":
        doc["design"] = {"latin_hypercube": {"n": draw(st.sampled_from([0, -1, "ten"])), "seed": 1,
                                             "ranges": {"participants.success_probability": [0.3, 0.6]}}}
    elif kind == "wrong_type_value":
        grid["programme.cost_overrun"] = [draw(st.sampled_from(["high", {"kind": "gamma"}, [[1]]]))]
    elif kind == "deep_nesting":
        value = 0.5
        for _ in range(draw(st.integers(45, 120))):
            value = [value]
        grid["participants.success_probability"] = value
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    if kind == "alias_bomb":
        return ("a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n"
                + text).encode(), kind
    if kind == "python_tag":
        return text.replace("name: ", f"name: !!python/object/apply:os.system ['touch {MARKER}']\nx_: ", 1).encode(), kind
    if kind == "non_utf8":
        data = text.encode()
        at = draw(st.integers(0, len(data)))
        return data[:at] + b"\xff\xfe" + data[at:], kind
    if kind == "empty":
        return draw(st.sampled_from([b"", b"# nothing\n", b"[]\n"])), kind
    return text.encode(), kind


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=bad_sweeps())
def test_every_bad_sweep_file_gets_exit_2_and_one_clear_message(tmp_path_factory, case):
    content, kind = case
    folder = tmp_path_factory.mktemp("badsweep")
    sweep = folder / "sweep.yaml"
    sweep.write_bytes(content)
    out = folder / "out"
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["sweep", str(sweep), "--out", str(out)])
    assert time.perf_counter() - start < 10, kind
    assert result.exit_code == 2, (kind, result.output, result.exception)
    message = result.output
    assert "Error: " in message and "Traceback" not in message, (kind, message)
    assert "sweep.yaml" in message or "scenario.yaml" in message, (kind, message)
    assert not out.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["sweep.yaml"]
    assert not MARKER.exists()
    CASES["count"] += 1
