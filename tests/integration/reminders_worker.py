"""A controller-like process for the lease tests: runs a ReminderService with a dialer double that
appends each call to a shared file (telephony is not the subject here). Run with -m."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import signal

from standardiste.config import load_config
from standardiste.dialogue.messages import OutcomeKind
from standardiste.reminders.clock import Clock
from standardiste.reminders.dialer import CallRequest, CallResult
from standardiste.reminders.service import ReminderService
from standardiste.storage.db import Database


class FileDialer:
    def __init__(self, path: str, node: str, duration_s: float) -> None:
        self.path = path
        self.node = node
        self.duration_s = duration_s

    async def call(self, request: CallRequest) -> CallResult:
        line = f"{self.node} {request.job_id} {request.attempt}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        await asyncio.sleep(self.duration_s)
        return CallResult(OutcomeKind.CONFIRMED)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--calls", required=True)
    parser.add_argument("--duration", type=float, default=0.1)
    parser.add_argument("--ttl", type=float, default=3.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.node} %(name)s %(message)s")
    config = load_config(None)
    service = ReminderService(
        db=Database(args.db),
        practice=config.practice,
        redis_url=args.redis,
        dialer=FileDialer(args.calls, args.node, args.duration),
        clock=Clock(),
        namespace=args.namespace,
        node=args.node,
        lease_ttl_s=args.ttl,
        sweep_interval_s=1.0,
        sweep_grace_s=3.0,
        drain_interval_s=0.2,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await service.start()
    print("started", dt.datetime.now(dt.UTC).isoformat(), flush=True)
    await stop.wait()
    await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
