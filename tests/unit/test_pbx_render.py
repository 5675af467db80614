"""Rendering an Asterisk instance's configuration (no Asterisk process needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from standardiste.config import AsteriskConfig, Secrets
from standardiste.pbx import PbxError, PbxInstance, free_asterisk_config
from standardiste.pbx.instance import templates_dir

SECRETS = Secrets(ari_password="ari-secret-1", ami_secret="ami-secret-1", encryption_key="k", session_key="s")


def _instance(tmp_path: Path, **asterisk: object) -> PbxInstance:
    root = tmp_path / "root"
    (root / "usr/share/asterisk/sounds/fr_CA_f_June").mkdir(parents=True)
    return PbxInstance(root, root / "instances" / "one", AsteriskConfig.model_validate(asterisk), SECRETS)


def test_render_fills_every_placeholder(tmp_path: Path) -> None:
    pbx = _instance(tmp_path, sip_port=5070, http_port=8090, ami_port=5040, app_name="cabinet")
    pbx.render()
    etc = pbx.instance_dir / "etc"
    for template in templates_dir().glob("*.conf"):
        text = (etc / template.name).read_text()
        assert "@@" not in text, template.name
    conf = (etc / "asterisk.conf").read_text()
    assert "astetcdir => /instances/one/etc" in conf and "[directories](!)" not in conf
    assert "bind = 127.0.0.1:5070" in (etc / "pjsip.conf").read_text()
    assert "STANDARDISTE_APP = cabinet" in (etc / "extensions.conf").read_text()
    assert "password = ari-secret-1" in (etc / "ari.conf").read_text()
    assert "secret = ami-secret-1" in (etc / "manager.conf").read_text()
    assert oct((etc / "ari.conf").stat().st_mode & 0o777) == "0o600"
    # French prompts are reachable as language "fr".
    assert (pbx.instance_dir / "share/sounds/fr").is_symlink()


def test_phone_passwords_are_random_and_kept(tmp_path: Path) -> None:
    pbx = _instance(tmp_path)
    pbx.render()
    first = pbx.phone("reception").password
    pbx.render()
    assert pbx.phone("reception").password == first
    passwords = json.loads((pbx.instance_dir / "phones.json").read_text())
    assert set(passwords) == {
        "reception",
        "caller1",
        "caller2",
        "caller3",
        "caller4",
        "patient1",
        "patient2",
        "patient3",
    }
    assert len(set(passwords.values())) == len(passwords)
    pjsip = (pbx.instance_dir / "etc/pjsip.conf").read_text()
    for name, password in passwords.items():
        assert re.search(
            rf"\[{name}\]\(phone-auth\)\nusername = {name}\npassword = {re.escape(password)}", pjsip
        )
    with pytest.raises(KeyError):
        pbx.phone("nobody")


def test_ari_and_ami_stay_on_loopback_when_sip_faces_the_lan(tmp_path: Path) -> None:
    pbx = _instance(tmp_path, bind="0.0.0.0")
    pbx.render()
    assert "bindaddr = 127.0.0.1" in (pbx.instance_dir / "etc/http.conf").read_text()
    assert "bindaddr = 127.0.0.1" in (pbx.instance_dir / "etc/manager.conf").read_text()
    assert "bind = 0.0.0.0:" in (pbx.instance_dir / "etc/pjsip.conf").read_text()
    assert pbx.ari_url.startswith("http://127.0.0.1:")
    assert pbx.phone("caller1").host == "127.0.0.1"


def test_instance_dir_must_be_inside_the_root(tmp_path: Path) -> None:
    with pytest.raises(PbxError, match="inside the Asterisk root"):
        PbxInstance(tmp_path / "root", tmp_path / "elsewhere", AsteriskConfig(), SECRETS)


def test_unknown_placeholder_is_reported(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "x.conf").write_text("value = @@NOPE@@\n")
    root = tmp_path / "root"
    pbx = PbxInstance(root, root / "i", AsteriskConfig(), SECRETS, templates=templates)
    with pytest.raises(PbxError, match="NOPE"):
        pbx.render()


def test_free_config_ports_differ() -> None:
    a, b = free_asterisk_config(), free_asterisk_config()
    assert len({a.sip_port, a.http_port, a.ami_port}) == 3
    assert (a.sip_port, a.http_port) != (b.sip_port, b.http_port)
    assert a.rtp_end > a.rtp_start


def test_status_of_a_never_started_instance(tmp_path: Path) -> None:
    pbx = _instance(tmp_path)
    status = pbx.status()
    assert not status.running and "ne tourne pas" in status.describe()
