"""`standardiste doctor` on a fresh data dir: it names what is missing in plain French, and never crashes."""

import tomllib
from importlib import resources

from standardiste.cli.doctor import Level, check_secrets, diagnose
from standardiste.config import load_or_create_secrets, parse_config


def config_in(tmp_path):
    data = tomllib.loads(resources.files("standardiste.data").joinpath("demo.toml").read_text("utf-8"))
    data["deployment"]["data_dir"] = str(tmp_path)
    data["deployment"]["redis"] = {"url": "redis://127.0.0.1:1/0"}  # nothing listens on port 1
    data["deployment"]["dashboard"] = {"port": 1}
    return parse_config(data)


def test_fresh_install_has_warnings_not_crashes(tmp_path):
    findings = {f.check: f for f in diagnose(config_in(tmp_path))}
    assert findings["secrets"].level is Level.WARNING
    assert findings["redis"].level is Level.WARNING and "rien n'est perdu" in findings["redis"].message
    assert findings["base de données"].level is Level.OK
    assert findings["compréhension"].level is Level.OK
    assert findings["synthèse vocale"].level is Level.OK
    assert "reconnaissance vocale" in findings


def test_secrets_readable_by_others_is_a_problem(tmp_path):
    config = config_in(tmp_path)
    load_or_create_secrets(tmp_path)
    assert check_secrets(config).level is Level.OK
    (tmp_path / "secrets.toml").chmod(0o644)
    finding = check_secrets(config)
    assert finding.level is Level.PROBLEM and "chmod 600" in finding.message
