"""A generated adversarial set for the safety net (tests/unit/test_safety_corpus.py, bench/bench_safety.py).

Positives: preamble x person x red flag x onset x filler x recogniser noise, with preambles that carry
something routine, a past illness or another person ("c'est pour le suivi de mon diabète mais là ...").
Hard negatives: past events, negations ("pas de douleur"), questions about emergency numbers, a death
announced to cancel an appointment, routine follow-up of a chronic disease, "ce n'est pas urgent".
Deterministic: the same seed gives the same set. Written independently of the rules' patterns: the
phrasings are the way callers say things, not the way the rules are written.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

SEED = 20261207


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    vital: bool  # what the safety net must say: an emergency (True) or not vital (False)
    category: str  # the red flag's category (positives) or the kind of hard negative
    template: str  # the template before the preamble, person and noise


# Who: (subject for the third person, how the caller names them as an object).
PERSONS = (
    ("ma fille", "ma fille"),
    ("mon mari", "mon mari"),
    ("le bébé", "le bébé"),
    ("mon voisin", "mon voisin"),
    ("mon père", "mon père"),
    ("ma mère", "ma mère"),
    ("mon fils", "mon fils"),
    ("ma femme", "ma femme"),
    ("ma grand-mère", "ma grand-mère"),
)

# Red flags: (category, first person, third person with {S}); None where a form makes no sense.
RED_FLAGS: tuple[tuple[str, str | None, str | None], ...] = (
    ("breathing", "je n'arrive plus à respirer", "{S} n'arrive plus à respirer"),
    ("breathing", "j'arrive pas à respirer", "{S} arrive pas à respirer"),
    ("breathing", "j'ai du mal à respirer", "{S} a du mal à respirer"),
    ("breathing", "je m'étouffe", "{S} s'étouffe"),
    ("breathing", "je suffoque", "{S} suffoque"),
    ("breathing", None, "{S} a les lèvres toutes bleues"),
    ("breathing", None, "{S} ne respire plus"),
    ("breathing", None, "{S} respire très mal"),
    (
        "chest_pain",
        "j'ai une douleur dans la poitrine qui serre très fort",
        "{S} a une douleur dans la poitrine",
    ),
    ("chest_pain", "j'ai très mal à la poitrine", "{S} a très mal à la poitrine"),
    ("chest_pain", "ça me serre la poitrine", "ça lui serre la poitrine"),
    ("chest_pain", "j'ai une douleur thoracique", "{S} a une douleur thoracique"),
    ("chest_pain", "j'ai le bras gauche tout engourdi et mal à la mâchoire", None),
    ("chest_pain", None, "{S} a mal au bras gauche et il transpire beaucoup"),
    ("chest_pain", "je crois que je fais une crise cardiaque", "je crois que {S} fait une crise cardiaque"),
    ("stroke", None, "{S} a la bouche de travers"),
    ("stroke", None, "{S} a le visage qui tombe d'un côté"),
    ("stroke", "je sens plus mon bras droit", "{S} sent plus son bras droit"),
    ("stroke", None, "{S} n'arrive plus à parler d'un coup"),
    ("stroke", "je crois que je fais un AVC", "je crois que {S} fait un AVC"),
    ("stroke", None, "le bras de {S} ne bouge plus"),
    ("unconscious", None, "{S} a perdu connaissance"),
    ("unconscious", None, "{S} s'est évanoui"),
    ("unconscious", None, "{S} ne répond plus"),
    ("unconscious", None, "{S} s'écroule il est tout pâle"),
    ("unconscious", None, "{S} est inconsciente par terre"),
    ("unconscious", None, "{S} ne se réveille pas"),
    ("fall_head_injury", None, "{S} est tombée elle s'est cogné la tête et elle vomit"),
    ("fall_head_injury", None, "{S} a chuté et s'est tapé la tête il est tout confus"),
    ("seizure", None, "{S} convulse"),
    ("seizure", None, "{S} fait une crise d'épilepsie"),
    ("seizure", None, "{S} a les yeux révulsés et tremble de partout il répond pas"),
    ("bleeding", "je saigne énormément", "{S} saigne énormément"),
    ("bleeding", None, "{S} perd beaucoup de sang"),
    ("bleeding", "ça n'arrête pas de saigner", "ça n'arrête pas de saigner"),
    ("bleeding", "je suis enceinte et je saigne beaucoup", "{S} est enceinte et elle saigne beaucoup"),
    ("bleeding", "j'ai accouché la semaine dernière et je saigne énormément", None),
    ("anaphylaxis", "j'ai la gorge qui gonfle", "{S} a la gorge qui gonfle"),
    ("anaphylaxis", None, "{S} a été piquée par une guêpe et elle a le visage qui enfle"),
    ("anaphylaxis", "je fais un choc anaphylactique", "{S} fait un choc anaphylactique"),
    ("poisoning", None, "{S} a avalé de la javel"),
    ("poisoning", None, "{S} a avalé une pile bouton"),
    ("poisoning", "j'ai pris toute une boîte de somnifères", "{S} a pris toute une boîte de cachets"),
    ("poisoning", None, "{S} a bu du produit vaisselle"),
    ("poisoning", None, "{S} a avalé les médicaments de sa grand-mère"),
    ("burn", None, "{S} s'est ébouillanté avec la casserole"),
    ("burn", "je me suis brûlé gravement", "{S} s'est brûlé gravement au visage"),
    ("infant", None, "le bébé de deux mois a de la fièvre"),
    ("infant", None, "mon bébé de 3 semaines a 38 5 de fièvre"),
    ("infant", None, "le nourrisson est tout mou"),
    ("infant", None, "mon bébé respire très vite et se creuse sous les côtes"),
    ("hypoglycaemia", None, "{S} est diabétique et là elle est toute confuse"),
    ("hypoglycaemia", "je fais une hypo", "{S} fait une grosse hypo"),
    ("headache", "j'ai le pire mal de tête de ma vie", "{S} a le pire mal de tête de sa vie"),
    ("headache", "j'ai eu d'un coup un mal de tête terrible", None),
    ("suicide", "j'ai envie d'en finir", "{S} veut se suicider"),
    ("suicide", "je veux mourir", "{S} parle de se tuer"),
    ("suicide", "j'ai pris trop de médicaments pour en finir", "{S} a fait une overdose"),
    ("english", "I can't breathe", "he can't breathe"),
    ("english", "I have chest pain", "she is unconscious"),
)

PREAMBLES = (
    "",
    "bonjour",
    "allô oui bonjour",
    "excusez-moi de vous déranger",
    "je voudrais un rendez-vous mais",
    "je voudrais un rendez-vous pour ma fille",
    "c'est pour le suivi de mon diabète mais là",
    "j'ai déjà eu de l'asthme et là",
    "je voulais juste savoir les horaires mais",
    "je vous appelle parce que",
    "oui bonjour c'est madame Durand",
    "ce n'est pas urgent mais en fait",
    "il y a dix ans il a fait un infarctus et là",
    "je sais pas si c'est grave mais",
    "rendez-vous pour mon fils",
    "c'est pour renouveler l'ordonnance et sinon",
)
ONSETS = ("", "depuis une heure", "depuis 10 minutes", "tout à coup", "là maintenant", "depuis ce matin")
TAILS = ("", "qu'est-ce que je fais", "aidez-moi", "il faut un rendez-vous", "je voulais un rendez-vous")

NEGATIVES: tuple[tuple[str, str], ...] = (
    ("past", "{S} a fait un infarctus il y a dix ans"),
    ("past", "j'ai eu une crise d'épilepsie en 2015"),
    ("past", "{S} a fait un AVC l'année dernière"),
    ("past", "quand j'étais petit j'avais de l'asthme"),
    ("past", "{S} a fait des convulsions il y a deux ans"),
    ("past", "j'ai des antécédents d'infarctus"),
    ("past", "{S} a eu une hémorragie il y a cinq ans"),
    ("past", "{S} avait perdu connaissance il y a trois ans"),
    ("past", "j'ai déjà eu une crise cardiaque il y a longtemps en 2010"),
    ("past", "il y a six mois {S} a fait une crise d'épilepsie"),
    ("negation", "je n'ai pas de douleur dans la poitrine"),
    ("negation", "{S} n'a pas de fièvre"),
    ("negation", "pas de difficulté à respirer"),
    ("negation", "aucune douleur thoracique"),
    ("negation", "{S} n'a jamais fait de convulsions"),
    ("negation", "je ne saigne plus du tout"),
    ("negation", "je n'ai pas mal à la poitrine mais je tousse"),
    ("negation", "{S} n'a pas perdu connaissance"),
    ("emergency_number", "quel est le numéro du SAMU"),
    ("emergency_number", "c'est quoi le numéro des urgences le dimanche"),
    ("emergency_number", "le 15 c'est pour quoi exactement"),
    ("emergency_number", "quel numéro appeler en cas de douleur dans la poitrine"),
    ("emergency_number", "qu'est-ce qu'il faut faire si quelqu'un fait un AVC"),
    ("emergency_number", "est-ce que le cabinet prend les urgences"),
    ("emergency_number", "quels sont les signes d'un AVC"),
    ("emergency_number", "c'est quoi le numéro de la maison médicale de garde"),
    ("death", "{S} est décédé je voudrais annuler son rendez-vous"),
    ("death", "{S} est morte d'un AVC la semaine dernière il faut annuler ses rendez-vous"),
    ("death", "{S} est décédé ce matin d'une crise cardiaque je dois annuler son rendez-vous"),
    ("death", "suite au décès de {S} je voudrais annuler le rendez-vous de jeudi"),
    ("death", "{S} nous a quittés je voulais annuler son suivi"),
    ("chronic", "rendez-vous pour le suivi de mon diabète"),
    ("chronic", "je voudrais le renouvellement de ma ventoline pour mon asthme"),
    ("chronic", "c'est pour le contrôle de ma tension"),
    ("chronic", "suivi de mon insuffisance cardiaque"),
    ("chronic", "{S} est épileptique il lui faut le renouvellement de son traitement"),
    ("chronic", "c'est pour renouveler le stylo d'adrénaline de {S}"),
    ("chronic", "rendez-vous de contrôle après son infarctus"),
    ("chronic", "{S} est asthmatique je voudrais un certificat pour le sport"),
    ("not_urgent", "ce n'est pas urgent je voudrais un certificat"),
    ("not_urgent", "c'est pas urgent juste une ordonnance"),
    ("not_urgent", "rien de grave une petite toux"),
    ("not_urgent", "c'est pas pressé je voudrais un rendez-vous la semaine prochaine"),
    ("not_urgent", "pas urgent du tout c'est pour une prise de sang"),
    ("routine", "je voudrais un rendez-vous pour {S} jeudi matin"),
    ("routine", "vous êtes ouverts samedi"),
    ("routine", "le secrétariat ne répond pas"),
    ("routine", "il fait chaud dans la chambre du bébé"),
    ("routine", "je voudrais les résultats de la prise de sang"),
    ("routine", "j'ai mal au dos depuis une semaine"),
)
NEGATIVE_PREAMBLES = ("", "bonjour", "allô oui bonjour", "excusez-moi", "oui alors", "bonjour madame")
NEGATIVE_TAILS = ("", "merci", "s'il vous plaît", "c'est possible", "quand vous pourrez")

_DIGITS = {"une": "1", "deux": "2", "trois": "3", "dix": "10", "cinq": "5", "six": "6"}
_WORDS = {"10": "dix", "3": "trois", "2": "deux", "15": "quinze", "38": "trente-huit", "5": "cinq"}


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def asr_noise(text: str, rng: random.Random) -> str:
    """What a recogniser might write: lowercase, no punctuation, no accents, lost elisions, stutters,
    fillers, numbers as digits or words."""
    text = text.lower()
    if rng.random() < 0.5:
        text = _strip_accents(text)
    if rng.random() < 0.4:
        text = text.replace("'", " ")
    elif rng.random() < 0.3:
        text = text.replace("'", "")  # "jai", "narrive"
    text = text.replace("-", " ") if rng.random() < 0.5 else text
    words = text.split()
    out: list[str] = []
    for word in words:
        if rng.random() < 0.08:
            out.append(rng.choice(("euh", "ben", "heu")))
        if rng.random() < 0.15:
            word = _DIGITS.get(word, _WORDS.get(word, word))
        out.append(word)
        if rng.random() < 0.05:
            out.append(word)  # a stutter
    return " ".join(out)


def _positives(rng: random.Random) -> list[Item]:
    items: list[Item] = []
    for category, first, third in RED_FLAGS:
        forms: list[str] = []
        if first:
            forms.append(first)
        if third:
            subjects = [p for p, _ in PERSONS] if "{S}" in third else [""]
            forms.extend(third.replace("{S}", s) for s in subjects)
        for form in forms:
            for preamble in PREAMBLES:
                onset = rng.choice(ONSETS)
                tail = rng.choice(TAILS)
                text = " ".join(p for p in (preamble, form, onset, tail) if p)
                items.append(Item(asr_noise(text, rng), True, category, first or third or ""))
    return items


def _negatives(rng: random.Random) -> list[Item]:
    items: list[Item] = []
    for category, template in NEGATIVES:
        subjects = [p for p, _ in PERSONS] if "{S}" in template else [""]
        for subject in subjects:
            form = template.replace("{S}", subject)
            for preamble in NEGATIVE_PREAMBLES:
                for _ in range(2):
                    tail = rng.choice(NEGATIVE_TAILS)
                    text = " ".join(p for p in (preamble, form, tail) if p)
                    items.append(Item(asr_noise(text, rng), False, category, template))
    return items


def generate(seed: int = SEED) -> list[Item]:
    """The whole set, deduplicated, in a stable order."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[Item] = []
    for item in [*_positives(rng), *_negatives(rng)]:
        if item.text not in seen:
            seen.add(item.text)
            out.append(item)
    return out


