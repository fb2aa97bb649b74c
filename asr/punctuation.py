"""Readable transcripts: case and punctuation restored on the recogniser's words.

The recogniser writes lower-case words without punctuation, numbers spelled out and no sentence
boundaries. A small bidirectional GRU tagger (in the spirit of punctuator2, Tilk and Alumäe 2016)
reads those words and predicts, for each word, its case (lower, Capitalised, UPPER, or a mixed form
such as "McDonald" looked up in a table counted on the training text) and the mark written after it
(none , . ? !). Its input is text normalised exactly as `asr.lm.normalize_lm_text` normalises LM
text, so that training input looks like decoder output. Trained by `recipes/punctuation` on
../shared/data/text; the shipped model is `asr/pretrained/punctuation.pt` (card beside it).

- `label_paragraph`: written text -> normalised words with their case and mark (the training targets).
- `Punctuator`: a loaded model: `restore(words)`, `punctuate_text(text)`, `punctuate_result(result)`
  (a transcription dict: only each word's written form changes; raw forms are kept).
- `load_punctuator` / `default_punctuator`: the model file (tensors loaded with weights_only=True plus
  a JSON header holding vocabulary, case table and config), loaded once and only when first needed.
- `train_tagger`, `evaluate_tagger`, `baseline_restore`: what the recipe calls.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import unicodedata
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher
from typing import Callable, Iterable

import torch
from torch import nn

from .errors import ModelFileError
from .lm import _ABBREV_RE, normalize_lm_text

CASES = ("lower", "capital", "upper", "mixed")
LOWER, CAPITAL, UPPER, MIXED = range(4)
MARKS = ("", ",", ".", "?", "!")
NONE, COMMA, PERIOD, QUESTION, EXCLAMATION = range(5)
SENTENCE_ENDS = (PERIOD, QUESTION, EXCLAMATION)
IGNORE = -100  # a target that could not be aligned: no loss, not scored
PAD, UNK = 0, 1  # word and suffix ids below the table's
DEFAULT_PUNCTUATION_MODEL = os.path.join(os.path.dirname(__file__), "pretrained", "punctuation.pt")

# ---------------------------------------------------------------- targets from written text

_WORD_PARTS = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
_DASHES = re.compile(r"--+|[\u2013\u2014]")
_EDGES = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)
_INITIALS = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]|[A-Z]")  # U.S.A, R.M, a single initial (before its '.')
# marks written after a word -> the classes predicted (strongest first); ; : and dashes read as commas
_MARK_OF = (("?", QUESTION), ("!", EXCLAMATION), (".", PERIOD), ("\u2026", PERIOD), (",", COMMA), (";", COMMA),
            (":", COMMA), ("-", COMMA), ("\u2013", COMMA), ("\u2014", COMMA))


def _fold(text: str) -> str:
    """Accents stripped and curly apostrophes straightened, as `normalize_transcript` does."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("\u2019", "'").replace("`", "'")


def case_class(surface: str) -> int:
    """'the' lower, 'The' and 'I' capital, 'NASA' upper, 'McDonald' and 'iPhone' mixed."""
    letters = [c for c in surface if c.isalpha()]
    if not any(c.isupper() for c in letters):
        return LOWER
    if letters[0].isupper() and not any(c.isupper() for c in letters[1:]):
        return CAPITAL
    if all(c.isupper() for c in letters):
        return UPPER if len(letters) > 1 else CAPITAL
    return MIXED


def apply_case(word: str, case: int, mixed: dict[str, str]) -> str:
    """A normalised word written in a case class (mixed: its form in the table, else Capitalised)."""
    if case == UPPER:
        return word.upper()
    if case == MIXED and word in mixed:
        return mixed[word]
    if case in (CAPITAL, MIXED):
        return word[:1].upper() + word[1:]
    return word


def _mark(trailing: str) -> int:
    for char, mark in _MARK_OF:
        if char in trailing:
            return mark
    return NONE


