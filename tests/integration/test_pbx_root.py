"""The Asterisk root: unpacking from the cached tarball with progress, and a usable result."""

from __future__ import annotations

from pathlib import Path

import pytest

from standardiste.pbx import PbxError, ensure_root
from standardiste.pbx.root import cache_dir, root_ready
from tests.fixtures.parts import require_part

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]


def test_ensure_root_unpacks_the_cached_tarball(asterisk_root: Path, tmp_path: Path) -> None:
    require_part(
        list(cache_dir().glob("asterisk-root-*.tar.zst")),
        "the cached Asterisk root tarball",
        "scripts/build-asterisk-root.sh (run by make test)",
    )
    lines: list[str] = []
    root = ensure_root(tmp_path / "root", progress=lines.append)
    assert root_ready(root)
    assert any("unpacking" in line for line in lines)
    assert (root / "var/spool/asterisk/recording").is_dir()
    # Present already: nothing to do, nothing printed.
    lines.clear()
    assert ensure_root(root, progress=lines.append) == root
    assert lines == []


def test_ensure_root_reports_a_failed_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "fail.sh"
    script.write_text("echo 'mmdebstrap: cannot reach the mirror' >&2; exit 3\n")
    monkeypatch.setattr("standardiste.pbx.root.build_script", lambda: script)
    with pytest.raises(PbxError, match="cannot reach the mirror"):
        ensure_root(tmp_path / "root", progress=lambda _line: None)
