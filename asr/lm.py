"""Word n-gram language models for beam search, built with KenLM.

- `normalize_lm_text`: free text (books, articles) -> sentences in the transcripts' alphabet, with
  what a reader says rather than what is written (numbers, years, ordinals, money, abbreviations).
- `read_sentences`: plain text (optionally .gz/.xz), LibriSpeech `*.trans.txt` files or folders of
  them, .jsonl manifests -> normalised sentences.
- `build_lm`: KenLM's `lmplz` (interpolated modified Kneser-Ney) -> ARPA, and `build_binary` ->
  a mmap-able binary; writes the vocabulary and a metadata JSON beside the model
  (`LanguageModelInfo`), which also carries the decoder defaults (LM weight, word score).
- `perplexity`: KenLM's `query` on normalised sentences.

KenLM's tools are built from source by `.ci/install` (`.ci/build-kenlm`) into `.kenlm/bin`; they
are also found on PATH or in `$ASR_KENLM_BIN`.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator

from .errors import AsrError
from .text import normalize_transcript, number_to_words

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
BINARY_SUFFIXES = (".bin", ".binary", ".klm", ".mmap")
LM_FORMAT = 1


class LanguageModelError(AsrError):
    """A language model file is missing or malformed, the text to build from is empty, or KenLM fails."""


# ---------------------------------------------------------------- KenLM tools

def kenlm_tool(name: str) -> str:
    """Path of a KenLM program (lmplz, build_binary, query): in $ASR_KENLM_BIN when it is set, else in
    the repository's .kenlm/bin (built by .ci/install), else on PATH."""
    env = os.environ.get("ASR_KENLM_BIN")
    if env:
        path = os.path.join(env, name)
        found = path if os.access(path, os.X_OK) else None
    else:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.path.join(here, ".kenlm", "bin", name)
        found = path if os.access(path, os.X_OK) else shutil.which(name)
    if found:
        return found
    raise LanguageModelError(f"KenLM's {name} is not installed: run `bash .ci/install` (it builds KenLM into "
                             f".kenlm/bin), or put lmplz and build_binary on PATH or in $ASR_KENLM_BIN")


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, **kwargs)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace") if isinstance(proc.stderr, bytes) else proc.stderr
        lines = [l.strip() for l in err.splitlines() if l.strip()]
        detail = next((l for l in reversed(lines) if "ERROR" in l or "rror" in l), lines[-1] if lines else "")
        raise LanguageModelError(f"{os.path.basename(cmd[0])} failed: {detail[:300]}")
    return proc


# ---------------------------------------------------------------- text normalisation

_ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "jr": "junior", "sr": "senior",
    "prof": "professor", "gen": "general", "capt": "captain", "col": "colonel", "lt": "lieutenant",
    "sgt": "sergeant", "rev": "reverend", "hon": "honourable", "mt": "mount", "ft": "fort", "vs": "versus",
    "etc": "et cetera", "no": "number", "vol": "volume", "ch": "chapter", "fig": "figure", "approx": "approximately",
}
_ABBREV_RE = re.compile(r"\b(Mr|Mrs|Dr|St|Jr|Sr|Prof|Gen|Capt|Col|Lt|Sgt|Rev|Hon|Mt|Ft|vs|etc|No|Vol|Ch|Fig|approx)\.(?=\s|$|,)")
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_CURRENCY = {"$": ("dollar", "cent"), "\u00a3": ("pound", "penny"), "\u20ac": ("euro", "cent")}


def ordinal_words(n: int) -> str:
    """21 -> 'twenty first'."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_words(n: int) -> str:
    """How a year is read: 1905 -> 'nineteen oh five', 1900 -> 'nineteen hundred', 2008 -> 'two thousand
    eight', 2015 -> 'twenty fifteen'."""
    if 2000 <= n < 2010 or not 1100 <= n < 2100:
        return number_to_words(n)
    high, low = divmod(n, 100)
    if low == 0:
        return number_to_words(high) + " hundred"
    return number_to_words(high) + " " + ("oh " + number_to_words(low) if low < 10 else number_to_words(low))


def _plural(words: str) -> str:
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _money(m: re.Match) -> str:
    unit, sub = _CURRENCY[m.group(1)]
    whole, cents = int(m.group(2)), m.group(3)
    text = f" {number_to_words(whole)} {unit if whole == 1 else unit + 's'}"
    if cents and int(cents):
        text += f" and {number_to_words(int(cents))} {sub if int(cents) == 1 else ('pence' if sub == 'penny' else sub + 's')}"
    return text + " "


