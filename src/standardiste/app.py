"""Composition of the long-running parts for `standardiste serve`: database + call log, speech,
understanding, and the telephony controller. Each part has `async start()` / `async stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from standardiste.calllog.store import CallLogStore
from standardiste.clock import Clock, clock_from_env
from standardiste.config import (
    Config,
    DeploymentConfig,
    PracticeConfig,
    Secrets,
    load_or_create_secrets,
)
from standardiste.dialogue.messages import CallerEvent, CallStarted, Conversation, Heard, Keypad, NoInput, Say
from standardiste.dialogue.services import ConversationServices
from standardiste.pbx.dialplan import STASIS_ARG_OUTBOUND
from standardiste.privacy.recordings import RecordingVault, recordings_dir
from standardiste.settings.store import PracticeSettings
from standardiste.speech import grammars
from standardiste.speech.turn import TurnDetector, TurnSettings
from standardiste.speech.types import Recognizer, Synthesizer
from standardiste.storage.db import Database
from standardiste.telephony.admission import (
    AdmissionSettings,
    QueueDelayProbe,
    call_limit,
    measured_calls_per_core,
    usable_cores,
)
from standardiste.telephony.ari import AriClient, Channel
from standardiste.telephony.controller import Controller
from standardiste.telephony.endpointing import EndpointSettings, SpeculationBudget, raises_urgency
from standardiste.telephony.leg import AriCallLeg, LegSettings
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
        return cls(f"http://{a.local_host}:{a.http_port}", a.ari_user, secrets_.ari_password, a.app_name)


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
        recordings_dir: Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        # What time it is for calls, the dialogue and the agenda (and, in `serve`, reminders, the
        # dashboard and retention): the wall clock unless pinned (tests, STANDARDISTE_NOW).
        self.clock: Clock = clock or clock_from_env(config.practice.timezone)
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
        self.guardian: Any = None  # standardiste.pbx.guardian.Guardian once started
        self._heartbeat: asyncio.Task[None] | None = None
        # Longest wait for the recogniser after a turn (then: not understood); tests may raise it.
        self.recognition_timeout_s = 3.0
        # Speculative passes of the adaptive end of turn in flight at once (telephony.endpointing): one
        # decoding thread always stays free for final results.
        self.speculation_budget = SpeculationBudget(limit=max(1, self.deployment.speech.whisper_workers - 1))
        self.queue_probe: QueueDelayProbe | None = None  # the recogniser pool's queue delay (admission)
        self._agenda: Any = None
        self._agenda_practice: PracticeConfig | None = None
        self._inbox: Any = None
        # Live practice settings (file + dashboard overrides); each call takes a snapshot at its start.
        self.settings: PracticeSettings | None = None
        # Can a human take a transfer now? (AMI presence, plugged in by the server; None: unknown)
        self.reception_available: Callable[[], bool | None] | None = None
        # Run once everything is loaded, just before the controller takes calls.
        self.before_calls: Callable[[VoiceApp], Awaitable[None]] | None = None
        # Host path of Asterisk's recording dir (privacy.record_audio); None: the deployment's instance.
        self.recordings_dir = recordings_dir or _deployment_recordings_dir(config)

    async def start(self) -> None:
        dep = self.deployment
        await asyncio.to_thread(_private_data_dir, dep.data_dir)
        if self.secrets is None:
            self.secrets = await asyncio.to_thread(load_or_create_secrets, dep.data_dir)
        if self.db is None:
            self.db = Database(dep.sqlalchemy_url)
        await asyncio.to_thread(self.db.migrate)
        self.settings = PracticeSettings(self.db, self.config.practice)
        cipher = _cipher(dep, self.secrets)
        self.call_log = CallLogStore(
            self.db,
            cipher,
            self.recordings_dir,
            vault=RecordingVault(recordings_dir(dep), cipher),
            node=dep.cluster.node_name if dep.cluster.role == "node" else "",
        )
        await asyncio.to_thread(self.call_log.seal_pending_recordings)  # left by a stop or a crash
        await asyncio.to_thread(_reseal_if_needed, self.db, cipher)
        await asyncio.gather(self._load_recognizer(), self._load_synthesizer(), self._load_understander())
        self._agenda, self._inbox = _agenda_and_inbox(self.db, self.config, self.secrets)
        self._agenda_practice = self.config.practice
        await self._prewarm()
        if self.before_calls is not None:
            await self.before_calls(self)  # e.g. reminders must listen to the agenda before any booking
        access = self._ari_access or AriAccess.from_config(self.config, self.secrets)
        ari = AriClient(access.url, access.user, access.password, access.app)
        legs = LegSettings(record_audio=self.deployment.privacy.record_audio)
        capacity = self.deployment.capacity
        self.queue_probe = _queue_probe(self.recognizer)
        if self.queue_probe is not None:
            self.queue_probe.start()
            # A busy decoding pool: no speculative passes (final results first).
            self.speculation_budget.pressure = _delay_of(self.queue_probe)
        per_core = capacity.calls_per_core
        if per_core is None and self.recognizer is not None:
            per_core = measured_calls_per_core(self.recognizer.name)
        max_calls = call_limit(capacity.max_calls, per_core, usable_cores())
        log.info(
            "admission control",
            extra={"max_calls": max_calls, "configured": capacity.max_calls, "per_core": per_core,
                   "cores": usable_cores()},
        )  # fmt: skip
        self.controller = Controller(
            ari,
            self.build_session,
            legs,
            admission=AdmissionSettings(
                max_calls=max_calls, max_queue_delay_s=capacity.max_recognition_delay_s
            ),
            queue_delay=_delay_of(self.queue_probe) if self.queue_probe is not None else None,
        )
        # What is loaded now (models, modules, caches) lives as long as the process: keep it out of
        # the garbage collector's full passes, which otherwise stall the event loop (and the
        # guardian's heartbeat) for up to a second on a loaded machine (bench/bench_heartbeat.py).
        gc.collect()
        gc.freeze()
        await self._start_guardian(access)
        if legs.record_audio:
            log.info("call recording on: callers are told first", extra={"dir": str(self.recordings_dir)})
        await self.controller.start()
        log.info("controller started", extra={"ari": access.url, "app": access.app})

    async def _start_guardian(self, access: AriAccess) -> None:
        """The guardian process frees our callers at once if this process dies (pbx/guardian.py)."""
        from standardiste.pbx.guardian import HEARTBEAT_S, Guardian, GuardianConfig

        ari_url = f"{access.url.rstrip('/').removesuffix('/ari')}/ari"
        config = GuardianConfig(ari_url, access.user, access.password, access.app)
        try:
            self.guardian = await asyncio.to_thread(Guardian.spawn, config)
        except Exception:
            log.exception("guardian not started: a crash would leave callers on the dead-man timeout")
            return

        async def beat() -> None:
            while True:
                if self.guardian is None or not self.guardian.beat():
                    log.error("guardian gone; starting another")
                    try:
                        self.guardian = await asyncio.to_thread(Guardian.spawn, config)
                    except Exception:
                        log.exception("guardian restart failed; retried in 5 s")
                        await asyncio.sleep(5.0)
                await asyncio.sleep(HEARTBEAT_S)

        self._heartbeat = asyncio.create_task(beat(), name="guardian-heartbeat")

    async def stop(self) -> None:
        if self.controller is not None:
            await self.controller.stop()
        if self.queue_probe is not None:
            await self.queue_probe.stop()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self.guardian is not None:
            await asyncio.to_thread(self.guardian.close)
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
            from standardiste.speech.tts import load_synthesizer

            speech = self.deployment.speech
            choice = await asyncio.to_thread(
                load_synthesizer,
                speech.synthesizer,
                espeak_voice=speech.voice,
                speed_wpm=speech.speed_wpm,
                pico_speed_percent=speech.pico_speed_percent,
                cache_dir=Path(self.deployment.data_dir) / "prompts",
            )
            self.synthesizer = choice.synthesizer
            # Which voice callers hear, in plain French, for the IT person reading the logs.
            if choice.fallback:
                log.warning("synthèse vocale : %s", choice.explanation)
            else:
                log.info("synthèse vocale : %s", choice.explanation)

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
                await prewarm(texts, prune=True)
            else:
                for text in texts:
                    await self.synthesizer.synthesize(text)
            log.info("prompts ready", extra={"prompts": len(texts)})
        except Exception:
            log.exception("prompt prewarm failed (calls will synthesise on demand)")

    def _first_turn_texts(self) -> list[str]:
        now = self.clock.now()
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

    def practice_now(self) -> PracticeConfig:
        """The settings for a call starting now (dashboard changes apply from the next call)."""
        if self.settings is None:
            return self.config.practice
        try:
            return self.settings.current()
        except Exception:
            log.exception("practice settings unreadable; using the configuration file's")
            return self.config.practice

    def _agenda_for(self, practice: PracticeConfig) -> Any:
        """The agenda follows the practice settings (hours, closures) in force when a call starts."""
        if practice is not self._agenda_practice and self.db is not None and self._agenda is not None:
            try:
                self._agenda = _rebuild_agenda(self._agenda, self.db, practice)
                self._agenda_practice = practice
            except Exception:
                log.exception("agenda not rebuilt for the new settings; keeping the previous one")
        return self._agenda

    def new_conversation(
        self,
        open_speech: bool,
        practice: PracticeConfig | None = None,
        spoken_name: Callable[[], bytes | None] | None = None,
    ) -> Conversation:
        from standardiste.dialogue.manager import DialogueManager

        assert self.understander is not None
        practice = practice or self.practice_now()
        reception = None
        if self.reception_available is not None:
            try:
                reception = self.reception_available()
            except Exception:
                log.exception("reception presence unavailable")
        services = ConversationServices(
            practice=practice,
            understander=self.understander,
            agenda=self._agenda_for(practice),
            inbox=self._inbox,
            open_speech=open_speech,
            reception_available=reception,
            recording_notice=self.deployment.privacy.record_audio,
            clock=self.clock,
            spoken_name=spoken_name,
            name_reader=self._name_reader() if spoken_name is not None else None,
        )
        return DialogueManager(services)

    def _name_reader(self) -> Callable[[bytes], str] | None:
        """The open recogniser's engine reading a kept name again (identity/voice.py open_reader)."""
        from standardiste.identity.voice import open_reader

        engine = getattr(getattr(self.recognizer, "open", self.recognizer), "engine", None)
        return open_reader(engine) if engine is not None else None

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
        practice = self.practice_now()
        sessions: list[CallSession] = []  # the spoken name the session keeps, for the identity check

        def spoken_name() -> bytes | None:
            return sessions[0].record.name_audio if sessions else None

        session = CallSession(
            call_id=call_id,
            leg=leg,
            conversation=self.new_conversation(open_speech, practice, spoken_name),
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
                grammar_hint=lambda expectation: grammars.hint(expectation, practice),
                log_speech=self.deployment.privacy.log_transcripts,
                endpointing=EndpointSettings(
                    short_ms=speech.short_end_of_turn_ms, long_ms=speech.end_of_turn_ms
                )
                if 0 < speech.short_end_of_turn_ms < speech.end_of_turn_ms
                else None,
                speculation_budget=self.speculation_budget,
                # Whisper's transcript after an optimistic answer still goes through the practice's net.
                urgent=functools.partial(raises_urgency, net=getattr(self.understander, "safety", None)),
            ),
            caller_id=channel.caller_number or None,
            call_log=self.call_log,
            clock=self.clock.now,
        )
        sessions.append(session)
        return session


