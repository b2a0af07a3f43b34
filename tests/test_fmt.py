import pytest

from simulate.fmt import money, money_m, number, percent


def test_danish_money():
    assert money(4_329_630) == "4.329.630 kr."
    assert money(-507_523.4) == "-507.523 kr."
    assert money(0.4) == "0 kr."


def test_english_money():
    assert money(4_329_630, "en") == "DKK 4,329,630"
    assert money(-507_523.4, "en") == "-DKK 507,523"


def test_percent_and_numbers():
    assert percent(0.07) == "7,0 %" and percent(0.07, "en") == "7.0%"
    assert number(1234.5678, "da", 2) == "1.234,57" and number(1234.5678, "en", 2) == "1,234.57"
    assert money_m(28_407_100) == "28,4 mio. kr." and money_m(28_407_100, "en") == "DKK 28.4m"
    assert money(None) == "-" and percent(float("nan")) == "-"


@pytest.mark.parametrize(("english", "danish"), [
    ("the precision 0.005 was not reached within 1,000,000 trials",
     "præcisionen 0,005 blev ikke nået inden for 1.000.000 simuleringer"),
    ("state has no programme cost in year 1: ROI is undefined (shown as null)",
     "staten har ingen udgift til programmet i år 1: ROI er ikke defineret (vises som null)"),
    ("housing_association pays nothing for the programme within the horizon",
     "boligselskabet betaler intet til programmet inden for horisonten"),
    ("municipality has no savings within the horizon of 10 years",
     "kommunen har ingen besparelser inden for horisonten på 10 år"),
    ("x.a and x.b have rank correlation -1: they move in lockstep", "x.a og x.b har rangkorrelation -1: de følges"),
    ("participants.success_probability is fixed at 0.65 in the scenario: not updated by 6 of 10",
     "Succesrate blandt dem, der gennemfører (participants.success_probability) er fast på 0,65 i scenariet: "
     "opdateres ikke af 6 af 10"),
    ("participants.dropout_probability is fixed at 1e-05 in the scenario: not updated by 0 of 0",
     "Frafald (participants.dropout_probability) er fast på 0,00001"),  # no exponent form
    ("intake is 0 in every year: nobody enters the programme, so there are no savings", "optaget er 0 i alle år"),
])
def test_warnings_in_danish(english, danish):
    """summary.json keeps English warnings; a Danish reader gets Danish words, payer names and numbers."""
    from simulate.labels import warning_text

    assert warning_text(english, "da").startswith(danish)
    assert warning_text(english, "en") == english


def test_every_warning_the_code_writes_has_a_danish_form():
    """Each warning the source appends has a Danish pattern (a new warning needs its Danish): every f-string
    placeholder filled with a number, or with a field path."""
    import ast
    import re
    from pathlib import Path

    from simulate.labels import WARNINGS_DA

    root = Path(__file__).resolve().parents[1] / "simulate"
    templates = []
    for name in ("api.py", "update.py"):
        for node in ast.walk(ast.parse((root / name).read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in ("out", "warnings")):
                arg = node.args[0]
                if not (isinstance(arg, ast.JoinedStr) or (isinstance(arg, ast.Constant) and isinstance(arg.value, str))):
                    continue  # a list of something else
                parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
                templates.append([p.value if isinstance(p, ast.Constant) else None for p in parts])
    assert len(templates) >= 15
    for parts in templates:
        fills = [["7" if p is None else p for p in parts], ["x.y" if p is None else p for p in parts],
                 ["municipality" if p is None else p for p in parts]]
        english = ["".join(f) for f in fills]
        assert any(re.fullmatch(p, e) for p, _ in WARNINGS_DA for e in english), english[0]


@pytest.mark.parametrize(("spec", "english", "danish"), [
    ({"kind": "fixed", "value": 1_632_600}, "1632600", "1.632.600"),
    ({"kind": "fixed", "value": 4_653_846.153846}, "4653846.15", "4.653.846,15"),  # in full, not 4.65385e+06
    ({"kind": "fixed", "value": 12_345_678}, "12345678", "12.345.678"),
    ({"kind": "fixed", "value": 0.00001}, "0.00001", "0,00001"),
    ({"kind": "fixed", "value": 0}, "0", "0"),
    ({"kind": "pert", "low": 0.95, "mode": 1, "high": 1.4}, "PERT(0.95, 1, 1.4)", "PERT(0,95; 1; 1,4)"),
    ({"kind": "uniform", "low": -0.5, "high": 12_345.25}, "uniform(-0.5, 12345.2)", "ligefordeling(-0,5; 12.345,2)"),
])
def test_distribution_labels_in_each_language(spec, english, danish):
    """Parameters as a reader writes them: never in exponent form; Danish with decimal commas, thousands points
    and semicolons between the parameters (a comma would be ambiguous)."""
    from pydantic import TypeAdapter

    from simulate.distributions import Distribution
    from simulate.labels import distribution_label

    dist = TypeAdapter(Distribution).validate_python(spec)
    assert dist.label() == english
    assert distribution_label(dist.label(), "da") == danish and distribution_label(english, "en") == english