def _clock(m: re.Match) -> str:
    hours, minutes = int(m.group(1)), m.group(2)
    spoken = "o'clock" if minutes == "00" else ("oh " if minutes[0] == "0" else "") + number_to_words(int(minutes))
    return f" {number_to_words(hours)} {spoken} "


def _spoken_numbers(text: str) -> str:
    """Numbers written with digits -> words as they are read (before the generic digit spelling)."""
    if not any(c.isdigit() for c in text):
        return text
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,000,000
    text = re.sub(r"([$\u00a3\u20ac])\s?(\d+)(?:\.(\d\d))?\b", _money, text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s?%", r"\1 percent", text)
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: " " + ordinal_words(int(m.group(1))) + " ", text)
    text = re.sub(r"\b(\d{4})s\b", lambda m: " " + _plural(year_words(int(m.group(1)))) + " ", text)
    text = re.sub(r"\b(\d{1,2}):(\d\d)\b", _clock, text)
    text = re.sub(r"\b(\d+)\.(\d+)\b", lambda m: f" {number_to_words(int(m.group(1)))} point "
                  + " ".join(number_to_words(int(d)) for d in m.group(2)) + " ", text)
    text = re.sub(r"(?<!\d\.)\b(1[1-9]\d\d|20\d\d)\b(?!\.\d)", lambda m: " " + year_words(int(m.group(1))) + " ", text)
    return text


def normalize_lm_text(text: str) -> list[str]:
    """One paragraph of free text -> normalised sentences (transcript alphabet, numbers spoken)."""
    text = _ABBREV_RE.sub(lambda m: _ABBREVIATIONS[m.group(1).lower()], text)
    text = re.sub(r"\b((?:[A-Za-z]\.){2,})", lambda m: " " + " ".join(m.group(1).split(".")) + " ", text)  # U.S.A.
    text = text.replace("&", " and ")
    out = []
    for sentence in _SENTENCE_END.split(text):
        norm = normalize_transcript(_spoken_numbers(sentence))
        if norm:
            out.append(norm)
    return out


def _open_text(path: str):
    if path.endswith(".xz"):
        return lzma.open(path, "rt", encoding="utf-8", errors="replace")
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_sentences(paths: Iterable[str], normalized: bool = False) -> Iterator[str]:
    """Normalised sentences from plain text (a paragraph per line; .gz, .xz), LibriSpeech `*.trans.txt`
    files, folders holding them (searched recursively) and .jsonl manifests. `normalized`: plain text
    is already one normalised sentence per line (taken as it is)."""
    for path in paths:
        if os.path.isdir(path):
            found = sorted(os.path.join(r, n) for r, _d, names in os.walk(path) for n in names if n.endswith(".trans.txt"))
            if not found:
                raise LanguageModelError(f"{path}: no *.trans.txt files in this folder")
            yield from read_sentences(found)
            continue
        if not os.path.exists(path):
            raise LanguageModelError(f"{path}: no such text file")
        with _open_text(path) as fh:
            for line in fh:
                if path.endswith(".jsonl"):
                    try:
                        line = json.loads(line)["text"] if line.strip() else ""
                    except (json.JSONDecodeError, KeyError, TypeError):
                        raise LanguageModelError(f"{path}: not a manifest (JSON lines with a 'text' field)") from None
                    norm = normalize_transcript(line)
                    if norm:
                        yield norm
                elif path.endswith(".trans.txt"):
                    norm = normalize_transcript(line.partition(" ")[2])
                    if norm:
                        yield norm
                elif normalized:
                    line = line.strip()
                    if line:
                        yield line
                else:
                    yield from normalize_lm_text(line)


# ---------------------------------------------------------------- building

