"""Splitting long audio on silence (energy-based voice-activity detection), streaming.

`SpeechSegmenter` takes audio in blocks of any size and returns segments as soon as a pause
ends them, so memory is bounded by the longest segment, not by the file. Segments never exceed
`max_seconds`: an over-long stretch of speech is cut at its quietest frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np


@dataclass
class VadConfig:
    frame_seconds: float = 0.02
    min_silence: float = 0.35  # a pause this long ends a segment...
    min_segment: float = 1.5  # ...once the segment is at least this long
    max_seconds: float = 20.0  # segments are cut to at most this length
    padding: float = 0.15  # audio kept before and after the detected speech
    margin_db: float = 9.0  # speech: frame energy this far above the noise floor
    absolute_floor_db: float = -55.0  # ...and above this level (dBFS)


class SpeechSegmenter:
    """Feed blocks; get (start_seconds, samples) speech segments in order."""

    def __init__(self, sample_rate: int = 16000, config: VadConfig | None = None):
        self.cfg = config or VadConfig()
        self.rate = sample_rate
        self.frame = max(int(self.cfg.frame_seconds * sample_rate), 1)
        self.buffer = np.zeros(0, dtype=np.float32)
        self.buffer_start = 0  # absolute sample index of buffer[0]
        self.next_frame = 0  # absolute index of the next frame to classify
        self.history: deque[float] = deque(maxlen=int(30 / self.cfg.frame_seconds))  # for the noise floor
        self.floor_db = -100.0
        self.seg_start: int | None = None  # absolute frame index where the current segment began
        self.last_speech = 0
        self.seg_energy: list[float] = []  # energies of the frames of the current segment

    def _frames(self, seconds: float) -> int:
        return max(int(round(seconds / self.cfg.frame_seconds)), 1)

    def _emit(self, first_frame: int, end_frame: int, pad_end: bool) -> tuple[float, np.ndarray]:
        pad = int(self.cfg.padding * self.rate)
        start = max(first_frame * self.frame - pad, self.buffer_start)
        end = end_frame * self.frame + (pad if pad_end else 0)
        end = min(end, self.buffer_start + len(self.buffer))
        samples = self.buffer[start - self.buffer_start : end - self.buffer_start].copy()
        return start / self.rate, samples

    def _trim(self, keep_from_sample: int) -> None:
        keep_from_sample = max(min(keep_from_sample, self.buffer_start + len(self.buffer)), self.buffer_start)
        self.buffer = self.buffer[keep_from_sample - self.buffer_start :]
        self.buffer_start = keep_from_sample

    def feed(self, samples: np.ndarray) -> list[tuple[float, np.ndarray]]:
        cfg = self.cfg
        self.buffer = np.concatenate([self.buffer, np.asarray(samples, dtype=np.float32)])
        out = []
        pad = int(cfg.padding * self.rate)
        while (self.next_frame + 1) * self.frame <= self.buffer_start + len(self.buffer):
            i = self.next_frame
            a = i * self.frame - self.buffer_start
            x = self.buffer[a : a + self.frame]
            energy = 10.0 * np.log10(float(np.mean(x * x)) + 1e-10)
            self.history.append(energy)
            if i % 50 == 0 and len(self.history) >= 50:  # until 1 s is seen, only the absolute floor counts
                self.floor_db = float(np.percentile(self.history, 10))
            speech = energy > max(self.floor_db + cfg.margin_db, cfg.absolute_floor_db)
            if self.seg_start is None:
                if speech:
                    self.seg_start, self.last_speech, self.seg_energy = i, i, [energy]
                else:
                    self._trim((i + 1) * self.frame - pad)
            else:
                self.seg_energy.append(energy)
                if speech:
                    self.last_speech = i
                length = i + 1 - self.seg_start
                silence = i - self.last_speech
                if silence >= self._frames(cfg.min_silence) and length >= self._frames(cfg.min_segment):
                    out.append(self._emit(self.seg_start, self.last_speech + 1, pad_end=True))
                    self.seg_start = None
                    self._trim((i + 1) * self.frame - pad)
                elif length >= self._frames(cfg.max_seconds) - 2 * self._frames(cfg.padding):
                    # too long: cut at the quietest frame of its second half
                    half = len(self.seg_energy) // 2
                    cut = self.seg_start + half + int(np.argmin(self.seg_energy[half:]))
                    out.append(self._emit(self.seg_start, cut, pad_end=False))
                    self.seg_energy = self.seg_energy[cut - self.seg_start :]
                    self.seg_start = cut
                    self._trim(cut * self.frame)
            self.next_frame += 1
        return out

    def flush(self) -> list[tuple[float, np.ndarray]]:
        """End of stream: the segment in progress, if any."""
        if self.seg_start is None:
            return []
        segment = self._emit(self.seg_start, self.last_speech + 1, pad_end=True)
        self.seg_start = None
        return [segment]


def split_on_silence(blocks: Iterable[np.ndarray], sample_rate: int = 16000,
                     config: VadConfig | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(start seconds, samples) for each speech segment of a stream of blocks."""
    segmenter = SpeechSegmenter(sample_rate, config)
    for block in blocks:
        yield from segmenter.feed(block)
    yield from segmenter.flush()
