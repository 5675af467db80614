"""`standardiste call`: place a test call from a SIP test phone and print what was said both ways."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from standardiste.cli.common import add_config_option, config_from
from standardiste.config import Config
from standardiste.pbx import PbxError, deployment_instance
from standardiste.testphone import PhoneError, TestPhone, read_wav, sound_segments
from standardiste.testphone.phone import CLOCK_RATE, PhoneCall


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "call",
        help="appel de test depuis un téléphone SIP de test : affiche ce qui a été dit dans les deux sens",
    )
    add_config_option(parser)
    parser.add_argument("--number", default=None, help="numéro à appeler (défaut : le numéro du cabinet)")
    parser.add_argument("--phone", default="caller1", help="téléphone de test qui appelle (défaut caller1)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--play", type=Path, default=None, help="fichier WAV à faire entendre")
    what.add_argument("--say", default=None, help="texte à dire (synthèse vocale française)")
    parser.add_argument("--dtmf", default="", help="touches à taper (ex. 1 ou 0)")
    parser.add_argument("--seconds", type=float, default=20.0, help="durée de l'appel après la réponse")
    parser.add_argument(
        "--after",
        type=float,
        default=None,
        help="secondes après la réponse avant de parler (défaut : fin d'accueil)",
    )
    parser.add_argument(
        "--save-heard", type=Path, default=None, help="enregistrer ce qui a été entendu (WAV)"
    )
    parser.add_argument("--no-transcript", action="store_true", help="ne pas transcrire ce qui a été entendu")
    parser.set_defaults(func=cmd_call)


@dataclass
class Sent:
    at_s: float
    what: str


def cmd_call(args: argparse.Namespace) -> int:
    config = config_from(args)
    try:
        return asyncio.run(_call(args, config))
    except (PhoneError, PbxError) as err:
        print(f"Échec de l'appel / call failed: {err}", file=sys.stderr)
        return 1


async def _call(args: argparse.Namespace, config: Config) -> int:
    pbx = deployment_instance(config.deployment)
    if pbx.pid() is None:
        print("Asterisk ne tourne pas : lancez `standardiste pbx start` (ou `make run`).", file=sys.stderr)
        return 3
    number = args.number or config.deployment.asterisk.practice_extension
    speech = await _prepare_speech(args, config)
    phone = await TestPhone(pbx.phone(args.phone)).start()
    sent: list[Sent] = []
    try:
        print(f"Appel de {number} depuis « {args.phone} » ...", flush=True)
        call = await phone.call(number)
        await call.wait_answered(30)
        answered = time.monotonic()
        print("Décroché.", flush=True)
        await _wait_turn(call, args.after)
        if speech is not None and not call.ended:
            label, pcm = speech
            sent.append(Sent(time.monotonic() - answered, label))
            await call.play_pcm(pcm)
        for digit in args.dtmf:
            if call.ended:
                break
            sent.append(Sent(time.monotonic() - answered, f"touche {digit}"))
            await call.send_dtmf(digit)
        remaining = args.seconds - (time.monotonic() - answered)
        with contextlib.suppress(PhoneError):
            await call.wait_disconnected(max(0.0, remaining))
        ended_by = "le correspondant" if call.ended else "nous"
        await call.hangup()
        heard = call.heard_pcm()
        # The recording starts when audio starts, a few ms after the answer.
        offset = (call.record_started_at or answered) - answered
        if args.save_heard:
            call.save_heard(args.save_heard)
        print(f"Raccroché par {ended_by}.\n")
        await _report(heard, offset, sent, config, not args.no_transcript)
        if args.save_heard:
            print(f"\nEntendu enregistré dans {args.save_heard}")
    finally:
        await phone.close()
    return 0


async def _prepare_speech(args: argparse.Namespace, config: Config) -> tuple[str, bytes] | None:
    if args.play is not None:
        from standardiste.pbx.instance import _to_mono16

        pcm, rate = read_wav(args.play)
        if rate != CLOCK_RATE:
            pcm = _to_mono16(pcm, rate, 2, 1)
        return f"fichier {args.play.name} ({len(pcm) / 2 / CLOCK_RATE:.1f} s)", pcm
    if args.say:
        from standardiste.speech.tts import EspeakSynthesizer

        speech = config.deployment.speech
        pcm = await EspeakSynthesizer(voice=speech.voice, speed_wpm=speech.speed_wpm).synthesize(args.say)
        return f"« {args.say} » ({len(pcm) / 2 / CLOCK_RATE:.1f} s)", pcm
    return None


async def _wait_turn(call: PhoneCall, after: float | None) -> None:
    """Wait `after` seconds, or until the greeting has been heard and ~0.6 s of silence follows."""
    if after is not None:
        await asyncio.sleep(after)
        return
    deadline = time.monotonic() + 15.0
    heard_sound = False
    while not call.ended and time.monotonic() < deadline:
        segments = sound_segments(call.heard_pcm())
        if segments:
            heard_sound = True
            if call.heard_seconds() - segments[-1][1] >= 0.6:
                return
        elif not heard_sound and time.monotonic() > deadline - 10.0:
            return  # nothing said in 5 s: go ahead
        await asyncio.sleep(0.1)


async def _report(heard: bytes, offset: float, sent: list[Sent], config: Config, transcribe: bool) -> None:
    segments = sound_segments(heard, min_gap_s=0.3)
    events: list[tuple[float, str]] = [(s.at_s, f"→ envoyé  : {s.what}") for s in sent]
    texts = await _transcribe(heard, segments, config) if transcribe and segments else {}
    for i, (start, end) in enumerate(segments):
        text = texts.get(i)
        line = f"← entendu : {end - start:.1f} s de parole"
        if text:
            line += f" : « {text} »"
        events.append((start + offset, line))
    for at, line in sorted(events):
        print(f"[{at:6.2f} s] {line}")
    if not segments:
        print("(rien entendu)")
    if texts.get(-1):
        print(f"({texts[-1]})")


async def _transcribe(heard: bytes, segments: list[tuple[float, float]], config: Config) -> dict[int, str]:
    """Optional: transcripts of each heard segment with the configured recogniser."""
    try:
        from standardiste.speech.select import load_recognizer_ready

        choice = await load_recognizer_ready(config.deployment)
        if choice.backend == "keypad":
            return {-1: "pas de transcription : aucun modèle de reconnaissance installé"}
        texts: dict[int, str] = {}
        for i, (start, end) in enumerate(segments):
            stream = await choice.recognizer.stream(CLOCK_RATE)
            pcm = heard[int(start * CLOCK_RATE) * 2 : int((end + 0.3) * CLOCK_RATE) * 2]
            for pos in range(0, len(pcm), 640):
                await stream.accept(pcm[pos : pos + 640])
            result = await stream.finish()
            await stream.close()
            if result.text:
                texts[i] = result.text
        return texts
    except Exception as err:  # transcription is a bonus; never fail the call report
        return {-1: f"pas de transcription : {err}"}
