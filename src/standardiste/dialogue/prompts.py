"""Everything the assistant says, in French, and how it speaks dates, times and numbers.

Numbers are written in words so that speech synthesis reads them the way a secretary would
("quatorze heures trente", "mardi vingt-quatre novembre", phone numbers in pairs); the word builders
live in speech/spoken.py, which also rewrites whatever digits remain at synthesis time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from standardiste.agenda.model import RequestKind
from standardiste.config import WEEKDAYS_FR, PracticeConfig, TimeRange, WeeklyHours

# The word builders, also used by the dialogue modules as P.time_fr, P.phone_fr, P.number_fr...
from standardiste.speech.spoken import MONTHS_FR as MONTHS_FR
from standardiste.speech.spoken import birth_date_fr as birth_date_fr
from standardiste.speech.spoken import date_fr as date_fr
from standardiste.speech.spoken import day_of_month_fr as day_of_month_fr
from standardiste.speech.spoken import number_fr as number_fr
from standardiste.speech.spoken import phone_fr as phone_fr
from standardiste.speech.spoken import time_fr as time_fr


def datetime_fr(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    """'le mardi vingt-quatre novembre à quatorze heures trente'. Today and tomorrow are said as such,
    and the date still follows ("demain, mardi huit décembre"), so the caller can check it."""
    day = moment.date()
    if now is not None and day == now.date():
        spoken = f"aujourd'hui, {date_fr(day)}"
    elif now is not None and day == now.date() + dt.timedelta(days=1):
        spoken = f"demain, {date_fr(day)}"
    else:
        spoken = f"le {date_fr(day)}"
    return f"{spoken} à {time_fr(moment)}"


def of_datetime_fr(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    """'du mardi vingt-quatre novembre à ...' / 'de demain, ...' (for "votre rendez-vous du ...")."""
    spoken = datetime_fr(moment, now)
    if spoken.startswith("le "):
        return "du " + spoken.removeprefix("le ")
    return "d'" + spoken if spoken.startswith("aujourd") else "de " + spoken


def _ranges_fr(ranges: Sequence[TimeRange]) -> str:
    return " et ".join(f"de {time_fr(r.start)} à {time_fr(r.end)}" for r in ranges)


def hours_fr(hours: WeeklyHours) -> str:
    """'du lundi au vendredi de huit heures trente à douze heures trente et de quatorze heures à
    dix-neuf heures, le samedi de neuf heures à midi, fermé le dimanche'."""
    groups: list[tuple[int, int, list[TimeRange]]] = []
    for day in range(7):
        ranges = hours.for_weekday(day)
        if groups and groups[-1][2] == ranges and groups[-1][1] == day - 1:
            groups[-1] = (groups[-1][0], day, ranges)
        else:
            groups.append((day, day, ranges))
    parts = []
    for first, last, ranges in groups:
        if first == last:
            days = f"le {WEEKDAYS_FR[first]}"
        elif last == first + 1:
            days = f"le {WEEKDAYS_FR[first]} et le {WEEKDAYS_FR[last]}"
        else:
            days = f"du {WEEKDAYS_FR[first]} au {WEEKDAYS_FR[last]}"
        parts.append(f"{days} {_ranges_fr(ranges)}" if ranges else f"fermé {days}")
    return ", ".join(parts)


def practitioner_fr(practice: PracticeConfig, practitioner_id: str) -> str:
    """'le docteur Claire Martin'."""
    try:
        name = practice.practitioner(practitioner_id).name
    except KeyError:
        return "un de nos médecins"
    lowered = name[0].lower() + name[1:] if name.lower().startswith("docteur") else name
    return f"le {lowered}" if lowered.startswith("docteur") else lowered


def join_or(items: Sequence[str]) -> str:
    """'a, b ou c'."""
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} ou {items[-1]}"


def ordinal_fr(index: int) -> str:
    names = ("le premier", "le deuxième", "le troisième", "le quatrième")
    return names[index] if index < len(names) else str(index + 1)


# --- Fixed sentences -------------------------------------------------------------------------------

