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
