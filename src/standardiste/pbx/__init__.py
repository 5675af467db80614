"""The PBX side: one Asterisk 22 per instance directory inside a shared chroot root."""

from standardiste.pbx.deployment import deployment_instance, deployment_instance_dir, deployment_root
from standardiste.pbx.dialplan import RECEPTION, URGENT, TransferTarget
from standardiste.pbx.instance import (
    PbxError,
    PbxInstance,
    PbxStatus,
    PhoneAccount,
    free_asterisk_config,
    free_port,
)
from standardiste.pbx.root import default_root, ensure_root
from standardiste.pbx.watchdog import Watchdog

__all__ = [
    "RECEPTION",
    "URGENT",
    "PbxError",
    "PbxInstance",
    "PbxStatus",
    "PhoneAccount",
    "TransferTarget",
    "Watchdog",
    "default_root",
    "deployment_instance",
    "deployment_instance_dir",
    "deployment_root",
    "ensure_root",
    "free_asterisk_config",
    "free_port",
]
