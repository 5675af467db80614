"""The IT integration points of `standardiste serve`: the FastAGI server and the AMI reception watch.

`IntegrationService(config, secrets, db, understander, recognizer)` is one async component
(`start()` / `stop()`). Its AGI routes use the real parts: the practice settings in force (the
dashboard's changes included), the understander, the active recogniser (transcribing what
Asterisk recorded for `classify`) and the agenda (`caller`). `reception_available()` is the
answer a conversation gets for "can a human take a transfer now?".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import wave
from pathlib import Path
from typing import Any

from standardiste.config import Config, PracticeConfig, Secrets
from standardiste.dialogue.messages import Expect
from standardiste.integration.agi import AgiAccess, AgiRoutes, AgiServer, RateLimiter, RecordingPlace
from standardiste.integration.ami import ReceptionPresence
from standardiste.integration.lookup import caller_lookup
from standardiste.privacy.keys import cipher_for
from standardiste.speech import grammars
from standardiste.speech.types import FRAME_BYTES, SAMPLE_RATE, Recognizer
from standardiste.storage.db import Database
from standardiste.understanding.types import Understander, Understanding

log = logging.getLogger(__name__)


class WavTranscriber:
    """One utterance recorded by Asterisk (WAV, 8 or 16 kHz mono s16) -> text, with the shared recogniser."""

    def __init__(self, recognizer: Recognizer, timeout_s: float = 30.0) -> None:
        self._recognizer = recognizer
        self._timeout = timeout_s

    async def __call__(self, path: Path) -> str | None:
        try:
            pcm = await asyncio.to_thread(_read_wav_16k, path)
        except (OSError, EOFError, wave.Error, ValueError) as err:
            log.warning("AGI classify: unreadable recording %s: %s", path, err)
            return None
        if not pcm:
            return None
        stream = await self._recognizer.stream(SAMPLE_RATE)
        try:
            async with asyncio.timeout(self._timeout):
                if not self._recognizer.open_vocabulary:
                    # Grammar-only recognisers (PocketSphinx) hear nothing without one: the usual
                    # reasons for calling ("prendre rendez-vous", "une urgence", "les horaires"...).
                    await stream.set_grammar(list(grammars.phrases_for(Expect.OPEN)))
                for i in range(0, len(pcm), FRAME_BYTES):
                    await stream.accept(pcm[i : i + FRAME_BYTES])
                result = await stream.finish()
        finally:
            await stream.close()
        text = result.text.strip()
        return text or None


def _read_wav_16k(path: Path) -> bytes:
    from standardiste.speech.audio import resample

    with wave.open(str(path), "rb") as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        pcm = w.readframes(w.getnframes())
    if width != 2 or channels != 1:
        raise ValueError(f"unexpected WAV format: {width * 8} bits, {channels} channels")
    return pcm if rate == SAMPLE_RATE else resample(pcm, rate, SAMPLE_RATE)


def default_recordings(config: Config) -> RecordingPlace:
    """The spool/tmp folder of the deployment's Asterisk instance, as Asterisk and as we see it."""
    from standardiste.pbx.deployment import deployment_instance_dir, deployment_root

    root = deployment_root(config.deployment).resolve()
    instance = deployment_instance_dir(root, config.deployment).resolve()
    return RecordingPlace(
        pbx_dir="/" + (instance / "spool" / "tmp").relative_to(root).as_posix(),
        host_dir=instance / "spool" / "tmp",
    )


def can_transcribe(recognizer: Recognizer | None) -> bool:
    """A keypad-only recogniser has nothing to transcribe speech with."""
    return recognizer is not None and not recognizer.name.startswith("keypad")


class IntegrationService:
    """FastAGI server + AMI reception watch, started and stopped together."""

    def __init__(
        self,
        config: Config,
        secrets_: Secrets,
        db: Database,
        understander: Understander,
        recognizer: Recognizer | None,
        *,
        recordings: RecordingPlace | None = None,
        agi_port: int | None = None,  # None: deployment.agi.port; 0: a free port (tests)
        ami: bool = True,
        clock: Any = None,
    ) -> None:
        from standardiste.settings.store import PracticeSettings

        self.config = config
        self.secrets = secrets_
        self._settings = PracticeSettings(db, config.practice)
        self._understander = understander
        dep = config.deployment
        transcriber = WavTranscriber(recognizer) if recognizer and can_transcribe(recognizer) else None
        routes = AgiRoutes(
            practice=self.practice,
            classify_text=self._classify,
            transcribe_wav=transcriber,
            caller_lookup=functools.partial(caller_lookup, db, cipher=cipher_for(dep, secrets_)),
            app_name=dep.asterisk.app_name,
            recordings=recordings or default_recordings(config),
            lookup_limiter=RateLimiter(dep.agi.lookups_per_minute, 60.0),
            **({"clock": clock} if clock is not None else {}),
        )
        access = AgiAccess(
            allowed_peers=tuple(dep.agi.allowed_peers),
            secret=secrets_.agi_secret if dep.agi.require_secret else None,
        )
        self.agi = AgiServer(
            routes.table(), dep.agi.host, dep.agi.port if agi_port is None else agi_port, access=access
        )
        a = dep.asterisk
        self.presence: ReceptionPresence | None = (
            ReceptionPresence(
                host=a.bind if a.bind.startswith("127.") else "127.0.0.1",
                port=a.ami_port,
                username=a.ami_user,
                secret=secrets_.ami_secret,
                reception_devices=[f"PJSIP/{a.reception_endpoint}"],
            )
            if ami
            else None
        )

    def practice(self) -> PracticeConfig:
        """The settings in force now; the configuration file alone if the settings table cannot be read."""
        try:
            return self._settings.current()
        except Exception:
            log.exception("practice settings unreadable; using the configuration file")
            return self.config.practice

    def _classify(self, text: str, now: dt.datetime) -> Understanding:
        return self._understander.parse(text, now)

    def reception_available(self) -> bool | None:
        """True: a reception phone is idle; False: none is; None: unknown (AMI down or not watched)."""
        return self.presence.available() if self.presence is not None else None

    agi_listening = False

    @property
    def agi_port(self) -> int:
        return self.agi.port

    async def start(self) -> None:
        try:
            await self.agi.start()
            self.agi_listening = True
        except OSError as err:
            # The assistant itself must keep answering calls: run without the FastAGI routes, loudly.
            self.agi_listening = False
            dep = self.config.deployment.agi
            log.error(
                "FastAGI indisponible : le port %s:%s est déjà pris ou interdit (%s) ; "
                "les routes agi:// ne répondront pas / FastAGI not listening",
                dep.host,
                dep.port,
                err,
            )
        if self.presence is not None:
            # Never blocks start-up for long: AMI keeps reconnecting in the background.
            await self.presence.start(wait_s=2.0)

    async def stop(self) -> None:
        if self.presence is not None:
            await self.presence.stop()
        await self.agi.stop()
