"""The engine as a whole: model caching, per-practice training data, bad input, the Rasa HTTP backend."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest

from standardiste.config import Config
from standardiste.understanding import classifier
from standardiste.understanding.classifier import (
    IntentModel,
    TrainingDataError,
    data_hash,
    load_examples,
    obtain_model,
    packaged_model,
    packaged_nlu,
)
from standardiste.understanding.engine import LocalUnderstander, load_understander
from standardiste.understanding.rasa_http import RasaHttpIntents
from standardiste.understanding.types import Intent, Urgency

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=ZoneInfo("Europe/Paris"))

TINY_NLU = """version: "3.1"
nlu:
- intent: affirm
  examples: |
    - oui
    - d'accord
    - c'est parfait
- intent: deny
  examples: |
    - non
    - pas du tout
    - surtout pas
- intent: ask_parking
  examples: |
    - où se garer
    - il y a un [parking](place) près du cabinet
    - stationnement gratuit
"""


@pytest.fixture(scope="module")
def engine(demo_config: Config) -> LocalUnderstander:
    return load_understander(demo_config.practice)


def test_packaged_model_matches_packaged_data() -> None:
    # If this fails, run: standardiste understand --build-package-model
    model = IntentModel.load(packaged_model())
    assert model.key == data_hash(load_examples([packaged_nlu()]))
    assert set(model.classes) == set(Intent)


def test_packaged_data_has_enough_examples_per_intent() -> None:
    counts: dict[Intent, int] = {}
    for _, intent in load_examples([packaged_nlu()]):
        counts[intent] = counts.get(intent, 0) + 1
    assert set(counts) == set(Intent)
    assert min(counts.values()) >= 40
    assert counts[Intent.BOOK_APPOINTMENT] >= 100 and counts[Intent.EMERGENCY] >= 60


def test_model_trained_once_then_cached(tmp_path: Path) -> None:
    nlu = tmp_path / "nlu.yml"
    nlu.write_text(TINY_NLU, encoding="utf-8")
    cache = tmp_path / "cache"
    model, where = obtain_model([nlu], cache)
    assert where == "trained"
    files = list(cache.glob("intent-*.npz"))
    assert len(files) == 1 and model.key in files[0].name
    again, where = obtain_model([nlu], cache)
    assert where == "cache" and again.key == model.key
    assert again.predict("il y a un parking")[0][0] is Intent.ASK_PARKING
    # Changed data: a new key, trained again.
    nlu.write_text(TINY_NLU + "    - on peut se garer\n", encoding="utf-8")
    _, where = obtain_model([nlu], cache)
    assert where == "trained" and len(list(cache.glob("intent-*.npz"))) == 2


def test_corrupt_cache_is_retrained(tmp_path: Path) -> None:
    nlu = tmp_path / "nlu.yml"
    nlu.write_text(TINY_NLU, encoding="utf-8")
    model, _ = obtain_model([nlu], tmp_path)
    (tmp_path / f"intent-{model.key}.npz").write_bytes(b"not a zip")
    _, where = obtain_model([nlu], tmp_path)
    assert where == "trained"


def test_entity_markup_is_stripped(tmp_path: Path) -> None:
    nlu = tmp_path / "nlu.yml"
    nlu.write_text(TINY_NLU, encoding="utf-8")
    texts = [t for t, _ in load_examples([nlu])]
    assert "il y a un parking près du cabinet" in texts


@pytest.mark.parametrize(
    "content",
    [
        "nlu:\n- intent: not_an_intent\n  examples: |\n    - bonjour\n",
        "nlu: [\n",
    ],
)
def test_bad_training_data_is_a_clear_error(tmp_path: Path, content: str) -> None:
    nlu = tmp_path / "bad.yml"
    nlu.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"bad\.yml"):
        load_examples([nlu])


@pytest.mark.slow
def test_practice_extra_training_data(demo_config: Config, tmp_path: Path) -> None:
    """A practice adds its own phrasing in its own file; the package is untouched."""
    extra = tmp_path / "cabinet.yml"
    extra.write_text(
        'version: "3.1"\nnlu:\n- intent: ask_parking\n  examples: |\n'
        + "".join(
            f"    - {s}\n"
            for s in (
                "le garage à vélos du square",
                "la borne de recharge pour la voiture électrique",
                "recharger ma voiture électrique chez vous",
                "une borne pour la voiture électrique",
            )
        ),
        encoding="utf-8",
    )
    practice = demo_config.practice.model_copy(update={"nlu_extra": [extra]})
    before = packaged_model().read_bytes()
    custom = load_understander(practice, cache_dir=tmp_path / "cache")
    assert packaged_model().read_bytes() == before
    assert list((tmp_path / "cache").glob("intent-*.npz"))
    result = custom.parse("vous avez une borne de recharge pour voiture électrique", NOW)
    assert result.intent is Intent.ASK_PARKING


@pytest.mark.parametrize("text", ["", "   ", "euh", "qsdkfj qsdlkfj", "a" * 2000, "🙂 ??? !!!", "\x00\x01"])
def test_garbage_gives_a_safe_answer(engine: LocalUnderstander, text: str) -> None:
    result = engine.parse(text, NOW)
    assert result.urgency is Urgency.NORMAL
    assert result.intent in set(Intent)
    json.dumps(result.to_json())


def test_low_confidence_becomes_out_of_scope_with_guesses(engine: LocalUnderstander) -> None:
    result = engine.parse("le truc là pour le machin de mardi", NOW)
    if result.low_confidence:
        assert result.intent is Intent.OUT_OF_SCOPE and result.alternatives
        assert result.alternatives[0][1] == pytest.approx(result.confidence, abs=1e-3)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("je voudrais prendre rendez-vous avec le docteur martin demain matin", Intent.BOOK_APPOINTMENT),
        ("je dois annuler mon rendez-vous de jeudi", Intent.CANCEL_APPOINTMENT),
        ("quels sont vos horaires", Intent.ASK_HOURS),
        ("passez-moi la secrétaire", Intent.SPEAK_TO_HUMAN),
        ("oui", Intent.AFFIRM),
        ("non merci", Intent.DENY),
        ("il me faut un renouvellement d'ordonnance", Intent.PRESCRIPTION_RENEWAL),
    ],
)
def test_intents(engine: LocalUnderstander, text: str, intent: Intent) -> None:
    assert engine.parse(text, NOW).intent is intent


def test_failing_intent_source_falls_back_to_clarification(demo_config: Config, engine) -> None:  # type: ignore[no-untyped-def]
    def broken(text: str) -> list[tuple[Intent, float]]:
        raise RuntimeError("boom")

    fragile = LocalUnderstander(demo_config.practice, broken, dates=engine.dates)
    assert fragile.parse("je voudrais un rendez-vous", NOW).intent is Intent.OUT_OF_SCOPE
    # The emergency rules do not depend on the classifier.
    assert fragile.parse("il ne respire plus", NOW).urgency is Urgency.URGENT


# --- Rasa HTTP backend ----------------------------------------------------------------------------------
# Stand-in for a Rasa server: Rasa itself cannot run on Python 3.11 here (see shared notes), so this
# tiny server answers POST /model/parse in Rasa's documented response format.


class _RasaStandIn(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "body": body})
        if body["text"] == "casse":
            self.send_response(500)
            self.end_headers()
            return
        answer = {
            "text": body["text"],
            "intent": {"name": "ask_parking", "confidence": 0.93},
            "intent_ranking": [
                {"name": "ask_parking", "confidence": 0.93},
                {"name": "clinic_specific", "confidence": 0.05},
            ],
            "entities": [],
        }
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rasa_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RasaStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _RasaStandIn.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_rasa_backend_intents(rasa_url: str) -> None:
    rasa = RasaHttpIntents(rasa_url)
    ranked = rasa("je peux me garer")
    assert ranked[0] == (Intent.ASK_PARKING, 0.93)
    assert ranked[1][0] is Intent.OUT_OF_SCOPE  # unknown clinic intent
    assert _RasaStandIn.seen[0] == {"path": "/model/parse", "body": {"text": "je peux me garer"}}


def test_rasa_backend_keeps_local_rules_and_entities(demo_config: Config, engine, rasa_url: str) -> None:  # type: ignore[no-untyped-def]
    with_rasa = LocalUnderstander(demo_config.practice, RasaHttpIntents(rasa_url), dates=engine.dates)
    result = with_rasa.parse("j'ai une douleur dans la poitrine", NOW)
    assert result.urgency is Urgency.URGENT and result.intent is Intent.EMERGENCY
    result = with_rasa.parse("je peux me garer demain matin", NOW)
    assert result.intent is Intent.ASK_PARKING and result.entities


def test_rasa_failure_falls_back_to_local_model(engine, rasa_url: str) -> None:  # type: ignore[no-untyped-def]
    local = classifier.IntentModel.load(packaged_model())
    rasa = RasaHttpIntents(rasa_url, fallback=local.predict)
    assert rasa("casse")[0][0] in set(Intent)  # HTTP 500 -> local answer
    down = RasaHttpIntents("http://127.0.0.1:9", fallback=local.predict, timeout_s=0.2)
    assert down("quels sont vos horaires")[0][0] is Intent.ASK_HOURS
    assert RasaHttpIntents("http://127.0.0.1:9", timeout_s=0.2)("bonjour") == []


def test_load_understander_uses_rasa_when_configured(demo_config: Config, rasa_url: str) -> None:
    understander = load_understander(demo_config.practice, rasa_url=rasa_url)
    assert isinstance(understander.intents, RasaHttpIntents)
    assert understander.parse("bla", NOW).intent is Intent.ASK_PARKING


def test_rasa_list_form_examples(tmp_path: Path) -> None:
    nlu = tmp_path / "list.yml"
    nlu.write_text(
        'version: "3.1"\nnlu:\n- intent: deny\n  examples:\n  - text: non merci\n  - text: pas du tout\n'
        "- synonym: docteur\n  examples: |\n    - toubib\n",
        encoding="utf-8",
    )
    assert load_examples([nlu]) == [("non merci", Intent.DENY), ("pas du tout", Intent.DENY)]


def test_parse_from_several_threads(engine: LocalUnderstander) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [
        "je voudrais un rendez-vous demain matin avec le docteur martin",
        "j'ai une douleur dans la poitrine",
        "mon numéro c'est le zéro six douze trente-quatre cinquante-six soixante-dix-huit",
        "quels sont vos horaires",
    ] * 5
    alone = [engine.parse(t, NOW) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda t: engine.parse(t, NOW), texts))
    assert [(u.intent, u.urgency, u.entities) for u in together] == [
        (u.intent, u.urgency, u.entities) for u in alone
    ]
