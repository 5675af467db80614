"""The PbxInstance of a deployment (the one `pbx start`, `run`, `serve` and `call` agree on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from standardiste.config import DeploymentConfig, load_or_create_secrets
from standardiste.pbx.instance import PbxInstance
from standardiste.pbx.root import default_root


def deployment_root(deployment: DeploymentConfig) -> Path:
    return Path(deployment.asterisk.root) if deployment.asterisk.root else default_root()


def deployment_instance_dir(root: Path, deployment: DeploymentConfig) -> Path:
    """One instance per data dir, inside the root (same rule as `standardiste run`)."""
    name = Path(deployment.data_dir).resolve().as_posix().strip("/").replace("/", "_") or "default"
    return root / "instances" / f"run-{name}"


def deployment_instance(deployment: DeploymentConfig, root: Path | None = None) -> PbxInstance:
    """The deployment's Asterisk instance; secrets are created in data_dir on first use."""
    root = root or deployment_root(deployment)
    secrets_ = load_or_create_secrets(Path(deployment.data_dir))
    # Channel ids (the call log's keys) start with the system name: unique per node in a cluster.
    naming: dict[str, Any] = (
        {"system_name": deployment.cluster.node_name} if deployment.cluster.role == "node" else {}
    )
    return PbxInstance(
        root,
        deployment_instance_dir(root, deployment),
        deployment.asterisk,
        secrets_,
        log_dialplan=deployment.privacy.log_transcripts,  # dialplan traces name callers
        **naming,
    )
