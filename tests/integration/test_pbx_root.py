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


def test_concurrent_callers_build_the_root_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parallel test workers asking for a missing root: one builds, the others wait and reuse it."""
    import threading

    from standardiste.pbx.instance import ASTERISK_BIN

    count = tmp_path / "builds"
    script = tmp_path / "build.sh"
    binary = ASTERISK_BIN.lstrip("/")
    script.write_text(
        f'echo x >> {count}; sleep 0.5; mkdir -p "$2/{Path(binary).parent}"; touch "$2/{binary}"\n'
    )
    monkeypatch.setattr("standardiste.pbx.root.build_script", lambda: script)
    target = tmp_path / "root"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_root(target, progress=lambda _l: None)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [target] * 3
    assert count.read_text().count("x") == 1
