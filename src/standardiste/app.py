"""Composition of the long-running parts for `standardiste serve`: database + call log, speech,
understanding, and the telephony controller. Each part has `async start()` / `async stop()`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from standardiste.calllog.store import CallLogStore
from standardiste.config import Config, Secrets, load_or_create_secrets
from standardiste.dialogue.messages import CallerEvent, CallStarted, Conversation, Heard, Keypad, NoInput, Say
from standardiste.dialogue.services import ConversationServices
from standardiste.pbx.dialplan import STASIS_ARG_OUTBOUND
from standardiste.speech.turn import TurnDetector, TurnSettings
from standardiste.speech.types import Recognizer, Synthesizer
from standardiste.storage.db import Database
from standardiste.telephony.ari import AriClient, Channel
from standardiste.telephony.controller import Controller
from standardiste.telephony.leg import AriCallLeg
from standardiste.telephony.session import CallSession, SessionSettings
from standardiste.understanding.types import Intent, Understander, Understanding, Urgency

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AriAccess:
    url: str  # http://host:port (a trailing /ari is accepted)
    user: str
    password: str
    app: str

    @classmethod
    def from_config(cls, config: Config, secrets_: Secrets) -> AriAccess:
        a = config.deployment.asterisk
        return cls(f"http://{a.bind}:{a.http_port}", a.ari_user, secrets_.ari_password, a.app_name)


class VoiceApp:
    """Everything `serve` runs. Parts can be injected (tests, benches) or are built from the config."""

    def __init__(
        self,
        config: Config,
        ari: AriAccess | None = None,
        *,
        db: Database | None = None,
        recognizer: Recognizer | None = None,
        synthesizer: Synthesizer | None = None,
        understander: Understander | None = None,
        secrets_: Secrets | None = None,
    ) -> None:
        self.config = config
        self.deployment = config.deployment
        self.secrets = secrets_
        self._ari_access = ari
        self.db = db
        self.recognizer = recognizer
        self.recognizer_explanation = ""
        self.synthesizer = synthesizer
        self.understander = understander
        self.call_log: CallLogStore | None = None
        self.controller: Controller | None = None
        # Longest wait for the recogniser after a turn (then: not understood); tests may raise it.
        self.recognition_timeout_s = 3.0
        self._agenda: Any = None
        self._inbox: Any = None

    async def start(self) -> None:
        dep = self.deployment
        if self.secrets is None:
            self.secrets = await asyncio.to_thread(load_or_create_secrets, dep.data_dir)
        if self.db is None:
            self.db = Database(dep.sqlalchemy_url)
        await asyncio.to_thread(self.db.migrate)
        self.call_log = CallLogStore(self.db, _cipher(self.secrets))
        await asyncio.gather(self._load_recognizer(), self._load_synthesizer(), self._load_understander())
        self._agenda, self._inbox = _agenda_and_inbox(self.db, self.config)
        await self._prewarm()
        access = self._ari_access or AriAccess.from_config(self.config, self.secrets)
        ari = AriClient(access.url, access.user, access.password, access.app)
        self.controller = Controller(ari, self.build_session)
        await self.controller.start()
        log.info("controller started", extra={"ari": access.url, "app": access.app})

    async def stop(self) -> None:
        if self.controller is not None:
            await self.controller.stop()
        shutdown = getattr(self.recognizer, "shutdown", None)
        if callable(shutdown):
            shutdown()
        if self.db is not None:
            self.db.dispose()

    # --- parts ---

    async def _load_recognizer(self) -> None:
        if self.recognizer is None:
            from standardiste.speech.select import load_recognizer_ready

            choice = await load_recognizer_ready(self.deployment)
            self.recognizer = choice.recognizer
            self.recognizer_explanation = choice.explanation
        else:
            load = getattr(self.recognizer, "load", None)
            if callable(load):
                await load()
            self.recognizer_explanation = self.recognizer.describe()
        # What callers can do, in plain French, for the IT person reading the logs.
        log.info(
            "recogniser: %s",
            self.recognizer_explanation,
            extra={
                "recognizer": self.recognizer.name,
                "understands_french": self.recognizer.understands_french,
            },
        )
        if not self.recognizer.understands_french:
            log.warning("pas de reconnaissance vocale du français : les appelants utiliseront le clavier")

    async def _load_synthesizer(self) -> None:
        if self.synthesizer is None:
            from standardiste.speech.tts import EspeakSynthesizer

            speech = self.deployment.speech
            cache = Path(self.deployment.data_dir) / "prompts"
            self.synthesizer = EspeakSynthesizer(
                voice=speech.voice, speed_wpm=speech.speed_wpm, cache_dir=cache
            )

    async def _load_understander(self) -> None:
        if self.understander is None:
            try:
                from standardiste.understanding.engine import load_understander

                cache = Path(self.deployment.data_dir) / "nlu"
                self.understander = await asyncio.to_thread(
                    load_understander, self.config.practice, (), cache
                )
            except Exception:
                log.exception(
                    "understanding unavailable: spoken requests go to reception, the keypad still works"
                )
                self.understander = NoUnderstanding()

    async def _prewarm(self) -> None:
        """Synthesise what the first turns of a call say, so that it comes from the cache.

        The texts come from the real conversation, driven through its usual first steps (greeting,
        not understood, silence, the hours by key 1, transfer by key 0).
        """
        assert self.synthesizer is not None and self.recognizer is not None
        try:
            texts = await asyncio.to_thread(self._first_turn_texts)
            prewarm = getattr(self.synthesizer, "prewarm", None)
            if callable(prewarm):
                await prewarm(texts)
            else:
                for text in texts:
                    await self.synthesizer.synthesize(text)
            log.info("prompts ready", extra={"prompts": len(texts)})
        except Exception:
            log.exception("prompt prewarm failed (calls will synthesise on demand)")

    def _first_turn_texts(self) -> list[str]:
        now = dt.datetime.now(dt.UTC)
        scripts: list[list[CallerEvent]] = [
            [Heard("", now), NoInput(now), NoInput(now)],
            [Keypad("1", now), Keypad("0", now)],
            [NoInput(now), Heard("", now)],
            [Heard("euh", now), Heard("euh", now)],
        ]
        texts: list[str] = []
        for open_speech in (True, False):
            for script in scripts:
                conversation = self.new_conversation(open_speech)
                for event in [CallStarted("prewarm", now, speech_available=open_speech), *script]:
                    for action in conversation.handle(event):
                        if isinstance(action, Say) and action.text not in texts:
                            texts.append(action.text)
        return texts

    def new_conversation(self, open_speech: bool) -> Conversation:
        from standardiste.dialogue.manager import DialogueManager

        assert self.understander is not None
        services = ConversationServices(
            practice=self.config.practice,
            understander=self.understander,
            agenda=self._agenda,
            inbox=self._inbox,
            open_speech=open_speech,
        )
        return DialogueManager(services)

    def build_session(
        self, call_id: str, channel: Channel, leg: AriCallLeg, args: tuple[str, ...]
    ) -> CallSession:
        assert self.recognizer is not None and self.synthesizer is not None
        speech = self.deployment.speech
        open_speech = bool(self.recognizer.understands_french and self.recognizer.open_vocabulary)
        outbound = bool(args) and args[0] == STASIS_ARG_OUTBOUND
        detector = TurnDetector(
            TurnSettings(end_of_turn_ms=speech.end_of_turn_ms, max_turn_s=speech.max_turn_s)
        )
        return CallSession(
            call_id=call_id,
            leg=leg,
            conversation=self.new_conversation(open_speech),
            recognizer=self.recognizer,
            synthesizer=self.synthesizer,
            turn_detector=detector,
            settings=SessionSettings(
                silence_timeout_s=speech.silence_timeout_s,
                max_turn_s=speech.max_turn_s,
                recognition_timeout_s=self.recognition_timeout_s,
                direction="outbound" if outbound else "inbound",
                purpose=args[1] if outbound and len(args) > 1 else None,
                appointment_id=args[2] if outbound and len(args) > 2 else None,
            ),
            caller_id=channel.caller_number or None,
            call_log=self.call_log,
        )


class NoUnderstanding:
    """When the understanding model cannot load: nothing said is understood (a human takes over)."""

    def parse(self, text: str, now: dt.datetime) -> Understanding:
        return Understanding(text=text, intent=Intent.OUT_OF_SCOPE, confidence=0.0, urgency=Urgency.NORMAL)


def _cipher(secrets_: Secrets) -> Any:
    try:
        from standardiste.privacy.crypto import FieldCipher

        return FieldCipher(secrets_.encryption_key)
    except Exception as err:
        log.warning(
            "transcript encryption unavailable; transcripts stored in clear", extra={"error": str(err)}
        )
        return None


def _agenda_and_inbox(db: Database, config: Config) -> tuple[Any, Any]:
    """The practice's agenda and staff inbox (built by the agenda capability)."""
    try:
        from standardiste.agenda.inbox import SqlInbox
        from standardiste.agenda.sql import SqlAgenda

        return SqlAgenda(db, config.practice), SqlInbox(db)
    except Exception:
        log.exception("agenda unavailable: booking by phone is off, callers are sent to reception")
        return None, None
