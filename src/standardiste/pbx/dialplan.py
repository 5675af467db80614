"""Names the controller and the shipped dialplan (asterisk/extensions.conf) agree on.

Keep these in sync with asterisk/extensions.conf; docs/asterisk.md explains them.
"""

from __future__ import annotations

from dataclasses import dataclass

# Calls to the practice number enter Stasis(<app>, inbound) from this context.
INBOUND_CONTEXT = "standardiste-inbound"

# Human transfers: ARI POST /channels/{id}/continue?context=...&extension=...&priority=1
TRANSFER_CONTEXT = "standardiste-transfer"
RECEPTION_EXTENSION = "reception"
URGENT_EXTENSION = "urgent"  # emergencies: caller id prefixed "URGENT", may ring more phones
# The reception's waiting line (ringback, emergency sentence first when the caller must wait,
# app_queue) and the message box (emergency sentence, recording filed in the inbox). The
# controller may send a caller there directly: closed hours (MESSAGE), overload (QUEUE).
QUEUE_EXTENSION = "queue"
MESSAGE_EXTENSION = "message"
TRANSFER_PRIORITY = 1

# Outbound calls (reminders): originate the callee into this context/extension so the
# watchdog and the fallback apply; it then enters Stasis(<app>, outbound).
OUTBOUND_CONTEXT = "standardiste-outbound"
OUTBOUND_EXTENSION = "s"

# First Stasis() argument, telling the controller why the channel arrived.
STASIS_ARG_INBOUND = "inbound"
STASIS_ARG_OUTBOUND = "outbound"
# The reception did not answer: Stasis(<app>, transfer-failed, <DIALSTATUS>, reception|urgent).
STASIS_ARG_TRANSFER_FAILED = "transfer-failed"

# Dead-man switch. The dialplan sets TIMEOUT(absolute)=WATCHDOG_S before Stasis(); while it
# owns a channel the controller must set it again (ARI POST /channels/{id}/variable with
# variable=TIMEOUT(absolute), value=WATCHDOG_S) every WATCHDOG_RENEW_S (standardiste.pbx.
# watchdog.Watchdog does it). If the controller dies or stalls, the timeout fires, the channel
# leaves Stasis and its "T" extension sends it to reception.
WATCHDOG_VARIABLE = "TIMEOUT(absolute)"
DEFAULT_WATCHDOG_S = 5
WATCHDOG_RENEW_S = 1.5


@dataclass(frozen=True)
class TransferTarget:
    context: str
    extension: str
    priority: int = TRANSFER_PRIORITY

    def as_params(self) -> dict[str, str]:
        """Query parameters for ARI POST /channels/{id}/continue."""
        return {"context": self.context, "extension": self.extension, "priority": str(self.priority)}


RECEPTION = TransferTarget(TRANSFER_CONTEXT, RECEPTION_EXTENSION)
URGENT = TransferTarget(TRANSFER_CONTEXT, URGENT_EXTENSION)
QUEUE = TransferTarget(TRANSFER_CONTEXT, QUEUE_EXTENSION)
MESSAGE = TransferTarget(TRANSFER_CONTEXT, MESSAGE_EXTENSION)
