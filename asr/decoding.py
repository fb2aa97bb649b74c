"""Turning per-frame log-probabilities into text: greedy CTC, or beam search through torchaudio's
flashlight-text `ctc_decoder`, lexicon-free or with a lexicon and an n-gram language model
(ARPA or KenLM binary), with optional hotword boosts.

The default decoding is beam search with the language model shipped in `asr/pretrained/` (or
`$ASR_LM`) whenever one is installed, with the LM weight and word score stored beside it; words
outside its vocabulary can still come out letter by letter through the decoder's unknown-word path
(`unk_score`)."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import torch

from .errors import ConfigError
from .text import Vocabulary, normalize_transcript

DECODERS = ("greedy", "beam")
DEFAULT_LM = "default"  # DecoderConfig.lm: the shipped language model when one is installed
NO_LM = "none"
DEFAULT_LM_PATH = os.path.join(os.path.dirname(__file__), "pretrained", "lm.bin")
FALLBACK_LM_WEIGHT, FALLBACK_WORD_SCORE, FALLBACK_UNK_SCORE = 0.5, 0.0, float("-inf")
# hypotheses the beam search keeps by default; the default decoding's WER on the dev sets with the
# round-4 model (LM weight 2, word score 1): beam 128 43.9 %, 192 43.0 %, 256 43.0 % (RTF 0.016,
# 0.019, 0.023 on 1 core beside a training job; recipes/lm/README.md)
DEFAULT_BEAM_SIZE = 192


def default_lm_path() -> str | None:
    """$ASR_LM ('none' switches it off), else the language model shipped in the package if installed."""
    env = os.environ.get("ASR_LM")
    if env:
        return None if env.lower() == NO_LM else env
    return DEFAULT_LM_PATH if os.path.exists(DEFAULT_LM_PATH) else None


def greedy_ids(log_probs: torch.Tensor, length: int, blank: int = 0) -> list[int]:
    """Best label per frame, repeats merged, blanks removed (one utterance, (frames, vocab))."""
    best = log_probs[:length].argmax(dim=-1)
    if best.numel() == 0:
        return []
    keep = torch.ones_like(best, dtype=torch.bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(i) for i in best[keep & (best != blank)]]


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
    """How log-probabilities become text; stored with every JSON result.

    The defaults are the default decoding: beam search with the shipped language model when one is
    installed (greedy otherwise), with the LM weight, word score and unknown-word score stored
    beside the LM. `resolved()` turns the defaults into concrete settings.
    """

    kind: str | None = None  # greedy | beam; None: beam when there is an LM, lexicon, hotword or n-best > 1
    beam_size: int | None = None  # hypotheses kept; None: DEFAULT_BEAM_SIZE
    beam_threshold: float = 25.0
    lm: str | None = DEFAULT_LM  # ARPA (.arpa, .arpa.gz) or KenLM binary; 'default'; None or 'none': no LM
    lexicon: str | None = None  # lines 'word w o r d |'; default: the LM's vocabulary
    lm_weight: float | None = None  # None: the LM's own (its metadata), else 0.5
    word_score: float | None = None  # None: the LM's own, else 0
    unk_score: float | None = None  # score of a word spelled outside the lexicon; None: the LM's own, else off
    hotwords: list[str] = field(default_factory=list)  # 'word' or 'word:boost'
    nbest: int = 1

    def resolved(self) -> "DecoderConfig":
        """Concrete settings: which LM (if any), which decoder, and the LM's tuned weights."""
        from dataclasses import replace

        lm = self.lm
        if lm == DEFAULT_LM:
            lm = None if self.kind == "greedy" else default_lm_path()
        elif lm is not None and (lm == "" or lm.lower() == NO_LM):
            lm = None
        kind = self.kind
        if kind is None:
            kind = "beam" if (lm or self.lexicon or self.hotwords or self.nbest > 1) else "greedy"
        weights = dict(lm_weight=FALLBACK_LM_WEIGHT, word_score=FALLBACK_WORD_SCORE, unk_score=FALLBACK_UNK_SCORE)
        if lm and os.path.exists(lm):
            from .lm import load_info

            info = load_info(lm)
            if info is not None:
                weights.update(lm_weight=info.lm_weight, word_score=info.word_score,
                               unk_score=FALLBACK_UNK_SCORE if info.unk_score is None else info.unk_score)
        for key in weights:
            if getattr(self, key) is not None:
                weights[key] = getattr(self, key)
        beam_size = DEFAULT_BEAM_SIZE if self.beam_size is None else self.beam_size
        return replace(self, kind=kind, lm=lm, beam_size=beam_size, **weights)

    def validate(self, units: str = "chars") -> None:
        """`units`: the model's (a phone model's greedy decoding may name the lexicon it walks)."""
        if self.kind not in DECODERS:
            raise ConfigError(f"decoder must be greedy or beam, got {self.kind!r}")
        if self.beam_size < 1 or self.nbest < 1:
            raise ConfigError("beam size and n-best must be at least 1")
        if self.nbest > self.beam_size:
            raise ConfigError("n-best cannot exceed the beam size")
        if self.kind == "greedy":
            given = [name for name, value in (("a language model", self.lm),
                                              ("a lexicon", self.lexicon and units == "chars"),
                                              ("hotwords", self.hotwords), ("n-best", self.nbest > 1)) if value]
            if given:
                raise ConfigError(f"{given[0]} needs beam search, not greedy decoding")
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
    label_ids: list[int]  # output units (word boundaries included), for word timing
    words: list[str] | None = None  # the words, when they are not spelled by label_ids (phone models)


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


