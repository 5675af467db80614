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
