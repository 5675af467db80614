"""`standardiste agenda check|holidays|slots` on the demo practice and on a broken configuration."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from standardiste.cli.main import main


def _config(tmp_path: Path, extra: str = "") -> Path:
    text = resources.files("standardiste.data").joinpath("demo.toml").read_text(encoding="utf-8")
    text = text.replace('data_dir = "var/demo"', f'data_dir = "{tmp_path / "data"}"')
    path = tmp_path / "cabinet.toml"
    path.write_text(text.replace("[practice.booking]", extra + "\n[practice.booking]"), encoding="utf-8")
    return path


def test_check_holidays_slots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(_config(tmp_path))
    assert main(["agenda", "--config", cfg, "check"]) == 0
    assert "configuration correcte" in capsys.readouterr().out
    assert main(["agenda", "--config", cfg, "holidays", "2026"]) == 0
    assert "lundi 25/05/2026  lundi de Pentecôte" in capsys.readouterr().out
    assert main(["agenda", "--config", cfg, "slots", "--praticien", "lefevre", "--type", "pediatrie"]) == 0
    out = capsys.readouterr().out
    assert "Docteur Sophie Lefèvre" in out and out.count("\n") == 3
    assert main(["agenda", "--config", cfg, "slots", "--jour", "2026-02-31"]) == 2
    assert "impossible" in capsys.readouterr().out
    assert main(["agenda", "--config", cfg, "slots", "--praticien", "house"]) == 2
    assert "inconnu" in capsys.readouterr().out


def test_check_reports_a_bad_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = '[[practice.appointment_types]]\nid = "bilan"\nlabel = "bilan"\nminutes = 17\n'
    assert main(["agenda", "--config", str(_config(tmp_path, extra)), "check"]) == 2
    out = capsys.readouterr().out
    assert "PROBLÈME" in out and "bilan" in out