def _hotword_lm(kenlm, boosts: dict[int, float]):
    """A KenLM language model (flashlight's) plus a fixed boost for chosen word indices."""
    from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState

    class HotwordLM(CTCDecoderLM):
        def __init__(self) -> None:
            CTCDecoderLM.__init__(self)
            self.kenlm, self.boost, self.states = kenlm, boosts, {}

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


class _FlashlightBeam:
    """A flashlight beam-search decoder (lexicon + word LM, or lexicon-free) over a batch of emissions."""

    def __init__(self, decoder, nbest: int, keep: tuple = (), words: list[str] | None = None,
                 boundary: int | None = None) -> None:
        self.decoder, self.nbest = decoder, nbest
        self.keep = keep  # the LM and trie must outlive the decoder (pybind holds no reference to them)
        self.words = words  # the lexicon's words by index (None: lexicon-free)
        self.boundary = boundary  # the word-boundary token (lexicon decoders)

    def _end_with_boundary(self, emissions: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One more frame after each utterance that is surely the word boundary: the lexicon's words end with
        it, and a model trained on transcripts with boundaries only between words need not emit one at the
        end, so without it the search would drop the last word (or keep only hypotheses that ended early)."""
        batch, frames, n_tokens = emissions.shape
        out = torch.full((batch, frames + 1, n_tokens), -100.0)
        out[:, :frames] = emissions
        end = torch.full((n_tokens,), -100.0)
        end[self.boundary] = 0.0
        out[torch.arange(batch), lengths] = end
        return out.contiguous(), lengths + 1

    def __call__(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[tuple[list[int], float, list[str]]]]:
        """(batch, frames, tokens) float32 log-probabilities -> per utterance, n-best (token ids, score, words)
        with repeats merged and blanks removed."""
        if self.boundary is not None:
            emissions, lengths = self._end_with_boundary(emissions, lengths)
        out = []
        batch, _, n_tokens = emissions.shape
        for b in range(batch):
            self.decoder.decode(emissions.data_ptr() + 4 * b * emissions.stride(0), int(lengths[b]), n_tokens)
            nbest = []
            for result in self.decoder.get_all_final_hypothesis()[: self.nbest]:
                ids = [t for t, _ in itertools.groupby(result.tokens) if t > 0]
                words = [self.words[w] for w in result.words if w >= 0] if self.words else []
                nbest.append((ids, result.score, words))
            out.append(nbest)
        return out


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
        self.config = (config or DecoderConfig()).resolved()
        self.config.validate(vocab.units)
        self._beam: _FlashlightBeam | None = None

    def _lexicon_words(self) -> list[tuple[str, list[str]]]:
        """(word, units ending with the word boundary) pairs: the --lexicon file, else the LM's vocabulary
        (for phone models its pronunciations: the lexicon beside the LM, else CMUdict and the G2P);
        plus hotwords (pronounced by the G2P when the lexicon does not know them)."""
        from .lexicon import Lexicon, read_lexicon

        cfg, vocab = self.config, self.vocab
        boundary = vocab.boundary
        lm = cfg.lm or default_lm_path()  # a phone model's greedy decoding walks the LM's lexicon without it
        lexicon_file = cfg.lexicon
        if lexicon_file is None and vocab.units != "chars" and lm:
            from .lm import lm_lexicon

            lexicon_file = lm_lexicon(lm, vocab.units)
        pairs: list[tuple[str, list[str]]] = []
        if lexicon_file:
            for word, units in read_lexicon(lexicon_file):
                if vocab.units == "chars":  # 'word w o r d |' lines, or just 'word'
                    units = [" " if u == "|" else u for u in units] or list(word)
                pairs.append((word, units if units[-1:] == [boundary] else units + [boundary]))
            lexicon = Lexicon.for_vocab(vocab) if cfg.hotwords and vocab.units != "chars" else None
        else:
            lexicon = Lexicon.for_vocab(vocab)
            if lm:
                from .lm import lm_vocabulary

                words = lm_vocabulary(lm) or arpa_words(lm)
            else:  # a phone model without LM or lexicon: every word of the pronunciation dictionary
                words = list(lexicon.entries)
            pairs = list(lexicon.spellings(w for w in words if w not in ("<s>", "</s>", "<unk>")))
        known = {w for w, _ in pairs}
        hot = [w for w, _ in map(parse_hotword, cfg.hotwords) if w not in known]
        if hot:
            pairs += list((lexicon or Lexicon.for_vocab(vocab)).spellings(hot))
        return pairs

    def _build_beam(self) -> _FlashlightBeam:
        """Flashlight's decoder built directly (torchaudio's ctc_decoder reads the lexicon from a file and
        looks up every letter in a separate call: several times slower to load a 100,000-word lexicon)."""
        from flashlight.lib.text.decoder import (CriterionType, LexiconDecoder, LexiconDecoderOptions,
                                                 LexiconFreeDecoder, LexiconFreeDecoderOptions, SmearingMode, Trie,
                                                 ZeroLM)
        from flashlight.lib.text.decoder.kenlm import KenLM
        from flashlight.lib.text.dictionary import Dictionary

        cfg = self.config
        n_tokens, sil, blank = self.vocab.size, self.vocab.boundary_id, 0
        common = dict(beam_size=cfg.beam_size, beam_size_token=n_tokens, beam_threshold=cfg.beam_threshold,
                      sil_score=0.0, log_add=False, criterion_type=CriterionType.CTC)
        if not cfg.lm and self.vocab.units == "chars":
            lm = ZeroLM()
            options = LexiconFreeDecoderOptions(lm_weight=0.0, **common)
            return _FlashlightBeam(LexiconFreeDecoder(options, lm, sil, blank, []), cfg.nbest, (lm,))
        pairs = self._lexicon_words()
        if not cfg.lm:  # no LM to choose between words that sound alike: the first listed (the LM's
            # vocabulary and its lexicon are in order of frequency) stands for them all
            first: dict[tuple[str, ...], str] = {}
            pairs = [(w, units) for w, units in pairs if first.setdefault(tuple(units), w) == w]
        words = list(dict.fromkeys(w for w, _ in pairs))
        word_dict = Dictionary()
        for w in words:
            word_dict.add_entry(w)
        word_dict.add_entry("<unk>")
        index = {w: i for i, w in enumerate(words)}
        # a phone model without a language model: the best path through the lexicon, every word alike
        kenlm = KenLM(cfg.lm, word_dict) if cfg.lm else ZeroLM()
        boosts = {index[w]: b for w, b in map(parse_hotword, cfg.hotwords)}
        lm = _hotword_lm(kenlm, boosts) if boosts else kenlm
        token_index = {s: i + 1 for i, s in enumerate(self.vocab.symbols)}
        trie = Trie(n_tokens, sil)
        start = lm.start(False)
        for w, spelling in pairs:
            try:
                ids = [token_index[t] for t in spelling]
            except KeyError:  # a word the model cannot spell (a symbol outside its vocabulary)
                continue
            i = index[w]
            trie.insert(ids, i, lm.score(start, i)[1])
        if cfg.unk_score > float("-inf") and self.vocab.units == "chars":
            # every symbol starts a path, so that the unknown-word path (which leaves the trie at any node
            # that ends no word) can spell any word, a letter or a known prefix at a time; the entry itself,
            # behind a blank, is unreachable and scores too low to change any look-ahead
            for symbol, i in token_index.items():
                if symbol != " ":
                    trie.insert([i, blank], len(words), -99.0)
        trie.smear(SmearingMode.MAX)
        # phones cannot spell a word outside the lexicon: the unknown-word path is for characters
        unk_score = cfg.unk_score if self.vocab.units == "chars" else float("-inf")
        options = LexiconDecoderOptions(lm_weight=cfg.lm_weight if cfg.lm else 0.0,
                                        word_score=cfg.word_score if cfg.lm else 0.0, unk_score=unk_score, **common)
        decoder = LexiconDecoder(options, trie, lm, sil, blank, len(words), [], False)
        return _FlashlightBeam(decoder, cfg.nbest, (lm, kenlm, trie, word_dict), words + ["<unk>"], sil)

    def prepare(self) -> None:
        """Build the beam decoder (loads the language model) now rather than on first use."""
        if not self.searches_lexicon or self._beam is not None:
            return
        try:
            with _SilenceNativeOutput():
                self._beam = self._build_beam()
        except (RuntimeError, ValueError, OSError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"cannot set up beam search with {self.config.lm or 'no LM'}: {first[:200]}") from None

    @property
    def searches_lexicon(self) -> bool:
        """Whether decoding goes through the beam search: always for phone models (their words come from
        a lexicon, even for 'greedy', which is the best lexicon path without a language model)."""
        return self.config.kind == "beam" or self.vocab.units != "chars"

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[Hypothesis]]:
        """(batch, frames, vocab) log-probabilities -> n-best hypotheses per utterance."""
        if not self.searches_lexicon:
            out = []
            for b in range(log_probs.shape[0]):
                ids = greedy_ids(log_probs[b], int(lengths[b]), self.vocab.blank)
                score = float(log_probs[b, : int(lengths[b])].max(dim=-1).values.sum())
                out.append([Hypothesis(self.vocab.decode(ids), score, ids)])
            return out
        self.prepare()
        emissions = log_probs.detach().float().cpu().contiguous()
        out = []
        chars = self.vocab.units == "chars"
        for hyps in self._beam(emissions, lengths.cpu()):
            # characters: the text is what the decoder spelled (lexicon words, and words outside the lexicon
            # letter by letter through its unknown-word path); phones: the lexicon's words
            nbest = [Hypothesis(self.vocab.decode(ids), float(score), ids) if chars else
                     Hypothesis(" ".join(words), float(score), ids, words) for ids, score, words in hyps]
            out.append(nbest or [Hypothesis("", float("-inf"), [])])
        return out

    def describe(self) -> dict:
        """Settings for JSON output."""
        cfg = self.config
        d = {"decoder": cfg.kind}
        if cfg.kind == "beam":
            d.update(beam_size=cfg.beam_size, lm=cfg.lm, lm_weight=cfg.lm_weight if cfg.lm else None,
                     word_score=cfg.word_score if cfg.lm else None,
                     unk_score=cfg.unk_score if cfg.lm and cfg.unk_score > float("-inf") else None,
                     hotwords=list(cfg.hotwords))
        return d
