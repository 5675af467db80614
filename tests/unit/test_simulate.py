"""Every conversation flow through the simulation channel: the real understanding engine, the real SQL
agenda (a fresh migrated SQLite copy per call), scripted calls from tests/data/scripted_calls.jsonl."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from standardiste.cli import simulate as simulate_cli
from standardiste.dialogue.messages import CallerHungUp, Heard, Keypad, NoInput, TransferFailed
from standardiste.dialogue.simulation import ScriptError, check_expectation, parse_turn, summary
from tests.fixtures.dialogue import SIM_NOW

DATA = Path(__file__).parent.parent / "data"
SCRIPT = DATA / "scripted_calls.jsonl"
CALLS = [json.loads(line) for line in SCRIPT.read_text(encoding="utf-8").splitlines() if line.strip()]
# Written after the engine was tuned on CALLS, never tuned on: kept to measure, not to pass.
HOLDOUT = [
    json.loads(line)
    for line in (DATA / "scripted_calls_holdout.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]
# Known misses, each with its reason (the task success in bench/results/dialogue.json counts them).
KNOWN_MISSES = {
    "ho-results-radio": "the classifier is unsure ('a-t-il reçu ma radio': test_results 0.34, speak_to_human "
    "0.32); the assistant asks which, this script (written before) does not answer it: transfer",
}


def cli(argv: list[str]) -> int:
    """`standardiste simulate ...` through its own subparser (other subcommands are not needed here)."""
    import argparse

    parser = argparse.ArgumentParser(prog="standardiste")
    simulate_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def by_id(call_id: str) -> dict:
    return next(c for c in CALLS if c["id"] == call_id)


def test_script_covers_every_flow():
    assert len(CALLS) >= 50
    assert len({c["id"] for c in CALLS}) == len(CALLS)
    kinds = {c["expect"]["kind"] for c in CALLS}
    assert kinds >= {
        "booked", "cancelled", "rescheduled", "confirmed", "request_filed", "answered", "transferred",
        "emergency_transferred", "abandoned", "wrong_person",
    }  # fmt: skip
    assert any(c.get("open_speech") is False for c in CALLS)
    assert any(c.get("direction") == "outbound" for c in CALLS)
    assert any("<transfer_failed>" in c["turns"] for c in CALLS)


@pytest.mark.parametrize("call", CALLS, ids=[c["id"] for c in CALLS])
def test_scripted_call(simulator, call):
    result = simulator.run(call)
    dialogue = "\n".join(f"{d['speaker']}: {d['text']}" for d in result.dialogue)
    assert result.ok, f"{result.mismatches}\n{dialogue}"
    # Whatever happened, the caller always heard something and every assistant line is French text.
    assert result.dialogue[0]["speaker"] == "assistant"


@pytest.mark.parametrize("call", HOLDOUT, ids=[c["id"] for c in HOLDOUT])
def test_holdout_call(simulator, call):
    if call["id"] in KNOWN_MISSES:
        pytest.xfail(KNOWN_MISSES[call["id"]])
    result = simulator.run(call)
    dialogue = "\n".join(f"{d['speaker']}: {d['text']}" for d in result.dialogue)
    assert result.ok, f"{result.mismatches}\n{dialogue}"


def test_booking_lands_in_the_agenda(simulator):
    result = simulator.run(by_id("book-martin-thursday-morning"), with_state=True)
    [appointment] = result.state["appointments"]
    assert appointment["status"] == "booked"
    assert appointment["patient"] == "Dupont Marie"
    assert appointment["birth_date"] == "1985-03-15"
    assert appointment["phone"] == "+33612345678"
    assert appointment["start"] == result.outcome["start"] == "2026-11-26T08:30:00+01:00"
    said = [d["text"] for d in result.dialogue if d["speaker"] == "assistant"]
    assert any(t.startswith("Je récapitule :") for t in said)
    assert "jeudi vingt-six novembre à huit heures trente" in said[-2]


def test_each_call_starts_from_fresh_data(simulator):
    first = simulator.run(by_id("book-pick-by-time"))
    second = simulator.run(by_id("book-pick-by-time"))
    assert first.ok and second.ok
    assert first.outcome["start"] == second.outcome["start"]


def test_cancel_and_move_change_the_agenda(simulator):
    cancelled = simulator.run(by_id("cancel-voice"), with_state=True)
    assert [a["status"] for a in cancelled.state["appointments"]] == ["cancelled"]
    moved = simulator.run(by_id("move-voice"), with_state=True)
    [appointment] = [a for a in moved.state["appointments"] if a["status"] != "cancelled"]
    assert appointment["start"] == moved.outcome["start"] != moved.outcome["previous_start"]


def test_declined_cancellation_keeps_the_appointment(simulator):
    result = simulator.run(by_id("cancel-keeps-if-no"), with_state=True)
    assert [a["status"] for a in result.state["appointments"]] == ["booked"]


def test_request_is_structured_for_the_staff(simulator):
    result = simulator.run(by_id("request-prescription"), with_state=True)
    [request] = result.state["requests"]
    assert request["kind"] == "prescription_renewal"
    assert request["caller_name"] == "André Martin"
    assert request["birth_date"] == "1950-08-08"
    assert request["callback_number"] == "+33612345678"
    assert "ramipril" in request["details"]
    assert not request["urgent"]
    said = " ".join(d["text"] for d in result.dialogue if d["speaker"] == "assistant")
    assert "rappellera" in said  # what happens next is said


def test_results_are_never_read_out(simulator):
    result = simulator.run(by_id("request-results"))
    said = " ".join(d["text"] for d in result.dialogue if d["speaker"] == "assistant")
    assert "Je ne peux pas communiquer de résultats par téléphone" in said


def test_follow_up_concern_is_urgent(simulator):
    result = simulator.run(by_id("followup-worrying"), with_state=True)
    [request] = result.state["requests"]
    assert request["kind"] == "follow_up_concern" and request["urgent"]


def test_two_requests_in_one_sentence(simulator):
    result = simulator.run(by_id("multi-two-in-one-sentence"), with_state=True)
    kinds = [t["kind"] for t in result.outcome["tasks"]]
    assert kinds == ["booked", "request_filed"]
    assert result.state["requests"][0]["kind"] == "prescription_renewal"
    assert "diabète" in result.state["requests"][0]["details"]


def test_hours_say_when_the_practice_reopens(simulator):
    result = simulator.run(by_id("faq-hours-when-closed"))
    said = result.dialogue[2]["text"]
    assert (
        "En ce moment, le cabinet est fermé ; il rouvre demain, lundi trente novembre à huit heures trente"
        in said
    )


def test_child_booking_asks_for_the_child(simulator):
    result = simulator.run(by_id("book-child-name-asked"), with_state=True)
    said = [d["text"] for d in result.dialogue if d["speaker"] == "assistant"]
    assert any("le prénom de l'enfant" in t for t in said)
    assert result.state["appointments"][0]["patient"] == "Petit Léa"


def test_wrong_person_hears_nothing_about_the_appointment(simulator):
    result = simulator.run(by_id("reminder-wrong-person"))
    said = " ".join(d["text"] for d in result.dialogue if d["speaker"] == "assistant")
    assert "novembre" not in said and "Benali" not in said and "rendez-vous" not in said


def test_emergency_without_reception_says_15_twice(simulator):
    result = simulator.run(by_id("emergency-breathing-no-reception"))
    said = result.dialogue[-2]["text"]
    assert said.count("composez le 15") == 2
    assert result.dialogue[-1]["text"] == "<raccroché>"


def test_grammar_only_confirms_every_spoken_slot(simulator):
    result = simulator.run(by_id("grammar-book"))
    said = [d["text"] for d in result.dialogue if d["speaker"] == "assistant"]
    confirmations = [t for t in said if t.startswith("J'ai compris")]
    assert len(confirmations) == 4  # practitioner, day, slot, name (keypad entries are not read back)


def test_parse_turn():
    assert isinstance(parse_turn("#12", SIM_NOW), Keypad) and parse_turn("#12#", SIM_NOW).digits == "12"
    assert isinstance(parse_turn("", SIM_NOW), NoInput)
    assert isinstance(parse_turn("<silence>", SIM_NOW), NoInput)
    assert isinstance(parse_turn("<hangup>", SIM_NOW), CallerHungUp)
    assert isinstance(parse_turn("<transfer_failed>", SIM_NOW), TransferFailed)
    assert isinstance(parse_turn("bonjour", SIM_NOW), Heard)
    with pytest.raises(ScriptError):
        parse_turn(12, SIM_NOW)


def test_expectations_compare_instants():
    outcome = {"kind": "booked", "start": "2026-11-26T07:30:00+00:00"}
    assert check_expectation({"kind": "booked", "start": "2026-11-26T08:30:00+01:00"}, outcome) == []
    assert check_expectation({"kind": "cancelled"}, outcome)


def test_bad_setup_is_a_clear_error(simulator):
    with pytest.raises(ScriptError, match=r"setup\.patients"):
        simulator.run({"id": "x", "turns": [], "setup": {"patients": [{"last_name": "A"}]}})


def test_setup_refused_by_the_agenda_is_a_clear_error(simulator):
    past = {"patient": 0, "practitioner": "benali", "start": "2020-01-06T09:00:00"}
    spec = by_id("cancel-voice") | {
        "setup": {
            "patients": [{"last_name": "A", "first_name": "B", "birth_date": "1970-01-01"}],
            "appointments": [past],
        }
    }
    with pytest.raises(ScriptError, match="refused by the agenda"):
        simulator.run(spec)


def test_summary_counts_task_success(simulator):
    results = [simulator.run(by_id("faq-hours-key")), simulator.run(by_id("human-key0"))]
    results.append(simulator.run({"id": "wrong", "turns": ["#1"], "expect": {"kind": "booked"}}))
    report = summary(results)["summary"]
    assert report["with_expectations"] == 3 and report["succeeded"] == 2
    assert report["failed"] == ["wrong"]


def test_cli_batch(tmp_path, capsys):
    script = tmp_path / "calls.jsonl"
    lines = [json.dumps(by_id("faq-hours-key")), "{not json", json.dumps(by_id("book-keypad-menu")), ""]
    script.write_text("\n".join(lines), encoding="utf-8")
    rc = cli(["simulate", "--script", str(script), "--now", SIM_NOW.isoformat()])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 1  # one malformed line
    assert out[0]["id"] == "faq-hours-key" and out[0]["outcome"]["kind"] == "answered"
    assert out[1]["line"] == 2 and "error" in out[1]
    assert out[2]["outcome"]["kind"] == "booked" and out[2]["ok"] is True
    assert out[3]["summary"]["task_success"] == 1.0 and out[3]["summary"]["script_errors"] == 1


def test_cli_missing_script(tmp_path, capsys):
    assert cli(["simulate", "--script", str(tmp_path / "nope.jsonl")]) == 2
    assert "illisible" in capsys.readouterr().err


def test_cli_interactive(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("#1\nnon merci\n"))
    assert cli(["simulate", "--now", (SIM_NOW + dt.timedelta(hours=1)).isoformat()]) == 0
    out = capsys.readouterr().out
    assert "Cabinet médical des Tilleuls, bonjour" in out
    assert "du lundi au vendredi" in out
    assert json.loads(out.strip().splitlines()[-1])["outcome"]["kind"] == "answered"


def test_random_turns_never_break_the_engine(simulator, caplog):
    """Scripted phrases, keys and silences in random order: no internal error, every call ends cleanly."""
    import random

    rng = random.Random(20261124)
    vocabulary = sorted({t for call in CALLS for t in call["turns"]})
    vocabulary += ["#9", "#12", "#*", "#00000000", "#31022000", "!!!", "é" * 300, "oui non", "<silence>"]
    for index in range(60):
        spec = {k: v for k, v in rng.choice(CALLS).items() if k != "expect"}
        spec["id"] = f"random-{index}"
        spec["turns"] = [rng.choice(vocabulary) for _ in range(rng.randint(1, 12))]
        spec["open_speech"] = rng.random() > 0.3
        spec["reception_available"] = rng.choice([None, False, True])
        result = simulator.run(spec)
        assert result.outcome.get("reason") != "internal_error", spec
        assert result.outcome["kind"] in {
            "booked", "cancelled", "rescheduled", "confirmed", "request_filed", "answered", "transferred",
            "emergency_transferred", "abandoned", "wrong_person", "no_answer", "failed",
        }  # fmt: skip
    assert not [
        r for r in caplog.records if r.levelname == "ERROR" and r.name.startswith("standardiste.dialogue")
    ]
