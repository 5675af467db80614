import tomllib
from importlib import resources
from pathlib import Path

import pytest

from standardiste.config import ConfigError, load_config, load_or_create_secrets, parse_config


def demo_data() -> dict:
    return tomllib.loads(resources.files("standardiste.data").joinpath("demo.toml").read_text("utf-8"))


def test_demo_practice_loads(demo_config):
    practice = demo_config.practice
    assert practice.name == "Cabinet médical des Tilleuls"
    assert [p.id for p in practice.practitioners] == ["martin", "benali", "lefevre"]
    assert practice.hours.sunday == []
    assert str(practice.hours.saturday[0]) == "09:00-12:00"


def test_unknown_key_is_named():
    data = demo_data()
    data["practice"]["hourz"] = {}
    with pytest.raises(ConfigError, match=r"practice\.hourz: clé inconnue / unknown key"):
        parse_config(data)


def test_overlapping_hours_are_refused():
    data = demo_data()
    data["practice"]["hours"]["monday"] = ["08:30-12:30", "12:00-19:00"]
    with pytest.raises(ConfigError, match=r"practice\.hours\.monday: plages qui se chevauchent"):
        parse_config(data)


def test_unknown_practitioner_in_type_is_refused():
    data = demo_data()
    data["practice"]["appointment_types"][0]["practitioners"] = ["dupont"]
    with pytest.raises(ConfigError, match="unknown practitioner 'dupont'"):
        parse_config(data)


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="fichier illisible / cannot read file"):
        load_config(tmp_path / "absent.toml")


def test_secrets_are_generated_once_and_private(tmp_path: Path):
    first = load_or_create_secrets(tmp_path)
    second = load_or_create_secrets(tmp_path)
    assert first == second
    assert len(first.ari_password) >= 24
    assert (tmp_path / "secrets.toml").stat().st_mode & 0o777 == 0o600
    assert load_or_create_secrets(tmp_path / "other") != first