KEYPAD_HINT = (
    "Vous pouvez aussi utiliser le clavier : tapez 1 pour les horaires, 0 pour parler au secrétariat."
)
MENU_KEYS = (
    "Tapez 1 pour les horaires, 2 pour prendre rendez-vous, 3 pour annuler ou déplacer un rendez-vous, "
    "4 pour une ordonnance, un certificat ou des résultats, 5 pour l'adresse et l'accès, "
    "ou 0 pour parler au secrétariat."
)


# Said first on every call when the practice records calls (privacy.record_audio).
RECORDING_NOTICE = "Pour la qualité du service, cet appel est enregistré."


def greeting(practice: PracticeConfig, open_speech: bool) -> str:
    intro = f"{practice.name}, bonjour, je suis l'assistant vocal du cabinet."
    if open_speech:
        # Short (about 5 s): the keypad menu comes only after a failure (MENU_SIMPLE).
        return f"{practice.name}, bonjour, je suis l'assistant vocal. Que puis-je faire pour vous ?"
    return (
        f"{intro} Je comprends seulement des réponses courtes, utilisez de préférence le clavier de "
        f"votre téléphone. {MENU_KEYS}"
    )


WHAT_ELSE = "Puis-je faire autre chose pour vous ?"
WHAT_ELSE_SIMPLE = "Avez-vous une autre demande ? Dites oui ou non, ou tapez 1 pour oui, 2 pour non."
MENU_SIMPLE = (
    "Dites simplement ce que vous souhaitez, par exemple : prendre rendez-vous, annuler un rendez-vous, "
    f"les horaires, ou une ordonnance. {MENU_KEYS}"
)
NOT_UNDERSTOOD = "Excusez-moi, je n'ai pas bien compris."
NO_INPUT = "Je ne vous entends pas."
TRANSFER = "Je vous passe le secrétariat, ne quittez pas."
BOOKING_LIMIT = (
    "Plusieurs rendez-vous ont déjà été pris aujourd'hui avec ce numéro. "
    "Je vous passe le secrétariat, ne quittez pas."
)
TRANSFER_AFTER_FAILURES = "Je vais vous passer le secrétariat, qui pourra mieux vous aider. Ne quittez pas."
GOODBYE = "Merci de votre appel, au revoir."
NO_INFORMATION = "Le cabinet ne m'a pas donné cette information."
MESSAGE_OR_HUMAN = (
    "Voulez-vous laisser un message au secrétariat, ou que je vous passe le secrétariat ? "
    "Dites message ou secrétariat."
)
MESSAGE_OR_HUMAN_KEYS = "Tapez 1 pour laisser un message, 2 pour parler au secrétariat."
# An action that failed (the agenda refused, a store is down): an apology, then a human or a message.
ACTION_FAILED = "Je suis désolé, je n'arrive pas à l'enregistrer pour le moment."
MOVE_FAILED = "Je suis désolé, je n'arrive pas à déplacer ce rendez-vous."
BOOK_FAILED = "Je suis désolé, je n'arrive pas à enregistrer ce rendez-vous."
REQUEST_FAILED = "Je suis désolé, je n'arrive pas à enregistrer votre demande pour le moment."
RECEPTION_UNAVAILABLE = (
    "Le secrétariat ne peut pas vous répondre pour le moment. Je peux prendre un message pour que "
    "le cabinet vous rappelle. Voulez-vous laisser un message ? "
    "Dites oui ou non, ou tapez 1 pour oui, 2 pour non."
)
# The inbox is down outside opening hours: the fallback's voice message box takes the message.
TO_MESSAGE_BOX = "Je vous passe la messagerie du cabinet."
RECEPTION_GONE = "Le secrétariat ne peut pas vous répondre pour le moment. Merci de rappeler plus tard."
NO_SLOT_THEN = "Je n'ai plus de disponibilité à ce moment-là. Voici les plus proches."
YES_NO_KEYS = "Dites oui ou non, ou tapez 1 pour oui, 2 pour non."


def hours_answer(practice: PracticeConfig) -> str:
    return f"Le cabinet est ouvert {hours_fr(practice.hours)}."


def closed_now(next_opening: str) -> str:
    return f"En ce moment, le cabinet est fermé ; il rouvre {next_opening}."


def emergency_transfer(practice: PracticeConfig) -> str:
    n = practice.emergency_number
    return (
        f"C'est peut-être une urgence vitale : raccrochez et composez le {n}, ou le 112. "
        f"Si vous restez en ligne, je vous passe tout de suite le secrétariat en priorité."
    )


