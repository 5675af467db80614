"""Pick the recogniser for this server from the configuration and what is installed.

"auto": Whisper base (open French) when its model is installed, paired with the PocketSphinx grammar
backend for closed questions (speech.arbitrate); else the Vosk French model, paired the same way; else the
PocketSphinx French grammar backend alone; else keypad only. Every choice comes with a plain-French
explanation for logs and `doctor`.
Nothing here fails start-up: a broken backend falls back to the next one, and the reason is told.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from standardiste.config import DeploymentConfig
from standardiste.speech.keypad_backend import KeypadOnlyRecognizer
from standardiste.speech.models import find_vosk_model, search_dirs
from standardiste.speech.types import Recognizer

log = logging.getLogger(__name__)

Backend = Literal["whisper", "vosk", "sphinx", "keypad"]
_FRENCH_NAME = re.compile(r"(^|[-_.])(fr|french|linto)([-_.]|$)", re.IGNORECASE)


@dataclass(frozen=True)
class RecognizerChoice:
    recognizer: Recognizer
    backend: Backend
    explanation: str  # plain French: what is active and what it means for callers
    skipped: list[str] = field(default_factory=list)  # why better backends were not used (French)

    def __iter__(self) -> Any:  # `recognizer, explanation = load_recognizer(...)`
        return iter((self.recognizer, self.explanation))


def looks_french(model_name: str) -> bool:
    return bool(_FRENCH_NAME.search(model_name))


def _vosk(deployment: DeploymentConfig, require_french: bool) -> tuple[Recognizer | None, str]:
    path = find_vosk_model(deployment)
    setting = deployment.speech.vosk_model
    if path is None:
        where = ", ".join(str(d) for d in search_dirs(deployment))
        return None, (
            f"le modèle Vosk « {setting} » n'est pas installé, installez-le avec "
            f"« standardiste models install » ; dossiers cherchés : {where}"
        )
    french = looks_french(path.name)
    if require_french and not french:
        return None, f"le modèle Vosk « {path.name} » ne semble pas être un modèle français"
    try:
        from standardiste.speech.vosk_backend import VoskRecognizer, check_model_dir

        check_model_dir(path)
    except Exception as err:
        return None, f"le modèle Vosk {path} est inutilisable ({err})"
    return VoskRecognizer(path, understands_french=french), ""


def _whisper(deployment: DeploymentConfig) -> tuple[Recognizer | None, str]:
    from standardiste.speech.whisper_model import find_whisper_model, verify_whisper_dir

    setting = deployment.speech.whisper_model
    path = find_whisper_model(setting, deployment.data_dir)
    if path is None:
        return None, (
            f"le modèle Whisper « {setting} » n'est pas installé (installez-le avec "
            "« standardiste models install whisper »)"
        )
    try:
        verify_whisper_dir(path, trust_mark=True)
        import ctranslate2  # noqa: F401  (faster-whisper's engine)
        import faster_whisper  # noqa: F401

        from standardiste.speech.whisper_backend import WhisperRecognizer
    except Exception as err:
        return None, f"le modèle Whisper {path} est inutilisable ({err})"
    return WhisperRecognizer(path, workers=deployment.speech.whisper_workers), ""


def _paired(open_recognizer: Recognizer, deployment: DeploymentConfig, skipped: list[str]) -> Recognizer:
    """The open recogniser, checked on closed questions by the PocketSphinx grammars when they load."""
    from standardiste.speech.arbitrate import ArbitratedRecognizer

    grammar, why = _sphinx(deployment)
    if grammar is None:
        skipped.append(f"pas de seconde reconnaissance pour les questions fermées : {why}")
    return ArbitratedRecognizer(open_recognizer, grammar)


def _construct_sphinx(cls: Any, deployment: DeploymentConfig) -> Any:
    for factory in ("from_deployment", "from_config", "create"):
        fn = getattr(cls, factory, None)
        if callable(fn):
            return fn(deployment)
    params = inspect.signature(cls).parameters
    if "deployment" in params:
        return cls(deployment=deployment)
    return cls()


def _sphinx(deployment: DeploymentConfig) -> tuple[Recognizer | None, str]:
    # Built by another part of the project; imported lazily and used only if it really loads.
    try:
        module = importlib.import_module("standardiste.speech.sphinx")
        cls = getattr(module, "SphinxRecognizer", None)
        if cls is None:
            module = importlib.import_module("standardiste.speech.sphinx.recognizer")
            cls = module.SphinxRecognizer
        recognizer = _construct_sphinx(cls, deployment)
        for attr in ("name", "describe", "stream"):
            if not hasattr(recognizer, attr):
                return None, f"le module PocketSphinx n'a pas « {attr} »"
        return recognizer, ""
    except Exception as err:
        log.warning("PocketSphinx backend unavailable: %r", err)
        return None, f"PocketSphinx français indisponible ({type(err).__name__}: {err})"


def load_recognizer(deployment: DeploymentConfig) -> RecognizerChoice:
    """The recogniser to use, with the reason. Cheap: models load on first use (or `await load()`)."""
    wanted = deployment.speech.recognizer
    skipped: list[str] = []
    order: list[Backend]
    if wanted == "auto":
        order = ["whisper", "vosk", "sphinx"]
    elif wanted == "keypad":
        order = []
        skipped.append('la configuration demande le clavier seul (speech.recognizer = "keypad")')
    else:
        order = [wanted]
    for backend in order:
        if backend == "whisper":
            recognizer, why = _whisper(deployment)
        elif backend == "vosk":
            recognizer, why = _vosk(deployment, require_french=wanted == "auto")
        else:
            recognizer, why = _sphinx(deployment)
        open_french = backend == "whisper" or (backend == "vosk" and recognizer is not None
                                                and recognizer.understands_french)  # fmt: skip
        if recognizer is not None and open_french:
            recognizer = _paired(recognizer, deployment, skipped)
        if recognizer is not None:
            text = recognizer.describe()
            if skipped:
                text += " Non utilisé : " + " ; ".join(skipped) + "."
            return RecognizerChoice(recognizer, backend, text, skipped)
        skipped.append(why)
    keypad = KeypadOnlyRecognizer()
    text = keypad.describe()
    if skipped:
        text += " Raison : " + " ; ".join(skipped) + "."
    return RecognizerChoice(keypad, "keypad", text, skipped)


async def _warm_up(recognizer: Any, count: int) -> None:
    """Decode a synthesised French sentence so the first calls do not pay a cold recogniser."""
    warm = getattr(recognizer, "warm_up", None)
    if count <= 0 or not callable(warm):
        return
    try:
        from standardiste.speech.tts import EspeakSynthesizer

        pcm = await EspeakSynthesizer().synthesize("Bonjour, je voudrais un rendez-vous mardi matin.")
        await warm(pcm, count)
    except Exception as err:  # only an optimisation
        log.warning("recogniser warm-up skipped: %r", err)


async def load_recognizer_ready(deployment: DeploymentConfig, warm_up: int = 1) -> RecognizerChoice:
    """Like load_recognizer, and loads the Vosk model now (off the loop), falling back if it fails.

    `warm_up`: how many Vosk recognisers to prepare for the first calls (0: none).
    """
    choice = load_recognizer(deployment)
    load = getattr(choice.recognizer, "load", None)
    if load is None:
        return choice
    try:
        result = load()
        if inspect.isawaitable(result):
            await result
        await _warm_up(choice.recognizer, warm_up)
        return choice
    except Exception as err:
        log.error("recogniser %s failed to load: %r", choice.recognizer.name, err)
        why = f"{choice.recognizer.name} n'a pas pu être chargé ({err})"
        if choice.backend in ("whisper", "vosk") and deployment.speech.recognizer == "auto":
            recognizer, reason = _sphinx(deployment)
            if recognizer is not None:
                return RecognizerChoice(recognizer, "sphinx", f"{recognizer.describe()} ({why})", [why])
            why = f"{why} ; {reason}"
        keypad = KeypadOnlyRecognizer()
        return RecognizerChoice(keypad, "keypad", f"{keypad.describe()} Raison : {why}.", [why])
