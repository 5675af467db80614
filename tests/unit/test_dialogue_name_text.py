"""Reading a name out of what the open recogniser wrote (dialogue.identity.name_from_text): surnames with a
particle, and Whisper's habit of joining a first name to a surname it heard in two parts."""

from __future__ import annotations

import pytest

from standardiste.dialogue.identity import name_from_text


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        ("dupont marie", ("Dupont", "Marie")),
        ("Du pont-marie.", ("Du Pont", "Marie")),  # "dupont marie" as Whisper base wrote it
        ("Le Gall Anne", ("Le Gall", "Anne")),
        ("Martin Jean-Pierre", ("Martin", "Jean-Pierre")),
        ("Martin Claire, née le 3 mars", ("Martin", "Claire")),
        ("je m'appelle Marie Dupont", ("Dupont", "Marie")),
    ],
)
def test_names_with_particles_and_joined_parts(heard: str, expected: tuple[str, str]) -> None:
    assert name_from_text(heard) == expected


@pytest.mark.parametrize("heard", ["c'est le premier", "oui", "Du pomarré."])
def test_what_is_no_full_name_gives_none(heard: str) -> None:
    assert name_from_text(heard) is None