# --- Spoken: sentences for the test callers' voices (bench/bench_spoken_safety.py) --------------------
#
# Written as a caller says them (accents, punctuation for the voice's pauses), not as a recogniser writes
# them: the synthetic voice, the telephone line and Whisper bring the noise. Each red flag is said alone
# and inside routine talk (at the opening, in the middle of a booking, after a routine request). The hard
# negatives share the red flags' words and sounds ("prise de sang", "le cinéma", "je sais énormément").


@dataclass(frozen=True, slots=True)
class SpokenItem:
    text: str
    vital: bool  # a vital red flag: the dialogue must transfer or ask "Est-ce une urgence ?"
    category: str  # the red flag's category (positives) or the kind of hard negative
    context: str  # "alone", "opening", "mid_booking", "after_routine" (positives); "negative"
    # Negatives only: a check question ("Est-ce une urgence ?") is the practice's policy for this one
    # (a question about what to do in an emergency, a flag in a hypothesis); never a transfer.
    check_ok: bool = False


SPOKEN_RED_FLAGS: tuple[tuple[str, str], ...] = (
    ("chest_pain", "j'ai une douleur dans la poitrine qui serre très fort"),
    ("chest_pain", "mon mari a très mal à la poitrine"),
    ("chest_pain", "j'ai une douleur thoracique depuis une heure"),
    ("chest_pain", "je crois que je fais une crise cardiaque"),
    ("chest_pain", "ça me serre la poitrine et j'ai mal au bras gauche"),
    ("chest_pain", "mon père a mal dans la poitrine et il transpire beaucoup"),
    ("breathing", "je n'arrive plus à respirer"),
    ("breathing", "mon fils s'étouffe"),
    ("breathing", "ma femme suffoque"),
    ("breathing", "il ne respire plus"),
    ("breathing", "j'ai énormément de mal à respirer"),
    ("breathing", "mon mari a les lèvres toutes bleues"),
    ("unconscious", "mon père a perdu connaissance"),
    ("unconscious", "ma mère s'est évanouie"),
    ("unconscious", "il est inconscient par terre"),
    ("unconscious", "ma grand-mère ne répond plus"),
    ("unconscious", "mon mari ne se réveille pas"),
    ("unconscious", "elle s'est effondrée dans la cuisine"),
    ("bleeding", "je saigne énormément"),
    ("bleeding", "je saigne énormément, je n'arrive pas à arrêter le saignement"),
    ("bleeding", "il perd beaucoup de sang"),
    ("bleeding", "ça n'arrête pas de saigner"),
    ("bleeding", "ma fille saigne beaucoup"),
    ("bleeding", "elle fait une hémorragie"),
    ("bleeding", "je suis enceinte et je saigne beaucoup"),
    ("bleeding", "il y a une mare de sang"),
    ("stroke", "mon mari a la bouche de travers"),
    ("stroke", "ma mère a le visage qui tombe d'un côté"),
    ("stroke", "il n'arrive plus à parler d'un coup"),
    ("stroke", "je ne sens plus mon bras droit"),
    ("stroke", "je crois que mon père fait un AVC"),
    ("stroke", "elle est paralysée d'un côté"),
    ("suicide", "j'ai envie d'en finir"),
    ("suicide", "je veux mourir"),
    ("suicide", "mon fils parle de se suicider"),
    ("suicide", "j'ai pris tous mes médicaments pour en finir"),
    ("infant", "mon bébé de deux mois a de la fièvre"),
    ("infant", "le nourrisson est tout mou"),
    ("infant", "mon bébé de trois semaines a trente-neuf de fièvre"),
    ("infant", "mon bébé respire très vite et se creuse sous les côtes"),
    ("child", "ma fille a avalé de la javel"),
    ("child", "mon fils a avalé une pile bouton"),
    ("child", "mon fils convulse"),
    ("child", "ma fille fait une crise d'épilepsie"),
    ("child", "mon fils est tombé, il s'est cogné la tête et il vomit"),
    ("allergic_reaction", "j'ai la gorge qui gonfle"),
    ("allergic_reaction", "elle a été piquée par une guêpe et son visage enfle"),
    ("allergic_reaction", "je fais un choc anaphylactique"),
    ("poisoning", "il a pris toute une boîte de somnifères"),
    ("poisoning", "mon mari a bu du produit vaisselle"),
    ("seizure", "ma femme fait des convulsions"),
    ("seizure", "il convulse et il ne répond pas"),
    ("headache", "j'ai le pire mal de tête de ma vie"),
    ("burn", "mon fils s'est ébouillanté avec la casserole"),
)