@dataclass
class LanguageModelInfo:
    """What is stored beside a language model (`NAME.json` for `NAME.bin` or `NAME.arpa`): how it was
    built, its vocabulary file, and the decoder settings it was tuned with."""

    format: int = LM_FORMAT
    order: int = 3
    prune: list[int] = field(default_factory=list)
    vocabulary_size: int = 0
    vocabulary: str = ""  # file name (beside the model) with one word per line: the decoder's lexicon
    lexicons: dict = field(default_factory=dict)  # units -> file name beside the model: the vocabulary's
    # pronunciations for models of those units (`asr lm lexicon`; characters need none)
    words: int = 0  # running words of training text
    sentences: int = 0
    ngrams: dict = field(default_factory=dict)  # order -> count
    lm_weight: float = 0.5
    word_score: float = 0.0
    unk_score: float | None = None  # a word outside the vocabulary, spelled letter by letter; None: not allowed
    tuned: dict = field(default_factory=dict)  # how lm_weight/word_score were chosen (model, dev sets, WER)
    extra: dict = field(default_factory=dict)  # sources, licence, perplexities, ...

    def save(self, lm_path: str) -> str:
        path = info_path(lm_path)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(asdict(self), fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
        return path


def info_path(lm_path: str) -> str:
    """Metadata file of a language model: the model's path with `.json` in place of its suffix."""
    base, ext = os.path.splitext(lm_path)
    if ext == ".gz":
        base = os.path.splitext(base)[0]
    return base + ".json"


def load_info(lm_path: str) -> LanguageModelInfo | None:
    """The metadata stored beside a language model, or None when there is none."""
    path = info_path(lm_path)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        known = {k: v for k, v in data.items() if k in LanguageModelInfo.__dataclass_fields__}
        info = LanguageModelInfo(**known)
    except (OSError, ValueError, TypeError) as exc:
        raise LanguageModelError(f"{path}: not a language model metadata file ({exc})") from None
    if info.format != LM_FORMAT:
        raise LanguageModelError(f"{path}: language model metadata format {info.format}, this asr reads {LM_FORMAT}")
    return info


def lm_vocabulary(lm_path: str) -> list[str] | None:
    """The words of a language model from its metadata's vocabulary file (None when it has none)."""
    info = load_info(lm_path)
    if info is None or not info.vocabulary:
        return None
    path = os.path.join(os.path.dirname(lm_path), info.vocabulary)
    try:
        with open(path, encoding="utf-8") as fh:
            return [w for w in fh.read().split() if w not in (BOS, EOS, UNK)]
    except OSError as exc:
        raise LanguageModelError(f"{path}: cannot read the language model's vocabulary ({exc.strerror})") from None


def lm_lexicon(lm_path: str, units: str) -> str | None:
    """The lexicon file of a language model's words in `units` (None when it has none)."""
    info = load_info(lm_path)
    name = info.lexicons.get(units) if info else None
    return os.path.join(os.path.dirname(lm_path), name) if name else None


def build_lm_lexicon(lm_path: str, units: str = "phones", cmudict: str | None = None, g2p: str | None = None) -> tuple[str, dict]:
    """Pronounce every word of a language model's vocabulary (CMUdict, else the G2P model) into
    NAME.UNITS.txt beside it, and name that file in its metadata. Returns the path and counts."""
    from .lexicon import Lexicon, write_lexicon
    from .text import Vocabulary

    info = load_info(lm_path)
    words = lm_vocabulary(lm_path)
    if info is None or words is None:
        raise LanguageModelError(f"{lm_path}: has no vocabulary file beside it (build it with asr lm build)")
    vocab = Vocabulary.for_units(units)
    lexicon = Lexicon.for_vocab(vocab, cmudict, g2p)
    if units == "phones" and lexicon.g2p is None:
        raise LanguageModelError("no G2P model is installed (asr/pretrained/g2p.pt; recipes/g2p) to pronounce "
                                 "words outside the lexicon")
    known = sum(1 for w in words if w in lexicon.entries)
    entries = [(w, units_[:-1]) for w, units_ in lexicon.spellings(words)]
    base = os.path.splitext(lm_path)[0]
    path = f"{base}.{units}.txt"
    write_lexicon(entries, path)
    info.lexicons[units] = os.path.basename(path)
    info.save(lm_path)
    return path, {"words": len(words), "in_lexicon": known, "guessed": len(words) - known, "lines": len(entries)}


def _arpa_counts(path: str) -> dict[int, int]:
    counts = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("ngram "):
                n, c = line[6:].strip().split("=")
                counts[int(n)] = int(c)
            elif line.startswith("\\1-grams"):
                break
    return counts


def build_lm(texts: list[str], output: str, order: int = 3, prune: list[int] | None = None,
             vocabulary_size: int | None = None, normalized: bool = False, quantize: int = 8,
             memory: str = "25%", log=None) -> LanguageModelInfo:
    """Build a modified Kneser-Ney n-gram model with KenLM from `texts` (see `read_sentences`).

    `output` ending in .arpa is an ARPA file; in .bin (.binary, .klm, .mmap) a KenLM trie binary with
    `quantize`-bit probabilities (0: none). `prune`: lmplz count thresholds per order (e.g. 0 1 1).
    `vocabulary_size`: keep the N most frequent words (others become <unk>). Writes the vocabulary
    (NAME.vocab.txt) and metadata (NAME.json) beside the model.
    """
    log = log or (lambda _msg: None)
    if order < 1 or order > 6:
        raise LanguageModelError(f"order must be 1 to 6, got {order}")
    prune = list(prune or [])
    if prune and (len(prune) > order or prune[0] != 0 or prune != sorted(prune)):
        raise LanguageModelError(f"prune thresholds must start at 0, not decrease and be at most {order} "
                                 f"(one per order), got {' '.join(map(str, prune))}")
    binary = output.endswith(BINARY_SUFFIXES)
    if not binary and not output.endswith(".arpa"):
        raise LanguageModelError(f"{output}: name the model .arpa (ARPA text) or .bin (KenLM binary)")
    lmplz = kenlm_tool("lmplz")
    build_binary = kenlm_tool("build_binary") if binary else None
    out_dir = os.path.dirname(os.path.abspath(output))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="asr-lm-", dir=out_dir) as tmp:
        text_path = os.path.join(tmp, "text.txt")
        counts: Counter = Counter()
        sentences = 0
        with open(text_path, "w", encoding="utf-8") as fh:
            for s in read_sentences(texts, normalized=normalized):
                fh.write(s + "\n")
                counts.update(s.split())
                sentences += 1
        if not sentences:
            raise LanguageModelError("no text to build a language model from")
        words = sum(counts.values())
        log(f"{sentences} sentences, {words} words, {len(counts)} distinct")
        vocab = [w for w, _ in counts.most_common(vocabulary_size)] if vocabulary_size else sorted(counts)
        vocab_file = os.path.join(tmp, "vocab.txt")
        with open(vocab_file, "w", encoding="utf-8") as fh:
            fh.write("\n".join(vocab) + "\n")
        arpa = output if not binary else os.path.join(tmp, "lm.arpa")
        cmd = [lmplz, "-o", str(order), "-S", memory, "-T", tmp, "--text", text_path, "--arpa", arpa + ".tmp",
               "--discount_fallback", "--skip_symbols"]
        if prune:
            cmd += ["--prune", *map(str, prune)]
        if vocabulary_size:
            cmd += ["--limit_vocab_file", vocab_file]
        log(" ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd)))
        _run(cmd)
        os.replace(arpa + ".tmp", arpa)
        ngrams = _arpa_counts(arpa)
        if binary:
            cmd = [build_binary, "-s"] + (["-q", str(quantize), "-b", str(quantize)] if quantize else []) + \
                  ["trie", arpa, output + ".tmp"]
            log(" ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd)))
            _run(cmd)
            os.replace(output + ".tmp", output)
        stem = os.path.splitext(os.path.basename(output))[0]
        vocab_name = stem + ".vocab.txt"
        shutil.copyfile(vocab_file, os.path.join(out_dir, vocab_name))
    info = LanguageModelInfo(order=order, prune=prune, vocabulary_size=len(vocab), vocabulary=vocab_name,
                             words=words, sentences=sentences, ngrams={str(k): v for k, v in ngrams.items()})
    info.save(output)
    return info


def perplexity(lm_path: str, sentences: Iterable[str]) -> dict:
    """Perplexity of normalised sentences under a KenLM model (ARPA or binary), by KenLM's `query`:
    {'perplexity', 'perplexity_without_oov', 'oov', 'tokens'}."""
    if not os.path.exists(lm_path):
        raise LanguageModelError(f"{lm_path}: no such language model file")
    text = "".join(s + "\n" for s in sentences)
    proc = _run([kenlm_tool("query"), "-v", "summary", lm_path], input=text.encode("utf-8"))
    out = proc.stdout.decode()
    found = {}
    for key, pattern in (("perplexity", r"Perplexity including OOVs:\s*([\d.eE+-]+|inf|nan)"),
                         ("perplexity_without_oov", r"Perplexity excluding OOVs:\s*([\d.eE+-]+|inf|nan)"),
                         ("oov", r"^OOVs:\s*(\d+)"), ("tokens", r"^Tokens:\s*(\d+)")):
        m = re.search(pattern, out, re.M)
        if not m:
            raise LanguageModelError(f"query printed no {key} for {lm_path}")
        found[key] = float(m.group(1)) if "perplexity" in key else int(m.group(1))
    return found
