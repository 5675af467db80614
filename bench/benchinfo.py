"""What every benchmark states with its figures: the recogniser on the measured path, the audio source,
the machine and its load (issue 14, item 5). Printed, and stored in the results under "context"."""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from standardiste.speech.whisper_backend import WhisperEngine


def describe(recogniser: str, audio_source: str) -> dict[str, Any]:
    """Prints and returns the context of a run; call it when the figures are taken (load changes)."""
    load = [round(x, 2) for x in os.getloadavg()]
    context = {
        "recogniser": recogniser,
        "audio_source": audio_source,
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPU, "
        f"python {platform.python_version()}",
        "machine_load_1_5_15min": load,
    }
    print(
        f"context: recogniser: {recogniser}; audio: {audio_source}; machine: {context['machine']}; "
        f"load (1/5/15 min): {load}",
        flush=True,
    )
    return context


def whisper_engine(workers: int = 1) -> WhisperEngine:
    """Whisper base loaded as the server loads it; exits with a clear message where it is not installed."""
    from standardiste.speech.whisper_backend import WhisperEngine
    from standardiste.speech.whisper_model import find_whisper_model

    model = find_whisper_model()
    if model is None:
        raise SystemExit("Whisper base model not installed (standardiste models install whisper)")
    engine = WhisperEngine(model, workers=workers)
    engine.load()
    return engine
