"""The shared Asterisk root filesystem: where it lives, and building it when missing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from standardiste.pbx.instance import ASTERISK_BIN, PbxError


def cache_dir() -> Path:
    """Caches outside the repository (STANDARDISTE_CACHE, default ~/.cache/standardiste)."""
    return Path(os.environ.get("STANDARDISTE_CACHE") or Path.home() / ".cache" / "standardiste")


def default_root() -> Path:
    return cache_dir() / "asterisk-root"


def build_script() -> Path:
    return Path(__file__).resolve().parents[3] / "scripts" / "build-asterisk-root.sh"


def root_ready(root: Path) -> bool:
    return (root / ASTERISK_BIN.lstrip("/")).exists()


def ensure_root(root: Path | None = None, progress: Callable[[str], None] | None = None) -> Path:
    """Return the Asterisk root, building it (about a minute, cached tarball reused) when missing.

    Several processes may ask at once (parallel test workers, `pbx start` beside a test run): one
    builds or unpacks under a lock file, the others wait for it and find the root ready."""
    import fcntl

    root = Path(root) if root is not None else default_root()
    if root_ready(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with (root.parent / f".{root.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if root_ready(root):
            return root
        return _build_root(root, progress)


def _build_root(root: Path, progress: Callable[[str], None] | None) -> Path:
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    script = build_script()
    if not script.exists():
        raise PbxError(f"build script not found: {script}")
    say(f"construction de la racine Asterisk / building the Asterisk root in {root} ...")
    proc = subprocess.Popen(
        ["bash", str(script), str(cache_dir()), str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        tail = [*tail[-20:], line]
        say(line)
    if proc.wait() != 0 or not root_ready(root):
        raise PbxError("building the Asterisk root failed:\n" + "\n".join(tail))
    return root