def same_day_transfer(practice: PracticeConfig, category: str | None = None) -> str:
    """A same-day red flag: a human now (never advice, never reassurance)."""
    n = practice.emergency_number
    if category == "suicide":
        return (
            "Je vous passe le secrétariat. Vous pouvez aussi appeler le 31 14, jour et nuit, gratuitement. "
            f"En cas de danger immédiat, composez le {n}."
        )
    return (
        "Cela doit être vu aujourd'hui. Je vous passe le secrétariat. "
        f"Si cela s'aggrave, raccrochez et composez le {n}."
    )


def emergency_call_15(practice: PracticeConfig) -> str:
    n = practice.emergency_number
    return (
        f"Personne au cabinet ne peut vous répondre tout de suite. Raccrochez et composez le {n}, "
        f"immédiatement. Je répète : raccrochez et composez le {n}. Vous pouvez aussi composer le 112."
    )


EMERGENCY_CONFIRM = (
    "S'agit-il d'une urgence médicale grave, maintenant ? Dites oui ou non, ou tapez 1 pour oui, 2 pour non."
)


# --- Requests for the staff ---------------------------------------------------------------------

REQUEST_WHAT = {
    RequestKind.PRESCRIPTION_RENEWAL: "Quel traitement souhaitez-vous faire renouveler ?",
    RequestKind.MEDICAL_CERTIFICATE: (
        "Pour quoi vous faut-il ce certificat ? Par exemple pour le sport, ou le travail."
    ),
    RequestKind.SICK_LEAVE: "Pouvez-vous me dire en quelques mots de quoi il s'agit ?",
    RequestKind.TEST_RESULTS: "De quels résultats s'agit-il ? Par exemple une prise de sang ou une radio.",
    RequestKind.CALLBACK: "Quel est votre message ?",
}
REQUEST_INTRO = {
    RequestKind.PRESCRIPTION_RENEWAL: "Je note une demande de renouvellement d'ordonnance pour le médecin.",
    RequestKind.MEDICAL_CERTIFICATE: "Je note une demande de certificat médical pour le médecin.",
    RequestKind.SICK_LEAVE: "Je note votre demande d'arrêt de travail pour le médecin.",
    RequestKind.TEST_RESULTS: (
        "Je ne peux pas communiquer de résultats par téléphone, mais je transmets votre demande au médecin."
    ),
    RequestKind.CALLBACK: "Je prends votre message pour le secrétariat.",
}
REQUEST_NEXT = {
    RequestKind.PRESCRIPTION_RENEWAL: (
        "Votre demande de renouvellement est transmise au médecin. Le cabinet vous rappellera au {phone} "
        "quand l'ordonnance sera prête, ou si le médecin souhaite vous voir en consultation."
    ),
    RequestKind.MEDICAL_CERTIFICATE: (
        "Votre demande de certificat est transmise. Le cabinet vous rappellera au {phone} ; un certificat "
        "demande souvent une consultation."
    ),
    RequestKind.SICK_LEAVE: (
        "Votre demande est transmise au médecin, qui décidera de la suite. "
        "Le cabinet vous rappellera au {phone}."
    ),
    RequestKind.TEST_RESULTS: (
        "Votre demande est transmise. Le médecin ou le secrétariat vous rappellera au {phone} pour en parler."
    ),
    RequestKind.CALLBACK: (
        "Votre message est transmis. Le secrétariat vous rappellera au {phone} dès que possible."
    ),
    RequestKind.FOLLOW_UP_CONCERN: "Je transmets votre message au médecin, qui vous rappellera rapidement.",
}


# --- Calls we place (reminders, follow-ups) -------------------------------------------------------


def _call_back(practice: PracticeConfig) -> str:
    number = f" au {phone_fr(practice.phone)}" if practice.phone else ""
    return f"le {practice.name}{number}"


def outbound_unknown(practice: PracticeConfig) -> str:
    return f"Bonjour, ici le {practice.name}. Merci de nous rappeler. Au revoir."


