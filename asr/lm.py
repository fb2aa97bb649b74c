"""N-gram language models: build an ARPA file with interpolated modified Kneser-Ney smoothing
(Chen & Goodman 1999, as KenLM's lmplz does) from plain text, and read/score ARPA files.

KenLM's builder is not on the package registries; this is the small, exact, in-memory
equivalent for corpora of up to a few million words.
"""

from __future__ import annotations

import gzip
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from .errors import AsrError
from .text import normalize_transcript

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


class LanguageModelError(AsrError):
    """An ARPA file is missing or malformed, or the text to build from is empty."""


def _discounts(count_of_counts: Counter) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from counts of counts (fallbacks for tiny data)."""
    n1, n2, n3, n4 = (count_of_counts.get(i, 0) for i in (1, 2, 3, 4))
    if n1 == 0 or n2 == 0 or n3 == 0 or n4 == 0:
        return 0.5, 1.0, 1.5
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < x < i + 1 for i, x in enumerate(d)):
        return 0.5, 1.0, 1.5
    return d


@dataclass
class NgramModel:
    """An n-gram model: log10 probabilities and back-off weights, as ARPA files store them."""

    order: int
    logprob: dict[tuple[str, ...], float] = field(default_factory=dict)
    backoff: dict[tuple[str, ...], float] = field(default_factory=dict)

    @property
    def vocabulary(self) -> list[str]:
        return sorted(g[0] for g in self.logprob if len(g) == 1)

    def log10_prob(self, word: str, context: tuple[str, ...]) -> float:
        """log10 p(word | context) with ARPA back-off; unknown words score as <unk>."""
        if (word,) not in self.logprob:
            word = UNK
        context = context[-(self.order - 1):] if self.order > 1 else ()
        penalty = 0.0
        while True:
            gram = context + (word,)
            if gram in self.logprob:
                return penalty + self.logprob[gram]
            if not context:
                return penalty + self.logprob.get((UNK,), -99.0)
            penalty += self.backoff.get(context, 0.0)
            context = context[1:]

    def sentence_log10_prob(self, sentence: str) -> tuple[float, int]:
        """(log10 probability of the words and </s>, number of predicted tokens)."""
        words = sentence.split()
        context: tuple[str, ...] = (BOS,)
        total = 0.0
        for w in words + [EOS]:
            total += self.log10_prob(w, context)
            context = (context + (w,))[-(self.order - 1):] if self.order > 1 else ()
        return total, len(words) + 1

    def perplexity(self, sentences: Iterable[str]) -> float:
        total, count = 0.0, 0
        for s in sentences:
            lp, n = self.sentence_log10_prob(s)
            total += lp
            count += n
        return 10 ** (-total / max(count, 1))

    def write_arpa(self, path: str) -> None:
        by_order: dict[int, list[tuple[str, ...]]] = defaultdict(list)
        for g in self.logprob:
            by_order[len(g)].append(g)
        opener = gzip.open if path.endswith(".gz") else open
        tmp = path + ".tmp"
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            fh = opener(tmp, "wt", encoding="utf-8")
        except OSError as exc:
            raise LanguageModelError(f"{path}: cannot write ({exc.strerror or exc})") from None
        with fh:
            fh.write("\\data\\\n")
            for n in range(1, self.order + 1):
                fh.write(f"ngram {n}={len(by_order[n])}\n")
            for n in range(1, self.order + 1):
                fh.write(f"\n\\{n}-grams:\n")
                for g in sorted(by_order[n]):
                    line = f"{self.logprob[g]:.6f}\t{' '.join(g)}"
                    if n < self.order and g in self.backoff:
                        line += f"\t{self.backoff[g]:.6f}"
                    fh.write(line + "\n")
            fh.write("\n\\end\\\n")
        os.replace(tmp, path)


def read_arpa(path: str) -> NgramModel:
    """Read an ARPA file (optionally .gz)."""
    if not os.path.exists(path):
        raise LanguageModelError(f"{path}: no such language model file")
    opener = gzip.open if path.endswith(".gz") else open
    model = NgramModel(order=0)
    section = 0
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                if line.startswith("ngram ") and section == 0:
                    model.order = max(model.order, int(line.split()[1].split("=")[0]))
                elif line.endswith("-grams:"):
                    section = int(line[1:].split("-")[0])
                elif line == "\\end\\":
                    break
                elif section:
                    parts = line.split()
                    gram = tuple(parts[1 : 1 + section])
                    model.logprob[gram] = float(parts[0])
                    if len(parts) > 1 + section:
                        model.backoff[gram] = float(parts[1 + section])
    except (OSError, ValueError, IndexError, EOFError) as exc:
        raise LanguageModelError(f"{path}: not a readable ARPA file ({exc})") from None
    if model.order == 0 or not model.logprob:
        raise LanguageModelError(f"{path}: not an ARPA file (no \\data\\ section or n-grams)")
    return model


def read_sentences(paths: Iterable[str]) -> list[str]:
    """Normalised sentences from plain text (one per line, optionally .gz), LibriSpeech
    `*.trans.txt` files, folders holding them (searched recursively) and .jsonl manifests."""
    import json

    sentences = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(os.path.join(r, n) for r, _d, names in os.walk(path) for n in names if n.endswith(".trans.txt"))
            if not found:
                raise LanguageModelError(f"{path}: no *.trans.txt files in this folder")
            sentences.extend(read_sentences(found))
            continue
        if not os.path.exists(path):
            raise LanguageModelError(f"{path}: no such text file")
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if path.endswith(".jsonl"):
                    try:
                        line = json.loads(line)["text"] if line.strip() else ""
                    except (json.JSONDecodeError, KeyError, TypeError):
                        raise LanguageModelError(f"{path}: not a manifest (JSON lines with a 'text' field)") from None
                elif path.endswith(".trans.txt"):
                    line = line.partition(" ")[2]
                norm = normalize_transcript(line)
                if norm:
                    sentences.append(norm)
    return sentences


def build_kneser_ney(sentences: Iterable[str], order: int = 3) -> NgramModel:
    """Interpolated modified Kneser-Ney n-gram model of `order` from normalised sentences."""
    if order < 1:
        raise LanguageModelError(f"order must be at least 1, got {order}")
    counts: list[Counter] = [Counter() for _ in range(order + 1)]  # counts[n]: n-gram -> count
    n_sentences = 0
    for s in sentences:
        words = [BOS] + s.split() + [EOS]
        n_sentences += 1
        for n in range(1, order + 1):
            for i in range(len(words) - n + 1):
                gram = tuple(words[i : i + n])
                if gram == (BOS,):
                    continue
                counts[n][gram] += 1
    if n_sentences == 0:
        raise LanguageModelError("no text to build a language model from")

    # Adjusted counts: raw for the highest order and for n-grams starting with <s>;
    # otherwise the number of distinct left extensions (continuation counts).
    adjusted: list[Counter] = [Counter() for _ in range(order + 1)]
    adjusted[order] = Counter(counts[order])
    for n in range(order - 1, 0, -1):
        for gram, c in counts[n].items():
            if gram[0] == BOS:
                adjusted[n][gram] = c
        for gram in counts[n + 1]:
            suffix = gram[1:]
            if suffix[0] != BOS:
                adjusted[n][suffix] += 1
        for gram, c in counts[n].items():  # n-grams seen only after <s> keep at least their raw presence
            if gram not in adjusted[n]:
                adjusted[n][gram] = c
    discounts = [None] + [_discounts(Counter(adjusted[n].values())) for n in range(1, order + 1)]

    def disc(n: int, c: int) -> float:
        d1, d2, d3 = discounts[n]
        return 0.0 if c == 0 else d1 if c == 1 else d2 if c == 2 else d3

    # Per-context totals and the mass freed by discounting.
    totals: list[dict] = [None] + [defaultdict(float) for _ in range(order)]
    freed: list[dict] = [None] + [defaultdict(float) for _ in range(order)]
    for n in range(1, order + 1):
        for gram, c in adjusted[n].items():
            h = gram[:-1]
            totals[n][h] += c
            freed[n][h] += disc(n, c)

    vocab = sorted({g[0] for g in adjusted[1]} | {UNK})
    model = NgramModel(order=order)
    prob: dict[tuple[str, ...], float] = {}
    # unigrams interpolate with the uniform distribution over the vocabulary (<s> excluded)
    total1 = totals[1][()]
    gamma0 = freed[1][()] / total1
    uniform = 1.0 / len(vocab)
    for w in vocab:
        c = adjusted[1].get((w,), 0)
        prob[(w,)] = (max(c - disc(1, c), 0.0)) / total1 + gamma0 * uniform
    for n in range(2, order + 1):
        for gram, c in adjusted[n].items():
            h = gram[:-1]
            lower = prob[gram[1:]] if gram[1:] in prob else None
            if lower is None:  # lower-order gram always exists by construction; guard anyway
                continue
            gamma = freed[n][h] / totals[n][h]
            prob[gram] = (c - disc(n, c)) / totals[n][h] + gamma * lower
    for gram, p in prob.items():
        model.logprob[gram] = math.log10(p)
    model.logprob[(BOS,)] = -99.0
    for n in range(1, order):
        for h, total in totals[n + 1].items():
            model.backoff[h] = math.log10(freed[n + 1][h] / total)
    return model


def build_arpa(text_paths: list[str], output: str, order: int = 3) -> NgramModel:
    """Read text files, build the model, write ARPA; returns the model."""
    model = build_kneser_ney(read_sentences(text_paths), order)
    model.write_arpa(output)
    return model
