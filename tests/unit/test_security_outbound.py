"""Attack replays for outbound numbers and bookings (issue 15, item 9).

A caller gives a premium-rate (08 9x) or foreign number as their callback number; a forged agenda
entry carries one for a reminder call; a caller books slot after slot under made-up names. None of
it may work: the dialogue refuses the number, the dialer and the scheduler refuse to call it, the
agenda refuses the extra bookings.
"""

from __future__ import annotations

import datetime as dt

import pytest

from standardiste.agenda.model import BookingLimitReached, PatientIdentity, Slot, Source
from standardiste.agenda.sql import SqlAgenda
from standardiste.config import OutboundPolicy
from standardiste.dialogue.messages import Expect, OutcomeKind, Transfer
from standardiste.outbound import NumberNotAllowed, check_number, is_allowed, national_form
from standardiste.reminders.ari_dialer import AriDialer, AriDialerSettings
from standardiste.reminders.dialer import CallRequest
from standardiste.storage.db import Database
from tests.unit.test_dialogue_flows import Call

REFUSED = [
    "0899123456",  # premium rate
    "08 92 68 00 00",
    "+33899123456",
    "0033899123456",
    "0810000000",
    "0912345678",
    "3615",
    "+441632960000",  # abroad
    "0044 1632 960000",
    "+12025550123",
    "sip:evil@127.0.0.1",
    "0612345678@trunk",
    "06123456789",  # 11 digits
    "",
]
ALLOWED = ["0612345678", "07 12 34 56 78", "+33478000000", "0033145000000", "05.56.00.00.00"]


@pytest.mark.parametrize("number", REFUSED)
def test_refused_numbers(number: str) -> None:
    assert not is_allowed(number)
    with pytest.raises(NumberNotAllowed):
        check_number(number)


@pytest.mark.parametrize("number", ALLOWED)
def test_allowed_numbers(number: str) -> None:
    assert is_allowed(number)
    assert national_form(number) == "0" + "".join(c for c in number if c.isdigit())[-9:]


def test_ranges_are_configurable() -> None:
    mobiles_only = OutboundPolicy(allowed_prefixes=["06", "07"])
    assert not is_allowed("0478000000", mobiles_only) and is_allowed("0612345678", mobiles_only)
    with pytest.raises(ValueError):
        OutboundPolicy(allowed_prefixes=["+44"])


@pytest.mark.parametrize("number", ["0899123456", "+441632960000"])
async def test_dialer_refuses_before_any_request(number: str) -> None:
    # ARI on a port nobody listens on: a refused number must not even try.
    dialer = AriDialer(
        "http://127.0.0.1:9", "u", "p", AriDialerSettings(app="standardiste", outbound_endpoint="trunk"), None
    )  # type: ignore[arg-type]
    result = await dialer.call(CallRequest("reminder:x", "x", "reminder", 0, number))
    assert result.outcome == OutcomeKind.FAILED and result.details["reason"] == "number_not_allowed"


def test_scheduler_skips_a_forbidden_number(demo_config) -> None:  # type: ignore[no-untyped-def]
    from standardiste.reminders.service import ReminderService

    service = ReminderService.__new__(ReminderService)
    service.practice = demo_config.practice
    service.agenda = None

    class Job:
        job_id = "reminder:x"
        phone = "0899123456"

    assert service._skip_reason(Job(), None) == "number_not_allowed"  # type: ignore[arg-type]
    Job.phone = "0612345678"
    assert service._skip_reason(Job(), None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("number", ["0899123456", "0044163296000"])
def test_dialogue_refuses_a_premium_or_foreign_callback_number(simulator, understander, number: str) -> None:  # type: ignore[no-untyped-def]
    call = Call(simulator, understander)
    call.start(caller_id="+33899123456")  # the caller ID itself is premium rate: not offered
    assert isinstance(call.key("0")[-1], Transfer)
    from standardiste.dialogue.messages import TransferFailed

    call.manager.handle(TransferFailed(call.now, "busy"))
    call.say("oui")
    call.say("rappelez-moi pour ma facture s'il vous plaît")
    call.say("simon eric")
    asked = call.key("06061966")
    assert call.manager.question.expect.kind == Expect.PHONE, asked  # caller ID not proposed
    call.key(number)
    assert call.manager.question.expect.kind == Expect.PHONE  # asked again
    call.key("0612345678")
    call.say("oui")
    [request] = call.inbox.list()
    assert request.callback_number == "+33612345678"


def _slot(hour: int, practitioner: str = "martin") -> Slot:
    start = dt.datetime(2026, 12, 9, hour, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    return Slot(practitioner, "consultation", start, start + dt.timedelta(minutes=20))


def test_daily_booking_cap_per_number(tmp_path, demo_config) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    db.migrate()
    booking = demo_config.practice.booking.model_copy(update={"max_per_phone_per_day": 2})
    practice = demo_config.practice.model_copy(update={"booking": booking})
    agenda = SqlAgenda(db, practice)
    now = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    for i, hour in enumerate((9, 10)):
        agenda.book(
            _slot(hour),
            PatientIdentity(f"Faux{i}", "Nom", dt.date(1980, 1, 1 + i), "0612345678"),
            Source.PHONE,
            now,
        )
    with pytest.raises(BookingLimitReached):
        agenda.book(
            _slot(11), PatientIdentity("Faux9", "Nom", dt.date(1981, 1, 1), "+33612345678"), Source.PHONE, now
        )
    # Another number, the staff, and tomorrow are not limited.
    agenda.book(
        _slot(11), PatientIdentity("Vrai", "Nom", dt.date(1982, 1, 1), "0698765432"), Source.PHONE, now
    )
    agenda.book(
        _slot(14), PatientIdentity("Faux9", "Nom", dt.date(1981, 1, 1), "0612345678"), Source.STAFF, now
    )
    tomorrow = now + dt.timedelta(days=1)
    agenda.book(
        _slot(15), PatientIdentity("Faux9", "Nom", dt.date(1981, 1, 1), "0612345678"), Source.PHONE, tomorrow
    )
    db.dispose()


def test_dialogue_hands_over_when_the_cap_is_reached(simulator, understander) -> None:  # type: ignore[no-untyped-def]
    from standardiste.dialogue.manager import DialogueManager
    from standardiste.dialogue.services import ConversationServices
    from tests.unit.test_dialogue_flows import book_up_to_recap

    booking = simulator.practice.booking.model_copy(update={"max_per_phone_per_day": 1})
    practice = simulator.practice.model_copy(update={"booking": booking})
    first = Call(simulator, understander, practice=practice)
    agenda = SqlAgenda(first.db, practice)
    calls = []
    for _ in range(2):
        call = Call(simulator, understander, practice=practice)
        call.agenda = agenda
        call.manager = DialogueManager(ConversationServices(practice, understander, agenda, first.inbox))
        calls.append(call)
    book_up_to_recap(calls[0])
    assert "C'est noté" in calls[0].say("oui")[0].text
    book_up_to_recap(calls[1])  # same caller ID, another day's slot: refused at booking
    final = calls[1].say("oui")
    assert "Plusieurs rendez-vous" in final[0].text and isinstance(final[-1], Transfer)
