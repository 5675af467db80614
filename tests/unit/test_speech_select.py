"""Choosing the recogniser: Whisper > Vosk French (each paired with PocketSphinx grammars for closed
questions) > PocketSphinx grammars > keypad, always with a French reason."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from standardiste.config import DeploymentConfig, SpeechConfig
from standardiste.speech.arbitrate import ArbitratedRecognizer
from standardiste.speech.keypad_backend import KeypadOnlyRecognizer
from standardiste.speech.select import load_recognizer, load_recognizer_ready, looks_french
from standardiste.speech.vosk_backend import VoskRecognizer
from standardiste.speech.whisper_model import find_whisper_model
from tests.fixtures.parts import missing_part

FR = "vosk-model-small-fr-0.22"
INSTALLED_WHISPER = find_whisper_model()  # before the tests point the cache elsewhere


class FakeSphinx:
    """Stand-in for the PocketSphinx backend that another part of the project builds."""

    name = "sphinx-fr-8k-grammar"
    open_vocabulary = False
    understands_french = True

    def __init__(self, deployment: DeploymentConfig | None = None) -> None:
        self.deployment = deployment

    def describe(self) -> str:
        return "Reconnaissance PocketSphinx : réponses courtes attendues."

    async def stream(self, sample_rate: int = 16000) -> object:
        raise NotImplementedError


@pytest.fixture
def no_sphinx(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both the package and its module: earlier tests may have imported the real ones.
    for name in ("standardiste.speech.sphinx", "standardiste.speech.sphinx.recognizer"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))


@pytest.fixture
def fake_sphinx(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("standardiste.speech.sphinx")
    module.SphinxRecognizer = FakeSphinx  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "standardiste.speech.sphinx", module)


@pytest.fixture(autouse=True)
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDARDISTE_CACHE", str(tmp_path / "cache"))


def deployment(tmp_path: Path, **speech: object) -> DeploymentConfig:
    return DeploymentConfig(data_dir=tmp_path / "data", speech=SpeechConfig(**speech))  # type: ignore[arg-type]


def install_link(tmp_path: Path, target: Path, name: str = FR) -> Path:
    """A model folder under data_dir/models (a link to the Korean model: selection never loads it)."""
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / name).symlink_to(target)
    return models / name


def test_keypad_when_nothing_is_installed(tmp_path: Path, no_sphinx: None) -> None:
    choice = load_recognizer(deployment(tmp_path))
    assert choice.backend == "keypad" and isinstance(choice.recognizer, KeypadOnlyRecognizer)
    assert "clavier" in choice.explanation and "models install" in choice.explanation
    recognizer, explanation = choice  # unpacks as (recognizer, explanation)
    assert recognizer is choice.recognizer and explanation == choice.explanation


def test_vosk_french_model_wins_in_auto(tmp_path: Path, vosk_ko_model: Path, fake_sphinx: None) -> None:
    install_link(tmp_path, vosk_ko_model)
    choice = load_recognizer(deployment(tmp_path))
    assert choice.backend == "vosk" and isinstance(choice.recognizer, ArbitratedRecognizer)
    vosk = choice.recognizer.open
    assert isinstance(vosk, VoskRecognizer) and isinstance(choice.recognizer.grammar, FakeSphinx)
    assert vosk.understands_french and vosk.name == f"vosk:{FR}"
    assert choice.recognizer.name == f"vosk:{FR}+sphinx-fr-8k-grammar"
    assert not vosk.loaded  # cheap: the model loads on first use
    assert "librement" in choice.explanation


def test_sphinx_when_no_vosk_model(tmp_path: Path, fake_sphinx: None) -> None:
    choice = load_recognizer(deployment(tmp_path))
    assert choice.backend == "sphinx" and isinstance(choice.recognizer, FakeSphinx)
    assert choice.recognizer.deployment is not None  # given the deployment (keyword `deployment`)
    assert "PocketSphinx" in choice.explanation
    assert any("pas installé" in s for s in choice.skipped)


def test_broken_sphinx_falls_back_to_keypad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def __init__(self) -> None:
            raise RuntimeError("modèle acoustique absent")

    module = types.ModuleType("standardiste.speech.sphinx")
    module.SphinxRecognizer = Broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "standardiste.speech.sphinx", module)
    choice = load_recognizer(deployment(tmp_path))
    assert choice.backend == "keypad"
    assert "modèle acoustique absent" in choice.explanation


def test_non_french_model_is_skipped_in_auto_but_used_when_asked(
    tmp_path: Path, vosk_ko_model: Path, no_sphinx: None
) -> None:
    assert load_recognizer(deployment(tmp_path, vosk_model=str(vosk_ko_model))).backend == "keypad"
    choice = load_recognizer(deployment(tmp_path, recognizer="vosk", vosk_model=str(vosk_ko_model)))
    assert choice.backend == "vosk" and not choice.recognizer.understands_french
    assert "clavier" in choice.explanation


def test_keypad_forced_by_config(tmp_path: Path, vosk_ko_model: Path, fake_sphinx: None) -> None:
    install_link(tmp_path, vosk_ko_model)
    choice = load_recognizer(deployment(tmp_path, recognizer="keypad"))
    assert choice.backend == "keypad" and "configuration" in choice.explanation


def test_vosk_asked_but_missing_falls_back_to_keypad(tmp_path: Path, fake_sphinx: None) -> None:
    choice = load_recognizer(deployment(tmp_path, recognizer="vosk"))
    assert choice.backend == "keypad" and "pas installé" in choice.explanation


@pytest.mark.slow
async def test_model_that_fails_to_load_falls_back(tmp_path: Path, fake_sphinx: None) -> None:
    broken = tmp_path / "broken"
    (broken / "am").mkdir(parents=True)
    (broken / "conf").mkdir()
    (broken / "am" / "final.mdl").write_bytes(b"corrupted")
    install_link(tmp_path, broken)
    choice = await load_recognizer_ready(deployment(tmp_path))
    assert choice.backend == "sphinx" and "n'a pas pu être chargé" in choice.explanation


def test_looks_french() -> None:
    assert (
        looks_french(FR)
        and looks_french("vosk-model-fr-0.22")
        and looks_french("vosk-model-fr-0.6-linto-2.2.0")
    )
    assert not looks_french("vosk-model-small-en-us-0.15") and not looks_french("model")


async def test_keypad_stream_hears_nothing() -> None:
    recognizer = KeypadOnlyRecognizer()
    assert not recognizer.understands_french and not recognizer.open_vocabulary
    stream = await recognizer.stream()
    await stream.set_grammar(["oui", "non"])
    assert await stream.accept(b"\x00" * 640) is None
    final = await stream.finish()
    assert final.final and final.text == ""
    await stream.close()
    with pytest.raises(RuntimeError):
        await stream.accept(b"\x00" * 640)


def test_real_sphinx_backend_is_picked_when_it_loads(tmp_path: Path) -> None:
    try:
        from standardiste.speech.sphinx import SphinxRecognizer
    except ImportError as err:
        missing_part("PocketSphinx", f"standardiste.speech.sphinx not importable: {err}")
    choice = load_recognizer(deployment(tmp_path))
    assert choice.backend == "sphinx" and isinstance(choice.recognizer, SphinxRecognizer)
    assert "Non utilisé" in choice.explanation and "models install" in choice.explanation
    close = getattr(choice.recognizer, "close", None)
    if callable(close):
        close()


@pytest.mark.slow
async def test_ready_recogniser_is_loaded_and_warmed(tmp_path: Path, vosk_ko_model: Path) -> None:
    choice = await load_recognizer_ready(
        deployment(tmp_path, recognizer="vosk", vosk_model=str(vosk_ko_model))
    )
    assert isinstance(choice.recognizer, VoskRecognizer)
    assert choice.recognizer.loaded and choice.recognizer.idle_recognizers() == 1
    choice.recognizer.shutdown()


def test_whisper_wins_in_auto_paired_with_sphinx(tmp_path: Path, fake_sphinx: None) -> None:
    from standardiste.speech.whisper_backend import WhisperRecognizer

    if INSTALLED_WHISPER is None:
        missing_part("the Whisper base model", "run scripts/setup.sh (models install whisper)")
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    (models / "whisper-base-ct2").symlink_to(INSTALLED_WHISPER)
    choice = load_recognizer(deployment(tmp_path))
    assert choice.backend == "whisper" and isinstance(choice.recognizer, ArbitratedRecognizer)
    assert isinstance(choice.recognizer.open, WhisperRecognizer)
    assert isinstance(choice.recognizer.grammar, FakeSphinx)
    assert choice.recognizer.open_vocabulary and choice.recognizer.understands_french
    assert "Whisper" in choice.explanation and "questions fermées" in choice.explanation
    assert not choice.recognizer.open.engine.loaded  # cheap: the model loads at start-up, off the loop


def test_whisper_asked_but_missing_says_how_to_install(tmp_path: Path, fake_sphinx: None) -> None:
    choice = load_recognizer(deployment(tmp_path, recognizer="whisper"))
    assert choice.backend == "keypad" and "models install whisper" in choice.explanation