def is_patient(practice: PracticeConfig, name: str) -> str:
    return (
        f"Bonjour, ici l'assistant vocal du {practice.name}. Je souhaite parler à {name}. "
        f"Êtes-vous {name} ? Dites oui ou non, ou tapez 1 pour oui, 2 pour non."
    )


def is_patient_simple(name: str) -> str:
    return f"Êtes-vous {name} ? {YES_NO_KEYS}"


def wrong_person(practice: PracticeConfig) -> str:
    # Nothing about the appointment: the person who answered is not the patient.
    return (
        f"Excusez-moi pour le dérangement. Pourriez-vous lui demander de rappeler {_call_back(practice)} ? "
        "Merci, au revoir."
    )


def outbound_not_understood(practice: PracticeConfig) -> str:
    return f"Je n'ai pas pu vous comprendre. Merci de rappeler {_call_back(practice)}. Au revoir."


def reminder(when: str) -> str:
    return (
        f"Je vous appelle pour vous rappeler votre rendez-vous {when}. "
        "Dites oui ou tapez 1 pour confirmer, dites annuler ou tapez 2 pour annuler, "
        "dites déplacer ou tapez 3 pour changer d'horaire."
    )


REMINDER_SIMPLE = (
    "Tapez 1 pour confirmer votre rendez-vous, 2 pour l'annuler, 3 pour le déplacer. "
    "Ou dites : oui, annuler, ou déplacer."
)
MOVE_WHEN = "Pour quand souhaitez-vous le déplacer ?"
OUTBOUND_BYE = "Merci, au revoir."
FOLLOW_UP = "Comment allez-vous depuis votre consultation ?"
FOLLOW_UP_SIMPLE = "Est-ce que vous allez bien ? Dites oui ou non."
FOLLOW_UP_GLAD = "Je suis content de l'apprendre."
SATISFACTION = (
    "Sur une échelle de un à cinq, cinq étant très satisfait, êtes-vous satisfait de votre "
    "consultation ? Dites un chiffre ou tapez-le."
)
SATISFACTION_KEYS = "Tapez un chiffre de 1 à 5."
FOLLOW_UP_BYE = "Merci pour votre réponse, et bonne journée. Au revoir."


def follow_up_concern(practice: PracticeConfig) -> str:
    return (
        "Je transmets tout de suite votre message au médecin, qui vous rappellera rapidement. "
        f"Si votre état s'aggrave, composez le {practice.emergency_number}."
    )


# --- Identity -------------------------------------------------------------------------------------

ASK_NAME = "Quel est votre nom de famille et votre prénom ?"
ASK_NAME_CHILD = "Quel est le nom de famille et le prénom de l'enfant ?"
ASK_NAME_SIMPLE = "Dites votre nom de famille, puis votre prénom. Par exemple : Dupont, Marie."
ASK_BIRTH_DATE = (
    "Quelle est votre date de naissance ? Vous pouvez aussi la taper : jour, mois et année, huit chiffres."
)
ASK_BIRTH_DATE_CHILD = (
    "Quelle est sa date de naissance ? Vous pouvez aussi la taper : jour, mois et année, huit chiffres."
)
ASK_BIRTH_DATE_SIMPLE = (
    "Tapez la date de naissance sur le clavier, en huit chiffres : par exemple zéro cinq, "
    "zéro trois, mille neuf cent quatre-vingt-cinq se tape 0 5 0 3 1 9 8 5."
)
ASK_PHONE = "À quel numéro pouvons-nous vous rappeler ? Vous pouvez le taper sur le clavier, dix chiffres."
ASK_PHONE_SIMPLE = "Tapez votre numéro de téléphone sur le clavier, les dix chiffres, puis dièse."
SORRY = "Pardon."
NAME_LATER = "Le secrétariat vous le demandera en vous rappelant."
NAME_NOT_GIVEN = "(nom non donné)"  # read by the staff in the inbox


def confirm_caller_id(e164: str) -> str:
    return f"Pouvons-nous vous joindre au numéro d'où vous appelez, le {phone_fr(e164)} ?"


def confirm_caller_id_simple(e164: str) -> str:
    return f"Le {phone_fr(e164)} est-il le bon numéro pour vous rappeler ? {YES_NO_KEYS}"


def understood(spoken: str) -> str:
    """Read back what a grammar-only recogniser heard."""
    return f"J'ai compris {spoken}, c'est bien ça ?"