class NoUnderstanding:
    """When the understanding model cannot load: nothing said is understood (a human takes over)."""

    def parse(self, text: str, now: dt.datetime) -> Understanding:
        return Understanding(text=text, intent=Intent.OUT_OF_SCOPE, confidence=0.0, urgency=Urgency.NORMAL)


def _queue_probe(recognizer: object) -> QueueDelayProbe | None:
    """A probe of the open recogniser's decoding pool (Whisper's), for admission control; None without."""
    engine = getattr(getattr(recognizer, "open", recognizer), "engine", None)
    executor = getattr(engine, "executor", None)
    return QueueDelayProbe(executor) if isinstance(executor, Executor) else None


def _delay_of(probe: QueueDelayProbe) -> Callable[[], float | None]:
    return lambda: probe.delay_s


def _deployment_recordings_dir(config: Config) -> Path:
    """Where the deployment's Asterisk instance writes ARI recordings (spool/recording in its dir)."""
    from standardiste.pbx.deployment import deployment_instance_dir, deployment_root

    root = deployment_root(config.deployment)
    return deployment_instance_dir(root, config.deployment) / "spool" / "recording"


def _cipher(deployment: DeploymentConfig, secrets_: Secrets) -> Any:
    """The install's cipher: its key lives apart from data_dir (privacy.key_file, see privacy/keys.py)."""
    from standardiste.privacy.keys import cipher_for

    return cipher_for(deployment, secrets_)


def _reseal_if_needed(db: Database, cipher: Any) -> None:
    from standardiste.privacy.reseal import reseal_if_needed

    reseal_if_needed(db, cipher)


def _private_data_dir(data_dir: Path) -> None:
    from standardiste.privacy.keys import ensure_private_dir

    ensure_private_dir(data_dir)


def _agenda_and_inbox(db: Database, config: Config, secrets_: Secrets | None) -> tuple[Any, Any]:
    """The agenda (embedded or CalDAV) and staff inbox; identities encrypted with the install key."""
    try:
        from standardiste.agenda.factory import build_agenda

        return build_agenda(db, config, secrets_)
    except Exception:
        log.exception("agenda unavailable: booking by phone is off, callers are sent to reception")
        return None, None


def _rebuild_agenda(current: Any, db: Database, practice: PracticeConfig) -> Any:
    """A new embedded agenda on the new settings, keeping the listeners (reminders) of the old one."""
    from standardiste.agenda.sql import SqlAgenda

    if not isinstance(current, SqlAgenda):
        return current  # external agendas (CalDAV) own their hours
    return SqlAgenda(db, practice, listeners=current.listeners, cipher=current.cipher)
