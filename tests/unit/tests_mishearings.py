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
)
