"""Emergency rule layer: runs first on every utterance, and nothing downstream may override it.

Patterns work on folded text (lowercase, no accents, apostrophes and hyphens as spaces, fillers removed,
numbers as digits). A rule hit is suppressed only by clear history ("il y a dix ans", "l'année dernière"),
a negation right before the symptom ("pas de douleur à la poitrine") or a follow-up context
("suivi de mon infarctus"). Anything doubtful stays an alarm: a false alarm costs a transfer, a miss
can cost a life.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from standardiste.understanding.types import Urgency

_N = (
    r"(?:\d+|un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|quelques|plusieurs)"
)
_BABY = (
    r"(?:\bbebe|\bnourrisson|\bnouveau ne|\bnouveaux nes|\bpetit bout|\b(?:de|d|age|agee|a) "
    + _N
    + r" (?:mois|semaines|jours)(?! de fievre))"
)
_FEVER = (
    r"(?:fievre|temperature|(?:3[89]|4[0-2])(?: degres?| 5)?(?: de fievre)?|tout chaud|toute chaude|brulant"
    r"|brulante)"
)

# name -> patterns. Order matters only for which name is reported.
RULES: dict[str, tuple[str, ...]] = {
    "cardiac_arrest": (
        r"\bne respire plus\b",
        r"\brespire plus\b",
        r"\barret cardiaque\b",
        r"\bcoeur (?:s est |qui s )?arrete\b",
        r"\bplus de pouls\b",
        r"\bmassage cardiaque\b",
    ),
    "chest_pain": (
        r"\b(?:douleurs?|mal|serrement|oppression|pression|brulure|poids)\b(?: \w+){0,3}? "
        r"(?:a|dans|au niveau de|sur) (?:la|ma|sa) poitrine\b",
        r"\bpoitrine (?:qui|me|lui) (?:serre|fait mal|brule|comprime|ecrase)",
        r"\b(?:douleurs?|oppression|serrement) thoraciques?\b",
        r"\bmal (?:au|dans le) thorax\b",
        r"\bcrise cardiaque\b",
        r"\b(?:serre|serrent|compresse|ecrase|oppresse|brule) (?:la|ma|sa|le) (?:poitrine|thorax)\b",
        r"\binfarctus\b",
        r"\bcomme un etau\b",
        r"\b(?:douleurs?|mal)\b(?: \w+){0,3}? (?:dans|au) (?:le |mon |son )?bras gauche\b(?: \w+){0,6} "
        r"(?:poitrine|machoire|transpire|sueurs?)",
    ),
    "breathing": (
        r"\b(?:arrive|arrivons|arrivent|peux|peut|peuvent) (?:pas|plus|presque plus|presque pas) "
        r"(?:a )?(?:respirer|reprendre (?:mon|son) souffle)\b",
        r"\b(?:du mal|de la peine|difficultes?) (?:a|pour) respirer\b",
        r"\bdifficultes? respiratoires?\b",
        r"\bdetresse respiratoire\b",
        r"\brespire (?:tres )?(?:mal|difficilement|avec difficulte|tres fort et vite)\b",
        r"\b(?:s |m |t )?etouffe\b",
        r"\b(?:suffoque|suffoquer|suffocation)\b",
        r"\bmanque d air\b",
        r"\bplus d air\b",
        r"\b(?:levres|visage|doigts) (?:toutes? |tout )?(?:bleus?|bleues?|violet|violettes?)\b",
        r"\bdevient (?:tout |toute )?(?:bleu|bleue|violet|violette)\b",
        r"\bsiffle (?:quand|en) (?:il|elle|je) respire\b(?: \w+){0,4} (?:arrive|peut) (?:pas|plus)",
        r"\bcrise d asthme\b(?: \w+){0,6} (?:passe pas|ventoline marche pas|arrive pas|grave|forte)",
    ),
    "bleeding": (
        r"\bsaigne(?:nt)? (?:beaucoup|enormement|abondamment|sans arret|partout|tres fort|fort|comme "
        r"un boeuf|a flots?|de partout)\b",
        r"\b(?:beaucoup|enormement|plein|une mare) de sang\b",
        r"\bhemorragie\b",
        r"\bsaignement (?:tres )?(?:abondant|important|enorme|massif|qui (?:ne )?s arrete (?:pas|plus))",
        r"\b(?:n )?arrete (?:pas|plus) de saigner\b",
        r"\bsaigne (?:et|mais) (?:ca|ça) (?:ne )?s arrete (?:pas|plus)\b",
        r"\bpisse le sang\b",
        r"\bcrache (?:du|le) sang\b",
        r"\bvomi(?:t|s)? du sang\b",
        r"\bperd(?:s|u)? (?:beaucoup de |enormement de )?sang\b",
        r"\bcoupure (?:tres )?(?:profonde|grave)\b",
    ),
    "unconscious": (
        r"\bperdu connaissance\b",
        r"\bperte de connaissance\b",
        r"\binconscient(?:e|s)?\b",
        r"\bsans connaissance\b",
        r"\b(?:ne|n) (?:reagit|repond) (?:plus|pas) (?:du tout|quand|a|aux|rien)",
        r"\bne reagit (?:plus|pas)\b",
        r"\b(?:ne|n) (?:se )?reveille (?:pas|plus)\b",
        r"\barrive (?:pas|plus) a (?:le|la|les) reveiller\b",
        r"\bevanoui(?:e|s)?\b",
        r"\bs (?:est|sont) effondre(?:e|s)?\b",
        r"\bs est ecroule(?:e)?\b",
        r"\btombe(?:e)? dans les pommes\b",
        r"\bdans le coma\b",
        r"\bfait un malaise\b(?: \w+){0,5} (?:repond|reagit|bouge) (?:plus|pas)",
        r"\bpar terre\b(?: \w+){0,4} (?:ne )?(?:bouge|repond|reagit) (?:plus|pas)",
    ),
    "stroke": (
        r"\bavc\b",
        r"\baccident vasculaire\b",
        r"\b(?:visage|bouche|levre|joue) (?:qui )?(?:tombe|de travers|tordue?|deformee?|paralysee?)\b",
        r"\b(?:la )?moitie du visage\b",
        r"\b(?:parle|parler|parole|articule|articuler|elocution)\b(?: \w+){0,2}? "
        r"(?:bizarrement|bizarre|mal|difficilement|plus|pateuse|confuse)\b(?: \w+){0,6} "
        r"(?:bras|visage|bouche|jambe|cote|soudain|tout a coup|d un coup|brusquement|depuis)",
        r"\b(?:arrive|peut) (?:plus|pas) a (?:parler|articuler)\b(?: \w+){0,6} (?:bras|visage|bouche|"
        r"jambe|cote|soudain|tout a coup|d un coup|brusquement)",
        r"\bmots? (?:qui )?(?:sortent|sort) (?:pas|plus|mal)\b",
        r"\b(?:bras|jambe|main) (?:gauche |droit |droite )?(?:qui )?(?:ne )?(?:repond|bouge|tient) "
        r"(?:plus|pas)\b",
        r"\bparalyse(?:e)? (?:d un cote|du cote|de la moitie|de tout le cote|du bras|de la jambe|du visage)",
        r"\b(?:sent|sens) plus (?:son|sa|mon|ma|le|la) (?:bras|jambe|main|cote|visage)\b",
        r"\bhemiplegie\b",
        r"\bbafouille\b(?: \w+){0,6} (?:bras|visage|bouche|d un coup|soudain|tout a coup)",
    ),
    "suicidal": (
        r"\bsuicid",
        r"\b(?:me|se|te) (?:tuer|foutre en l air|jeter sous|pendre|jeter par)\b",
        r"\ben finir\b",
        r"\bmettre fin a (?:mes|ses|tes) jours\b",
        r"\b(?:plus|pas) envie de vivre\b",
        r"\benvie de mourir\b",
        r"\bveux mourir\b",
        r"\bidees? noires?\b(?: \w+){0,4} (?:mourir|finir|tuer|passer a l acte)",
        r"\bpasser a l acte\b",
    ),
    "infant_fever": (
        _BABY + r"(?: \w+){0,10}? " + _FEVER,
        _FEVER + r"(?: \w+){0,10}? " + _BABY,
    ),
    "allergic_reaction": (
        r"\b(?:choc|reaction) anaphylactique\b",
        r"\banaphyla",
        r"\boedeme de quincke\b",
        r"\b(?:gorge|langue|levres?|visage|paupieres|yeux) (?:qui )?(?:gonflent|gonfle|enfle|enflent|se "
        r"serre|gonflee?s?|enflee?s?)\b",
        r"\b(?:gonfle|enfle)(?:e|s)? (?:de|du|des|au niveau du|au niveau de la) "
        r"(?:la )?(?:gorge|langue|levres?|"
        r"visage|figure)\b",
        r"\breaction allergique (?:tres )?(?:grave|severe|forte|violente|importante)\b",
        r"\bgrosse reaction allergique\b",
        r"\b(?:allergi|piqure|pique)\w*\b(?: \w+){0,8} (?:respire mal|arrive (?:pas|plus) a respirer|gonfle|"
        r"enfle|plaques partout)",
        r"\b(?:utilise|fait|pique avec|injecte) (?:mon|son|sa|le|l) (?:stylo d adrenaline|anapen|epipen)\b",
    ),
    "seizure": (
        r"\bconvuls",
        r"\bcrise d epilepsie\b",
        r"\bcrise convulsive\b",
        r"\bfait une crise\b(?: \w+){0,3} (?:epilepsie|tremble|convuls)",
        r"\btremble de partout\b(?: \w+){0,6} (?:repond|reagit|yeux|bave)",
        r"\bspasmes? (?:partout|de tout le corps)\b",
        r"\bse (?:raidit|tord) (?:par terre|de partout|et tremble)\b",
    ),
    "serious_burn": (
        r"\bbrulure(?:s)? (?:tres )?(?:grave|graves|importante|importantes|profonde|profondes|etendue|"
        r"etendues|au (?:2|3|deuxieme|troisieme|second)(?: ?e| ?eme)? degre)\b",
        r"\b(?:grave|grosse|grande|enorme) brulure\b",
        r"\bgravement brule(?:e|s)?\b",
        r"\bbrule(?:e|s)? (?:gravement|grievement|serieusement|tres fort)\b",
        r"\bbrule(?:e|s)? (?:sur tout|partout|au visage|sur tout le|au (?:2|3|deuxieme|troisieme|second)"
        r"(?: ?e| ?eme)? degre)\b",
        r"\bebouillante(?:e)?\b",
        r"\b(?:renverse|tombe) (?:de l |l )?(?:eau|huile) bouillante\b",
        r"\bpris feu\b|\bimmole\b",
        r"\belectrocute(?:e)?\b",
    ),
    "poisoning": (
        r"\b(?:avale|bu|ingere|mange|pris|prise)\b(?: \w+){0,3}? (?:de la |du |des |de l |d |une "
        r"|un |la |le |"
        r"les |toute la |tout le |toute une |tous les |toutes les )?(?:javel|eau de javel|produit (?:menager|"
        r"vaisselle|chimique|d entretien|de nettoyage)|detergent|poison|mort aux rats|pesticide|debouche|"
        r"antigel|pile|piles|boites?|plaquettes?|flacons?)\b",
        r"\b(?:avale|pris|prise|bu)\b(?: \w+){0,2} (?:tous|toutes|tout) (?:mes|ses|les|tes) (?:medicaments|"
        r"cachets|comprimes|pilules|somniferes)\b",
        r"\bempoisonn",
        r"\bintoxi(?:que|quee|cation)\b(?: \w+){0,3} (?:monoxyde|gaz|champignons|medicaments|produit)",
        r"\bmonoxyde de carbone\b",
        r"\b(?:overdose|surdose)\b",
        r"\bcentre anti ?poison\b",
    ),
    "meningitis_signs": (
        r"\btaches? (?:violettes?|violacees?|rouges? qui (?:ne )?(?:s )?(?:effacent|partent) pas)\b",
        r"\bpurpura\b",
        r"\bnuque (?:raide|bloquee)\b(?: \w+){0,8} (?:fievre|vomi|lumiere)",
        r"\bfievre\b(?: \w+){0,8} nuque (?:raide|bloquee)\b",
        r"\braideur (?:de la )?nuque\b",
    ),
    "thunderclap_headache": (
        r"\bpire mal de tete de (?:ma|sa) vie\b",
        r"\bmal de tete (?:tres )?(?:brutal|violent|soudain|explosif)\b(?: \w+){0,8} (?:vomi|voit|vision|"
        r"nuque|parle|jamais)",
        r"\bcoup de (?:tonnerre|poignard) dans la tete\b",
    ),
    "pregnancy_emergency": (
        r"\benceinte\b(?: \w+){0,10} (?:saigne|saignement|sang|perdu les eaux|perd les eaux|contractions|"
        r"bouge plus|mal au ventre tres fort)",
        r"\b(?:perdu|perd) les eaux\b",
        r"\baccouche(?:r|ment)?\b(?: \w+){0,4} (?:maintenant|tout de suite|la|arrive)",
    ),
    "severe_trauma": (
        r"\bfracture ouverte\b",
        r"\bos qui sort\b",
        r"\baccident grave\b",
        r"\b(?:accident|collision) de (?:voiture|moto|la route|scooter|velo)\b(?: \w+){0,8} "
        r"(?:blesse|blessee|blesses|saigne|sang|bouge (?:pas|plus)|repond (?:pas|plus)|inconscient"
        r"|coince|coincee)",
        r"\btombe(?:e)? (?:d un|du|de la|de l) (?:toit|echelle|balcon|fenetre|escalier|arbre|etage)\b"
        r"(?: \w+){0,8} (?:bouge|repond|reagit|saigne|tete|inconscient)",
        r"\bcoup de couteau\b|\bpoignarde(?:e)?\b|\bblesse(?:e)? par balle\b",
        r"\bcoup violent (?:sur|a) la tete\b",
    ),
    "ambulance_request": (
        r"\b(?:appele|appelez|appeler|envoyez|envoyer|faut|besoin d|faire venir) (?:moi )?(?:le "
        r"|les |une |un |"
        r"d une )?(?:samu|pompiers|ambulance|secours|smur|quinze|15|112|cent douze)\b",
        r"\bau secours\b",
        r"\bc est (?:une )?(?:urgence vitale|une question de vie)\b",
        r"\bva mourir\b|\ben train de mourir\b|\bse meurt\b",
    ),
}

# Negation right before a symptom: the caller says the symptom is absent.
_NEGATION_BEFORE = re.compile(
    r"(?:\bpas (?:de|d|du|des|eu de|eu d|eu)|\baucune?|\bsans|\bplus (?:de|d)|\bjamais (?:eu )?(?:de"
    r"|d)?|\bni)"
    r"(?: \w+){0,2} ?$"
)
# History: the event is over, often long ago (a weeks/months/years count, a year, "last year").
_HISTORY = re.compile(
    r"\bil y a (?:"
    + _N
    + r" |un peu plus d un |plus d un |presque |environ |bien )?(?:ans?|annees?|mois|semaines)\b"
    r"|\bdepuis (?:des|plusieurs|quelques) (?:ans|annees|mois)\b"
    r"|\ben (?:19|20)\d\d\b|\b(?:l an|l annee|le mois|la semaine) (?:dernier|derniere|passe|passee)\b"
    r"|\bautrefois\b|\bdans le passe\b|\bquand (?:j etais|il etait|elle etait) (?:petit|petite|jeune"
    r"|enfant)\b"
    r"|\bantecedents?\b|\bdeja eu\b|\bdeja fait\b|\bdans (?:la|ma|sa) famille\b|\bhereditaire\b"
    r"|\b(?:suivi|controle|bilan|rendez vous|reeducation|convalescence) (?:de|d|pour|apres) "
    r"(?:mon|ma|son|sa|l|un|une|le|la)\b"
    r"|\bapres (?:mon|ma|son|sa|l|un|une) (?:infarctus|avc|operation|crise|hospitalisation|accident)\b"
    r"|\b(?:est |etait )?(?:decede|decedee|mort|morte) (?:d un|d une|de)\b"
)
# Signs that the situation is happening now, which beat history markers.
_NOW = re.compile(
    r"\b(?:la maintenant|juste la|maintenant|en ce moment|actuellement|tout de suite|ce matin"
    r"|ce soir|cette nuit|depuis "
    r"(?:ce matin|hier|une heure|tout a l heure|"
    + _N
    + r" (?:minutes?|heures?))|il y a "
    + _N
    + r" (?:minutes?|heures?)|tout a coup|d un coup|soudain|soudainement|a nouveau|encore|recommence)\b"
)

SOON_RULES: dict[str, tuple[str, ...]] = {
    "persistent_fever": (
        r"\bfievre\b(?: \w+){0,4} depuis (?:" + _N + r" |plusieurs |quelques )?(?:jours|semaine)",
        r"\bfievre (?:a|de) (?:39|40|41)\b|\b(?:39|40|41)(?: degres?| 5)? de fievre\b",
        r"\bforte fievre\b|\bfievre (?:qui )?(?:ne )?(?:baisse|descend|tombe) pas\b",
    ),
    "worsening": (
        r"\b(?:s aggrave|empire|de pire en pire|de plus en plus (?:mal|fort|forte|douloureux|douloureuse))\b",
        r"\b(?:douleur|mal)\b(?: \w+){0,3} (?:insupportable|atroce|intense|terrible|tres forte)\b",
        r"\b(?:tres|vraiment|super) mal\b",
        r"\bvomi(?:t|s)? (?:sans arret|depuis|tout le temps|tout ce)\b",
        r"\bne (?:mange|boit) plus\b|\bdeshydrate",
        r"\bsaigne\b|\bsaignement\b|\bsang\b",
        r"\bmalaise\b|\bsyncope\b|\bvertiges? (?:forts?|violents?)\b",
        r"\binfect(?:e|ee|ion)\b(?: \w+){0,4} (?:gonfle|rouge|pus|fievre)",
        r"\bbrule(?:e|s|ure)?\b",
        r"\bfracture\b|\bentorse\b|\bcasse (?:le|la|la cheville|le bras|le poignet)\b",
    ),
    "caller_says_pressing": (
        r"\b(?:c est|c etait|c est assez|c est un peu|c est tres|assez|un peu|plutot|vraiment) "
        r"(?:presse|pressant|urgent)\b",
        r"\ben urgence\b|\burgent\b|\burgence\b|\bau plus vite\b|\bau plus tot\b|\bdes que possible\b"
        r"|\ble plus vite possible\b|\brapidement\b|\baujourd hui meme\b|\bca peut pas attendre\b"
        r"|\bpeut pas attendre\b|\bne peut pas attendre\b",
    ),
}
# The caller says it is not urgent: no "soon" from wording, and no classifier-only emergency.
_NOT_URGENT = re.compile(
    r"\b(?:(?:c est |ce n est |c )?pas (?:du tout )?(?:urgent|presse|une urgence|d urgence|pressant)"
    r"|rien d urgent|aucune urgence|sans urgence|quand vous (?:pouvez|voulez)|rien de grave|pas grave"
    r"|ca peut attendre|on a le temps|j ai le temps|pas de (?:souci|probleme) pour attendre)\b"
)

_COMPILED = {name: tuple(re.compile(p) for p in pats) for name, pats in RULES.items()}
_SOON_COMPILED = {name: tuple(re.compile(p) for p in pats) for name, pats in SOON_RULES.items()}


@dataclass(frozen=True, slots=True)
class UrgencyResult:
    urgency: Urgency
    rule: str | None = None  # the emergency rule that fired (urgent), or the soon rule
    start: int = 0
    end: int = 0
    said_not_urgent: bool = False
    suppressed: str | None = None  # an emergency rule that matched but was judged history/negated


def _negated(text: str, start: int) -> bool:
    before = text[max(0, start - 30) : start]
    return bool(_NEGATION_BEFORE.search(before))


def assess(folded: str) -> UrgencyResult:
    """Urgency of one utterance, from its folded text (see normalize.fold, with digits)."""
    history = bool(_HISTORY.search(folded)) and not _NOW.search(folded)
    suppressed: str | None = None
    for name, patterns in _COMPILED.items():
        for pattern in patterns:
            for m in pattern.finditer(folded):
                if _negated(folded, m.start()):
                    suppressed = suppressed or name
                    continue
                if history:
                    suppressed = suppressed or name
                    continue
                return UrgencyResult(Urgency.URGENT, name, m.start(), m.end())
    not_urgent = bool(_NOT_URGENT.search(folded))
    if not not_urgent:
        for name, patterns in _SOON_COMPILED.items():
            for pattern in patterns:
                m = pattern.search(folded)
                if m and not _negated(folded, m.start()) and not (history and name == "worsening"):
                    return UrgencyResult(Urgency.SOON, name, m.start(), m.end(), suppressed=suppressed)
    return UrgencyResult(Urgency.NORMAL, None, said_not_urgent=not_urgent, suppressed=suppressed)
