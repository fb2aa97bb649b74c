"""Word and character error rates (Levenshtein distance over tokens), on normalised text: both sides
go through `asr.text.normalize_transcript`, so case and punctuation (a restored transcript's) do not
count and normalised text scores as it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .text import normalize_transcript


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Minimum substitutions + insertions + deletions turning `ref` into `hyp`."""
    if len(ref) < len(hyp):
        ref, hyp = hyp, ref
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


@dataclass
class ErrorCounter:
    """Accumulates corpus-level WER and CER (total edits / total reference tokens)."""

    word_errors: int = 0
    words: int = 0
    char_errors: int = 0
    chars: int = 0
    utterances: int = 0

    def add(self, ref: str, hyp: str) -> None:
        ref, hyp = normalize_transcript(ref), normalize_transcript(hyp)
        self.word_errors += edit_distance(ref.split(), hyp.split())
        self.words += len(ref.split())
        self.char_errors += edit_distance(ref, hyp)
        self.chars += len(ref)
        self.utterances += 1

    @property
    def wer(self) -> float:
        return self.word_errors / max(self.words, 1)

    @property
    def cer(self) -> float:
        return self.char_errors / max(self.chars, 1)


def wer(ref: str, hyp: str) -> float:
    c = ErrorCounter()
    c.add(ref, hyp)
    return c.wer


def cer(ref: str, hyp: str) -> float:
    c = ErrorCounter()
    c.add(ref, hyp)
    return c.cer
