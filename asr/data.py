"""Corpora in the LibriSpeech layout -> manifests -> length-bucketed, padded batches.

Layout: ROOT/SPEAKER/CHAPTER/SPEAKER-CHAPTER-NNNN.flac beside SPEAKER-CHAPTER.trans.txt
(`UTTID TRANSCRIPT` per line). A manifest is a JSON-lines file, one utterance per line.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sys
from dataclasses import asdict, dataclass, replace
from typing import Iterator, Sequence

import numpy as np
import torch

from .audio import audio_duration, load_audio
from .augment import speed_perturb
from .config import from_dict
from .errors import AsrError, ConfigError, DataError
from .features import FeatureExtractor
from .lexicon import Lexicon
from .text import Vocabulary, normalize_transcript

AUDIO_EXTENSIONS = (".flac", ".wav", ".opus", ".ogg", ".mp3")


@dataclass
class Utterance:
    id: str
    path: str
    text: str  # normalised transcript
    duration: float  # seconds (after speed perturbation)
    speaker: str
    speed: float = 1.0  # speed perturbation: the audio is played this many times faster

    def load(self, sample_rate: int) -> np.ndarray:
        """The utterance's samples at `sample_rate`, speed-perturbed if its manifest line says so."""
        samples = load_audio(self.path, sample_rate)
        return speed_perturb(samples, self.speed, sample_rate) if self.speed != 1.0 else samples


def speed_perturbed(utts: Sequence[Utterance], factors: Sequence[float]) -> list[Utterance]:
    """Each utterance once per factor (Kaldi's speed perturbation, Ko et al. 2015): a copy played
    `factor` times faster, its id and speaker prefixed `spFACTOR-` as Kaldi does (factor 1: unchanged)."""
    out = []
    for factor in factors:
        if factor <= 0:
            raise DataError(f"speed perturbation factors must be positive, got {factor}")
        for u in utts:
            if factor == 1.0:
                out.append(u)
            else:
                tag = f"sp{factor:g}-"
                out.append(replace(u, id=tag + u.id, speaker=tag + u.speaker, duration=u.duration / factor,
                                   speed=u.speed * factor))
    return out


def text_lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file; a line that is not UTF-8 is a DataError naming it."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not UTF-8 text (byte {raw[exc.start]:#04x})") from None


def scan_librispeech(root: str) -> list[Utterance]:
    """Find every utterance under `root` (any depth) from its *.trans.txt files."""
    if not os.path.isdir(root):
        raise DataError(f"{root}: no such data folder")
    utts: list[Utterance] = []
    for folder, _dirs, files in sorted(os.walk(root)):
        for name in sorted(f for f in files if f.endswith(".trans.txt")):
            trans = os.path.join(folder, name)
            for lineno, line in text_lines(trans):
                line = line.strip()
                if not line:
                    continue
                utt_id, _, text = line.partition(" ")
                audio = next(
                    (os.path.join(folder, utt_id + ext) for ext in AUDIO_EXTENSIONS
                     if os.path.exists(os.path.join(folder, utt_id + ext))),
                    None,
                )
                if audio is None:
                    raise DataError(f"{trans}:{lineno}: no audio file for {utt_id} in {folder}")
                utts.append(
                    Utterance(
                        id=utt_id,
                        path=os.path.abspath(audio),
                        text=normalize_transcript(text),
                        duration=audio_duration(audio),
                        speaker=utt_id.split("-")[0],
                    )
                )
    if not utts:
        raise DataError(f"{root}: no utterances found (expected SPEAKER/CHAPTER/*.trans.txt in the LibriSpeech layout)")
    return utts


