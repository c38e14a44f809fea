import numpy as np

from trafficatlas.enrich.countries import (
    COUNTRY_NAMES,
    country_flag,
    country_name,
    decode_countries,
    decode_country,
    encode_country,
)


def test_round_trip_every_code() -> None:
    for code in COUNTRY_NAMES:
        assert decode_country(encode_country(code)) == code


def test_unknowns() -> None:
    assert encode_country(None) == 0
    assert encode_country("") == 0
    assert encode_country("ZZ") == 0
    assert encode_country("USA") == 0
    assert decode_country(0) is None
    assert country_name("XX") is None
    assert country_flag("AP") is None
    assert country_flag(None) is None


def test_names_and_flags() -> None:
    assert country_name("ch") == "Switzerland"
    assert country_name("US") == "United States"
    assert country_flag("CH") == "\U0001f1e8\U0001f1ed"
    assert country_flag("eu") == "\U0001f1ea\U0001f1fa"


def test_decode_column() -> None:
    col = np.array([encode_country("US"), 0, encode_country("AU"), encode_country("US")], np.uint16)
    assert decode_countries(col) == ["US", None, "AU", "US"]