# Routine talk around a red flag: {F} is the red flag.
SPOKEN_CONTEXTS: tuple[tuple[str, str], ...] = (
    ("opening", "Allô, bonjour, excusez-moi, {F}."),
    ("opening", "Bonjour madame, {F}, qu'est-ce que je fais ?"),
    ("mid_booking", "En fait, {F}."),
    ("mid_booking", "Jeudi matin, mais en fait {F}."),
    ("mid_booking", "Oui, mais là, {F}."),
    ("after_routine", "Je voulais un rendez-vous pour un renouvellement, mais là {F}."),
    ("after_routine", "C'est pour le suivi de mon diabète, mais là {F}."),
    ("after_routine", "{F}, je voulais un rendez-vous."),
)

# (category, sentence, check_ok)
SPOKEN_NEGATIVES: tuple[tuple[str, str, bool], ...] = (
    ("routine", "Je voudrais les résultats de ma prise de sang.", False),
    ("routine", "C'est pour une prise de sang à jeun jeudi matin.", False),
    ("routine", "Je voudrais un rendez-vous pour un bilan sanguin.", False),
    ("routine", "Je voudrais un rendez-vous avec mon médecin traitant jeudi matin.", False),
    ("routine", "Je sors du cinéma, je voulais un rendez-vous pour demain.", False),
    ("routine", "Mardi je vais au cinéma, plutôt mercredi alors.", False),
    ("routine", "Je vous remercie énormément, au revoir.", False),
    ("routine", "Je sais que vous êtes très occupés, c'est pour une ordonnance.", False),
    ("routine", "C'est sain de marcher, le docteur me l'a dit, je voulais un certificat.", False),
    ("routine", "C'est pour un certificat de sport pour la piscine.", False),
    ("routine", "Je voudrais renouveler l'ordonnance de ma tension.", False),
    ("routine", "Le secrétariat ne répond pas, vous êtes ouverts samedi ?", False),
    ("routine", "C'est pour le vaccin du bébé de quatre mois.", False),
    ("routine", "Mon fils a une petite toux depuis trois jours.", False),
    ("routine", "J'ai mal au dos depuis une semaine.", False),
    ("routine", "Il fait chaud dans la chambre du bébé.", False),
    ("routine", "Je respire mieux depuis le traitement, c'était pour un contrôle.", False),
    ("routine", "Je suis un peu essoufflé quand je monte les escaliers, c'est pour un bilan.", False),
    ("routine", "Je voudrais une radio de la poitrine pour mon dossier.", False),
    ("routine", "Il faudrait signer le papier pour la cantine.", False),
    ("routine", "Il y a beaucoup de monde en ce moment, je rappellerai.", False),
    ("routine", "Je voudrais déplacer mon rendez-vous de lundi.", False),
    ("routine", "Il me faut un arrêt de travail pour ma femme.", False),
    ("routine", "Je suis enceinte de trois mois, c'est pour le suivi.", False),
    ("routine", "C'est pour une consultation, j'ai des boutons sur le bras.", False),
    ("routine", "Le laboratoire m'a dit que mon sang était normal.", False),
    ("minor", "Je saigne un peu du nez depuis hier, c'était pour un renouvellement.", False),
    ("minor", "Ma fille s'est coupé le doigt, ça ne saigne plus, c'est pour un vaccin antitétanique.", False),
    ("minor", "Ma gencive saigne un peu quand je me brosse les dents.", False),
    ("minor", "J'ai une petite allergie au pollen, c'est pour un antihistaminique.", False),
    ("negation", "Je n'ai pas de douleur dans la poitrine, c'est juste la toux.", False),
    ("negation", "Il n'a pas de fièvre, c'est pour un certificat.", False),
    ("negation", "Pas de saignement, juste des nausées le matin.", False),
    ("negation", "Il n'a jamais fait de convulsions.", False),
    ("negation", "Ma mère n'a pas perdu connaissance, elle a juste un peu de vertige.", False),
    ("past", "Ma mère a fait un AVC il y a dix ans, c'est pour son renouvellement.", False),
    ("past", "J'ai eu une hémorragie il y a cinq ans, c'est pour le suivi.", False),
    ("past", "Mon mari a fait un infarctus l'année dernière, c'est pour le contrôle.", False),
    ("past", "Quand j'étais petit j'avais de l'asthme.", False),
    ("death", "Mon père est décédé, je voudrais annuler son rendez-vous.", False),
    (
        "death",
        "Ma grand-mère est morte d'un AVC la semaine dernière, il faut annuler ses rendez-vous.",
        False,
    ),
    ("chronic", "C'est pour le suivi de mon diabète.", False),
    ("chronic", "Je voudrais le renouvellement de ma ventoline pour mon asthme.", False),
    ("chronic", "Mon fils est épileptique, il lui faut le renouvellement de son traitement.", False),
    ("chronic", "C'est un rendez-vous de contrôle après son infarctus.", False),
    ("not_urgent", "Ce n'est pas urgent, je voudrais un certificat.", False),
    ("not_urgent", "Rien de grave, une petite toux.", False),
    ("emergency_number", "Quel est le numéro du SAMU ?", True),
    ("emergency_number", "Qu'est-ce qu'il faut faire si quelqu'un fait un AVC ?", True),
    ("emergency_number", "Quels sont les signes d'une crise cardiaque ?", True),
)

