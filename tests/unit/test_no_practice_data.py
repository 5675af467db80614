"""No practice's data in the code: names, numbers and places of the demo practice (and the numbers the
test callers use) live in src/standardiste/data/demo.toml and tests/, never in src's string literals nor in
its data files (training data, templates...). Docstrings and comments of Python code may use them as examples;
code may not depend on them."""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from pathlib import Path

from standardiste.config import Config

SRC = Path(__file__).resolve().parents[2] / "src" / "standardiste"
DATA = Path(__file__).resolve().parents[1] / "data"


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def literals(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants of a module, without docstrings."""
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def digits_only(text: str) -> str:
    return re.sub(r"\D", "", text)


def practice_data(config: Config) -> tuple[set[str], set[str]]:
    """(words, phone numbers as national digits) that belong to the demo practice or test callers."""
    practice = config.practice
    words = {fold(practice.name), fold(practice.address)}
    for p in practice.practitioners:
        words.add(fold(p.id))
        words.add(fold(p.name.split()[-1]))  # the surname
    numbers = {practice.phone}
    for line in (DATA / "scripted_calls.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            spec = json.loads(line)
            numbers.update(n for n in [spec.get("caller_id")] if n)
            numbers.update(p["phone"] for p in spec.get("setup", {}).get("patients", []) if p.get("phone"))
    national = {"0" + digits_only(n)[2:] if n.startswith("+33") else digits_only(n) for n in numbers}
    return words, national


def test_no_demo_practice_data_in_src(demo_config: Config) -> None:
    words, numbers = practice_data(demo_config)
    spoken_numbers = {"zero six douze trente-quatre cinquante-six"}  # the test callers' 06 12 34 56 ...
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for line, text in literals(ast.parse(path.read_text(encoding="utf-8"))):
            folded = fold(text)
            hits = [w for w in words if re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", folded)]
            hits += [n for n in numbers if len(n) >= 9 and n[1:] in digits_only(text)]
            hits += [s for s in spoken_numbers if s in folded]
            if hits:
                found.append(f"{path.relative_to(SRC)}:{line}: {hits} in {text[:60]!r}")
    assert not found, "practice data in src (move it to the configuration):\n" + "\n".join(found)


DEMO = SRC / "data" / "demo.toml"
BINARY_SUFFIXES = {".npz", ".png", ".ico", ".wav", ".gz", ".pyc"}


def demo_names(config: Config) -> set[str]:
    """The demo practice's names and places as written anywhere: the words above, each practitioner's
    full name without title ("claire martin") and aliases that hold a surname ("docteur benali")."""
    words, _ = practice_data(config)
    names = set(words)
    surnames = {fold(p.name.split()[-1]) for p in config.practice.practitioners}
    for p in config.practice.practitioners:
        names.add(" ".join(fold(p.name).split()[-2:]))
        names.update(fold(a) for a in p.aliases if any(s in fold(a).split() for s in surnames))
    names.add(fold(config.practice.address.split(",")[0].split(" ", 1)[1]))  # the street: "rue des tilleuls"
    return names


def test_no_demo_practice_data_in_src_data_files(demo_config: Config) -> None:
    """Every non-Python file of src (the packaged nlu.yml, red flags, templates...), comments included,
    outside the demo configuration itself: no name, place or number of the demo practice."""
    names = demo_names(demo_config)
    _, numbers = practice_data(demo_config)
    found = []
    for path in sorted(SRC.rglob("*")):
        if not path.is_file() or path == DEMO or path.suffix in BINARY_SUFFIXES or path.suffix == ".py":
            continue
        if "__pycache__" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            folded = fold(line)
            hits = [w for w in names if re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", folded)]
            hits += [n for n in numbers if len(n) >= 9 and n[1:] in digits_only(line)]
            if hits:
                found.append(f"{path.relative_to(SRC)}:{number}: {sorted(hits)} in {line.strip()[:60]!r}")
    assert not found, "demo practice data in src's data files (use neutral names):\n" + "\n".join(found)


def test_the_check_sees_the_demo_names(demo_config: Config) -> None:
    """The scan above would catch the demo's doctors (guards against an empty list passing silently)."""
    names = demo_names(demo_config)
    assert {"martin", "benali", "lefevre", "claire martin", "docteur benali", "rue des tilleuls"} <= names
