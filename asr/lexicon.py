"""Pronunciation lexicons: words -> output-unit sequences, as data (Kaldi's lexicon.txt).

A model's output units are characters or phones (`Vocabulary.units`). For characters a word is spelled
by its letters; for phones by its pronunciations in the CMU Pronouncing Dictionary (39 ARPAbet phones,
stress removed, alternates kept), and a word CMUdict does not know by the grapheme-to-phoneme model
(`asr.g2p`). The same lexicon turns transcripts into training targets and spells the words the beam
decoder may output; the boundary unit (' ' for characters, '|' for phones) ends every word.

File format (one pronunciation per line, a word may have several): `word U1 U2 ...`; CMUdict's own
files (`word(2) ...`, stress digits, `#` comments) read the same way.
"""

from __future__ import annotations

import lzma
import os
import re
from typing import Iterable, Iterator

from .errors import ConfigError, DataError
from .text import PHONES, Vocabulary, normalize_transcript

PRETRAINED = os.path.join(os.path.dirname(__file__), "pretrained")
DEFAULT_CMUDICT = os.path.join(PRETRAINED, "cmudict.dict.xz")
_ALTERNATE = re.compile(r"\(\d+\)$")
_PLAIN = re.compile(r"[a-z]+(?:'[a-z]+)*")  # a word normalisation leaves as it is


def _open_text(path: str):
    if not os.path.exists(path):
        raise DataError(f"{path}: no such lexicon file")
    return lzma.open(path, "rt", encoding="utf-8") if path.endswith(".xz") else open(path, encoding="utf-8")


def read_lexicon(path: str) -> Iterator[tuple[str, list[str]]]:
    """(word, units) per line of a lexicon file (CMUdict or `word U1 U2 ...`); CMUdict stress digits are
    dropped, `word(2)` is another pronunciation of `word`, `#` starts a comment."""
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                word, *units = line.split()
                yield _ALTERNATE.sub("", word), [u.rstrip("012") if u[:1].isupper() else u for u in units]
    except (UnicodeDecodeError, lzma.LZMAError, EOFError) as exc:
        raise DataError(f"{path}: not a readable lexicon ({type(exc).__name__}: {exc})") from None


def read_pronunciations(path: str, symbols: Iterable[str]) -> dict[str, list[list[str]]]:
    """word -> its distinct pronunciations (file order) from a lexicon file, for words as transcripts
    are normalised (lower case letters and inner apostrophes) and units among `symbols`. Entries such
    as CMUdict's abbreviations ("i.s", "u.s.") are left out: they would lend their sound to a real
    word ("is", "us")."""
    symbols = set(symbols)
    entries: dict[str, list[list[str]]] = {}
    for word, units in read_lexicon(path):
        word = word.lower()
        if _PLAIN.fullmatch(word) and units and symbols.issuperset(units):
            prons = entries.setdefault(word, [])
            if units not in prons:
                prons.append(units)
    return entries


def write_lexicon(entries: Iterable[tuple[str, list[str]]], path: str) -> int:
    """Write `word U1 U2 ...` lines (atomically); returns the number of lines."""
    from .modelfile import atomic_write_text

    lines = [f"{word} {' '.join(units)}\n" for word, units in entries]
    atomic_write_text(path, "".join(lines))
    return len(lines)


class Lexicon:
    """Words -> unit sequences for one vocabulary's units.

    Characters need no data: a word is its letters. Phones come from `pronunciations` (word -> list of
    phone lists, e.g. CMUdict), and from `g2p` (an `asr.g2p.G2P`) for any other word.
    """

    def __init__(self, vocab: Vocabulary, pronunciations: dict[str, list[list[str]]] | None = None, g2p=None):
        self.vocab = vocab
        self.entries = pronunciations or {}
        self.g2p = g2p
        self._known = set(vocab.symbols)
        self._guessed: dict[str, list[str]] = {}

    @classmethod
    def for_vocab(cls, vocab: Vocabulary, path: str | None = None, g2p: str | None = None) -> "Lexicon":
        """The lexicon a model with `vocab` trains and decodes with: for phones, the lexicon file `path`
        (default: CMUdict as shipped in asr/pretrained) plus the G2P model `g2p` (default: the shipped one)."""
        if vocab.units == "chars":
            return cls(vocab)
        from .g2p import load_g2p

        return cls(vocab, read_pronunciations(path or DEFAULT_CMUDICT, vocab.symbols), load_g2p(g2p))

    def __contains__(self, word: str) -> bool:
        return self.vocab.units == "chars" or word in self.entries

    def pronounce(self, word: str) -> list[list[str]]:
        """Every unit sequence of `word` (its boundary unit not included); the first is the most common.
        Empty when the units cannot spell it (a character outside the vocabulary)."""
        if self.vocab.units == "chars":
            return [list(word)] if all(c in self._known for c in word) else []
        if word in self.entries:
            return self.entries[word]
        return [guess] if (guess := self.guess([word])[word]) else []

    def guess(self, words: list[str]) -> dict[str, list[str]]:
        """G2P pronunciations of words (cached); a model without a G2P guesses nothing."""
        todo = [w for w in dict.fromkeys(words) if w not in self._guessed]
        if todo:
            if self.g2p is None:
                self._guessed.update((w, []) for w in todo)
            else:
                self._guessed.update(zip(todo, self.g2p.predict(todo)))
        return {w: self._guessed[w] for w in words}

    def pronounce_unknown(self, texts: Iterable[str], where: str) -> int:
        """Phones: every word of `texts` outside the lexicon gets its G2P pronunciation now (once); returns
        how many there were. Without a G2P model such words are a ConfigError naming `where`."""
        if self.vocab.units == "chars":
            return 0
        unknown = sorted({w for text in texts for w in text.split() if w not in self.entries})
        if unknown and self.g2p is None:
            raise ConfigError(f"{where}: {len(unknown)} words are not in the lexicon (e.g. {unknown[0]!r}) and no "
                              "G2P model is installed to pronounce them (set g2p: or train one: recipes/g2p)")
        self.guess(unknown)
        return len(unknown)

    def encode(self, text: str) -> list[int]:
        """A transcript -> label ids: each word's first pronunciation, words separated by the boundary unit."""
        if self.vocab.units == "chars":
            return self.vocab.encode(text)
        words = normalize_transcript(text).split()
        self.guess([w for w in words if w not in self.entries])
        units: list[str] = []
        for word in words:
            prons = self.pronounce(word)
            if prons:
                if units:
                    units.append(self.vocab.boundary)
                units.extend(prons[0])
        return self.vocab.ids(units)

    def spellings(self, words: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
        """(word, units + boundary) for every pronunciation of every word the units can spell: the beam
        decoder's trie."""
        words = list(words)
        if self.vocab.units == "phones":
            self.guess([w for w in words if w not in self.entries])
        for word in words:
            for units in self.pronounce(word):
                yield word, units + [self.vocab.boundary]


__all__ = ["Lexicon", "read_lexicon", "write_lexicon", "PHONES", "DEFAULT_CMUDICT"]
