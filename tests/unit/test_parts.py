"""Missing real parts: a skip on a developer's machine, a failure in CI."""

from __future__ import annotations

import pytest

from tests.fixtures.parts import in_ci, require_module, require_part


def test_missing_part_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match="Chromium is missing"):
        require_part(None, "Chromium", "apt-get install chromium")
    require_part("/usr/bin/true", "true", "coreutils")  # present: nothing happens


@pytest.mark.parametrize("value", ["true", "1", "TRUE", "yes"])
def test_missing_part_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_part(False, "PostgreSQL", "apt-get install postgresql")
    with pytest.raises(pytest.fail.Exception, match="no_such_module"):
        require_module("no_such_module_h4", "Radicale", "pip install radicale no_such_module")
    assert require_module("json", "json", "stdlib").dumps([]) == "[]"
