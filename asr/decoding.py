"""Turning per-frame log-probabilities into text: greedy CTC, or beam search through torchaudio's
flashlight-text `ctc_decoder`, lexicon-free or with a lexicon and an n-gram language model
(ARPA or KenLM binary), with optional hotword boosts."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field

import torch

from .errors import ConfigError
from .text import Vocabulary, normalize_transcript

DECODERS = ("greedy", "beam")


def greedy_ids(log_probs: torch.Tensor, length: int, blank: int = 0) -> list[int]:
    """Best label per frame, repeats merged, blanks removed (one utterance, (frames, vocab))."""
    best = log_probs[:length].argmax(dim=-1)
    if best.numel() == 0:
        return []
    keep = torch.ones_like(best, dtype=torch.bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(i) for i in best[keep & (best != blank)]]


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, vocab: Vocabulary) -> list[str]:
    """Batch (batch, frames, vocab) -> one transcript per utterance."""
    return [vocab.decode(greedy_ids(log_probs[b], int(lengths[b]), vocab.blank)) for b in range(log_probs.shape[0])]


def parse_hotword(spec: str, default_boost: float = 5.0) -> tuple[str, float]:
    """'WORD' or 'WORD:BOOST' -> (normalised word, boost in log10 units added per occurrence)."""
    word, _, boost = spec.rpartition(":") if ":" in spec else (spec, "", "")
    try:
        value = float(boost) if boost else default_boost
    except ValueError:
        raise ConfigError(f"hotword {spec!r}: boost must be a number, e.g. {word}:5") from None
    norm = normalize_transcript(word)
    if not norm or " " in norm:
        raise ConfigError(f"hotword {spec!r}: must be a single word")
    return norm, value


@dataclass
class DecoderConfig:
    """How log-probabilities become text; stored with every JSON result."""

    kind: str = "greedy"  # greedy | beam
    beam_size: int = 32
    beam_threshold: float = 25.0
    lm: str | None = None  # ARPA (.arpa, .arpa.gz) or KenLM binary; word-level
    lexicon: str | None = None  # lines 'word w o r d |'; built from the LM's unigrams when absent
    lm_weight: float = 0.5
    word_score: float = 0.0
    hotwords: list[str] = field(default_factory=list)  # 'word' or 'word:boost'
    nbest: int = 1

    def validate(self) -> None:
        if self.kind not in DECODERS:
            raise ConfigError(f"decoder must be greedy or beam, got {self.kind!r}")
        if self.beam_size < 1 or self.nbest < 1:
            raise ConfigError("beam size and n-best must be at least 1")
        if self.nbest > self.beam_size:
            raise ConfigError("n-best cannot exceed the beam size")
        if self.lm and not os.path.exists(self.lm):
            raise ConfigError(f"{self.lm}: no such language model file")
        if self.lexicon and not os.path.exists(self.lexicon):
            raise ConfigError(f"{self.lexicon}: no such lexicon file")
        if self.hotwords and not self.lm:
            raise ConfigError("hotwords need a language model (--lm): they boost words of its lexicon")
        for h in self.hotwords:
            parse_hotword(h)


@dataclass
class Hypothesis:
    text: str
    score: float
    label_ids: list[int]  # characters (spaces included), for word timing


def arpa_words(path: str) -> list[str]:
    """The unigram vocabulary of an ARPA file (read without loading the whole model)."""
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    words, inside = [], False
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if line == "\\1-grams:":
                inside = True
            elif inside and (line.startswith("\\") or not line):
                if line.startswith("\\"):
                    break
            elif inside:
                parts = line.split()
                if len(parts) >= 2:
                    words.append(parts[1])
    if not words:
        raise ConfigError(f"{path}: no unigrams found; pass --lexicon for KenLM binary models")
    return words


class _HotwordLM:
    """A KenLM language model plus a fixed boost for chosen words (built lazily; needs flashlight)."""

    def __new__(cls, path: str, words: list[str], boosts: dict[str, float]):
        from flashlight.lib.text.decoder.kenlm import KenLM
        from flashlight.lib.text.dictionary import Dictionary
        from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState

        class HotwordLM(CTCDecoderLM):
            def __init__(self) -> None:
                CTCDecoderLM.__init__(self)
                self.dictionary = Dictionary()
                for w in words:
                    self.dictionary.add_entry(w)
                self.kenlm = KenLM(path, self.dictionary)
                self.boost = {i: boosts[w] for i, w in enumerate(words) if w in boosts}
                self.states: dict = {}

            def start(self, start_with_nothing: bool):
                state = CTCDecoderLMState()
                self.states[state] = self.kenlm.start(start_with_nothing)
                return state

            def score(self, state, usr_token_idx: int):
                child = state.child(usr_token_idx)
                inner, value = self.kenlm.score(self.states[state], usr_token_idx)
                self.states.setdefault(child, inner)
                return child, value + self.boost.get(usr_token_idx, 0.0)

            def finish(self, state):
                child = state.child(-1)
                inner, value = self.kenlm.finish(self.states[state])
                self.states.setdefault(child, inner)
                return child, value

        return HotwordLM()


class _SilenceNativeOutput:
    """KenLM prints loading banners from C++; keep them off the user's terminal."""

    def __enter__(self):
        import sys

        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        self.saved = [os.dup(1), os.dup(2)]
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
        return self

    def __exit__(self, *exc):
        for fd, saved in zip((1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)


class Decoder:
    """Decodes batches of log-probabilities per a DecoderConfig."""

    def __init__(self, vocab: Vocabulary, config: DecoderConfig | None = None):
        self.vocab = vocab
        self.config = config or DecoderConfig()
        self.config.validate()
        self._beam = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._lm = None

    @property
    def tokens(self) -> list[str]:
        """flashlight token names: '-' is the blank, '|' the word separator (our space)."""
        return ["-"] + ["|" if s == " " else s for s in self.vocab.symbols]

    def _build_beam(self):
        from torchaudio.models.decoder import ctc_decoder

        cfg = self.config
        kwargs = dict(tokens=self.tokens, nbest=cfg.nbest, beam_size=cfg.beam_size, beam_threshold=cfg.beam_threshold,
                      blank_token="-", sil_token="|")
        if not cfg.lm:
            return ctc_decoder(lexicon=None, lm=None, **kwargs)
        self._tmp = tempfile.TemporaryDirectory(prefix="asr-decoder-")
        allowed = set(self.vocab.symbols) - {" "}
        boosts = dict(parse_hotword(h) for h in cfg.hotwords)
        if cfg.lexicon:
            lexicon = cfg.lexicon
            with open(lexicon, encoding="utf-8") as fh:
                words = [line.split()[0] for line in fh if line.strip()]
        else:
            words = [w for w in arpa_words(cfg.lm) if w not in ("<s>", "</s>", "<unk>") and set(w) <= allowed]
        words += [w for w in boosts if w not in set(words)]
        if not cfg.lexicon:
            lexicon = os.path.join(self._tmp.name, "lexicon.txt")
            with open(lexicon, "w", encoding="utf-8") as fh:
                for w in words:
                    fh.write(f"{w}\t{' '.join(w)} |\n")
        lm_dict = os.path.join(self._tmp.name, "lm_dict.txt")
        with open(lm_dict, "w", encoding="utf-8") as fh:
            fh.write("\n".join(words + ["<unk>"]) + "\n")
        lm = _HotwordLM(cfg.lm, words + ["<unk>"], boosts) if boosts else cfg.lm
        self._lm = lm
        return ctc_decoder(lexicon=lexicon, lm=lm, lm_dict=lm_dict, lm_weight=cfg.lm_weight,
                           word_score=cfg.word_score, **kwargs)

    def prepare(self) -> None:
        """Build the beam decoder (loads the language model) now rather than on first use."""
        if self.config.kind != "beam" or self._beam is not None:
            return
        try:
            with _SilenceNativeOutput():
                self._beam = self._build_beam()
        except (RuntimeError, ValueError, OSError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"cannot set up beam search with {self.config.lm or 'no LM'}: {first[:200]}") from None

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[Hypothesis]]:
        """(batch, frames, vocab) log-probabilities -> n-best hypotheses per utterance."""
        if self.config.kind == "greedy":
            out = []
            for b in range(log_probs.shape[0]):
                ids = greedy_ids(log_probs[b], int(lengths[b]), self.vocab.blank)
                score = float(log_probs[b, : int(lengths[b])].max(dim=-1).values.sum())
                out.append([Hypothesis(self.vocab.decode(ids), score, ids)])
            return out
        self.prepare()
        emissions = log_probs.detach().float().cpu().contiguous()
        results = self._beam(emissions, lengths.to(torch.int32).cpu())
        out = []
        for hyps in results:
            nbest = []
            for h in hyps:
                ids = [int(t) for t in h.tokens if int(t) != 0]
                text = " ".join(h.words) if self.config.lm else self.vocab.decode(ids)
                text = re.sub(r"\s+", " ", text).strip()
                nbest.append(Hypothesis(text, float(h.score), ids))
            out.append(nbest or [Hypothesis("", float("-inf"), [])])
        return out

    def describe(self) -> dict:
        """Settings for JSON output."""
        cfg = self.config
        d = {"decoder": cfg.kind}
        if cfg.kind == "beam":
            d.update(beam_size=cfg.beam_size, lm=cfg.lm, lm_weight=cfg.lm_weight if cfg.lm else None,
                     word_score=cfg.word_score if cfg.lm else None, hotwords=list(cfg.hotwords))
        return d
