"""Near-duplicate texts: normalisation, the exact-copy hash, MinHash signatures and LSH band keys.

A copy of an article on another outlet usually has a new headline, a line of boilerplate
("Theo Báo Nam Định..."), a paragraph fewer or its sentences in another order. So the body alone
is shingled when it is long enough (a changed headline must not split a story), and shingles are
word n-grams taken within sentences (reordered sentences keep every shingle). Two texts are
copies when the estimated Jaccard similarity of their shingle sets reaches a threshold; the LSH
bands of a signature are the keys an index looks candidates up by.

Signatures are datasketch MinHashes with a fixed seed and scheme, so signatures stored by one
process compare with those of another, after restarts and upgrades alike.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
import zlib
from dataclasses import dataclass
from functools import cache
from typing import TypeAlias

import numpy as np
from datasketch import LeanMinHash, MinHash

__all__ = [
    "SEED",
    "Fingerprint",
    "Signature",
    "band_keys",
    "fingerprint",
    "from_bytes",
    "normalise",
    "shingles",
    "sign",
    "similarity",
    "text_hash",
    "to_bytes",
    "word_count",
]

# Changing any of these makes stored signatures incomparable with new ones (rebuild the index).
SEED = 20251126
SCHEME = "affine32"
_DTYPE = np.dtype("<u4")

Signature: TypeAlias = LeanMinHash
_WORD = re.compile(r"\w+")
# Sentence ends: ! ? ; … and a full stop not inside a number ("1.500"), and line breaks.
_SENTENCE_END = re.compile(r"[!?;…\n\r]+|\.(?!\d)")
_TONES: dict[str, str] = {}
_TONES_LOCK = threading.Lock()


def _tones() -> dict[str, str]:
    # underthesea's table of syllables whose tone mark sits elsewhere ("hoà" -> "hòa"), the same
    # one nlp.text uses; loaded on first use (importing underthesea takes most of a second).
    if not _TONES:
        with _TONES_LOCK:
            if not _TONES:
                from underthesea.pipeline.text_normalize.token_normalize import token_map

                _TONES.update({k: v for k, v in token_map.items() if k == k.lower()})
    return _TONES


def _sentences(text: str) -> list[list[str]]:
    """The words of each sentence: NFC, lower case, one tone-mark placement, no punctuation."""
    tones = _tones()
    found = []
    # One pass of C-level splitting and a dict look-up per word: a regex substitution calling
    # back into Python per word cost as much as the rest of signing.
    for sentence in _SENTENCE_END.split(unicodedata.normalize("NFC", text).lower()):
        words = _WORD.findall(sentence)
        if words:
            found.append([tones.get(w, w) for w in words])
    return found


def _joined(sentences: list[list[str]]) -> str:
    return " ".join(" ".join(words) for words in sentences)


def normalise(text: str) -> str:
    """NFC lower-case text with tone marks placed one way, no punctuation, single spaces."""
    return _joined(_sentences(text))


def _hash(title: list[list[str]], text: list[list[str]]) -> str:
    basis = f"{_joined(title)}\n{_joined(text)}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def text_hash(title: str, text: str) -> str:
    """SHA-256 of the normalised title and text: the key of exact copies."""
    return _hash(_sentences(title), _sentences(text))


def word_count(text: str) -> int:
    """How many words a text has."""
    return len(_WORD.findall(text))


def _shingles(sentences: list[list[str]], words: int) -> list[bytes]:
    found: list[bytes] = []
    for tokens in sentences:
        if len(tokens) <= words:
            found.append(" ".join(tokens).encode("utf-8"))
            continue
        grams = zip(*(tokens[i:] for i in range(words)), strict=False)
        found.extend(" ".join(gram).encode("utf-8") for gram in grams)
    return found


def shingles(text: str, words: int = 3) -> list[bytes]:
    """Word n-grams of the normalised text, within sentences (a shorter sentence is one shingle)."""
    return _shingles(_sentences(text), words)


@cache
def _permutations(num_perm: int) -> np.ndarray:
    # Drawing the permutations costs more than signing a short text: draw them once.
    return np.asarray(MinHash(num_perm, seed=SEED, scheme=SCHEME).permutations)


def sign(text: str, *, shingle_words: int = 3, num_perm: int = 128) -> Signature:
    """The MinHash signature of a text's shingle set.

    Shingles are hashed with CRC-32: they only need distinct, process-independent 32-bit values
    (datasketch mixes them with MurmurHash's finaliser before permuting), and CRC-32 is ten times
    faster than SHA-1, which made hashing most of the cost.
    """
    return _sign(shingles(text, shingle_words), num_perm)


def _sign(found: list[bytes], num_perm: int) -> Signature:
    minhash = MinHash(
        num_perm,
        seed=SEED,
        hashfunc=zlib.crc32,
        permutations=_permutations(num_perm),
        scheme=SCHEME,
    )
    minhash.update_batch(set(found))
    return LeanMinHash(minhash)


def to_bytes(signature: Signature) -> bytes:
    """A signature's hash values as little-endian uint32 bytes (4 bytes a permutation)."""
    return np.asarray(signature.hashvalues).astype(_DTYPE).tobytes()


def from_bytes(data: bytes) -> Signature:
    """The signature :func:`to_bytes` stored."""
    values = np.frombuffer(data, dtype=_DTYPE).astype(np.uint32)
    return LeanMinHash(seed=SEED, hashvalues=values, scheme=SCHEME)


def band_keys(signature: Signature, bands: int) -> list[int]:
    """One key per LSH band: the band's position and rows hashed to a signed 64-bit integer.

    The position is part of the key, so equal rows in different bands never collide.
    """
    values = np.asarray(signature.hashvalues).astype(_DTYPE)
    if len(values) % bands:
        raise ValueError(f"bands ({bands}) must divide the permutations ({len(values)})")
    rows = len(values) // bands
    keys = []
    for position in range(bands):
        digest = hashlib.blake2b(
            values[position * rows : (position + 1) * rows].tobytes(),
            digest_size=8,
            salt=position.to_bytes(16, "little"),
        ).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def similarity(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the two shingle sets."""
    return float(a.jaccard(b))


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What an index keeps of a text: its exact-copy hash and, if long enough, its signature."""

    text_hash: str | None  # None: nothing to compare (no words at all)
    signature: Signature | None  # None: too short for near-duplicates, exact copies only
    words: int


def fingerprint(
    title: str, text: str, *, shingle_words: int = 3, num_perm: int = 128, min_words: int = 12
) -> Fingerprint:
    """The exact-copy hash and signature of an item.

    The body alone is signed when it has at least ``min_words`` words, so a new headline does
    not make a copy look different; otherwise the title and body together. Under ``min_words``
    words in all, there is no signature: short texts are too alike to call near-duplicates.
    """
    title_words, body = _sentences(title), _sentences(text)
    basis = body if sum(map(len, body)) >= min_words else title_words + body
    words = sum(map(len, basis))
    digest = _hash(title_words, body) if words else None
    if words < min_words:
        return Fingerprint(digest, None, words)
    return Fingerprint(digest, _sign(_shingles(basis, shingle_words), num_perm), words)
