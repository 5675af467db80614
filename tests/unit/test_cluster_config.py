"""A node's role is validated at start, and Kamailio's configuration is rendered from it (docs/scale.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from standardiste.cluster.kamailio import (
    check_config,
    dispatcher_list,
    parse_dispatcher_list,
    render_config,
    write_config,
)
from standardiste.config import ConfigError, EdgeConfig, load_config, parse_config
from tests.fixtures.parts import require_part

NODES = [
    {"name": "node1", "address": "10.77.0.11"},
    {"name": "node2", "address": "10.77.0.12"},
    {"name": "node3", "address": "10.77.0.13", "sip_port": 5070},
]


def _config(deployment: dict[str, object]) -> dict[str, object]:
    demo = load_config()
    return {"practice": demo.practice.model_dump(mode="json"), "deployment": deployment}


def _node_deployment(**changes: object) -> dict[str, object]:
    deployment: dict[str, object] = {
        "database_url": "postgresql+psycopg://standardiste@10.77.0.2/standardiste",
        "redis": {"url": "redis://10.77.0.3:6379/0", "manage_server": False},
        "asterisk": {"bind": "10.77.0.11", "edge_addresses": ["10.77.0.10"]},
        "cluster": {"role": "node", "node_name": "node1"},
    }
    deployment.update(changes)
    return deployment


def test_single_server_is_the_default() -> None:
    assert load_config().deployment.cluster.role == "single"


def test_a_node_with_shared_state_is_accepted() -> None:
    config = parse_config(_config(_node_deployment()))
    assert config.deployment.cluster.node_name == "node1"
    assert config.deployment.asterisk.edge_addresses == ["10.77.0.10"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"database_url": None}, "PostgreSQL"),
        ({"redis": {"manage_server": True}}, "redis.url"),
        ({"asterisk": {"bind": "127.0.0.1", "edge_addresses": ["10.77.0.10"]}}, "asterisk.bind"),
        ({"asterisk": {"bind": "10.77.0.11"}}, "edge_addresses"),
        ({"asterisk": {"bind": "10.77.0.11", "edge_addresses": ["kamailio"]}}, "IP"),
        ({"cluster": {"role": "node", "node_name": "Node 1"}}, "node_name"),
    ],
)
def test_a_node_without_shared_state_is_refused(change: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_config(_config(_node_deployment(**change)))


def test_an_edge_needs_its_nodes() -> None:
    with pytest.raises(ConfigError, match="edge"):
        parse_config(_config({"cluster": {"role": "edge"}}))
    with pytest.raises(ConfigError, match="double"):
        parse_config(_config({"cluster": {"role": "edge", "edge": {"nodes": [NODES[0], NODES[0]]}}}))
    with pytest.raises(ConfigError, match="nodes"):
        parse_config(_config({"cluster": {"role": "edge", "edge": {"nodes": []}}}))


def test_dispatcher_list_names_every_node() -> None:
    edge = EdgeConfig.model_validate({"listen": "10.77.0.10", "nodes": NODES})
    lines = dispatcher_list(edge).splitlines()[1:]
    assert lines == [
        "1 sip:10.77.0.11:5060 0 0 node=node1",
        "1 sip:10.77.0.12:5060 0 0 node=node2",
        "1 sip:10.77.0.13:5070 0 0 node=node3",
    ]


def test_probe_settings_reach_kamailio_and_bound_the_leave_time(tmp_path: Path) -> None:
    edge = EdgeConfig.model_validate(
        {"listen": "10.77.0.10", "nodes": NODES, "probe_interval_s": 1, "probe_failures": 2}
    )
    text = render_config(edge, tmp_path, modules="/m/")
    assert 'modparam("dispatcher", "ds_ping_interval", 1)' in text
    assert 'modparam("dispatcher", "ds_probing_threshold", 2)' in text
    assert 'modparam("tm", "fr_timer", 1000)' in text
    assert "listen=udp:10.77.0.10:5060" in text and "sip:edge@10.77.0.10" in text
    assert "@@" not in text
    assert edge.worst_leave_s <= 5  # the bound for a silent node


def test_rendered_config_passes_kamailio_check(tmp_path: Path) -> None:
    require_part(shutil.which("kamailio"), "Kamailio", "apt-get install kamailio (scripts/apt-packages.txt)")
    edge = EdgeConfig.model_validate({"listen": "127.0.0.1", "port": 25060, "nodes": NODES})
    check_config(write_config(edge, tmp_path))


def test_parse_dispatcher_list() -> None:
    text = """{
        RECORDS: { SET: { ID: 1 TARGETS: {
            DEST: {
                URI: sip:10.77.0.11:5060
                FLAGS: AP
            }
            DEST: {
                URI: sip:10.77.0.12:5060
                FLAGS: IP
            }
    }}}}"""
    found = parse_dispatcher_list(text.replace("DEST: {", "DEST: {\n").replace(" TARGETS", "\nTARGETS"))
    assert [(d.uri, d.active) for d in found] == [
        ("sip:10.77.0.11:5060", True),
        ("sip:10.77.0.12:5060", False),
    ]


def test_cli_renders_the_edge_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import resources

    from standardiste.cli.main import main

    demo = resources.files("standardiste.data").joinpath("demo.toml").read_text(encoding="utf-8")
    config = tmp_path / "edge.toml"
    config.write_text(
        demo
        + '\n[deployment.cluster]\nrole = "edge"\n[deployment.cluster.edge]\nlisten = "127.0.0.1"\n'
        + 'port = 25062\n[[deployment.cluster.edge.nodes]]\nname = "node1"\naddress = "127.0.0.2"\n',
        encoding="utf-8",
    )
    out = tmp_path / "run"
    assert main(["cluster", "kamailio-config", "--config", str(config), "--out", str(out), "--no-check"]) == 0
    assert "sip:127.0.0.2:5060" in (out / "dispatcher.list").read_text()
    assert "listen=udp:127.0.0.1:25062" in (out / "kamailio.cfg").read_text()
    assert "node1" in capsys.readouterr().out


def _render_pjsip(tmp_path: Path, **asterisk: object) -> str:
    from standardiste.config import AsteriskConfig, Secrets
    from standardiste.pbx import PbxInstance

    root = tmp_path / "root"
    (root / "usr/share/asterisk/sounds/fr_CA_f_June").mkdir(parents=True)
    secrets_ = Secrets(ari_password="a", ami_secret="b", encryption_key="k", session_key="s")
    pbx = PbxInstance(root, root / "instances" / "one", AsteriskConfig.model_validate(asterisk), secrets_)
    pbx.render()
    return (pbx.instance_dir / "etc" / "pjsip.conf").read_text()


def test_a_node_takes_calls_from_its_edge_only(tmp_path: Path) -> None:
    text = _render_pjsip(tmp_path, bind="10.77.0.11", edge_addresses=["10.77.0.10", "10.77.0.9"])
    block = text[text.index("[edge]") :]
    assert "context = standardiste-inbound" in block and "auth" not in block.split("[edge]")[1]
    assert "type = identify\nendpoint = edge\nmatch = 10.77.0.10,10.77.0.9" in block


def test_a_single_server_has_no_edge_endpoint(tmp_path: Path) -> None:
    assert "[edge]" not in _render_pjsip(tmp_path)


def test_edge_is_a_reserved_endpoint_name_on_a_node() -> None:
    from standardiste.config import AsteriskConfig

    with pytest.raises(ValueError, match="edge"):
        AsteriskConfig.model_validate({"edge_addresses": ["10.77.0.10"], "queue_members": ["edge"]})
