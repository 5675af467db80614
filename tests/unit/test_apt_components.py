"""scripts/enable_apt_components.py: the set-up adds Debian's non-free component (for SVOX Pico) to the
Debian archive's apt entries, in both source formats, once, and touches nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "enable_apt_components.py"

DEB822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

THIRD_PARTY_822 = """Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
"""

DISABLED_822 = """Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Enabled: no
"""

ONE_LINE = """# the archive
deb http://deb.debian.org/debian bookworm main # keep this comment
# deb http://deb.debian.org/debian bookworm main
deb-src [arch=amd64 signed-by=/k.gpg] http://ftp.fr.debian.org/debian/ bookworm-updates main contrib
deb http://packages.sury.org/php bookworm main
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
deb http://deb.debian.org/debian bullseye main
"""


def make_root(tmp_path: Path) -> Path:
    apt = tmp_path / "etc" / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (tmp_path / "etc" / "os-release").write_text('ID=debian\nVERSION_CODENAME="bookworm"\n')
    (apt / "sources.list").write_text(ONE_LINE)
    (apt / "sources.list.d" / "debian.sources").write_text(DEB822)
    (apt / "sources.list.d" / "nodesource.sources").write_text(THIRD_PARTY_822)
    (apt / "sources.list.d" / "backports.sources").write_text(DISABLED_822)
    return tmp_path


def run(root: Path, *components: str) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *components],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_adds_non_free_to_the_debian_archive_in_both_formats(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    out = run(root, "non-free")
    assert "sources.list" in out and "debian.sources" in out
    apt = root / "etc" / "apt"
    deb822 = (apt / "sources.list.d" / "debian.sources").read_text()
    assert deb822 == DEB822.replace("Components: main\n", "Components: main non-free\n").replace(
        "Components: main contrib\n", "Components: main contrib non-free\n"
    )
    lines = (apt / "sources.list").read_text().splitlines()
    assert lines[1] == "deb http://deb.debian.org/debian bookworm main non-free # keep this comment"
    assert lines[2] == "# deb http://deb.debian.org/debian bookworm main"  # commented out: untouched
    assert lines[3].endswith("bookworm-updates main contrib non-free")
    assert lines[4:] == ONE_LINE.splitlines()[4:]  # third parties and other releases untouched
    assert (apt / "sources.list.d" / "nodesource.sources").read_text() == THIRD_PARTY_822
    assert (apt / "sources.list.d" / "backports.sources").read_text() == DISABLED_822


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    run(root, "contrib", "non-free")
    files = sorted((root / "etc" / "apt").rglob("*"))
    before = {p: p.read_text() for p in files if p.is_file()}
    assert "nothing to change" in run(root, "contrib", "non-free")
    assert {p: p.read_text() for p in files if p.is_file()} == before
    assert "Components: main contrib non-free\n" in before[root / "etc/apt/sources.list.d/debian.sources"]


def test_without_a_sources_list_only_deb822_is_edited(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "etc" / "apt" / "sources.list").unlink()
    assert "debian.sources" in run(root, "non-free")