def understood_simple(spoken: str) -> str:
    return f"J'ai compris {spoken}. {YES_NO_KEYS}"


# --- Identity by voice (issue 19): the file's name said back, spelling, one part corrected ---------


def is_it_you(name: str, child: bool = False) -> str:
    """The name found in the practice's file, said back: "Texier Monique, c'est bien vous ?"."""
    return f"C'est bien pour {name} ?" if child else f"{name}, c'est bien vous ?"


def first_name_check(last_name: str, child: bool = False) -> str:
    """A file found on weaker evidence (not both ears, not the caller's own number): only its last name is
    said, and the caller proves it is theirs with the first name; a careless "oui" confirms nothing."""
    whose = "le prénom de l'enfant" if child else "votre prénom"
    return f"J'ai trouvé un dossier au nom de {last_name}. Pour vérifier, quel est {whose} ?"


FIRST_NAME_CHECK_SIMPLE = "Dites seulement le prénom. Par exemple : Marie."


def name_noted(name: str, kept: bool = False) -> str:
    """A caller not found in the file: the name as heard, to be confirmed before anything is filed; `kept`:
    the spoken name is kept (sealed, purged with the call) for the staff, and the caller is told so."""
    told = " Je garde aussi votre nom enregistré pour le secrétariat." if kept else ""
    return f"J'ai noté {name}.{told} C'est bien ça ?"


def spelled_back(name: str, first_name: str = "") -> str:
    """'Texier' -> 'J'ai noté Texier : T, E, X, I, E, R. C'est bien ça ?'; with the first name heard
    before, it is confirmed with the letters: '... T, E, X, I, E, R, prénom Monique. C'est bien ça ?'"""
    letters = ", ".join(c.upper() for c in name if c.isalpha())
    first = f", prénom {first_name}" if first_name else ""
    return f"J'ai noté {name} : {letters}{first}. C'est bien ça ?"


ASK_SPELLING = (
    "Pouvez-vous épeler votre nom de famille, lettre par lettre ? "
    "Par exemple : D comme Denise, U, P, O, N, T."
)
ASK_SPELLING_SIMPLE = "Épelez le nom de famille, une lettre à la fois : par exemple D, U, P, O, N, T."
ASK_FIRST_NAME = "Et quel est votre prénom ?"
ASK_FIRST_NAME_CHILD = "Et quel est le prénom de l'enfant ?"
ASK_FIRST_NAME_SIMPLE = "Dites seulement le prénom. Par exemple : Marie."
WHICH_DATE_PART = "Qu'est-ce qui ne va pas : le jour, le mois ou l'année ?"
WHICH_DATE_PART_SIMPLE = "Tapez 1 pour le jour, 2 pour le mois, 3 pour l'année."
ASK_DATE_PART = {
    "day": "Quel est le jour de naissance ?",
    "month": "Quel est le mois de naissance ?",
    "year": "Quelle est l'année de naissance ?",
}
PHONE_WHICH_DIGITS = (
    "Redites-moi seulement les chiffres qui sont faux, par exemple : la fin, c'est cinquante-six, "
    "soixante-dix-huit. Ou tapez le numéro sur le clavier."
)
IDENTITY_TO_STAFF = (
    "Je n'arrive pas à confirmer votre identité. Je transmets votre demande au secrétariat, "
    "qui vous rappellera."
)
IDENTITY_TO_STAFF_NAME_KEPT = (
    "Je n'arrive pas à confirmer votre identité. Le secrétariat écoutera votre nom enregistré "
    "et vous rappellera."
)
NAME_NOT_CONFIRMED = "(nom non confirmé)"  # read by the staff beside the name as heard


# --- Existing appointments ------------------------------------------------------------------------

FIND_FILE = "Je vais d'abord retrouver votre dossier."
FILE_NOT_FOUND_RETRY = "Je ne trouve pas de dossier à ce nom avec cette date de naissance. Reprenons."
FILE_NOT_FOUND_TRANSFER = "Je ne retrouve pas votre dossier. Je vous passe le secrétariat, ne quittez pas."
NO_UPCOMING = "Je ne trouve aucun rendez-vous à venir à votre nom."
NOTHING_CHANGED = "Très bien, je ne change rien."
CANCEL_FAILED = "Je suis désolé, je n'arrive pas à annuler ce rendez-vous."
CONFIRM_FAILED = "Je suis désolé, je n'arrive pas à confirmer ce rendez-vous."
CONFIRMED = "C'est confirmé."


