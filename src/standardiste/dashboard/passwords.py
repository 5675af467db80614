"""The staff password rule: long enough, and not a common password in disguise.

Attackers try the common lists first (and their usual variants: a capital, a year, "!" at the end, 0 for o).
The bundled list (data/common_passwords.txt, no download) is checked against the password as typed, without
the digits and symbols around it, and with the usual letter/digit swaps undone. A password built on the
account's own name, or on one short pattern repeated, is refused too.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources

MIN_PASSWORD_LENGTH = 10
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_AROUND = re.compile(r"^[\W\d_]+|[\W\d_]+$")
# Runs of digits and keyboard rows (AZERTY and QWERTY): "1234567890", "azertyuiop", "qsdfghjklm".
_SEQUENCES = (
    "01234567890123456789 azertyuiopqsdfghjklmwxcvbn qwertyuiopasdfghjklzxcvbnm abcdefghijklmnopqrstuvwxyz"
)


@functools.cache
def common_passwords() -> frozenset[str]:
    text = resources.files("standardiste.dashboard").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(
        _fold(line.strip()) for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in plain if not unicodedata.combining(c))


def _repeated(text: str) -> bool:
    """'azeazeaze', 'aaaaaaaaaa': one short unit repeated."""
    return any(
        len(text) % n == 0 and text == text[:n] * (len(text) // n) for n in range(1, len(text) // 2 + 1)
    )


def password_problem(password: str, username: str = "", display_name: str = "") -> str | None:
    """Why this password is refused (French, for staff), or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Le mot de passe doit faire au moins {MIN_PASSWORD_LENGTH} caractères."
    folded = _fold(password)
    squeezed = folded.replace(" ", "")
    core = _AROUND.sub("", squeezed)
    candidates = {folded, squeezed, core, squeezed.translate(_LEET), core.translate(_LEET)}
    candidates |= {_AROUND.sub("", c) for c in set(candidates)}
    common = common_passwords()
    if any(c in common for c in candidates if c):
        return (
            "Ce mot de passe est trop courant : il figure dans les listes "
            "que les attaquants essaient en premier."
        )
    if any(len(c) >= 6 and (c in _SEQUENCES or c[::-1] in _SEQUENCES) for c in candidates | {squeezed}):
        return "Ce mot de passe est une suite de touches ou de chiffres."
    if len(set(squeezed)) < 4 or _repeated(squeezed) or any(c and _repeated(c) for c in candidates):
        return "Ce mot de passe est trop simple (caractères répétés)."
    # Built on the account's own name ("Marie.Dupont1"): what is left without the name is too short.
    rest = squeezed.translate(_LEET)
    for name in sorted({_fold(username)} | set(re.split(r"[\s.\-_()]+", _fold(display_name))), key=len)[::-1]:
        if len(name) >= 3:
            rest = rest.replace(name, "")
    if len(_AROUND.sub("", rest)) < 6:
        return "Le mot de passe ne doit pas reposer sur l'identifiant ni sur le nom."
    return None
