#!/usr/bin/env python3
"""Add Debian archive components (e.g. `non-free`) to this host's apt sources, idempotently.

Why: the French voice Standardiste speaks with, SVOX Pico (Debian `libttspico0` + `libttspico-data`),
is Apache-2.0, code and voice data alike, but Debian files it under `non-free` because the voice data
ships without the means to rebuild it. A fresh Debian install lists `main` only, so scripts/setup.sh
calls this before `apt-get update`.

Handles both formats apt reads:
- deb822 stanzas (`/etc/apt/sources.list.d/*.sources`, the bookworm default): the `Components:` field;
- one-line entries (`/etc/apt/sources.list`, `/etc/apt/sources.list.d/*.list`): `deb URI suite comp...`.
Only entries of the Debian archive itself are changed: a suite that is the release codename (or its
-updates/-security/-backports), the `main` component, and a URI that looks like a Debian mirror.
Third-party repositories, disabled entries and comments are left as they are. Stdlib only (it runs
before the project's virtual environment exists). Prints what it changed; exit 0 when nothing had to.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

_DEBIAN_URI = re.compile(r"(debian\.org|/debian(-security)?/?$)")


def _suite_matches(suite: str, codename: str) -> bool:
    return suite in {codename, f"{codename}-updates", f"{codename}-security", f"{codename}-backports"}


def _is_debian(uri: str) -> bool:
    return bool(_DEBIAN_URI.search(uri.strip()))


def update_deb822(text: str, codename: str, wanted: list[str]) -> str:
    """Return the deb822 text with `wanted` added to each Debian stanza's Components."""
    stanzas = re.split(r"(\n[ \t]*\n)", text)  # keep the separators to write the file back unchanged
    out: list[str] = []
    for chunk in stanzas:
        if not chunk.strip() or chunk.isspace():
            out.append(chunk)
            continue
        fields: dict[str, str] = {}
        for line in chunk.splitlines():
            match = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if match:
                fields[match.group(1).lower()] = match.group(2)
        suites = fields.get("suites", "").split()
        components = fields.get("components", "").split()
        enabled = fields.get("enabled", "yes").strip().lower() not in {"no", "false", "0"}
        if (
            enabled
            and "main" in components
            and any(_suite_matches(s, codename) for s in suites)
            and any(_is_debian(u) for u in fields.get("uris", "").split())
        ):
            missing = [c for c in wanted if c not in components]
            if missing:
                extra = " ".join(missing)
                chunk = re.sub(
                    r"^(Components:[^\n]*?)[ \t]*$",
                    lambda m, extra=extra: f"{m.group(1)} {extra}",
                    chunk,
                    count=1,
                    flags=re.MULTILINE | re.IGNORECASE,
                )
        out.append(chunk)
    return "".join(out)


_ONE_LINE = re.compile(
    r"^(?P<head>\s*deb(-src)?\s+(\[[^\]]*\]\s+)?)(?P<uri>\S+)\s+(?P<suite>\S+)(?P<comps>.*)$"
)


def update_one_line(text: str, codename: str, wanted: list[str]) -> str:
    """Return the sources.list text with `wanted` added to each Debian entry."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        match = _ONE_LINE.match(line.split("#", 1)[0].rstrip()) if not line.lstrip().startswith("#") else None
        if match is None:
            continue
        components = match.group("comps").split()
        if "main" not in components or not _suite_matches(match.group("suite"), codename):
            continue
        if not _is_debian(match.group("uri")):
            continue
        missing = [c for c in wanted if c not in components]
        if missing:
            comment = line[len(line.split("#", 1)[0]) :]
            body = line.split("#", 1)[0].rstrip()
            lines[i] = f"{body} {' '.join(missing)}" + (f" {comment}" if comment else "")
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def enable(root: Path, codename: str, wanted: list[str]) -> list[Path]:
    """Edit the apt sources under `root` (normally /); returns the files changed."""
    apt = root / "etc" / "apt"
    candidates: list[tuple[Path, bool]] = [(apt / "sources.list", False)]
    folder = apt / "sources.list.d"
    if folder.is_dir():
        candidates += [(p, True) for p in sorted(folder.glob("*.sources"))]
        candidates += [(p, False) for p in sorted(folder.glob("*.list"))]
    changed: list[Path] = []
    for path, deb822 in candidates:
        if not path.is_file():
            continue
        before = path.read_text()
        after = (update_deb822 if deb822 else update_one_line)(before, codename, wanted)
        if after != before:
            _write(path, after)
            changed.append(path)
    return changed


def _codename(root: Path) -> str:
    for line in (root / "etc" / "os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("components", nargs="+", help="e.g. non-free")
    parser.add_argument("--root", type=Path, default=Path("/"), help="file-system root (tests)")
    parser.add_argument("--codename", help="release codename (default: from /etc/os-release)")
    args = parser.parse_args(argv)
    codename = args.codename or _codename(args.root)
    if not codename:
        print("no Debian release codename found: apt sources left unchanged", file=sys.stderr)
        return 0
    changed = enable(args.root, codename, args.components)
    for path in changed:
        print(f"apt sources: added {' '.join(args.components)} to {path}")
    if not changed:
        print("apt sources: nothing to change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
