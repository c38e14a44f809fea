from pathlib import Path

import pytest

from trafficatlas.errors import ConfigError
from trafficatlas.settings import load_settings

EXAMPLE = Path(__file__).parents[2] / "conf" / "trafficatlas.example.toml"


def test_defaults_without_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAFFICATLAS_CONFIG", raising=False)
    s = load_settings()
    assert s.geoip.use_bundled is True
    assert s.log.level == "info"


def test_reference_config_loads_and_matches_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAFFICATLAS_CONFIG", raising=False)
    assert load_settings(EXAMPLE).model_dump() == load_settings().model_dump()


def test_precedence_defaults_toml_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[log]\nlevel = "debug"\nformat = "json"\n[geoip]\nuse_bundled = false\n')
    monkeypatch.setenv("TRAFFICATLAS_LOG__LEVEL", "error")
    s = load_settings(cfg)
    assert s.log.level == "error"  # env beats file
    assert s.log.format == "json"  # file beats default
    assert s.geoip.use_bundled is False


def test_config_env_var_names_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[geoip]\nlookup_reserved = ["192.0.2.0/24"]\n')
    monkeypatch.setenv("TRAFFICATLAS_CONFIG", str(cfg))
    assert load_settings().geoip.lookup_reserved == ["192.0.2.0/24"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[geoip]\nbogus = 1\n", "geoip.bogus"),
        ('[log]\nlevel = "loud"\n', "log.level"),
        ('[geoip]\nlookup_reserved = ["not-a-net"]\n', "not a CIDR"),
        ("[geoip\n", "not valid TOML"),
        ("[geoip]\nreload_check_s = -1\n", "geoip.reload_check_s"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg)
    assert needle in str(exc.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="directory"):
        load_settings(tmp_path)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError):
        load_settings(binary)