def write_manifest(utts: Sequence[Utterance], path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for u in utts:
            fh.write(json.dumps(asdict(u)) + "\n")
    os.replace(tmp, path)


def read_manifest(path: str) -> list[Utterance]:
    utts = []
    for lineno, line in text_lines(path):
        if line.strip():
            try:
                utts.append(from_dict(Utterance, json.loads(line)))
            except (json.JSONDecodeError, TypeError, ConfigError) as exc:
                raise DataError(f"{path}:{lineno}: not a manifest line ({exc})") from None
    if not utts:
        raise DataError(f"{path}: manifest is empty")
    return utts


def load_corpus(source: str) -> list[Utterance]:
    """A manifest (.jsonl) or a LibriSpeech-layout folder -> utterances."""
    if source.endswith(".jsonl"):
        if not os.path.exists(source):
            raise DataError(f"{source}: no such manifest")
        return read_manifest(source)
    return scan_librispeech(source)


class UtteranceDataset(torch.utils.data.Dataset):
    """Utterance -> (features (frames, dim), label ids); optionally caches features in memory.
    `encoder` turns a transcript into label ids: a character Vocabulary, or a Lexicon (asr.lexicon)."""

    def __init__(self, utts: Sequence[Utterance], encoder: Vocabulary | Lexicon, extractor: FeatureExtractor,
                 cache: bool = False):
        self.utts = list(utts)
        self.encoder = encoder
        self.extractor = extractor
        self.cache: dict[int, torch.Tensor] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.utts)

    def features(self, index: int) -> torch.Tensor:
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        feats = self.compute_features(index)
        if self.cache is not None:
            self.cache[index] = feats
        return feats

    def compute_features(self, index: int) -> torch.Tensor:
        """Features of one utterance, read from disk (never from the cache)."""
        utt = self.utts[index]
        try:
            samples = utt.load(self.extractor.config.sample_rate)
        except AsrError as exc:
            raise DataError(f"utterance {utt.id}: {exc}") from None
        return self.extractor(torch.from_numpy(samples))

    def fill_cache(self, workers: int = 0, progress: bool = False, desc: str = "features") -> None:
        """Compute the features of every uncached utterance now, in `workers` processes (0: here).

        Results travel back as numpy arrays through pipes, not shared memory, which containers
        often keep small."""
        if self.cache is None:
            raise ValueError("fill_cache needs a dataset made with cache=True")
        todo = [i for i in range(len(self.utts)) if i not in self.cache]
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc=desc, unit="utt", leave=False, file=sys.stderr)
        if workers <= 0:
            for i in todo:
                self.features(i)
                if bar:
                    bar.update(1)
        else:
            global _fill_source
            _fill_source = self  # inherited by the forked workers
            try:
                with multiprocessing.get_context("fork").Pool(workers, initializer=torch.set_num_threads,
                                                              initargs=(1,)) as pool:
                    for i, feats in pool.imap_unordered(_features_as_numpy, todo, chunksize=16):
                        self.cache[i] = torch.from_numpy(feats)
                        if bar:
                            bar.update(1)
            finally:
                _fill_source = None
        if bar:
            bar.close()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        labels = torch.tensor(self.encoder.encode(self.utts[index].text), dtype=torch.long)
        return self.features(index), labels, index


_fill_source: UtteranceDataset | None = None


def _features_as_numpy(index: int) -> tuple[int, np.ndarray]:
    assert _fill_source is not None
    return index, _fill_source.compute_features(index).numpy()


@dataclass
class Batch:
    feats: torch.Tensor  # (batch, frames, dim), zero padded
    feat_lengths: torch.Tensor  # (batch,)
    targets: torch.Tensor  # (sum of label lengths,)
    target_lengths: torch.Tensor  # (batch,)
    indices: list[int]


def collate(items: list[tuple[torch.Tensor, torch.Tensor, int]]) -> Batch:
    feats = [f for f, _, _ in items]
    lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
    padded = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    labels = [l for _, l, _ in items]
    return Batch(
        feats=padded,
        feat_lengths=lengths,
        targets=torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long),
        target_lengths=torch.tensor([len(l) for l in labels], dtype=torch.long),
        indices=[i for _, _, i in items],
    )


class BucketBatchSampler(torch.utils.data.Sampler):
    """Batches of similar-length utterances, at most `max_batch_seconds` of padded audio each.

    The order depends only on (seed, epoch), so training resumes exactly: `set_epoch(e, start=k)`
    skips the k batches already done. With `num_replicas` > 1 (distributed training) every
    process walks the same global batches and takes its share of each (`batch[rank::num_replicas]`),
    so length bucketing is kept, a step sees the same global batch whatever the number of processes,
    and a checkpoint resumes with any number of them. Global batches smaller than num_replicas are
    skipped.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_batch_seconds: float,
        max_batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        self.durations = list(durations)
        self.max_batch_seconds = max_batch_seconds
        self.max_batch_size = max_batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch = epoch
        self.start = start

    def _all_batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 100003 + self.epoch)
        order = list(range(len(self.durations)))
        if self.shuffle:
            # jitter lengths by up to 10% so batches differ between epochs but stay bucketed
            keys = {i: self.durations[i] * (1.0 + 0.1 * rng.random()) for i in order}
        else:
            keys = {i: self.durations[i] for i in order}
        order.sort(key=lambda i: keys[i])
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0.0
        for i in order:
            d = self.durations[i]
            if current and (
                max(longest, d) * (len(current) + 1) > self.max_batch_seconds or len(current) >= self.max_batch_size
            ):
                batches.append(current)
                current, longest = [], 0.0
            current.append(i)
            longest = max(longest, d)
        if current:
            batches.append(current)
        if self.shuffle:
            rng.shuffle(batches)
        if self.num_replicas > 1:
            batches = [b[self.rank :: self.num_replicas] for b in batches if len(b) >= self.num_replicas]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._all_batches()[self.start :]

    def __len__(self) -> int:
        return len(self._all_batches())
