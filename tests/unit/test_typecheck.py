"""The type checker's set-up: `make test` runs mypy between ruff and pytest, strict where it must be.

mypy itself runs in `make test` (a failing check fails the target); these tests guard its configuration
in pyproject.toml, read with mypy's own parser, so that strictness cannot silently fade.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from mypy.config_parser import parse_config_file
from mypy.main import process_options
from mypy.options import Options

ROOT = Path(__file__).resolve().parents[2]
STRICT_PACKAGES = ("understanding", "agenda", "reminders")


def _project_options() -> Options:
    options = Options()
    parse_config_file(options, lambda: None, str(ROOT / "pyproject.toml"), io.StringIO(), io.StringIO())
    return options


def _strict_flags() -> dict[str, object]:
    """What `mypy --strict` changes from the defaults, flag by flag."""
    _, strict = process_options(["--strict", "--config-file", "", "x.py"])
    _, plain = process_options(["--config-file", "", "x.py"])
    out: dict[str, object] = {}
    for name in dir(strict):
        value = getattr(strict, name)
        if name.startswith("_") or callable(value):
            continue
        if getattr(plain, name, None) != value:
            out[name] = value
    return out


@pytest.mark.parametrize(
    "module",
    [
        "standardiste.understanding.engine",
        "standardiste.agenda.sql",
        "standardiste.agenda.migrations.versions.agenda_0002_sealed_identities",
        "standardiste.reminders.store",
    ],
)
def test_strict_packages_get_every_strict_flag(module: str) -> None:
    flags = _strict_flags()
    assert "disallow_untyped_defs" in flags  # the comparison really found mypy's strict set
    options = _project_options().clone_for_module(module)
    missing = {name: value for name, value in flags.items() if getattr(options, name) != value}
    assert missing == {}


def test_strictness_does_not_leak_to_other_packages() -> None:
    # `strict = true` in an override section applies to every module with mypy 2.4: the flags are spelt out.
    options = _project_options().clone_for_module("standardiste.speech.snap")
    assert options.disallow_untyped_defs is False
    assert options.warn_return_any is False


def test_missing_stubs_are_ignored_by_name_only() -> None:
    options = _project_options()
    assert options.ignore_missing_imports is False
    assert options.clone_for_module("standardiste.agenda.sql").ignore_missing_imports is False
    assert options.clone_for_module("apscheduler.jobstores.redis").ignore_missing_imports is True


def test_mypy_checks_the_whole_package_on_python_311() -> None:
    options = _project_options()
    assert options.python_version == (3, 11)
    assert options.files == ["src/standardiste"]


def _recipe(target: str) -> list[str]:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert match is not None, f"no {target} target in the Makefile"
    return [line.strip() for line in match.group(1).splitlines()]


def test_make_test_runs_ruff_then_mypy_then_pytest() -> None:
    steps = _recipe("test")
    tools = [next((t for t in ("ruff", "mypy", "pytest") if f"-m {t}" in step), None) for step in steps]
    assert [t for t in tools if t is not None] == ["ruff", "mypy", "pytest", "pytest"]
    assert all("||" not in step and not step.startswith("-") for step in steps)  # a failure fails make
    # pytest twice: the parallel phase, then the tests marked alone (tests/fixtures/scheduling.py)
    assert ["--suite-phase parallel" in s for s in steps[2:]] == [True, False]
    assert ["--suite-phase alone" in s for s in steps[2:]] == [False, True]


def test_make_lint_runs_mypy() -> None:
    assert "$(PY) -m mypy" in _recipe("lint")