def which_appointment(parts: Sequence[str]) -> str:
    return "Vous avez plusieurs rendez-vous : " + ", ".join(parts[:-1]) + f", et {parts[-1]}. Lequel ?"


def your_appointment(when: str) -> str:
    return f"Votre rendez-vous est {when}."


def confirm_appointment(when: str) -> str:
    return f"Vous avez bien rendez-vous {when}."


def cancel_question(when: str) -> str:
    return f"Vous avez rendez-vous {when}. Voulez-vous l'annuler ?"


def cancelled(of_when: str) -> str:
    return f"C'est fait : votre rendez-vous {of_when} est annulé."


# --- Booking --------------------------------------------------------------------------------------


def which_practitioner(described: str) -> str:
    return (
        f"Avec quel médecin souhaitez-vous ce rendez-vous : {described} ? "
        "Vous pouvez aussi dire : peu importe."
    )


def which_practitioner_keys(keys: str, any_key: int) -> str:
    return f"Tapez {keys}, ou {any_key} pour le premier médecin disponible."


ASK_WHEN = "Pour quand souhaitez-vous ce rendez-vous ?"
ASK_WHEN_ELSE = "Quand seriez-vous disponible ?"
WHEN_EXAMPLES = "Par exemple : demain matin, mardi après-midi, ou le plus tôt possible."
WHEN_SIMPLE = (
    "Dites un jour, par exemple : mardi, ou dites : le plus tôt possible. "
    "Vous pouvez aussi taper 1 pour le premier rendez-vous disponible."
)
WHEN_KEYS = "Tapez 1 pour le premier rendez-vous disponible."
NOT_THAT_TIME = "Je n'ai pas exactement cette heure-là."
ASAP = "le plus tôt possible"
PART_OF_DAY = {
    "morning": "matin",
    "late_morning": "en fin de matinée",
    "noon": "vers midi",
    "afternoon": "après-midi",
    "late_afternoon": "en fin d'après-midi",
    "evening": "en fin de journée",
}
REPEATING = "Je répète."
TAKE_YOUR_TIME = "Prenez votre temps, je vous écoute."
SEVERAL_THAT_DAY = "J'ai plusieurs possibilités ce jour-là."
SEARCHING_AGAIN = "D'accord, je cherche un autre horaire."
NOTHING_RECORDED = "Très bien, je n'enregistre rien."
NOTED = "C'est noté."
OFFER_ONE = "Cela vous convient-il ?"
OFFER_WHICH = "Lequel préférez-vous ?"
SLOT_TAKEN = "Je suis désolé, ce créneau vient d'être pris."
WHAT_TO_FIX = (
    "Que faut-il corriger : l'horaire, ou votre nom et date de naissance ? "
    "Vous pouvez aussi dire : laisser tomber."
)
WHAT_TO_FIX_KEYS = (
    "Tapez 1 pour changer l'horaire, 2 pour corriger votre identité, 3 pour ne rien enregistrer."
)


def possible(when: str) -> str:
    return f"{when[0].upper()}{when[1:]}, c'est possible."


def no_slot(with_whom: str) -> str:
    return (
        f"Je suis désolé, je n'ai pas trouvé de créneau disponible{with_whom}. "
        "Je vous passe le secrétariat, qui trouvera une solution avec vous."
    )


def offer(parts: Sequence[str]) -> str:
    if len(parts) == 1:
        return f"Je peux vous proposer {parts[0]}"
    return "Je peux vous proposer " + ", ".join(parts[:-1]) + f", ou {parts[-1]}"


def offer_keys(keys: str) -> str:
    return f"Tapez {keys}. Ou dites : un autre jour."


def recap_birth(born: dt.date) -> str:
    return f", date de naissance le {birth_date_fr(born)}"


def recap_phone(e164: str) -> str:
    return f", joignable au {phone_fr(e164)}"


def recap(label: str, practitioner: str, when: str, who: str) -> str:
    return f"Je récapitule : {label} avec {practitioner}, {when}, pour {who}. Je confirme ce rendez-vous ?"


