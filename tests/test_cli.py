"""The command line in-process: outputs, formats, refusals and bad input."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from simulate.cli import cli
from simulate.fmt import money
from tests.conftest import CONFIGS, SHIPPED, load, write_yaml

BROCHURE = str(CONFIGS / "naerbolig_brochure.yaml")
DEFAULT = str(CONFIGS / "naerbolig.yaml")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("command", [[], ["run"], ["validate"], ["describe"], ["portfolio"]])
def test_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.output
    if command:
        assert "Example:" in result.output


def test_run_writes_summary_yearly_and_manifest(tmp_path):
    out = tmp_path / "run"
    result = invoke("run", DEFAULT, "--trials", 20_000, "--seed", 3, "--out", out, "--save-trials")
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"summary.json", "yearly.csv", "manifest.json", "trials.parquet"}
    summary = json.loads((out / "summary.json").read_text())
    for key in ("trials", "seed", "mode", "accounting", "payer", "horizon_years", "years", "discounted",
                "roi_year1", "payback_year", "expected_shortfall_5", "claims"):
        assert key in summary
    assert summary["trials"] == 20_000 and summary["seed"] == 3 and summary["payer"] == "municipality"
    year = summary["years"][0]
    assert set(year["cumulative_net"]) >= {"mean", "sd", "mean_se", "p5", "p25", "p50", "p75", "p95"}
    assert set(year["p_break_even"]) == {"value", "se"}
    assert len(summary["discounted"]["years"]) == summary["horizon_years"] == 10
    c = year["cumulative_net"]
    assert c["p5"] <= c["p25"] <= c["p50"] <= c["p75"] <= c["p95"]
    assert c["mean_se"] == pytest.approx(c["sd"] / math.sqrt(20_000), rel=1e-3)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["seed"] == 3 and len(manifest["config_sha256"]) == 64
    assert manifest["resolved_scenario"]["name"].startswith("NærBolig")
    import pandas as pd

    yearly = pd.read_csv(out / "yearly.csv")
    assert len(yearly) == 10 * len(summary["payers"]) * 2
    trials = pd.read_parquet(out / "trials.parquet")
    assert len(trials) == 20_000 and trials["trial"].is_unique
    assert trials["cumulative_net_y10"].mean() == pytest.approx(summary["years"][9]["cumulative_net"]["mean"])
    assert "Nettoresultat 3 år" in result.output and " kr." in result.output


def test_json_prints_the_summary(tmp_path):
    result = invoke("run", BROCHURE, "--mode", "expected", "--out", tmp_path / "o", "--json")
    doc = json.loads(result.output)
    assert doc["mode"] == "expected" and doc["years"][2]["cumulative_net"]["mean"] == pytest.approx(4_329_630)
    assert doc == json.loads((tmp_path / "o" / "summary.json").read_text())


def test_danish_and_english_tables(tmp_path):
    da = invoke("run", BROCHURE, "--mode", "expected", "--out", tmp_path / "da")
    en = invoke("run", BROCHURE, "--mode", "expected", "--out", tmp_path / "en", "--lang", "en")
    assert "4.329.630 kr." in da.output and "7,0 %" in da.output
    assert "DKK 4,329,630" in en.output and "7.0%" in en.output


def test_a_point_estimate_is_not_shown_as_a_probability(tmp_path):
    """Expected mode has one outcome: the screen gives the yearly figures and says it hides the risk, with no
    P(≥ 0), percentiles or shortfall that would read as 0 % or 100 % certainty."""
    da = invoke("run", DEFAULT, "--mode", "expected", "--out", tmp_path / "da")
    en = invoke("run", DEFAULT, "--mode", "expected", "--out", tmp_path / "en", "--lang", "en")
    assert da.exit_code == 0 and en.exit_code == 0, da.output + en.output
    summary = json.loads((tmp_path / "da" / "summary.json").read_text())
    net = summary["years"][-1]["cumulative_net"]["mean"]
    for out in (da.output, en.output):
        assert "P(≥ 0)" not in out and "P5" not in out and "P(nået)" not in out and "P(reached)" not in out
    verb = "tjent" if net >= 0 else "ikke tjent"
    assert f"I punktestimatet har kommunen {verb} investeringen hjem efter 10 år (akkumuleret nettoresultat " \
           f"{money(net)})." in da.output
    assert "Et punktestimat viser ikke risikoen" in da.output and "A point estimate hides the risk" in en.output
    row3 = next(line for line in da.output.splitlines() if line.strip().startswith("3 "))
    year3 = summary["years"][2]
    assert row3.split() == ["3", *money(year3["savings_mean"]).split(), *money(year3["cost_mean"]).split(),
                            *money(year3["cumulative_net"]["mean"]).split()]
    mc = invoke("run", DEFAULT, "--trials", 2000, "--out", tmp_path / "mc")
    assert "Sandsynligheden for, at kommunen har tjent investeringen hjem efter 10 år" in mc.output


def test_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "o"
    assert invoke("run", BROCHURE, "--mode", "expected", "--out", out).exit_code == 0
    before = (out / "summary.json").read_bytes()
    again = invoke("run", BROCHURE, "--out", out, "--trials", 100)
    assert again.exit_code == 2 and "--force" in again.output
    assert (out / "summary.json").read_bytes() == before
    forced = invoke("run", BROCHURE, "--out", out, "--trials", 100, "--force")
    assert forced.exit_code == 0 and (out / "summary.json").read_bytes() != before
    assert [p.name for p in tmp_path.iterdir()] == ["o"]  # no staging directories left behind


def test_output_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("keep")
    result = invoke("run", BROCHURE, "--out", target, "--force")
    assert result.exit_code == 2 and "not an existing file" in result.output
    assert target.read_text() == "keep"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_validate(name):
    result = invoke("validate", CONFIGS / name)
    assert result.exit_code == 0 and ": gyldig (" in result.output and " år, " in result.output
    en = invoke("validate", CONFIGS / name, "--lang", "en")
    assert en.exit_code == 0 and ": valid (" in en.output and " years, " in en.output


def test_describe_lists_every_assumption_with_quantiles_and_source():
    result = invoke("describe", DEFAULT, "--lang", "en")
    assert result.exit_code == 0
    assert "participants.success_probability" in result.output
    assert "P5" in result.output and "P95" in result.output
    assert "Source:" in result.output and "Green Book" in result.output


# --- bad input -----------------------------------------------------------------------------------------------
def mutate(data: dict, path: str, value):
    node = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    if value is KeyError:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


BAD = [
    ("participants.success_probability", 1.5, "participants.success_probability", "probability"),
    ("participants.dropout_probability", {"kind": "beta", "mean": 0.5, "sd": 0.9}, "participants.dropout_probability", "sd"),
    ("programme.cost_per_year_dkk", -5, "programme.cost_per_year_dkk", "amount from 0"),
    ("programme.cost_per_year_dkk", 1e300, "programme.cost_per_year_dkk", "amount from 0"),
    ("programme.cost_overrun", {"kind": "lognormal", "mu": 0, "sigma": 9}, "programme.cost_overrun", "factor from 0 to 100"),
    ("programme.financing", {"municipality": 0.4}, "programme.financing", "add up to 1"),
    ("participants.succes_probability", 0.5, "participants.succes_probability", "success_probability"),
    ("participants.success_probability", KeyError, "participants.success_probability", "required"),
    ("horizon_years", 0, "horizon_years", "greater than or equal to 1"),
    ("participants.success_probability", {"kind": "normal", "mean": 0.5, "sd": 0.1}, "participants.success_probability", "truncate"),
    ("participants.success_probability", {"kind": "triangle", "low": 0, "mode": 0.5, "high": 1}, "participants.success_probability", "kind"),
    ("counterfactual.transitions.passive_support.homless", 0.1, "counterfactual", "homeless"),
]


@pytest.mark.parametrize(("path", "value", "where", "hint"), BAD, ids=[b[0] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_scenario_gives_one_clear_message(tmp_path, path, value, where, hint):
    data = mutate(load("naerbolig.yaml"), path, value)
    config = write_yaml(tmp_path / "bad.yaml", data)
    out = tmp_path / "out"
    result = invoke("run", config, "--out", out)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert str(config) in result.output and where in result.output and hint in result.output
    assert not out.exists()
    assert invoke("validate", config).exit_code == 2


def test_non_psd_correlations_are_refused(tmp_path):
    data = load("naerbolig.yaml")
    a, b, c = ("participants.success_probability", "participants.dropout_probability", "programme.cost_overrun")
    data["correlations"] = [
        {"between": [a, b], "rank_correlation": 0.9},
        {"between": [b, c], "rank_correlation": 0.9},
        {"between": [a, c], "rank_correlation": -0.9},
    ]
    result = invoke("validate", write_yaml(tmp_path / "c.yaml", data))
    assert result.exit_code == 2 and "positive semi-definite" in result.output


def test_an_unknown_distribution_kind_names_the_kinds_and_the_nearest(tmp_path):
    data = load("naerbolig.yaml")
    data["programme"]["cost_overrun"]["kind"] = "perty"
    result = invoke("validate", write_yaml(tmp_path / "c.yaml", data))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "programme.cost_overrun" in result.output and "'perty'" in result.output
    assert "expected a known kind (did you mean 'pert'?): one of fixed, uniform, triangular, pert," in result.output
    assert "Input tag" not in result.output  # no validation library wording


@pytest.mark.parametrize("text, hint", [
    ("name: [unclosed", "line"),
    ("", "empty file"),
    ("- just\n- a list\n", "mapping"),
    ("a: &x [1]\nb: *x\n", "aliases"),
    ("name: !!python/object/apply:os.system ['echo hi']\n", "line 1"),
    ("name: a\nname: b\n", "duplicate key"),
])
def test_unparseable_files_are_refused(tmp_path, text, hint):
    config = tmp_path / "x.yaml"
    config.write_text(text)
    result = invoke("run", config, "--out", tmp_path / "out")
    assert result.exit_code == 2 and hint in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_non_utf8_file_is_refused(tmp_path):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("name: NærBolig\n".encode("latin-1"))
    result = invoke("validate", config)
    assert result.exit_code == 2 and "UTF-8" in result.output


@pytest.mark.parametrize("args, hint", [
    (["--trials", "0"], "--trials"),
    (["--payer", "kommune"], "municipality"),
    (["--seed", "-1"], "--seed"),
    (["--mode", "fast"], "mode"),
])
def test_bad_flags_are_refused(tmp_path, args, hint):
    result = invoke("run", DEFAULT, "--out", tmp_path / "o", *args)
    assert result.exit_code == 2 and hint in result.output
    assert not (tmp_path / "o").exists()


def test_missing_file(tmp_path):
    result = invoke("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "nope.yaml" in result.output


@pytest.mark.parametrize("name", ["staten", "Staten", "the state", "state"])
def test_payer_by_the_name_the_output_shows(tmp_path, name):
    """--payer takes the key or the name a Danish or English reader sees; the summary records the key."""
    result = invoke("run", DEFAULT, "--trials", 500, "--payer", name, "--out", tmp_path / "o", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["payer"] == "state"


@pytest.mark.parametrize(("value", "hint"), [
    ("0,035", "write numbers with a decimal point: 0.035"),
    ("3,5 %", "write a share as a decimal number with a point: 0.035"),
    ("1.632.600,50", "write numbers with a decimal point: 1632600.50"),
])
def test_a_danish_decimal_comma_gets_a_hint(tmp_path, value, hint):
    data = load("naerbolig.yaml")
    data["discounting"]["rate"] = value
    result = invoke("validate", write_yaml(tmp_path / "c.yaml", data))
    assert result.exit_code == 2 and "discounting.rate" in result.output and hint in result.output


@pytest.mark.parametrize("command", [["portfolio"], ["sweep"]])
def test_a_scenario_file_where_another_file_belongs_is_named_as_such(tmp_path, command):
    result = invoke(*command, DEFAULT, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "got 'a scenario file'" in result.output and "goes to the commands that take CONFIG" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("args", "name"), [
    (["run", "nope.yaml"], "CONFIG"), (["validate", "nope.yaml"], "CONFIG"),
    (["update", DEFAULT, "--observed", "nope.yaml"], "--observed"), (["portfolio", "nope.yaml"], "PORTFOLIO_FILE"),
    (["sweep", "nope.yaml"], "SWEEPFILE"), (["breakeven", "nope.yaml", "--param", "programme.cost_overrun"], "CONFIG"),
])
def test_a_missing_file_is_named_as_the_command_line_names_it(tmp_path, args, name):
    result = invoke(*args, "--out", tmp_path / "o") if args[0] != "validate" else invoke(*args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{name}: got 'nope.yaml'; expected an existing YAML file (no such file)" in result.output
