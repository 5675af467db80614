"""Booking (and moving) an appointment: wishes -> 2-3 held slots -> pick -> identity -> recap -> book."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field, replace

from standardiste.agenda.model import (
    AgendaError,
    Appointment,
    BookingLimitReached,
    Hold,
    PatientIdentity,
    Slot,
    SlotQuery,
    SlotTaken,
    SlotUnavailable,
    Source,
)
from standardiste.config import WEEKDAYS_FR
from standardiste.dialogue import prompts as P
from standardiste.dialogue.core import Answer, CallContext, Question, fold, has_word
from standardiste.dialogue.identity import IdentityFlow
from standardiste.dialogue.messages import Action, Expect, Expectation, OutcomeKind
from standardiste.dialogue.when import (
    TimeWish,
    names_a_day,
    part_of_day_in,
    pick,
    says_any,
    sort_near,
    time_wish,
)
from standardiste.understanding.types import EntityKind, Urgency

log = logging.getLogger(__name__)

OFFER = 3  # at most this many slots proposed at once
_CHILD_WORDS = (
    "enfant",
    "fils",
    "fille",
    "bebe",
    "pediatre",
    "pediatrie",
    "nourrisson",
    "petit-fils",
    "petite-fille",
)
_NEW_PATIENT_WORDS = (
    "premiere fois",
    "nouveau patient",
    "nouvelle patiente",
    "jamais venu",
    "jamais venue",
    "premiere consultation",
    "pas encore patient",
)


# "pas mardi, jeudi", "non, pas le matin, plutôt l'après-midi": a new time, at any question of a booking.
_TIME_CORRECTION = re.compile(
    r"^(?:non|pardon|attendez|euh)?[ ,.]*(?:non[ ,.]*)?pas (?:le |la |l'|ce |cette )?(?P<old>[^,.]+?)"
    r"[ ,.]+(?:non[ ,.]*)?(?:mais |plutot |plutôt )?(?P<new>[^ ,.].*)$",
    re.IGNORECASE,
)
# The questions that read a new time themselves (the offer, the recaps, the time question).
_READS_TIME = ("offer", "recap", "recap_move", "wish", "fix", "check_wish", "check_slot")


@dataclass(slots=True)
class BookingState:
    practitioner_id: str | None = None
    practitioner_asked: bool = False
    appointment_type: str | None = None
    wish: TimeWish | None = None
    reason: str = ""
    offered: list[tuple[Slot, Hold | None]] = field(default_factory=list)
    chosen: tuple[Slot, Hold | None] | None = None
    moving: Appointment | None = None
    source: Source = Source.PHONE
    excluded: set[dt.datetime] = field(default_factory=set)


class BookingTask:
    """Booking a new appointment, and moving one (the appointment task hands its appointment over)."""

    def __init__(self, core: CallContext, caller: IdentityFlow) -> None:
        self.core = core
        self.caller = caller
        self.current: BookingState | None = None

    # --- Entry -----------------------------------------------------------------------------------

    def start(
        self, answer: Answer | None, moving: Appointment | None = None, source: Source = Source.PHONE
    ) -> list[Action]:
        self.release_holds()
        self.current = BookingState(moving=moving, source=source)
        b = self.current
        if moving is not None:
            b.practitioner_id = moving.practitioner_id
            b.practitioner_asked = True
            b.appointment_type = moving.appointment_type
        if answer is not None and answer.spoken and moving is None:
            self.caller.take_hints(answer)
            b.reason = answer.text
            self._take_booking_hints(answer)
            u = answer.understanding
            if b.wish is None and u is not None and u.urgency == Urgency.SOON:
                # "j'ai très mal au ventre depuis ce matin": the earliest slots, without asking when.
                b.wish = TimeWish(asap=True)
        return self._next_booking_step()

    def correct_time(self, answer: Answer) -> list[Action] | None:
        """ "pas mardi, jeudi" at a question that is not about the time (the name, the birth date...):
        the slots held are let go and those of the new time offered; who is calling is kept."""
        b = self.current
        question = self.core.question
        if (
            b is None
            or b.wish is None
            or not answer.spoken
            or question is None
            or question.name in _READS_TIME
        ):
            return None
        match = _TIME_CORRECTION.match(answer.text.strip().replace("’", "'"))
        if match is None:
            return None
        understander = self.core.services.understander
        old, new = match.group("old"), match.group("new")
        weekday = any(w in WEEKDAYS_FR for w in fold(old).split())
        if question.name == "birth_date" and not weekday:
            return None  # "pas le 12, le 15 mars 1985": the birth date, said again
        if not (weekday or names_a_day(old) or part_of_day_in(old) is not None or "heure" in fold(old)):
            return None  # "pas Martin, Durand", "pas de souci, ...": not a time
        wish = time_wish(understander.parse(new, answer.now), new, answer.now)
        if wish is None or (wish.latest is not None and wish.latest <= answer.now):
            return None
        self.release_holds()
        b.wish, b.chosen = wish, None
        self.core.state.path.append("time_corrected")
        return self.search_and_offer(P.SORRY, take_exact=wish.exact is not None)

    def _take_booking_hints(self, answer: Answer) -> None:
        b = self.current
        assert b is not None
        u = answer.understanding
        practitioner = u.first(EntityKind.PRACTITIONER) if u is not None else None
        if practitioner is not None and b.moving is None:
            b.practitioner_id = practitioner.value
            b.practitioner_asked = True
        folded = fold(answer.text)
        if b.moving is None and any(w in folded.split() for w in _CHILD_WORDS):
            self.caller.for_child = True
        if b.moving is None and b.appointment_type is None:
            if any(w in folded for w in _NEW_PATIENT_WORDS):
                b.appointment_type = "nouveau_patient" if self._type_exists("nouveau_patient") else None
            elif any(w in folded.split() for w in _CHILD_WORDS) and b.practitioner_id is None:
                pediatric = self._pediatric_practitioner()
                if pediatric is not None:
                    b.practitioner_id = pediatric
                    b.practitioner_asked = True
        if says_any(answer.text) and not b.practitioner_asked:
            b.practitioner_asked = True
        wish = time_wish(u, answer.text, answer.now)
        if wish is not None:
            b.wish = wish

    def _type_exists(self, type_id: str) -> bool:
        return any(t.id == type_id for t in self.core.practice.appointment_types)

    def _pediatric_practitioner(self) -> str | None:
        for p in self.core.practice.practitioners:
            if "pédiatr" in p.specialty.lower() or "pediatr" in p.specialty.lower():
                return p.id
        return None

    def _type_for(self, practitioner_id: str | None) -> str | None:
        """The practice's default type when that practitioner does it, else the first type they do."""
        b = self.current
        if b is not None and b.appointment_type is not None:
            return b.appointment_type
        if practitioner_id is None:
            return None
        default = self.core.practice.booking.default_type
        candidates = [
            t
            for t in self.core.practice.appointment_types
            if t.practitioners == "all" or practitioner_id in t.practitioners
        ]
        for t in candidates:
            if t.id == default:
                return t.id
        specific = [t for t in candidates if t.practitioners != "all"]
        chosen = specific or candidates
        return chosen[0].id if chosen else None

    def _next_booking_step(self, preamble: str = "") -> list[Action]:
        b = self.current
        assert b is not None
        if not b.practitioner_asked:
            return self.core.ask(self._practitioner_question(), preamble)
        if b.wish is None:
            return self.core.ask(self.wish_question(), preamble)
        return self.search_and_offer(preamble)

    # --- Practitioner ----------------------------------------------------------------------------

    def _practitioner_question(self) -> Question:
        names = [P.practitioner_fr(self.core.practice, p.id) for p in self.core.practice.practitioners]
        specialties = [p.specialty for p in self.core.practice.practitioners]
        described = [
            f"{n}" + (f" en {s}" if s.lower() != "médecine générale" else "")
            for n, s in zip(names, specialties, strict=True)
        ]
        spoken = P.join_or(described)
        keys = ", ".join(f"{i + 1} pour {n}" for i, n in enumerate(names))
        any_key = len(names) + 1
        aliases = [alias for p in self.core.practice.practitioners for alias in [p.name.lower(), *p.aliases]]
        aliases += [p.name.split()[-1].lower() for p in self.core.practice.practitioners]  # the surname alone
        phrases = (*aliases, "peu importe", "n'importe lequel", "ça m'est égal")

        def on_answer(answer: Answer) -> list[Action] | None:
            b = self.current
            assert b is not None
            chosen: str | None = None
            any_one = False
            if answer.keys is not None:
                index = int(answer.keys[0]) - 1 if answer.keys[:1].isdigit() else -1
                if 0 <= index < len(self.core.practice.practitioners):
                    chosen = self.core.practice.practitioners[index].id
                elif index == len(self.core.practice.practitioners):
                    any_one = True
                else:
                    return None
            else:
                u = answer.understanding
                entity = u.first(EntityKind.PRACTITIONER) if u is not None else None
                if entity is not None:
                    chosen = entity.value
                elif says_any(answer.text) or has_word(answer.text, ("non", "pas de preference")):
                    any_one = True
                else:
                    wish = time_wish(u, answer.text, answer.now)
                    if wish is None:
                        return None
                    b.wish = wish
                    any_one = True
                wish = time_wish(u, answer.text, answer.now)
                if wish is not None:
                    b.wish = wish

            def accept() -> list[Action]:
                b.practitioner_id = chosen
                b.practitioner_asked = True
                return self._next_booking_step()

            spoken_choice = (
                P.practitioner_fr(self.core.practice, chosen) if chosen else "n'importe quel médecin"
            )
            if any_one or chosen:
                return self.core.checked(answer, spoken_choice, accept, "practitioner")
            return None

        return Question(
            "practitioner",
            P.which_practitioner(spoken),
            P.which_practitioner_keys(keys, any_key),
            Expectation(Expect.PRACTITIONER, phrases, digits=1),
            on_answer,
        )

    # --- Time wish -------------------------------------------------------------------------------

    def wish_question(self, text: str = P.ASK_WHEN) -> Question:
        def on_answer(answer: Answer) -> list[Action] | None:
            b = self.current
            assert b is not None
            if answer.keys is not None:
                if answer.keys[:1] != "1":
                    return None
                wish: TimeWish | None = TimeWish(asap=True)
                spoken = "le plus tôt possible"
            else:
                wish = time_wish(answer.understanding, answer.text, answer.now)
                if wish is None:
                    return None
                spoken = self._wish_fr(wish, answer)
                u = answer.understanding
                practitioner = u.first(EntityKind.PRACTITIONER) if u is not None else None
                if practitioner is not None and b.moving is None:
                    b.practitioner_id = practitioner.value

            def accept() -> list[Action]:
                b.wish = wish
                return self.search_and_offer()

            return self.core.checked(answer, spoken, accept, "wish")

        return Question(
            "wish",
            f"{text} {P.WHEN_EXAMPLES}",
            P.WHEN_SIMPLE,
            # The kind's own grammar (days, parts of day, hours) is richer than a phrase list here.
            Expectation(Expect.DATE_TIME, digits=1),
            on_answer,
            keys=P.WHEN_KEYS,
        )

    def _wish_fr(self, wish: TimeWish, answer: Answer) -> str:
        """What we understood, in words, for a read-back: the resolved date, else the caller's words."""
        now = self.core.now()
        if wish.asap:
            return P.ASAP
        if wish.exact is not None:
            return P.datetime_fr(self.core.local(wish.exact), now)
        if wish.day is not None:
            part = P.PART_OF_DAY.get(str(wish.part_of_day), "") if wish.part_of_day else ""
            return f"le {P.date_fr(wish.day)}{f' {part}' if part else ''}"
        return answer.text

    # --- Search, hold, offer ---------------------------------------------------------------------

    def _query(self, wish: TimeWish, now: dt.datetime, widen: bool = False) -> SlotQuery:
        b = self.current
        assert b is not None
        earliest = None if wish.asap else wish.earliest
        latest = None if (wish.asap or widen) else wish.latest
        if earliest is not None and earliest < now:
            earliest = now
        return SlotQuery(
            practitioner_id=b.practitioner_id,
            appointment_type=self._type_for(b.practitioner_id),
            earliest=earliest,
            latest=latest,
            part_of_day=None if widen else wish.part_of_day,
            asap=wish.asap,
            limit=12 if wish.exact is not None else OFFER + len(b.excluded) + 2,
        )

    def search_and_offer(self, preamble: str = "", take_exact: bool = False) -> list[Action]:
        b = self.current
        assert b is not None and b.wish is not None
        now = self.core.now()
        self.release_holds()
        slots = self._find(b.wish, now, widen=False)
        lead = preamble
        if not slots and not b.wish.asap:
            slots = self._find(b.wish, now, widen=True)
            if slots:
                lead = f"{preamble} {P.NO_SLOT_THEN}".strip()
        if not slots:
            return self._no_slots()
        offered: list[tuple[Slot, Hold | None]] = []
        for slot in slots:
            try:
                hold = self.core.services.agenda.hold(slot, self.core.state.call_id or "call", now)
            except SlotTaken:
                continue
            offered.append((slot, hold))
            if len(offered) == OFFER:
                break
        if not offered:
            return self._no_slots()
        b.offered = offered
        exact = b.wish.exact
        if take_exact and exact is not None and offered[0][0].start != exact:
            lead = f"{lead} {P.NOT_THAT_TIME}".strip()
        if take_exact and exact is not None and offered[0][0].start == exact:
            # Exactly the time asked for is free: take it rather than offering a list again.
            for _slot, spare in offered[1:]:
                if spare is not None:
                    self._release(spare)
            b.offered = offered[:1]
            return self._accept_pick(0, P.possible(P.datetime_fr(self.core.local(exact), now)))
        return self.core.ask(self._offer_question(), lead)

    def _find(self, wish: TimeWish, now: dt.datetime, widen: bool) -> list[Slot]:
        b = self.current
        assert b is not None
        query = self._query(wish, now, widen)
        queries = [query]
        if wish.exact is not None and not widen:
            # The agenda spreads its proposals over the day; around a precise time, ask for that hour.
            hour = dt.timedelta(hours=1)
            queries = [
                replace(query, earliest=max(wish.exact, now), latest=wish.exact + hour, limit=2),
                replace(query, earliest=max(wish.exact - hour, now), latest=wish.exact, limit=2),
                query,
            ]
        slots: list[Slot] = []
        try:
            for q in queries:
                if q.earliest is not None and q.latest is not None and q.earliest >= q.latest:
                    continue
                slots.extend(s for s in self.core.services.agenda.find_slots(q, now) if s not in slots)
        except AgendaError as err:
            log.warning("find_slots failed: %s", err)
            return []
        slots = [s for s in slots if s.start not in b.excluded]
        if b.moving is not None:
            slots = [s for s in slots if s.start != b.moving.start]
        return sort_near(slots, wish.exact)

    def _no_slots(self) -> list[Action]:
        b = self.current
        who = (
            f" avec {P.practitioner_fr(self.core.practice, b.practitioner_id)}"
            if b and b.practitioner_id
            else ""
        )
        self.current = None
        return self.core.transfer(
            P.no_slot(who),
            reason="no_slot",
        )

    def _offer_question(self) -> Question:
        b = self.current
        assert b is not None
        now = self.core.now()
        same_practitioner = len({s.practitioner_id for s, _ in b.offered}) == 1
        parts = []
        previous_day = None
        for slot, _ in b.offered:
            start = self.core.local(slot.start)
            # Same day as the previous one: only the time ("à huit heures trente, huit heures cinquante").
            text = P.time_fr(start) if start.date() == previous_day else P.datetime_fr(start, now)
            previous_day = start.date()
            if not same_practitioner:
                text += f" avec {P.practitioner_fr(self.core.practice, slot.practitioner_id)}"
            parts.append(text)
        offer = P.offer(parts)
        if same_practitioner:
            offer += f", avec {P.practitioner_fr(self.core.practice, b.offered[0][0].practitioner_id)}"
        keys = ", ".join(f"{i + 1} pour {P.ordinal_fr(i)}" for i in range(len(parts)))
        if len(parts) == 1:
            text = f"{offer}. {P.OFFER_ONE}"
            simple = f"{offer}. {P.YES_NO_KEYS}"
        else:
            text = f"{offer}. {P.OFFER_WHICH}"
            simple = f"{offer}. {P.offer_keys(keys)}"
        phrases = (
            "le premier",
            "le deuxième",
            "le troisième",
            "aucun",
            "un autre jour",
            "oui",
            "non",
            *{WEEKDAYS_FR[self.core.local(s.start).weekday()] for s, _ in b.offered},
            *{P.time_fr(self.core.local(s.start)) for s, _ in b.offered},
        )
        return Question(
            "offer",
            text,
            simple,
            Expectation(Expect.CHOICE, phrases, digits=1),
            self._on_pick,
            keys=f"Tapez {keys}." if len(parts) > 1 else P.YES_NO_KEYS,
        )

    def _on_pick(self, answer: Answer) -> list[Action] | None:
        b = self.current
        assert b is not None
        starts = [self.core.local(s.start) for s, _ in b.offered]
        if len(starts) == 1 and (answer.spoken or answer.keys in ("1", "2")):
            yes = answer.yes_no()
            if yes is True:
                return self._picked(answer, 0)
            if yes is False and (
                answer.keys is not None or time_wish(answer.understanding, answer.text, answer.now) is None
            ):
                b.excluded.update(s.start for s, _ in b.offered)
                self.release_holds()
                return self.core.ask(self.wish_question(P.ASK_WHEN_ELSE))
        u = answer.understanding
        who = [s.practitioner_id for s, _ in b.offered]
        chosen = pick(starts, answer.text, answer.keys, u, answer.now, who)
        if len(chosen) == 1:
            return self._picked(answer, chosen[0])
        if len(chosen) > 1:
            b.offered = [b.offered[i] for i in chosen] + [
                o for i, o in enumerate(b.offered) if i not in chosen
            ]
            b.offered = b.offered[: len(chosen)]
            return self.core.ask(self._offer_question(), P.SEVERAL_THAT_DAY)
        if answer.keys is not None:
            return None
        # Not one of them: another day/time ("non, plutôt jeudi"), another doctor, or "aucun".
        wish = time_wish(u, answer.text, answer.now)
        practitioner = u.first(EntityKind.PRACTITIONER) if u is not None else None
        if practitioner is not None and b.moving is None and practitioner.value != b.practitioner_id:
            b.practitioner_id = practitioner.value
            b.wish = wish or b.wish
            return self.search_and_offer()
        if wish is not None:
            if wish.exact is not None and not names_a_day(answer.text):
                # "celui de neuf heures" when nine o'clock was not offered: that time, on the offered day.
                day = self.core.local(b.offered[0][0].start).date() if b.offered else wish.exact.date()
                exact = dt.datetime.combine(day, wish.exact.timetz())
                start = dt.datetime.combine(day, dt.time(), tzinfo=exact.tzinfo)
                wish = TimeWish(earliest=start, latest=start + dt.timedelta(days=1), exact=exact, day=day)
            b.wish = wish
            return self.search_and_offer(take_exact=wish.exact is not None)
        if answer.yes_no() is False or has_word(answer.text, ("aucun", "autre", "autres", "ca ne va pas")):
            b.excluded.update(s.start for s, _ in b.offered)
            self.release_holds()
            return self.core.ask(self.wish_question(P.ASK_WHEN_ELSE))
        return None

    def _picked(self, answer: Answer, index: int) -> list[Action]:
        b = self.current
        assert b is not None
        chosen = b.offered[index]

        def accept() -> list[Action]:
            return self._accept_pick(index, P.FINE)

        return self.core.checked(
            answer, P.datetime_fr(self.core.local(chosen[0].start), self.core.now()), accept, "slot"
        )

    def _accept_pick(self, index: int, preamble: str) -> list[Action]:
        b = self.current
        assert b is not None
        chosen = b.offered[index]
        b.chosen = chosen
        for slot, hold in b.offered:
            if hold is not None and slot != chosen[0]:
                self._release(hold)
        b.offered = [chosen]
        if b.moving is not None:
            return self._recap_move(preamble)
        return self.caller.collect(lambda ident: self._recap_booking(), phone=True, preamble=preamble)

    # --- Recap and booking -----------------------------------------------------------------------

    def _recap_booking(self) -> list[Action]:
        b = self.current
        assert b is not None and b.chosen is not None
        slot = b.chosen[0]
        ident = self.caller.identity
        label = self._type_label(slot.appointment_type)
        born = P.recap_birth(ident.birth_date) if ident.birth_date else ""
        phone = P.recap_phone(ident.phone) if ident.phone else ""
        text = P.recap(
            label,
            P.practitioner_fr(self.core.practice, slot.practitioner_id),
            P.datetime_fr(self.core.local(slot.start), self.core.now()),
            f"{ident.full_name}{born}{phone}",
        )
        return self.core.ask(
            Question(
                "recap",
                text,
                f"{text} {P.YES_NO_KEYS}",
                self.core.yes_no_expect(),
                self._on_recap,
                allow_switch=False,
            )
        )

    def _on_recap(self, answer: Answer) -> list[Action] | None:
        b = self.current
        assert b is not None and b.chosen is not None
        yes = answer.yes_no()
        if yes is True:
            return self._book()
        u = answer.understanding
        if answer.spoken:
            wish = time_wish(u, answer.text, answer.now)
            name = u.first(EntityKind.PATIENT_NAME) if u is not None else None
            if wish is not None:
                b.wish = wish
                b.chosen = None
                return self.search_and_offer(P.SEARCHING_AGAIN)
            if name is not None:
                self.caller.set_name(name.value)
                return self._recap_booking()
            if u is not None and u.first(EntityKind.BIRTH_DATE) is not None:
                self.caller.identity.birth_date = None
                self.caller.take_hints(answer)
                return self._recap_booking()
        if yes is False:
            return self.core.ask(self._what_to_fix_question())
        return None

    def _what_to_fix_question(self) -> Question:
        def on_answer(answer: Answer) -> list[Action] | None:
            b = self.current
            assert b is not None
            folded = fold(answer.text)
            if answer.keys == "1" or any(
                w in folded for w in ("heure", "horaire", "jour", "date", "creneau")
            ):
                b.chosen = None
                return self.core.ask(self.wish_question(P.ASK_WHEN))
            if answer.keys == "2" or any(w in folded for w in ("nom", "prenom", "naissance", "identite")):
                self.caller.forget()
                return self.caller.collect(lambda ident: self._recap_booking(), phone=True)
            if answer.keys == "3" or has_word(
                answer.text, ("rien", "annuler", "laisser tomber", "abandonner")
            ):
                self.release_holds()
                self.current = None
                return self.core.what_else(P.NOTHING_RECORDED)
            wish = time_wish(answer.understanding, answer.text, answer.now)
            if wish is not None:
                b.wish = wish
                b.chosen = None
                return self.search_and_offer()
            return None

        return Question(
            "fix",
            P.WHAT_TO_FIX,
            P.WHAT_TO_FIX_KEYS,
            Expectation(Expect.CHOICE, ("l'horaire", "le nom", "la date de naissance", "laisser tomber"), 1),
            on_answer,
        )

    def _book(self) -> list[Action]:
        b = self.current
        assert b is not None and b.chosen is not None
        slot, hold = b.chosen
        ident = self.caller.identity
        assert ident.birth_date is not None
        patient = PatientIdentity(ident.last_name, ident.first_name, ident.birth_date, ident.phone)
        now = self.core.now()
        try:
            appointment = self.core.services.agenda.book(
                slot, patient, b.source, now, hold_id=hold.id if hold else None
            )
        except BookingLimitReached:
            log.warning("booking refused: daily limit of bookings for this number reached")
            self.release_holds()
            self.current = None
            return self.core.transfer(P.BOOKING_LIMIT, reason="booking_limit")
        except (SlotTaken, SlotUnavailable) as err:
            log.info("booking failed (%s), offering alternatives", err)
            b.excluded.add(slot.start)
            b.chosen = None
            b.offered = []
            return self.search_and_offer(P.SLOT_TAKEN)
        except AgendaError as err:  # refused for another reason: an apology, then a human or a message
            log.warning("booking refused: %s", err)
            return self.core.action_failed(P.BOOK_FAILED, reason="book_failed")
        b.offered = []
        self.current = None
        self.core.achieve(
            OutcomeKind.BOOKED,
            appointment_id=appointment.id,
            practitioner=appointment.practitioner_id,
            start=appointment.start.isoformat(),
            appointment_type=appointment.appointment_type,
        )
        said = P.booked(
            P.datetime_fr(self.core.local(appointment.start), now),
            P.practitioner_fr(self.core.practice, appointment.practitioner_id),
        )
        return self.core.after_task(said)

    def _recap_move(self, preamble: str = "") -> list[Action]:
        b = self.current
        assert b is not None and b.chosen is not None and b.moving is not None
        now = self.core.now()
        text = P.recap_move(
            P.of_datetime_fr(self.core.local(b.moving.start), now),
            P.datetime_fr(self.core.local(b.chosen[0].start), now),
            P.practitioner_fr(self.core.practice, b.chosen[0].practitioner_id),
        )
        return self.core.ask(
            Question(
                "recap_move",
                text,
                f"{text} {P.YES_NO_KEYS}",
                self.core.yes_no_expect(),
                self._on_recap_move,
                allow_switch=False,
            ),
            preamble,
        )

    def _on_recap_move(self, answer: Answer) -> list[Action] | None:
        b = self.current
        assert b is not None and b.chosen is not None and b.moving is not None
        yes = answer.yes_no()
        if yes is True:
            slot, hold = b.chosen
            now = self.core.now()
            try:
                moved = self.core.services.agenda.move(
                    b.moving.id, slot, b.source, now, hold_id=hold.id if hold else None
                )
            except (SlotTaken, SlotUnavailable):
                b.excluded.add(slot.start)
                b.chosen = None
                return self.search_and_offer(P.SLOT_TAKEN)
            except AgendaError as err:  # e.g. "rendez-vous passé": never an abandoned call
                log.warning("move refused: %s", err)
                return self.core.action_failed(P.MOVE_FAILED, reason="move_failed")
            previous = b.moving
            self.current = None
            self.core.achieve(
                OutcomeKind.RESCHEDULED,
                appointment_id=moved.id,
                practitioner=moved.practitioner_id,
                start=moved.start.isoformat(),
                previous_start=previous.start.isoformat(),
            )
            said = P.moved(
                P.datetime_fr(self.core.local(moved.start), now),
                P.practitioner_fr(self.core.practice, moved.practitioner_id),
            )
            return self.core.after_task(said)
        wish = time_wish(answer.understanding, answer.text, answer.now) if answer.spoken else None
        if wish is not None:
            b.wish = wish
            b.chosen = None
            return self.search_and_offer()
        if yes is False:
            b.chosen = None
            self.release_holds()
            return self.core.ask(self.wish_question(P.ASK_WHEN_ELSE))
        return None

    # --- Holds -----------------------------------------------------------------------------------

    def _release(self, hold: Hold) -> None:
        try:
            self.core.services.agenda.release(hold.id)
        except AgendaError as err:  # an expired hold is already gone
            log.debug("release %s: %s", hold.id, err)

    def release_holds(self) -> None:
        b = self.current
        if b is None:
            return
        for _, hold in [*b.offered, *([b.chosen] if b.chosen else [])]:
            if hold is not None:
                self._release(hold)
        b.offered = []

    def drop(self) -> None:
        """Another task starts: the slots held are let go and nothing of this booking is kept."""
        self.release_holds()
        self.current = None

    def _type_label(self, type_id: str) -> str:
        for t in self.core.practice.appointment_types:
            if t.id == type_id:
                return t.label
        return "rendez-vous"
