"""What the fallback dialplan plays by itself: French prompts and the hold music.

The prompts are said whenever a caller has to wait or leave a message, even when the assistant is
down, so Asterisk plays them from files (sound:custom/NAME) written at `pbx start`. The emergency
sentence always comes first. The hold music is a calm synthesized loop (no licence question);
replace it with your own files in the instance's share/moh directory.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import math
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str  # played as custom/<name> by asterisk/extensions.conf and queues.conf
    text: str  # French; {emergency} is the emergency number


WAIT = Prompt(
    "standardiste-attente",
    "En cas d'urgence, composez le {emergency}. Toutes les lignes de l'accueil sont occupées. "
    "Merci de patienter, nous allons vous répondre.",
)
WAIT_REMINDER = Prompt(
    "standardiste-attente-rappel",
    "Merci de patienter. En cas d'urgence, raccrochez et composez le {emergency}.",
)
MESSAGE = Prompt(
    "standardiste-messagerie",
    "En cas d'urgence, composez le {emergency}. Personne ne peut vous répondre pour le moment. "
    "Après le bip, laissez votre nom, votre numéro de téléphone et votre message, puis raccrochez.",
)
MESSAGE_RECEIVED = Prompt(
    "standardiste-message-recu", "Votre message est transmis au secrétariat. Au revoir."
)
UNAVAILABLE = Prompt(
    "standardiste-indisponible",
    "Le cabinet ne peut pas prendre votre appel pour le moment. Merci de rappeler plus tard. "
    "En cas d'urgence, composez le {emergency}.",
)
FALLBACK_PROMPTS: tuple[Prompt, ...] = (WAIT, WAIT_REMINDER, MESSAGE, MESSAGE_RECEIVED, UNAVAILABLE)

Synthesize = Callable[[str], Awaitable[bytes]]  # French text -> 16 kHz mono 16-bit PCM


class SoundTarget(Protocol):
    """What install_fallback_prompts needs of a PbxInstance (kept narrow for tests)."""

    def install_sound_pcm(self, name: str, pcm: bytes, rate: int = 16000) -> str: ...


async def install_fallback_prompts(
    pbx: SoundTarget, emergency: str, synthesize: Synthesize | None = None, voice: str = "fr+f2"
) -> list[str]:
    """Synthesize and install every fallback prompt; returns the names installed.

    Without a synthesizer given, the assistant's voice speaks them (SVOX Pico, or espeak-ng when Pico
    is not installed). A prompt that cannot be made is skipped: the dialplan then plays Asterisk's own
    French prompt instead.
    """
    if synthesize is None:
        from standardiste.speech.tts import load_synthesizer

        synthesize = load_synthesizer("auto", espeak_voice=voice).synthesizer.synthesize
    done: list[str] = []
    for prompt in FALLBACK_PROMPTS:
        try:
            pcm = await synthesize(prompt.text.format(emergency=emergency))
        except Exception as err:  # any engine failure: Asterisk's own prompt is played
            log.warning("fallback prompt %s not synthesized: %s", prompt.name, err)
            continue
        pbx.install_sound_pcm(prompt.name, pcm, 16000)
        done.append(prompt.name)
    return done


def install_fallback_prompts_sync(pbx: SoundTarget, emergency: str, voice: str = "fr+f2") -> list[str]:
    return asyncio.run(install_fallback_prompts(pbx, emergency, voice=voice))


@functools.lru_cache(maxsize=2)
def hold_music_pcm(seconds: float = 24.0, rate: int = 8000) -> bytes:
    """A calm, quiet loop: slow arpeggios of four chords (sine tones with soft attacks), 16-bit mono."""
    chords = ((261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7))
    note_s = 0.5
    samples = int(seconds * rate)
    out = bytearray()
    for i in range(samples):
        t = i / rate
        note = int(t / note_s)
        chord = chords[(note // 6) % len(chords)]
        freq = chord[note % 3] * (2 if note % 6 >= 3 else 1)
        local = t - note * note_s
        envelope = min(1.0, local / 0.03) * math.exp(-local * 3.0)
        pad = sum(math.sin(2 * math.pi * f / 2 * t) for f in chord) / 3 * 0.25
        value = 0.22 * (envelope * math.sin(2 * math.pi * freq * t) + pad)
        out += int(max(-1.0, min(1.0, value)) * 32767).to_bytes(2, "little", signed=True)
    return bytes(out)


def write_hold_music(directory: Path) -> Path:
    """Write the default hold music as <directory>/standardiste-attente.wav when absent."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / "standardiste-attente.wav"
    if out.exists():
        return out
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(hold_music_pcm())
    tmp = directory / ".standardiste-attente.tmp"
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)
    return out