def booked(when: str, practitioner: str) -> str:
    return f"C'est noté : votre rendez-vous est confirmé {when}, avec {practitioner}."


def recap_move(of_old: str, new: str, practitioner: str) -> str:
    return (
        f"Je déplace votre rendez-vous {of_old} : le nouveau rendez-vous sera {new}, avec {practitioner}. "
        "C'est d'accord ?"
    )


def moved(when: str, practitioner: str) -> str:
    return f"C'est fait : votre rendez-vous est maintenant {when}, avec {practitioner}."


# --- Menu, several requests -----------------------------------------------------------------------

LISTENING = "Je vous écoute."
FINE = "Très bien."
FINE_WHAT_THEN = "Très bien. Que puis-je faire pour vous ?"
CANCEL_OR_MOVE = "Voulez-vous annuler, déplacer ou confirmer un rendez-vous ?"
CANCEL_OR_MOVE_KEYS = "Tapez 1 pour annuler, 2 pour déplacer, 3 pour confirmer un rendez-vous."
REQUEST_KIND = "Est-ce pour une ordonnance, un certificat, un arrêt de travail, ou des résultats ?"
REQUEST_KIND_KEYS = (
    "Tapez 1 pour une ordonnance, 2 pour un certificat, 3 pour un arrêt de travail, 4 pour des résultats."
)


def address_answer(practice: PracticeConfig) -> str:
    return f"Le cabinet se trouve au {practice.address}."


# What a request mentioned in passing was about ("Vous m'aviez aussi parlé d'une ordonnance.").
OTHER_REQUEST: dict[str, str] = {
    "book_appointment": "d'un rendez-vous",
    "cancel_appointment": "d'une annulation",
    "reschedule_appointment": "d'un rendez-vous à déplacer",
    "confirm_appointment": "d'un rendez-vous à confirmer",
    "ask_hours": "des horaires",
    "ask_address_access": "de l'adresse",
    "ask_parking": "du stationnement",
    "ask_price_payment": "des tarifs",
    "prescription_renewal": "d'une ordonnance",
    "medical_certificate": "d'un certificat",
    "sick_leave": "d'un arrêt de travail",
    "test_results": "de résultats d'examen",
}


def name_corrected(full_name: str) -> str:
    return f"Pardon : {full_name}, c'est corrigé."


def also_mentioned(intent: str) -> str:
    about = OTHER_REQUEST.get(str(intent), "d'une autre demande")
    return f"Vous m'aviez aussi parlé {about}."


def still_pending(intents: list[str]) -> str:
    """ "Puis-je faire autre chose ?" names what the caller asked for and is still waiting."""
    abouts = [OTHER_REQUEST.get(str(i), "d'une autre demande") for i in intents]
    said = abouts[0] if len(abouts) == 1 else f"{', '.join(abouts[:-1])} et {abouts[-1]}"
    return f"Vous m'aviez aussi parlé {said}."


# What the caller may have meant, for a clarifying question ("Souhaitez-vous A, ou B ?").
CLARIFY: dict[str, str] = {
    "book_appointment": "prendre rendez-vous",
    "cancel_appointment": "annuler un rendez-vous",
    "reschedule_appointment": "déplacer un rendez-vous",
    "confirm_appointment": "confirmer un rendez-vous",
    "ask_hours": "connaître les horaires",
    "ask_address_access": "l'adresse du cabinet",
    "ask_parking": "savoir où vous garer",
    "ask_documents_to_bring": "savoir quoi apporter",
    "ask_price_payment": "connaître les tarifs",
    "prescription_renewal": "une ordonnance",
    "medical_certificate": "un certificat médical",
    "sick_leave": "un arrêt de travail",
    "test_results": "des résultats d'examen",
    "speak_to_human": "parler au secrétariat",
}


def clarify(first: str, second: str) -> str:
    return f"Excusez-moi, souhaitez-vous {CLARIFY.get(first, first)}, ou {CLARIFY.get(second, second)} ?"


def clarify_keys(first: str, second: str) -> str:
    return f"Tapez 1 pour {CLARIFY.get(first, first)}, 2 pour {CLARIFY.get(second, second)}."
