"""The reminders' clock is the server's (standardiste.clock); this name stays for existing callers.

Virtual time drives policy decisions (windows, retries); APScheduler fires on real time,
so run times are converted with `to_real` before they go to the job store.
"""

from __future__ import annotations

from standardiste.clock import VirtualClock as Clock

__all__ = ["Clock"]