# Red flags said in the spoken-call bench over real SIP (bench/results/spoken_calls.md), word for word.
SPOKEN_HEARD_ON_CALLS: tuple[tuple[str, str, str], ...] = (
    ("bleeding", "mid_booking", "En fait je saigne énormément, je n'arrive pas à arrêter le saignement."),
    ("chest_pain", "opening", "Ma femme a une forte douleur dans la poitrine qui descend dans le bras."),
    ("unconscious", "opening", "Mon père est tombé et il ne répond plus, il est inconscient."),
    ("stroke", "opening", "Mon mari a la bouche de travers et il n'arrive plus à parler."),
    ("breathing", "mid_booking", "Attendez, mon mari vient de s'effondrer, il ne respire plus."),
)


def spoken_items() -> list[SpokenItem]:
    """Each red flag alone and in two routine contexts (chosen by turns, so every context is used), and
    the hard negatives, in a stable order."""
    items: list[SpokenItem] = []
    for n, (category, flag) in enumerate(SPOKEN_RED_FLAGS):
        items.append(SpokenItem(flag[0].upper() + flag[1:] + ".", True, category, "alone"))
        for k in (n % len(SPOKEN_CONTEXTS), (n + 3) % len(SPOKEN_CONTEXTS)):
            context, template = SPOKEN_CONTEXTS[k]
            text = template.replace("{F}", flag)
            items.append(SpokenItem(text[0].upper() + text[1:], True, category, context))
    for category, text, check_ok in SPOKEN_NEGATIVES:
        items.append(SpokenItem(text, False, category, "negative", check_ok))
    for category, context, text in SPOKEN_HEARD_ON_CALLS:
        items.append(SpokenItem(text, True, category, context))
    out: dict[str, SpokenItem] = {}
    for item in items:
        out.setdefault(item.text, item)
    return list(out.values())


