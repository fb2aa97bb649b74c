"""The public API: load a model, transcribe audio, evaluate on a corpus.

    import asr.transcribe as T
    rec = T.load_model("exp/run/best_model.pt")
    print(rec.transcribe("speech.wav"))
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from .audio import AudioSource, stream_audio
from .decoding import Decoder
from .device import BATCH_SECONDS, check_device_name, resolve_device
from .errors import AsrError, ConfigError, ModelFileError
from .features import FeatureExtractor
from .metrics import ErrorCounter
from .modelfile import ModelBundle, load_model_file
from .timing import align_words
from .vad import SpeechSegmenter, VadConfig

DEFAULT_MODEL_PATH = os.path.join(os.path.dirname(__file__), "pretrained", "default.pt")


def default_model_path() -> str:
    return os.environ.get("ASR_MODEL") or DEFAULT_MODEL_PATH


class Recognizer:
    """A loaded model with its feature extractor and vocabulary: audio in, text out.

    Reading audio, features and decoding run on the CPU; the network runs on `device` (a GPU or
    the CPU), a batch at a time, its output coming back to the CPU once per batch."""

    def __init__(self, bundle: ModelBundle, path: str | None = None, device: torch.device | None = None):
        self.bundle = bundle
        self.path = path
        self.device = device or torch.device("cpu")
        self.model = bundle.model.eval().to(self.device)
        self.vocab = bundle.vocab
        self.extractor = FeatureExtractor(bundle.features)
        self.sample_rate = bundle.features.sample_rate
        # seconds per output frame of the network
        self.frame_seconds = bundle.features.frame_seconds * self.model.frame_stride
        # padded seconds of audio per network batch; halved for good when the device runs out of memory
        self.batch_seconds = BATCH_SECONDS.get(self.device.type, BATCH_SECONDS["cuda"])
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
        """Features of a batch (CPU tensors) -> (log_probs, lengths) on the CPU, whatever the device."""
        lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
        padded = torch.nn.utils.rnn.pad_sequence(list(feats), batch_first=True)
        log_probs, out_lengths = self.model(padded.to(self.device), lengths.to(self.device))
        return log_probs.cpu(), out_lengths.cpu()

    def transcribe_samples(self, batch: Sequence[np.ndarray], decoder: Decoder | None = None) -> list[str]:
        """Float32 mono samples at `self.sample_rate`, one array per utterance -> transcripts (one batch)."""
        log_probs, lengths = self.log_probs([self.features(s) for s in batch])
        decoder = decoder or self.default_decoder()
        return [nbest[0].text for nbest in decoder.decode(log_probs, lengths)]

    def transcribe(self, source: AudioSource, decoder: Decoder | None = None, punctuate: bool = True) -> str:
        """A path, '-', bytes or binary file -> transcript (whole file, see `transcribe_file`)."""
        return transcribe_file(self, source, decoder, punctuate=punctuate)["text"]

    def segments(self, pieces: Sequence[tuple[float, np.ndarray]], decoder: Decoder,
                 batch_seconds: float | None = None) -> list[dict]:
        """(start seconds, samples) pieces -> segment dicts with word times, in the order given
        (decoded in length-sorted batches, see `_network_batches`)."""
        items = [_InMemory(i, start, samples, self.sample_rate) for i, (start, samples) in enumerate(pieces)]
        out: list[dict] = [{}] * len(items)
        for chunk, _, log_probs, lengths in _network_batches(self, items, batch_seconds):
            for item, nbest, lp, n in zip(chunk, decoder.decode(log_probs, lengths), log_probs, lengths):
                best = nbest[0]
                words = align_words(lp[: int(n)], best.label_ids, self.vocab.symbols, self.frame_seconds,
                                    offset=item.start, boundary=self.vocab.boundary, words=best.words)
                seg = {"start": round(item.start, 3), "end": round(item.start + item.duration, 3),
                       "text": best.text, "words": [w.to_dict() for w in words]}
                if len(nbest) > 1:
                    seg["nbest"] = [{"text": h.text, "score": round(h.score, 4)} for h in nbest]
                out[item.index] = seg
        return out

    def describe(self) -> dict:
        meta = self.bundle.metadata
        keys = ("train_data", "train_hours", "epochs", "valid_wer", "quantized")
        return {"path": self.path, "units": self.vocab.units, **{k: meta[k] for k in keys if k in meta}}


@dataclass
class _InMemory:
    """Audio already read, as a batch item (like asr.data.Utterance: `duration`, `load()`)."""

    index: int
    start: float  # seconds into its file
    samples: np.ndarray
    rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def load(self, sample_rate: int) -> np.ndarray:  # noqa: ARG002 - read at the model's rate already
        return self.samples


def transcribe_file(
    recognizer: Recognizer,
    source: AudioSource,
    decoder: Decoder | None = None,
    batch_seconds: float | None = None,
    vad: VadConfig | None = None,
    progress: Callable[[float], None] | None = None,
    punctuate: bool = True,
) -> dict:
    """Transcribe one file of any length; returns a whisper-like result dict
    (text, segments with words, duration, model, decoder).

    With `punctuate` (the default) case and punctuation are restored by the punctuation model
    (asr.punctuation): `text`, each segment's `text` and each word's `word` are written forms, the
    recogniser's own kept as `raw_text` and `raw`; times and confidences do not change. Without it the
    result is the recogniser's normalised words alone.

    Audio up to `vad.max_seconds` long is decoded whole. Longer audio is streamed, split on
    silence and decoded in batches, so memory does not grow with the file; times stay absolute.
    `progress` receives seconds of audio consumed.
    """
    ((_, result),) = transcribe_files(recognizer, [source], decoder, batch_seconds, vad, progress, punctuate)
    if isinstance(result, AsrError):
        raise result
    return result


def transcribe_files(
    recognizer: Recognizer,
    sources: Iterable[AudioSource],
    decoder: Decoder | None = None,
    batch_seconds: float | None = None,
    vad: VadConfig | None = None,
    progress: Callable[[float], None] | None = None,
    punctuate: bool = True,
) -> Iterator[tuple[AudioSource, dict | AsrError]]:
    """Transcribe files in order -> (source, result dict as `transcribe_file` gives), or (source,
    AsrError) for a file that cannot be read. `punctuate`: as in `transcribe_file` (the model is
    loaded, once per process, before the first file is read).

    Short files (up to `vad.max_seconds`) are gathered until they hold twice `batch_seconds` of
    audio and decoded together in length-sorted batches; a long file is split on silence and its
    segments batched the same way. Memory stays bounded by the batches, not by the files.
    """
    punctuator = None
    if punctuate:
        from .punctuation import default_punctuator

        punctuator = default_punctuator()
    for source, result in _transcribe_files(recognizer, sources, decoder, batch_seconds, vad, progress):
        if punctuator is not None and not isinstance(result, AsrError):
            punctuator.punctuate_result(result)
        yield source, result


def _transcribe_files(recognizer: Recognizer, sources: Iterable[AudioSource], decoder: Decoder | None,
                      batch_seconds: float | None, vad: VadConfig | None,
                      progress: Callable[[float], None] | None) -> Iterator[tuple[AudioSource, dict | AsrError]]:
    """`transcribe_files` without punctuation."""
    decoder = decoder or recognizer.default_decoder()
    vad = vad or VadConfig()
    rate = recognizer.sample_rate
    gather = 2 * (batch_seconds or recognizer.batch_seconds) * rate  # samples held before decoding
    waiting: list[tuple[AudioSource, np.ndarray | AsrError]] = []  # short files (or their errors), in order
    held = 0  # samples in `waiting`

    def decode_waiting():
        pieces = [(0.0, x) for _, x in waiting if not isinstance(x, AsrError)]
        segments = iter(recognizer.segments(pieces, decoder, batch_seconds))
        for source, x in waiting:
            yield source, x if isinstance(x, AsrError) else _result(recognizer, decoder, [next(segments)], len(x) / rate)
        waiting.clear()

    for source in sources:
        head: list[np.ndarray] = []
        try:
            blocks = stream_audio(source, rate, block_seconds=10.0)
            total = 0
            for block in blocks:
                head.append(block)
                total += len(block)
                if progress:
                    progress(len(block) / rate)
                if total > vad.max_seconds * rate:
                    break
            else:  # short: one segment, the whole audio
                waiting.append((source, np.concatenate(head) if head else np.zeros(0, np.float32)))
                held += total
                if held >= gather:
                    yield from decode_waiting()
                    held = 0
                continue
        except AsrError as exc:
            waiting.append((source, exc))
            continue
        yield from decode_waiting()  # the files before this one come first
        held = 0
        try:
            yield source, _transcribe_long(recognizer, head, blocks, decoder, vad, batch_seconds, progress)
        except AsrError as exc:
            yield source, exc
    yield from decode_waiting()


def _transcribe_long(recognizer: Recognizer, head: list[np.ndarray], blocks: Iterator[np.ndarray], decoder: Decoder,
                     vad: VadConfig, batch_seconds: float | None, progress: Callable[[float], None] | None) -> dict:
    """The rest of a long file (its first blocks read into `head`): split on silence, segments decoded
    in batches once twice `batch_seconds` of them are waiting."""
    rate = recognizer.sample_rate
    gather = 2 * (batch_seconds or recognizer.batch_seconds) * rate
    segmenter = SpeechSegmenter(rate, vad)
    pending: list[tuple[float, np.ndarray]] = []
    segments: list[dict] = []
    total = sum(len(b) for b in head)

    def consume(pieces: list[tuple[float, np.ndarray]], last: bool = False) -> None:
        pending.extend(pieces)
        if pending and (last or sum(len(x) for _, x in pending) >= gather):  # a few hundred segments at most
            segments.extend(recognizer.segments(pending, decoder, batch_seconds))
            pending.clear()

    for block in head:
        consume(segmenter.feed(block))
    head.clear()
    for block in blocks:
        total += len(block)
        if progress:
            progress(len(block) / rate)
        consume(segmenter.feed(block))
    consume(segmenter.flush(), last=True)
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


def load_model(path: str | None = None, int8: bool = False, device: str = "auto") -> Recognizer:
    """Load a model file (default: the model shipped with the package, or $ASR_MODEL) onto `device`
    (auto: the GPU when torch sees one, else the CPU; cpu; cuda; cuda:N). `int8` quantises its LSTM
    and output layer for faster CPU inference: it runs on the CPU only (auto then means the CPU)."""
    device = str(device)
    check_device_name(device)
    if int8 and device == "auto":
        device = "cpu"
    elif int8 and device != "cpu":
        raise ConfigError(f"int8 runs on the CPU only, not on {device}: drop --int8 or use --device cpu")
    torch_device = resolve_device(device)
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
    return Recognizer(bundle, path, torch_device)


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


def _network_batches(recognizer: Recognizer, items: Iterable, batch_seconds: float | None = None):
    """Items (anything with `duration` seconds and `load(rate)`: asr.data.Utterance, audio in memory)
    -> (items, seconds of audio, log_probs, lengths) per batch, log-probabilities on the CPU.

    The items are sorted by length and cut into batches of at most `batch_seconds` of padded audio
    (default: the recognizer's, set by its device). A background thread reads the audio, computes
    features and runs the network one batch ahead, so the caller's decoding of a batch overlaps the
    network's work on the next. When the device runs out of memory the batch is halved (and so is
    `recognizer.batch_seconds`, for later calls) and the work goes on.
    """
    utts = sorted(items, key=lambda u: u.duration)
    limit = batch_seconds or recognizer.batch_seconds
    rate = recognizer.sample_rate

    def batches():
        nonlocal limit
        i = 0
        while i < len(utts):
            n = 1  # sorted by length: n items pad to the duration of the last
            while i + n < len(utts) and utts[i + n].duration * (n + 1) <= limit:
                n += 1
            chunk = utts[i : i + n]
            samples = [u.load(rate) for u in chunk]
            try:
                log_probs, lengths = recognizer.log_probs([recognizer.features(x) for x in samples])
            except torch.OutOfMemoryError:
                del samples
                if recognizer.device.type == "cuda":
                    torch.cuda.empty_cache()
                if n == 1:
                    raise AsrError(f"out of memory on {recognizer.device} with one {chunk[0].duration:.0f} s "
                                   "utterance alone (use --device cpu)") from None
                limit = chunk[-1].duration * (n // 2)  # the first half of this batch fits the new limit
                recognizer.batch_seconds = min(recognizer.batch_seconds, limit)
                continue
            i += n
            yield chunk, sum(len(x) for x in samples) / rate, log_probs, lengths

    return _one_ahead(batches())


def _one_ahead(items: Iterator) -> Iterator:
    """Run the iterator in a background thread, one item ahead of its consumer; its exceptions are
    raised in the consumer. Stopping early (break, an error) stops the thread after its current item."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def hand_over(entry) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not hand_over((item, None)):
                    return
            hand_over((end, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            hand_over((None, exc))

    thread = threading.Thread(target=run, name="asr-network", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = ready.get()
            if exc is not None:
                raise exc
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def evaluate(
    recognizer: Recognizer,
    utterances: Iterable,
    batch_seconds: float | None = None,
    progress: Callable[[int], None] | None = None,
    decoder: Decoder | None = None,
) -> EvaluationResult:
    """Decode utterances (asr.data.Utterance) in length-sorted batches (`_network_batches`); score WER/CER.

    The real-time factor counts audio reading, features, network and decoding, not loading
    the model or the language model.
    """
    decoder = decoder or recognizer.default_decoder()
    decoder.prepare()
    counter = ErrorCounter()
    hyps: list[tuple[str, str, str]] = []
    audio_seconds = 0.0
    start = time.perf_counter()
    for chunk, seconds, log_probs, lengths in _network_batches(recognizer, utterances, batch_seconds):
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
    beam_size: int | None = None, lexicon: str | None = None, batch_seconds: float | None = None,
    unk_scores: Sequence[float] = (float("-inf"),),
) -> list[dict]:
    """WER/CER of beam search for every (lm_weight, word_score, unk_score); the network runs once.
    An unk_score of -inf (None in the result) allows only words of the lexicon."""
    from .decoding import DecoderConfig

    outputs = [(chunk, lp, n) for chunk, _, lp, n in _network_batches(recognizer, utterances, batch_seconds)]
    grid = []
    for weight in lm_weights:
        for score in word_scores:
            for unk in unk_scores:
                decoder = Decoder(recognizer.vocab, DecoderConfig(
                    kind="beam", beam_size=beam_size, lm=lm, lexicon=lexicon,
                    lm_weight=weight, word_score=score,
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
