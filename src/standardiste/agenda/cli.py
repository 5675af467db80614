"""`standardiste agenda check|holidays|slots`: check the agenda settings, list holidays, try a slot search."""

from __future__ import annotations

import argparse
import datetime as dt

from standardiste.agenda.model import AgendaError, PartOfDay, SlotQuery
from standardiste.agenda.rules import check_practice, french_holidays, local_datetime
from standardiste.cli.common import add_config_option, config_from
from standardiste.clock import clock_from_env, now_in
from standardiste.config import WEEKDAYS_FR

PARTS_FR = {
    "matin": PartOfDay.MORNING,
    "fin-de-matinee": PartOfDay.LATE_MORNING,
    "midi": PartOfDay.NOON,
    "apres-midi": PartOfDay.AFTERNOON,
    "fin-d-apres-midi": PartOfDay.LATE_AFTERNOON,
    "soir": PartOfDay.EVENING,
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "agenda", help="vérifier l'agenda, lister les jours fériés, chercher des créneaux"
    )
    add_config_option(parser)
    actions = parser.add_subparsers(dest="agenda_action", required=True, metavar="ACTION")
    actions.add_parser("check", help="vérifier horaires, types de rendez-vous et fermetures")
    hol = actions.add_parser("holidays", help="jours fériés d'une année")
    hol.add_argument("year", type=int, nargs="?", default=None, help="défaut : l'année en cours")
    slots = actions.add_parser("slots", help="les créneaux que l'assistant proposerait maintenant")
    slots.add_argument("--praticien", dest="practitioner", default=None)
    slots.add_argument("--type", dest="kind", default=None)
    slots.add_argument("--jour", dest="day", default=None, help="AAAA-MM-JJ")
    slots.add_argument("--moment", dest="part", choices=sorted(PARTS_FR), default=None)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    practice = config.practice
    if args.agenda_action == "holidays":
        year = args.year or now_in(clock_from_env(practice.timezone), practice.timezone).year
        for day, name in sorted(french_holidays(year).items()):
            print(f"{WEEKDAYS_FR[day.weekday()]:>9} {day:%d/%m/%Y}  {name}")
        return 0
    if args.agenda_action == "check":
        problems = check_practice(practice)
        for p in practice.practitioners:
            hours = practice.hours_for(p.id)
            week = ", ".join(
                f"{WEEKDAYS_FR[d]} {' '.join(str(r) for r in hours.for_weekday(d))}"
                for d in range(7)
                if hours.for_weekday(d)
            )
            print(f"{p.name} ({p.id}) : {week}")
        for problem in problems:
            print(f"PROBLÈME : {problem}")
        print("Agenda : configuration correcte." if not problems else f"{len(problems)} problème(s).")
        return 2 if problems else 0
    from standardiste.agenda.factory import build_agenda
    from standardiste.storage.db import Database

    db = Database(config.deployment.sqlalchemy_url)
    db.migrate()
    agenda, _inbox = build_agenda(db, config)
    now = clock_from_env(config.practice.timezone).now().astimezone(agenda.rules.tz)
    earliest = latest = None
    try:
        if args.day:
            try:
                y, m, d = (int(x) for x in args.day.split("-"))
            except ValueError:
                print(f"date illisible : {args.day!r} (attendu AAAA-MM-JJ)")
                return 2
            earliest = local_datetime(agenda.rules.tz, y, m, d)
            latest = earliest + dt.timedelta(days=1)
        query = SlotQuery(
            practitioner_id=args.practitioner,
            appointment_type=args.kind,
            earliest=earliest,
            latest=latest,
            part_of_day=PARTS_FR[args.part] if args.part else None,
        )
        found = agenda.find_slots(query, now)
    except AgendaError as err:
        print(f"Erreur : {err}")
        return 2
    finally:
        db.dispose()
    if not found:
        print("Aucun créneau.")
    for slot in found:
        name = practice.practitioner(slot.practitioner_id).name
        weekday = WEEKDAYS_FR[slot.start.weekday()]
        print(f"{weekday} {slot.start:%d/%m/%Y %H:%M}  {name}  ({slot.appointment_type})")
    return 0
