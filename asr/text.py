"""Output units (characters: blank, space, apostrophe, a-z; or phones: blank, word boundary, 39 ARPAbet
phones) and transcript normalisation."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

BLANK = "<blank>"
DEFAULT_SYMBOLS = [" ", "'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
# the phones of the CMU Pronouncing Dictionary without stress (../shared/data/lexicon/cmudict.phones)
PHONES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z "
          "ZH").split()
WORD_BOUNDARY = "|"  # the phone models' word separator (characters use the space)
UNITS = ("chars", "phones")

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    """Spell a non-negative integer in English words (below one trillion; digit by digit above)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for value, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= value:
            if n >= 1000 * value:
                break
            rest = n % value
            return number_to_words(n // value) + " " + name + ("" if rest == 0 else " " + number_to_words(rest))
    return " ".join(_ONES[int(d)] for d in str(n))


def normalize_transcript(text: str) -> str:
    """Map free text onto the vocabulary: lower case, accents stripped, numbers spelled out,
    hyphens as spaces, other punctuation dropped, whitespace collapsed."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.lower().replace("\u2019", "'").replace("`", "'")
    text = re.sub(r"\d+", lambda m: " " + number_to_words(int(m.group())) + " ", text)
    text = re.sub(r"[-_/]", " ", text)
    text = re.sub(r"[^a-z' ]", "", text)
    text = re.sub(r"(^|\s)'+|'+(?=\s|$)", " ", text)  # quotes, not apostrophes inside words
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Vocabulary:
    """A model's output units: index 0 is the CTC blank, then `symbols`. `units` says what they are:
    "chars" (letters, the apostrophe and the space between words) or "phones" (ARPAbet phones and '|'
    between words; words come from a pronunciation lexicon, asr.lexicon). Stored in every model file."""

    symbols: list[str] = field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    units: str = "chars"

    def __post_init__(self) -> None:
        self._index = {s: i + 1 for i, s in enumerate(self.symbols)}

    @classmethod
    def for_units(cls, units: str) -> "Vocabulary":
        if units not in UNITS:
            raise ValueError(f"units must be chars or phones, got {units!r}")
        return cls() if units == "chars" else cls([WORD_BOUNDARY] + PHONES, units="phones")

    @property
    def size(self) -> int:
        return len(self.symbols) + 1

    @property
    def blank(self) -> int:
        return 0

    @property
    def boundary(self) -> str:
        """The unit between words."""
        return " " if self.units == "chars" else WORD_BOUNDARY

    @property
    def boundary_id(self) -> int:
        return self._index[self.boundary]

    def ids(self, units: list[str]) -> list[int]:
        """Unit symbols -> label ids (symbols outside the vocabulary are dropped)."""
        return [self._index[u] for u in units if u in self._index]

    def encode(self, text: str) -> list[int]:
        """Normalised text -> character label ids (characters outside the vocabulary are dropped).
        Phone models encode through their lexicon (asr.lexicon.Lexicon.encode)."""
        if self.units != "chars":
            raise ValueError("a phone vocabulary encodes text through a lexicon (asr.lexicon.Lexicon.encode)")
        return [self._index[c] for c in normalize_transcript(text) if c in self._index]

    def decode(self, ids: list[int]) -> str:
        """Label ids (no blanks, repeats already merged) -> text (for phones: the phones, words split by |)."""
        if self.units != "chars":
            return " ".join(self.symbols[i - 1] for i in ids if i != 0)
        text = "".join(self.symbols[i - 1] for i in ids if i != 0)
        return re.sub(r"\s+", " ", text).strip()

    def to_dict(self) -> dict:
        return {"blank": BLANK, "symbols": list(self.symbols), "units": self.units}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        units = d.get("units", "chars")  # files written before phone units were characters
        if units not in UNITS:
            raise ValueError(f"unknown output units {units!r}")
        return cls(symbols=list(d["symbols"]), units=units)
