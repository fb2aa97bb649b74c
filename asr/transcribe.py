"""The public API: load a model, transcribe audio, evaluate on a corpus.

    import asr.transcribe as T
    rec = T.load_model("exp/run/best_model.pt")
    print(rec.transcribe("speech.wav"))
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from .audio import AudioSource, load_audio, stream_audio
from .decoding import Decoder
from .errors import ModelFileError
from .features import FeatureExtractor
from .metrics import ErrorCounter
from .modelfile import ModelBundle, load_model_file
from .timing import align_words
from .vad import SpeechSegmenter, VadConfig

DEFAULT_MODEL_PATH = os.path.join(os.path.dirname(__file__), "pretrained", "default.pt")


def default_model_path() -> str:
    return os.environ.get("ASR_MODEL") or DEFAULT_MODEL_PATH


class Recognizer:
    """A loaded model with its feature extractor and vocabulary: audio in, text out."""

    def __init__(self, bundle: ModelBundle, path: str | None = None):
        self.bundle = bundle
        self.path = path
        self.model = bundle.model.eval()
        self.vocab = bundle.vocab
        self.extractor = FeatureExtractor(bundle.features)
        self.sample_rate = bundle.features.sample_rate
        # seconds per output frame of the network
        self.frame_seconds = bundle.features.frame_seconds * self.model.frame_stride
        self._decoder: Decoder | None = None

    def default_decoder(self) -> Decoder:
        """The default decoding (beam search with the shipped LM when one is installed, else greedy),
        built once per recognizer: loading the LM takes most of a second."""
        if self._decoder is None:
            self._decoder = Decoder(self.vocab)
        return self._decoder

    def features(self, samples: np.ndarray) -> torch.Tensor:
        return self.extractor(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)))

    @torch.inference_mode()
    def log_probs(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
        padded = torch.nn.utils.rnn.pad_sequence(list(feats), batch_first=True)
        return self.model(padded, lengths)

    def transcribe_samples(self, batch: Sequence[np.ndarray], decoder: Decoder | None = None) -> list[str]:
        """Float32 mono samples at `self.sample_rate`, one array per utterance -> transcripts."""
        log_probs, lengths = self.log_probs([self.features(s) for s in batch])
        decoder = decoder or self.default_decoder()
        return [nbest[0].text for nbest in decoder.decode(log_probs, lengths)]

    def transcribe(self, source: AudioSource, decoder: Decoder | None = None) -> str:
        """A path, '-', bytes or binary file -> transcript (whole file, see `transcribe_file`)."""
        return transcribe_file(self, source, decoder)["text"]

    def segments(self, pieces: Sequence[tuple[float, np.ndarray]], decoder: Decoder) -> list[dict]:
        """Decode (start seconds, samples) pieces in one batch -> segment dicts with word times."""
        log_probs, lengths = self.log_probs([self.features(x) for _, x in pieces])
        out = []
        for (start, samples), nbest, lp, n in zip(pieces, decoder.decode(log_probs, lengths), log_probs, lengths):
            best = nbest[0]
            words = align_words(lp[: int(n)], best.label_ids, self.vocab.symbols, self.frame_seconds, offset=start,
                                boundary=self.vocab.boundary, words=best.words)
            seg = {"start": round(start, 3), "end": round(start + len(samples) / self.sample_rate, 3),
                   "text": best.text, "words": [w.to_dict() for w in words]}
            if len(nbest) > 1:
                seg["nbest"] = [{"text": h.text, "score": round(h.score, 4)} for h in nbest]
            out.append(seg)
        return out

    def describe(self) -> dict:
        meta = self.bundle.metadata
        keys = ("train_data", "train_hours", "epochs", "valid_wer", "quantized")
        return {"path": self.path, **{k: meta[k] for k in keys if k in meta}}


def transcribe_file(
    recognizer: Recognizer,
    source: AudioSource,
    decoder: Decoder | None = None,
    batch_size: int = 8,
    vad: VadConfig | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict:
    """Transcribe one file of any length; returns a whisper-like result dict
    (text, segments with words, duration, model, decoder).

    Audio up to `vad.max_seconds` long is decoded whole. Longer audio is streamed, split on
    silence and decoded in batches, so memory does not grow with the file; times stay absolute.
    `progress` receives seconds of audio consumed.
    """
    decoder = decoder or recognizer.default_decoder()
    vad = vad or VadConfig()
    rate = recognizer.sample_rate
    blocks = stream_audio(source, rate, block_seconds=10.0)
    head: list[np.ndarray] = []
    head_samples = 0
    total = 0
    segments: list[dict] = []
    for block in blocks:
        head.append(block)
        head_samples += len(block)
        total += len(block)
        if progress:
            progress(len(block) / rate)
        if head_samples > vad.max_seconds * rate:
            break
    else:  # short: one segment, the whole audio
        audio = np.concatenate(head) if head else np.zeros(0, np.float32)
        segments = recognizer.segments([(0.0, audio)], decoder)
        return _result(recognizer, decoder, segments, total / rate)

    segmenter = SpeechSegmenter(rate, vad)
    pending: list[tuple[float, np.ndarray]] = []

    def consume(pieces: list[tuple[float, np.ndarray]]) -> None:
        pending.extend(pieces)
        while len(pending) >= batch_size:
            segments.extend(recognizer.segments(pending[:batch_size], decoder))
            del pending[:batch_size]

    for block in head:
        consume(segmenter.feed(block))
    head.clear()
    for block in blocks:
        total += len(block)
        if progress:
            progress(len(block) / rate)
        consume(segmenter.feed(block))
    consume(segmenter.flush())
    if pending:
        segments.extend(recognizer.segments(pending, decoder))
    return _result(recognizer, decoder, segments, total / rate)


def _result(recognizer: Recognizer, decoder: Decoder, segments: list[dict], duration: float) -> dict:
    segments = [s for s in segments if s["text"]] or segments[:1]
    for i, seg in enumerate(segments):
        seg["id"] = i
    return {
        "text": " ".join(s["text"] for s in segments if s["text"]),
        "segments": segments,
        "duration": round(duration, 3),
        "model": recognizer.describe(),
        **decoder.describe(),
    }


def load_model(path: str | None = None, int8: bool = False) -> Recognizer:
    """Load a model file (default: the model shipped with the package, or $ASR_MODEL); `int8`
    quantises its LSTM and output layer for faster CPU inference."""
    if path is None:
        path = default_model_path()
        if not os.path.exists(path):
            raise ModelFileError(
                "no default model is installed yet: pass --model PATH (README.md shows how to train one)"
            )
    bundle = load_model_file(path)
    if int8:
        from .model import quantize_int8

        bundle.model = quantize_int8(bundle.model)
        bundle.metadata["quantized"] = "int8"
    return Recognizer(bundle, path)


@dataclass
class EvaluationResult:
    wer: float
    cer: float
    utterances: int
    audio_seconds: float
    decode_seconds: float
    hypotheses: list[tuple[str, str, str]]  # (utterance id, reference, hypothesis)

    @property
    def rtf(self) -> float:
        """Real-time factor: processing seconds per second of audio (lower is faster)."""
        return self.decode_seconds / max(self.audio_seconds, 1e-9)

    def summary(self) -> dict:
        return {
            "wer": self.wer,
            "cer": self.cer,
            "utterances": self.utterances,
            "audio_seconds": round(self.audio_seconds, 3),
            "rtf": self.rtf,
        }


def _network_batches(recognizer: Recognizer, utterances: Iterable, batch_size: int):
    """Length-sorted batches of utterances -> (utterances, seconds of audio, log_probs, lengths)."""
    utts = sorted(utterances, key=lambda u: u.duration)
    for i in range(0, len(utts), batch_size):
        chunk = utts[i : i + batch_size]
        samples = [u.load(recognizer.sample_rate) for u in chunk]
        log_probs, lengths = recognizer.log_probs([recognizer.features(x) for x in samples])
        yield chunk, sum(len(x) for x in samples) / recognizer.sample_rate, log_probs, lengths


def evaluate(
    recognizer: Recognizer,
    utterances: Iterable,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
    decoder: Decoder | None = None,
) -> EvaluationResult:
    """Decode utterances (asr.data.Utterance) in length-sorted batches; score WER/CER.

    The real-time factor counts audio reading, features, network and decoding, not loading
    the model or the language model.
    """
    decoder = decoder or recognizer.default_decoder()
    decoder.prepare()
    counter = ErrorCounter()
    hyps: list[tuple[str, str, str]] = []
    audio_seconds = 0.0
    start = time.perf_counter()
    for chunk, seconds, log_probs, lengths in _network_batches(recognizer, utterances, batch_size):
        audio_seconds += seconds
        for u, nbest in zip(chunk, decoder.decode(log_probs, lengths)):
            counter.add(u.text, nbest[0].text)
            hyps.append((u.id, u.text, nbest[0].text))
        if progress:
            progress(len(chunk))
    elapsed = time.perf_counter() - start
    return EvaluationResult(
        wer=counter.wer,
        cer=counter.cer,
        utterances=counter.utterances,
        audio_seconds=audio_seconds,
        decode_seconds=elapsed,
        hypotheses=hyps,
    )


def tune_language_model(
    recognizer: Recognizer, utterances: Iterable, lm: str, lm_weights: Sequence[float], word_scores: Sequence[float],
    beam_size: int = 32, lexicon: str | None = None, batch_size: int = 16,
    unk_scores: Sequence[float] = (float("-inf"),),
) -> list[dict]:
    """WER/CER of beam search for every (lm_weight, word_score, unk_score); the network runs once.
    An unk_score of -inf (None in the result) allows only words of the lexicon."""
    from .decoding import DecoderConfig

    outputs = [(chunk, lp, n) for chunk, _, lp, n in _network_batches(recognizer, utterances, batch_size)]
    grid = []
    for weight in lm_weights:
        for score in word_scores:
            for unk in unk_scores:
                decoder = Decoder(recognizer.vocab, DecoderConfig(
                    kind="beam", beam_size=beam_size, lm=lm, lexicon=lexicon, lm_weight=weight, word_score=score,
                    unk_score=unk))
                counter = ErrorCounter()
                for chunk, log_probs, lengths in outputs:
                    for u, nbest in zip(chunk, decoder.decode(log_probs, lengths)):
                        counter.add(u.text, nbest[0].text)
                grid.append({"lm_weight": weight, "word_score": score, "unk_score": None if unk == float("-inf") else unk,
                             "wer": counter.wer, "cer": counter.cer})
    return grid


def save_tuning(lm: str, best: dict, recognizer: Recognizer, data: list[str], utterances: int) -> None:
    """Store tuned decoder values (a `tune_language_model` row) in the LM's metadata as its defaults."""
    from datetime import datetime, timezone

    from .lm import LanguageModelError, load_info

    info = load_info(lm)
    if info is None:
        raise LanguageModelError(f"{lm}: has no metadata file to store the values in (build it with asr lm build)")
    info.lm_weight, info.word_score, info.unk_score = best["lm_weight"], best["word_score"], best["unk_score"]
    model = {k: v for k, v in recognizer.describe().items() if k != "path"}
    info.tuned = {"model": os.path.basename(recognizer.path or ""), "model_metadata": model, "data": data,
                  "utterances": utterances, "wer": round(best["wer"], 4), "cer": round(best["cer"], 4),
                  "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    info.save(lm)
