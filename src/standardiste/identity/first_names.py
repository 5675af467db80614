"""Common French first names, to set a first name Whisper heard slightly wrong back on its usual spelling
("Sofie" -> Sophie, "Tuma" -> Thomas) before it is read back to a caller who is not in the practice's file.

Only a first name heard close enough in sound to exactly one common name is changed; anything else is kept
as heard. The caller confirms what is read back either way (dialogue/identity_check.py), and the staff hear
the spoken name kept with the call.
"""

from __future__ import annotations

import functools

# About 200 of the most given French first names of the last eighty years (INSEE), both sexes.
COMMON = """
Marie Jean Pierre Michel André Philippe René Louis Alain Jacques Bernard Marcel Daniel Roger Robert Paul
Claude Christian Henri Georges Nicolas François Patrick Gérard Christophe Joseph Julien Maurice Laurent
Frédéric Éric David Stéphane Pascal Sébastien Alexandre Thierry Olivier Thomas Antoine Vincent Dominique
Guy Lucien Raymond Serge Didier Bruno Franck Jérôme Fabrice Cédric Maxime Hugo Lucas Nathan Léo Gabriel
Arthur Raphaël Louis Jules Adam Mathis Ethan Enzo Théo Noah Tom Mathéo Baptiste Clément Romain Quentin
Kevin Anthony Jonathan Florian Guillaume Benjamin Yannick Mohamed Karim Ahmed Youssef Luc Marc Yves Noël
Jeanne Françoise Monique Catherine Nathalie Isabelle Jacqueline Anne Sylvie Martine Madeleine Nicole
Suzanne Hélène Christine Louise Denise Valérie Sandrine Sophie Céline Julie Aurélie Émilie Camille
Léa Manon Chloé Emma Inès Jade Louise Alice Lina Rose Anna Mila Ambre Julia Zoé Lou Léna Clara Sarah
Laura Pauline Marine Mathilde Claire Élise Lucie Juliette Charlotte Margaux Océane Anaïs Mélanie Audrey
Virginie Stéphanie Caroline Laetitia Sabrina Patricia Brigitte Chantal Danielle Colette Yvette Josiane
Odette Simone Germaine Paulette Yvonne Marcelle Andrée Thérèse Geneviève Annie Évelyne Corinne Karine
Véronique Florence Agnès Pascale Béatrice Élodie Marion Amandine Jessica Fatima Yasmina Aïcha Myriam
""".split()  # noqa: SIM905

# Sound similarity (0-1) for a heard first name to be set back on a common one, and the lead it needs.
SNAP = 0.7
LEAD = 0.1


@functools.lru_cache(maxsize=1)
def _sounds() -> dict[str, str]:
    from standardiste.identity.matching import _prefetch, default_phonemizer

    names = list(dict.fromkeys(COMMON))
    _prefetch(names)
    return {n: default_phonemizer(n) for n in names}


def snap_first_name(heard: str) -> str:
    """The common first name `heard` sounds like, alone; else `heard` unchanged."""
    from standardiste.agenda.names import fold, phonetic
    from standardiste.identity.matching import default_phonemizer, sound_similarity

    if not heard or " " in heard.strip() or "-" in heard:
        return heard
    plain = fold(heard)
    for name in COMMON:
        if fold(name) == plain:
            return name  # the usual accents: "Lea" -> Léa
    try:
        said = default_phonemizer(heard)
        scored = sorted(((sound_similarity(said, s), n) for n, s in _sounds().items()), reverse=True)
    except Exception:  # espeak-ng failing: the French phonetic key alone
        same = [n for n in COMMON if phonetic(n) == phonetic(heard)]
        return same[0] if len(set(same)) == 1 else heard
    best, name = scored[0]
    if best >= SNAP and (len(scored) < 2 or best - scored[1][0] >= LEAD):
        return name
    return heard
