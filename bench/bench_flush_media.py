"""Does chan_websocket's FLUSH_MEDIA drop audio already queued in Asterisk?

A real call (pjsua2 phone -> Asterisk -> our ARI leg). We play a 440 Hz tone sending `lead` frames ahead of
real time, ask to stop after 1 s (with or without FLUSH_MEDIA) and measure, in what the phone recorded,
how long the tone went on after the stop. Results: bench/results/flush_media.md
"""

from __future__ import annotations

import asyncio
import base64
import secrets as s
import tempfile
import time
from pathlib import Path
from typing import Any

from standardiste.config import Secrets
from standardiste.pbx import PbxInstance, ensure_root, free_asterisk_config
from standardiste.telephony.ari import AriClient, StasisStart
from standardiste.telephony.leg import AriCallLeg
from standardiste.testphone import TestPhone, sound_segments
from standardiste.testphone.audio import tone

try:  # run as a script, bench/ is on sys.path; imported from the repository root, it is a package
    from benchinfo import describe
except ImportError:  # pragma: no cover
    from bench.benchinfo import describe


async def trial(pbx: Any, phone: Any, flush: bool, lead: int) -> str:
    ari = AriClient(pbx.ari_url, pbx.ari_user, pbx.ari_password, pbx.app_name)
    q: asyncio.Queue[Any] = asyncio.Queue()
    legs: dict[str, AriCallLeg] = {}

    async def h(ev: Any) -> None:
        if isinstance(ev, StasisStart):
            if ev.channel.id in legs:
                legs[ev.channel.id].media_entered_stasis()
            else:
                await q.put(ev)

    ari.start_events(h)
    await ari.connected.wait()
    call = await phone.call(pbx.practice_extension)
    ev = await q.get()
    leg = AriCallLeg(ari, ev.channel)
    leg.settings = type(leg.settings)(lead_frames=lead)
    orig = leg._new_media_id

    def reg() -> str:
        mid = orig()
        legs[mid] = leg
        return mid

    leg._new_media_id = reg
    await leg.answer()
    await leg.open_media(lambda f: None)
    await call.wait_answered()
    await asyncio.sleep(0.5)
    rec0 = call.heard_seconds()
    pcm = tone(440, 4.0, 16000, 0.3)
    task = asyncio.create_task(leg.play(pcm))
    await asyncio.sleep(1.0)
    t_stop = call.heard_seconds()
    if flush:
        await leg.stop_playback()
    else:
        leg._media._stop_playback = True
    await task
    await asyncio.sleep(2.0)
    segs = sound_segments(call.heard_pcm(), threshold=300, min_gap_s=0.1)
    segs = [x for x in segs if x[1] > rec0]
    end = segs[0][1] if segs else None
    line = f"| {'yes' if flush else 'no'} | {lead * 20} | {1000 * (end - t_stop):.0f} |" if end else "| ? |"
    print(line, flush=True)
    await call.hangup()
    await leg.close()
    await ari.close()
    return line


async def main() -> None:
    root = ensure_root()
    (root / "instances").mkdir(exist_ok=True)
    sec = Secrets(
        ari_password=s.token_urlsafe(16),
        ami_secret=s.token_urlsafe(16),
        encryption_key=base64.urlsafe_b64encode(s.token_bytes(32)).decode(),
        session_key="x",
    )
    pbx = PbxInstance(
        root,
        Path(tempfile.mkdtemp(prefix="flush-", dir=root / "instances")),
        free_asterisk_config("flush"),
        sec,
        watchdog_s=30,
    )
    await pbx.start()
    try:
        phone = await TestPhone(pbx.phone("caller1")).start()
        lines = ["| FLUSH_MEDIA | lead ms | tone heard after stop, ms |", "|---|---|---|"]
        for flush, lead in ((False, 50), (True, 50), (False, 3), (True, 3)):
            lines.append(await trial(pbx, phone, flush, lead))
        await phone.close()
        out = Path(__file__).parent / "results" / "flush_media.md"
        out.parent.mkdir(exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        note = (
            "The phone-side path (pjsua2 jitter buffer, recording, 20 ms analysis frames) adds a constant of "
            "about 150-200 ms to every row; compare rows."
        )
        ctx = describe("none (playback only)", "a pjsua2 phone recording a tone played by Asterisk")
        note += (
            f" Recogniser: {ctx['recogniser']}. Audio source: {ctx['audio_source']}. "
            f"Machine load (1/5/15 min): {ctx['machine_load_1_5_15min']}."
        )
        out.write_text(f"# FLUSH_MEDIA on barge-in ({stamp})\n\n" + "\n".join(lines) + f"\n\n{note}\n")
    finally:
        await pbx.stop()
        pbx.remove()


if __name__ == "__main__":
    asyncio.run(main())