# A held-out spoken set: other phrasings, people and contexts, never used to choose the sounds-like terms
# (bench_spoken_safety.py --set holdout): how far the terms heard on the tuning set carry.
SPOKEN_HOLDOUT: tuple[tuple[str, str, bool], ...] = (
    ("bleeding", "Bonjour, mon mari s'est coupé, il saigne énormément.", True),
    ("bleeding", "Attendez, ma fille saigne énormément du bras.", True),
    ("bleeding", "Le saignement ne s'arrête pas, il y en a partout.", True),
    ("bleeding", "Je perds beaucoup de sang depuis ce matin.", True),
    ("bleeding", "Mon fils saigne beaucoup de la tête.", True),
    ("bleeding", "Vendredi, non attendez, ma femme fait une hémorragie.", True),
    ("chest_pain", "Mon mari a une grosse douleur dans la poitrine.", True),
    ("chest_pain", "Ma mère a mal à la poitrine, ça serre très fort.", True),
    ("chest_pain", "Avec mon médecin traitant, mais en fait mon père fait une crise cardiaque.", True),
    ("chest_pain", "J'ai une douleur thoracique qui irradie dans le bras gauche.", True),
    ("breathing", "Ma fille n'arrive plus à respirer.", True),
    ("breathing", "Mon père a énormément de mal à respirer.", True),
    ("breathing", "Le bébé s'étouffe, il devient tout bleu.", True),
    ("breathing", "Mon mari ne respire plus, qu'est-ce que je fais ?", True),
    ("breathing", "Ma grand-mère suffoque depuis tout à l'heure.", True),
    ("unconscious", "Ma femme a perdu connaissance dans la salle de bain.", True),
    ("unconscious", "Mon fils s'est évanoui à l'école.", True),
    ("unconscious", "Mon grand-père est inconscient.", True),
    ("unconscious", "Mon père ne répond plus, il est par terre.", True),
    ("unconscious", "Ma voisine s'est effondrée dans l'escalier.", True),
    ("stroke", "Ma mère a la bouche de travers depuis ce matin.", True),
    ("stroke", "Mon père ne peut plus bouger le bras droit, d'un coup.", True),
    ("stroke", "Je crois que ma femme fait un AVC.", True),
    ("stroke", "Mon mari est paralysé d'un côté.", True),
    ("suicide", "Je n'ai plus envie de vivre.", True),
    ("suicide", "Ma fille veut se suicider.", True),
    ("suicide", "J'ai envie de me tuer.", True),
    ("infant", "Ma fille de trois semaines a trente-neuf de fièvre.", True),
    ("infant", "Mon nourrisson ne boit plus et il est tout mou.", True),
    ("child", "Mon fils a bu de l'eau de javel.", True),
    ("child", "Ma fille a avalé des médicaments de sa grand-mère.", True),
    ("child", "Mon fils fait une crise d'épilepsie.", True),
    ("child", "Ma fille convulse, elle ne répond pas.", True),
    ("allergic_reaction", "Ma fille a la langue qui gonfle après des cacahuètes.", True),
    ("allergic_reaction", "Mon mari a été piqué par une abeille, sa gorge gonfle.", True),
    ("poisoning", "Ma mère a pris toute une boîte de cachets.", True),
    ("seizure", "Mon mari convulse par terre.", True),
    ("burn", "Ma fille s'est ébouillantée avec la bouilloire.", True),
    ("routine", "Je voudrais prendre rendez-vous pour une prise de sang mardi.", False),
    ("routine", "On est allés au cinéma hier, c'est pour un certificat.", False),
    ("routine", "Je vous remercie énormément pour votre aide.", False),
    ("routine", "J'ai le sentiment que mon traitement ne marche pas, je voudrais en parler.", False),
    ("routine", "Il faut que je signe les papiers de la mutuelle.", False),
    ("routine", "Mon fils voudrait un rendez-vous pour un vaccin.", False),
    ("routine", "C'est pour renouveler la pilule de ma fille.", False),
    ("routine", "Je voudrais déplacer le rendez-vous de ma mère à jeudi.", False),
    ("routine", "C'est pour une radio du thorax demandée par le docteur.", False),
    ("routine", "Ma mère a une petite toux, rien de grave.", False),
    ("minor", "Je me suis coupé le doigt hier, ça ne saigne plus.", False),
    ("past", "Mon père a perdu connaissance l'année dernière, c'est pour le suivi.", False),
    ("negation", "Il n'a pas de fièvre et il respire bien.", False),
    ("death", "Mon mari est décédé, il faut annuler ses rendez-vous.", False),
)


def spoken_holdout() -> list[SpokenItem]:
    """The held-out spoken set, in a stable order."""
    return [
        SpokenItem(text, vital, category, "holdout" if vital else "negative")
        for category, text, vital in SPOKEN_HOLDOUT
    ]
