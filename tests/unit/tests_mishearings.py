"""Whisper-style mishearings of red flags (split words, homophones, lost accents), with the flag meant.

Shared by tests/unit/test_soundalike.py and bench/bench_soundalike.py. The first one was heard on a real
SIP call (bench/results/spoken_calls: "je saigne énormément" came back as "je sais ni énormément").
"""

MISHEARINGS: tuple[tuple[str, str], ...] = (
    ("je sais ni énormément", "bleeding"),
    ("ma femme sait nie beaucoup", "bleeding"),
    ("il seigne beaucoup du bras", "bleeding"),
    ("elle fait une émo ragie", "bleeding"),
    ("elle a une emorragie", "bleeding"),
    ("il est in conscient", "unconscious"),
    ("mon père est tombé il est inconcient", "unconscious"),
    ("il s'est vanoui dans la cuisine", "unconscious"),
    ("j'ai mal à la poids trine", "chest_pain"),
    ("une douleur dans la poitrin", "chest_pain"),
    ("il a fait un in farctus je crois", "chest_pain"),
    ("mon fils il con vulse", "seizure"),
    ("elle fait des con vulsions", "seizure"),
    ("il est para lisé du bras", "stroke"),
    ("elle est paralisée d'un côté", "stroke"),
    ("il ne respir plus", "breathing"),
    ("elle arrive pas à res pirer", "breathing"),
    # Heard through G.711 by Whisper base from the test callers' voices (bench/bench_spoken_safety.py,
    # bench/results/spoken_safety.md): MBROLA fr4 and SVOX Pico, word for word.
    ("En fait, je sain d'énormément, je n'arrive pas à arrêter le cinéma.", "bleeding"),  # a real SIP call
    ("je n'arrive pas à arrêter le cinéma", "bleeding"),
    ("En fait, je sais ni normalement.", "bleeding"),
    ("Je sais m'immormément.", "bleeding"),
    ("Bonjour Madame, ma fille s'amie beaucoup. Qu'est-ce que je fais?", "bleeding"),
    ("Il perd beaucoup de sons.", "bleeding"),
    ("Elle fait une émouragie.", "bleeding"),
    ("Ma mère s'était vanouille.", "unconscious"),
    ("Allo, bonjour, excusez-moi, ma mère s'était vanuille.", "unconscious"),
    ("Elle s'était fondrée dans la twisie.", "unconscious"),
    ("Ma grand-mère me répond plus.", "unconscious"),
    ("Je crois que je fais une crise cardioque.", "chest_pain"),
    ("Oui, mais là, mon mariâtre est mal à la boitrine.", "chest_pain"),
)