@dataclass
class Labelled:
    """Normalised words of a passage with their targets (IGNORE where they could not be aligned) and,
    for mixed-case words, the written form."""

    words: list[str]
    case: list[int]
    mark: list[int]
    mixed: dict[int, str]

    def to_json(self) -> str:
        code = lambda xs: "".join("x" if x == IGNORE else str(x) for x in xs)  # noqa: E731
        return json.dumps({"words": " ".join(self.words), "case": code(self.case), "mark": code(self.mark),
                           "mixed": self.mixed}, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> "Labelled":
        d = json.loads(line)
        decode = lambda s: [IGNORE if c == "x" else int(c) for c in s]  # noqa: E731
        return cls(d["words"].split(), decode(d["case"]), decode(d["mark"]), {int(k): v for k, v in d["mixed"].items()})

    def surfaces(self) -> list[str]:
        """The written forms (case and mark) these targets describe."""
        out = []
        for i, (w, c, m) in enumerate(zip(self.words, self.case, self.mark)):
            form = self.mixed.get(i) or apply_case(w, LOWER if c == IGNORE else c, {})
            out.append(form + (MARKS[m] if m != IGNORE else ""))
        return out


def label_paragraph(text: str) -> Labelled:
    """One paragraph as written -> its words normalised by `normalize_lm_text` (joined over its
    sentences) with the case and following mark of each, taken from the written token it comes from.

    Each whitespace token is normalised alone too; where the two word sequences agree (almost
    always) the token's letters give the case of each of its words and its trailing punctuation the
    mark after its last word (a token whose words are not its letters, "1905" or "Mr.", gives its
    case to the first). Where normalisation in context differs (numbers, symbols), the two are
    aligned and the words that do not align get IGNORE targets. Punctuation standing alone (a dash
    between spaces) marks the word before it."""
    target = " ".join(normalize_lm_text(text)).split()
    words: list[str] = []
    cases: list[int] = []
    marks: list[int] = []
    mixed: dict[int, str] = {}
    for token in _DASHES.sub(lambda m: " " + m.group() + " ", text).split():
        _lead, core, trail = _EDGES.match(token).groups()
        if trail.startswith(".") and (_ABBREV_RE.fullmatch(core + ".") or _INITIALS.fullmatch(core)):
            trail = trail[1:]  # "Mr." "U.S." "F.": the period is part of the word
        norm = " ".join(normalize_lm_text(token)).split()
        mark = _mark(trail) if norm else _mark(token)
        if not norm:
            if words and marks[-1] == NONE and mark != NONE:
                marks[-1] = mark
            continue
        parts = _WORD_PARTS.findall(_fold(core))
        if [p.lower() for p in parts] == norm:
            for p in parts:
                c = case_class(p)
                if c == MIXED:
                    mixed[len(words)] = p
                words.append(p.lower())
                cases.append(c)
                marks.append(NONE)
        else:  # digits, abbreviations, symbols: spoken words in the case of the token's letters
            first = case_class(core) if core[:1].isalpha() else LOWER  # "Mr." -> "Mister"
            if first == LOWER and (not marks or marks[-1] in SENTENCE_ENDS):
                first = CAPITAL  # "1905 was..." -> "Nineteen oh five was..."
            words.extend(norm)
            cases.extend([first] + [LOWER if first != UPPER else UPPER] * (len(norm) - 1))
            marks.extend([NONE] * len(norm))
        marks[-1] = mark
    if words == target:
        return Labelled(words, cases, marks, mixed)
    out = Labelled(target, [IGNORE] * len(target), [IGNORE] * len(target), {})
    for a, b, size in SequenceMatcher(None, target, words, autojunk=False).get_matching_blocks():
        for k in range(size):
            out.case[a + k], out.mark[a + k] = cases[b + k], marks[b + k]
            if b + k in mixed:
                out.mixed[a + k] = mixed[b + k]
    return out


# ---------------------------------------------------------------- the tagger


@dataclass
class TaggerConfig:
    embed: int = 128
    suffix_embed: int = 32
    hidden: int = 128  # per direction
    layers: int = 2
    dropout: float = 0.2
    window: int = 64  # words per training sequence; inference windows overlap by half


class TaggerNet(nn.Module):
    def __init__(self, cfg: TaggerConfig, words: int, suffixes: int):
        super().__init__()
        self.cfg = cfg
        self.words = nn.Embedding(words + 2, cfg.embed, padding_idx=PAD)
        self.suffixes = nn.Embedding(suffixes + 2, cfg.suffix_embed, padding_idx=PAD)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = nn.GRU(cfg.embed + cfg.suffix_embed, cfg.hidden, cfg.layers, batch_first=True,
                          bidirectional=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.case = nn.Linear(2 * cfg.hidden, len(CASES))
        self.mark = nn.Linear(2 * cfg.hidden, len(MARKS))

    def forward(self, words: torch.Tensor, suffixes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, words) ids -> case logits (batch, words, 4), mark logits (batch, words, 5)."""
        x = self.drop(torch.cat([self.words(words), self.suffixes(suffixes)], -1))
        y, _ = self.rnn(x)
        y = self.drop(y)
        return self.case(y), self.mark(y)


def _suffix(word: str) -> str:
    return word[-3:]


class Punctuator:
    """A trained tagger with its word and suffix tables and the mixed-case table."""

    def __init__(self, net: TaggerNet, vocabulary: list[str], suffixes: list[str], mixed: dict[str, str],
                 metadata: dict | None = None):
        self.net = net.eval()
        self.vocabulary = vocabulary
        self.suffix_list = suffixes
        self.mixed = mixed
        self.metadata = metadata or {}
        self._word_id = {w: i + 2 for i, w in enumerate(vocabulary)}
        self._suffix_id = {s: i + 2 for i, s in enumerate(suffixes)}

    def ids(self, words: list[str]) -> tuple[list[int], list[int]]:
        return ([self._word_id.get(w, UNK) for w in words], [self._suffix_id.get(_suffix(w), UNK) for w in words])

    def predict(self, words: list[str], end: bool = False) -> tuple[list[int], list[int]]:
        """Case and mark classes of each word (the model's best, in overlapping windows: each word
        takes the window in which it is farthest from an edge). With `end` the words end a sentence:
        the last one takes the likeliest of . ? !

        Runs on one CPU thread (`_one_thread`)."""
        if not words:
            return [], []
        with _one_thread():
            return self._predict(words, end)

    @torch.inference_mode()
    def _predict(self, words: list[str], end: bool) -> tuple[list[int], list[int]]:
        n = len(words)
        w = self.net.cfg.window
        hop = max(w // 2, 1)
        starts = list(range(0, max(n - w, 0) + 1, hop))
        if starts[-1] + w < n:
            starts.append(n - w)
        size = min(w, n)
        word_ids, suffix_ids = self.ids(words)
        cases, marks = [0] * n, [0] * n
        best = [-1] * n
        for b in range(0, len(starts), 256):
            chunk = starts[b : b + 256]
            x = torch.tensor([word_ids[s : s + size] for s in chunk])
            s_ = torch.tensor([suffix_ids[s : s + size] for s in chunk])
            case_logits, mark_logits = self.net(x, s_)
            c, m = case_logits.argmax(-1).tolist(), mark_logits.argmax(-1).tolist()
            if end and chunk[-1] + size == n:
                last = mark_logits[-1, size - 1]
                m[-1][size - 1] = max(SENTENCE_ENDS, key=lambda mark: float(last[mark]))
            for k, s in enumerate(chunk):
                for j in range(size):
                    room = min(j, size - 1 - j)
                    if room > best[s + j]:
                        best[s + j], cases[s + j], marks[s + j] = room, c[k][j], m[k][j]
        return cases, marks

    def restore(self, words: list[str], left: list[str] | None = None, end: bool = True) -> list[str]:
        """Normalised words (one passage) -> their written forms, mark included ("Cotton,"). The
        passage starts a sentence (or continues after the words `left` of it, read as context only)
        and, with `end`, ends one; a word after a sentence end is capitalised."""
        left = (left or [])[-self.net.cfg.window :]
        cases, marks = self.predict(left + words, end)
        return _write(left + words, cases, marks, self.mixed)[len(left) :]

    def punctuate_text(self, text: str) -> str:
        """A passage as the recogniser writes it -> restored text (empty stays empty). Other text is
        normalised first, as LM text is (written numbers, marks and case are not kept)."""
        return " ".join(self.restore(" ".join(normalize_lm_text(text)).split()))

    def punctuate_result(self, result: dict) -> dict:
        """A transcription result (asr.transcribe) restored in place and returned: the words of all
        segments are read as one passage; each word's `word` becomes its written form (its raw form
        kept as `raw`, times and confidence untouched), each segment's and the result's `text` the
        restored text (raw kept as `raw_text`)."""
        segments = result.get("segments", [])
        tokens = [seg["text"].split() for seg in segments]
        restored = self.restore([t for seg in tokens for t in seg])
        k = 0
        for seg, toks in zip(segments, tokens):
            forms = restored[k : k + len(toks)]
            k += len(toks)
            seg["raw_text"] = seg["text"]
            seg["text"] = " ".join(forms)
            words = seg.get("words", [])
            if [wd["word"] for wd in words] == toks:
                for wd, form in zip(words, forms):
                    wd["raw"] = wd["word"]
                    wd["word"] = form
        result["raw_text"] = result.get("text", "")
        result["text"] = " ".join(seg["text"] for seg in segments if seg["text"])
        return result

    def save(self, path: str) -> None:
        from .modelfile import FORMAT_VERSION, PUNCTUATION_FORMAT, atomic_save

        header = {"config": asdict(self.net.cfg), "cases": list(CASES), "marks": list(MARKS),
                  "vocabulary": self.vocabulary, "suffixes": self.suffix_list, "mixed": self.mixed,
                  "metadata": self.metadata}
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        atomic_save({"format": PUNCTUATION_FORMAT, "version": FORMAT_VERSION, "header": json.dumps(header),
                     "state_dict": state}, path)


@contextmanager
def _one_thread():
    """The tagger runs, and loads, on one CPU thread: it is small, and with two threads on a machine
    whose other core is busy every step of the GRU waits for the descheduled thread (measured here:
    6 ms against 2.8 s to tag a 27-word passage, 0.08 s against 0.2 s to load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _write(words: list[str], cases: list[int], marks: list[int], mixed: dict[str, str]) -> list[str]:
    out = []
    for i, (word, case, mark) in enumerate(zip(words, cases, marks)):
        if (i == 0 or marks[i - 1] in SENTENCE_ENDS) and case == LOWER:
            case = CAPITAL
        out.append(apply_case(word, case, mixed) + MARKS[mark])
    return out


def default_punctuation_path() -> str:
    return os.environ.get("ASR_PUNCTUATION_MODEL") or DEFAULT_PUNCTUATION_MODEL


def load_punctuator(path: str | None = None) -> Punctuator:
    """The punctuation model at `path` (default: $ASR_PUNCTUATION_MODEL, else the shipped one), read
    safely and checked as every asr model file is (`asr.modelfile.safe_load`)."""
    from .modelfile import PUNCTUATION_FORMAT, safe_load

    path = path or default_punctuation_path()
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such punctuation model (use --no-punctuation to write raw transcripts)")
    with _one_thread():
        obj = safe_load(path, PUNCTUATION_FORMAT)
        try:
            header = obj["header"]
            if header["cases"] != list(CASES) or header["marks"] != list(MARKS):
                raise ValueError("its case or mark classes differ from this asr's")
            net = TaggerNet(TaggerConfig(**header["config"]), len(header["vocabulary"]), len(header["suffixes"]))
            net.load_state_dict(obj["state_dict"])
            return Punctuator(net, list(header["vocabulary"]), list(header["suffixes"]), dict(header["mixed"]),
                              header.get("metadata", {}))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path}: punctuation model is damaged ({str(exc).splitlines()[0][:160]})") from None


_loaded: dict[str, Punctuator] = {}


def default_punctuator() -> Punctuator:
    """The default model, loaded on first use and kept for the process."""
    path = default_punctuation_path()
    if path not in _loaded:
        _loaded[path] = load_punctuator(path)
    return _loaded[path]


# ---------------------------------------------------------------- training and evaluation


def read_labelled(path: str) -> list[Labelled]:
    with open(path, encoding="utf-8") as fh:
        return [Labelled.from_json(line) for line in fh if line.strip()]


def build_tables(items: Iterable[Labelled], vocab_size: int = 20000, suffixes: int = 2000,
                 mixed_min: int = 3) -> tuple[list[str], list[str], dict[str, str]]:
    """Most frequent words and suffixes, and the most frequent mixed form of each word that is
    written in one at least `mixed_min` times and more often so than Capitalised or UPPER."""
    words: Counter = Counter()
    forms: dict[str, Counter] = {}
    capital: Counter = Counter()
    for item in items:
        words.update(item.words)
        for i, c in enumerate(item.case):
            if c == MIXED and i in item.mixed:
                forms.setdefault(item.words[i], Counter())[item.mixed[i]] += 1
            elif c in (CAPITAL, UPPER):
                capital[item.words[i]] += 1
    vocabulary = [w for w, _ in words.most_common(vocab_size)]
    suffix_counts: Counter = Counter()
    for w, n in words.items():
        suffix_counts[_suffix(w)] += n
    suffix_list = [s for s, _ in suffix_counts.most_common(suffixes)]
    mixed = {}
    for w, c in forms.items():
        form, n = c.most_common(1)[0]
        if n >= mixed_min and sum(c.values()) >= capital[w]:
            mixed[w] = form
    return vocabulary, suffix_list, dict(sorted(mixed.items()))


def _stream(items: list[Labelled], tagger: Punctuator) -> tuple[torch.Tensor, ...]:
    word_ids, suffix_ids, cases, marks = [], [], [], []
    for item in items:
        w, s = tagger.ids(item.words)
        word_ids += w
        suffix_ids += s
        cases += item.case
        marks += item.mark
    return (torch.tensor(word_ids), torch.tensor(suffix_ids), torch.tensor(cases), torch.tensor(marks))


def train_tagger(train: list[Labelled], valid: list[Labelled], vocab_size: int = 20000, epochs: int = 3,
                 batch_size: int = 64, lr: float = 2e-3, seed: int = 1, config: TaggerConfig | None = None,
                 max_minutes: float | None = None, log: Callable[[str], None] = print) -> Punctuator:
    """Train on the passages of `train` read as one stream of words cut into windows at a new random
    offset each epoch; report mark F1 and case accuracy on `valid` after each epoch. `max_minutes`
    stops early (at the end of a batch) and says so in the metadata."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    cfg = config or TaggerConfig()
    vocabulary, suffixes, mixed = build_tables(train, vocab_size)
    net = TaggerNet(cfg, len(vocabulary), len(suffixes))
    tagger = Punctuator(net, vocabulary, suffixes, mixed)
    words, sufs, cases, marks = _stream(train, tagger)
    n = len(words)
    w = cfg.window
    per_epoch = (n - w) // w
    total_steps = epochs * ((per_epoch + batch_size - 1) // batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps, pct_start=0.05)
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE)
    log(f"{n:,} training words, {len(vocabulary):,} words in the vocabulary ({100 * sum(1 for x in words if x == UNK) / n:.1f} % "
        f"of running words outside it), {len(mixed):,} mixed-case forms, {sum(p.numel() for p in net.parameters()):,} "
        f"parameters")
    start = time.time()
    step = 0
    stopped = False
    for epoch in range(1, epochs + 1):
        net.train()
        offset = rng.randrange(w)
        order = list(range(offset, n - w, w))
        rng.shuffle(order)
        total = 0.0
        seen = 0
        for b in range(0, len(order), batch_size):
            idx = torch.tensor(order[b : b + batch_size])[:, None] + torch.arange(w)[None]
            case_logits, mark_logits = net(words[idx], sufs[idx])
            loss = loss_fn(case_logits.reshape(-1, len(CASES)), cases[idx].reshape(-1)) + \
                loss_fn(mark_logits.reshape(-1, len(MARKS)), marks[idx].reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 2.0)
            opt.step()
            if step < total_steps - 1:
                sched.step()
            step += 1
            total += loss.item()
            seen += 1
            if seen % 500 == 0:
                elapsed = time.time() - start
                log(f"epoch {epoch} step {seen}/{(len(order) + batch_size - 1) // batch_size}: loss {total / seen:.3f} "
                    f"({step * batch_size * w / elapsed:,.0f} words/s)")
            if max_minutes and time.time() - start > 60 * max_minutes:
                stopped = True
                break
        net.eval()
        scores = evaluate_tagger(tagger.restore, valid)
        log(f"epoch {epoch}/{epochs}: loss {total / max(seen, 1):.3f}, valid overall F1 {scores['overall']['f1']:.3f}, "
            f"case accuracy {scores['case_accuracy']:.4f} ({time.time() - start:.0f} s)")
        if stopped:
            log(f"stopped after {max_minutes} minutes")
            break
    elapsed = time.time() - start
    tagger.metadata = {"train_words": n, "epochs": epochs, "steps": step, "stopped_early": stopped,
                       "words_seen": step * batch_size * w, "train_seconds": round(elapsed),
                       "words_per_second": round(step * batch_size * w / elapsed), "seed": seed,
                       "threads": torch.get_num_threads()}
    return tagger


def baseline_restore(words: list[str]) -> list[str]:
    """The trivial baseline: capitalise the passage's first word and "i" (i'm, i'll...), a period at its end."""
    out = [w[:1].upper() + w[1:] if (i == 0 or w == "i" or w.startswith("i'")) else w for i, w in enumerate(words)]
    if out:
        out[-1] += "."
    return out


def _split(form: str) -> tuple[str, int]:
    for k, mark in enumerate(MARKS[1:], 1):
        if form.endswith(mark):
            return form[: -len(mark)], k
    return form, NONE


def evaluate_tagger(restore: Callable[[list[str]], list[str]], items: list[Labelled], per_item: bool = False) -> dict:
    """Precision, recall and F1 of comma, period, question mark (and overall: all marks, the
    exclamation mark included) and the share of words written in the right case, of `restore`
    (normalised words -> written forms) on labelled passages: read as one stream without boundaries,
    or with `per_item` each on its own (its start and end known, as a segment ended by a pause)."""
    words = [w for it in items for w in it.words]
    gold_case, gold_mark, gold_forms = [], [], []
    for it in items:
        gold_case += it.case
        gold_mark += it.mark
        gold_forms += [_split(f)[0] for f in it.surfaces()]
    forms = [f for it in items for f in restore(it.words)] if per_item else restore(words)
    counts = {k: [0, 0, 0] for k in range(1, len(MARKS))}  # true positives, predicted, gold
    right = scored = 0
    for form, gm, gc, gf in zip(forms, gold_mark, gold_case, gold_forms):
        text, mark = _split(form)
        if gm != IGNORE:
            if mark:
                counts[mark][1] += 1
            if gm:
                counts[gm][2] += 1
            if mark and mark == gm:
                counts[mark][0] += 1
        if gc != IGNORE:
            scored += 1
            right += text == gf
    def prf(tp: int, pred: int, gold: int) -> dict:
        p, r = tp / max(pred, 1), tp / max(gold, 1)
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-9), 4),
                "support": gold}
    out = {name: prf(*counts[k]) for k, name in ((COMMA, "comma"), (PERIOD, "period"), (QUESTION, "question"))}
    out["overall"] = prf(*(sum(c[i] for c in counts.values()) for i in range(3)))
    out["case_accuracy"] = round(right / max(scored, 1), 4)
    out["words"] = len(words)
    return out
