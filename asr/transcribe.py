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

from .audio import AudioSource, load_audio
from .decoding import greedy_decode
from .errors import ModelFileError
from .features import FeatureExtractor
from .metrics import ErrorCounter
from .modelfile import ModelBundle, load_model_file

DEFAULT_MODEL_PATH = os.path.join(os.path.dirname(__file__), "pretrained", "default.pt")


def default_model_path() -> str:
    return os.environ.get("ASR_MODEL") or DEFAULT_MODEL_PATH


class Recognizer:
    """A loaded model with its feature extractor and vocabulary: audio in, text out."""

    def __init__(self, bundle: ModelBundle):
        self.bundle = bundle
        self.model = bundle.model.eval()
        self.vocab = bundle.vocab
        self.extractor = FeatureExtractor(bundle.features)
        self.sample_rate = bundle.features.sample_rate

    def features(self, samples: np.ndarray) -> torch.Tensor:
        return self.extractor(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)))

    @torch.inference_mode()
    def log_probs(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
        padded = torch.nn.utils.rnn.pad_sequence(list(feats), batch_first=True)
        return self.model(padded, lengths)

    def transcribe_samples(self, batch: Sequence[np.ndarray]) -> list[str]:
        """Float32 mono samples at `self.sample_rate`, one array per utterance -> transcripts."""
        feats = [self.features(s) for s in batch]
        log_probs, lengths = self.log_probs(feats)
        return greedy_decode(log_probs, lengths, self.vocab)

    def transcribe(self, source: AudioSource) -> str:
        """A path, '-', bytes or binary file -> transcript."""
        return self.transcribe_samples([load_audio(source, self.sample_rate)])[0]


def load_model(path: str | None = None) -> Recognizer:
    """Load a model file (default: the model shipped with the package, or $ASR_MODEL)."""
    if path is None:
        path = default_model_path()
        if not os.path.exists(path):
            raise ModelFileError(
                "no default model is installed yet: pass --model PATH (README.md shows how to train one)"
            )
    return Recognizer(load_model_file(path))


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


def evaluate(
    recognizer: Recognizer,
    utterances: Iterable,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
) -> EvaluationResult:
    """Decode utterances (asr.data.Utterance) in length-sorted batches; score WER/CER.

    The real-time factor counts audio reading, features, network and decoding, not model loading.
    """
    utts = sorted(utterances, key=lambda u: u.duration)
    counter = ErrorCounter()
    hyps: list[tuple[str, str, str]] = []
    audio_seconds = 0.0
    start = time.perf_counter()
    for i in range(0, len(utts), batch_size):
        chunk = utts[i : i + batch_size]
        samples = [load_audio(u.path, recognizer.sample_rate) for u in chunk]
        texts = recognizer.transcribe_samples(samples)
        for u, s, text in zip(chunk, samples, texts):
            counter.add(u.text, text)
            hyps.append((u.id, u.text, text))
            audio_seconds += len(s) / recognizer.sample_rate
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
