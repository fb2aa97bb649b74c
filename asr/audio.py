"""Reading audio: any file soundfile can read, any rate, any channel count -> float32 mono.

`torchaudio.load` needs TorchCodec, which is not available here, so soundfile (libsndfile)
does the decoding and torchaudio only resamples.
"""

from __future__ import annotations

import io
import os
import sys
from typing import BinaryIO, Union

import numpy as np
import soundfile as sf

from .errors import AudioError

AudioSource = Union[str, os.PathLike, bytes, BinaryIO]

SAMPLE_RATE = 16000


def _describe(source: AudioSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return "<stdin>" if source is sys.stdin.buffer else "<audio bytes>"


def read_audio(source: AudioSource) -> tuple[np.ndarray, int]:
    """Decode `source` (a path, '-', raw bytes or a binary file) to (float32 mono samples, rate).

    Raises AudioError with a one-line reason for missing, empty, truncated or non-audio input.
    """
    name = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path == "-":
            return read_audio(sys.stdin.buffer.read())
        if not os.path.exists(path):
            raise AudioError(f"{name}: no such file")
        if os.path.isdir(path):
            raise AudioError(f"{name}: is a folder, not an audio file")
        if os.path.getsize(path) == 0:
            raise AudioError(f"{name}: file is empty")
        opener = path
    elif isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise AudioError(f"{name}: no data")
        opener = io.BytesIO(source)
    else:
        data = source.read()
        if not data:
            raise AudioError(f"{name}: no data")
        opener = io.BytesIO(data)
    try:
        f = sf.SoundFile(opener)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        reason = str(exc).split("\n")[0]
        if "Format not recognised" in reason or "unknown format" in reason.lower():
            reason = "format not recognised"
        raise AudioError(f"{name}: not a readable audio file ({reason})") from None
    with f:
        declared, rate, container = f.frames, f.samplerate, f.format
        try:
            samples = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            reason = str(exc).split("\n")[0]
            raise AudioError(f"{name}: truncated or corrupt audio data ({reason})") from None
    if container == "WAV":
        _check_wav_complete(name, opener)
    if samples.shape[0] == 0:
        raise AudioError(f"{name}: contains no audio samples")
    if 0 < declared < (1 << 62) and samples.shape[0] < declared:
        raise AudioError(
            f"{name}: truncated (header promises {declared} samples, only {samples.shape[0]} present)"
        )
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"{name}: contains NaN or infinite samples")
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def _check_wav_complete(name: str, opener: Union[str, io.BytesIO]) -> None:
    """libsndfile silently shortens a WAV whose data chunk is cut off; detect that from its header."""
    if isinstance(opener, str):
        total = os.path.getsize(opener)
        with open(opener, "rb") as fh:
            head = fh.read(1 << 16)
    else:
        head = opener.getbuffer()[: 1 << 16].tobytes()
        total = opener.getbuffer().nbytes
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        size = int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk_id == b"data":
            available = total - (pos + 8)
            if size != 0xFFFFFFFF and available < size:
                raise AudioError(f"{name}: truncated (data chunk declares {size} bytes, only {available} present)")
            return
        pos += 8 + size + (size & 1)


def resample(samples: np.ndarray, rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling (torchaudio's sinc interpolation) to `target_rate`."""
    if rate == target_rate:
        return samples
    import torch
    import torchaudio.functional as AF

    out = AF.resample(torch.from_numpy(samples), orig_freq=rate, new_freq=target_rate)
    return out.numpy()


def load_audio(source: AudioSource, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read `source` and return float32 mono samples at `sample_rate`."""
    samples, rate = read_audio(source)
    return resample(samples, rate, sample_rate)


def audio_duration(path: str) -> float:
    """Duration in seconds from the header only (cheap: used to build manifests)."""
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{path}: cannot read audio header: {str(exc).splitlines()[0]}") from None
    return info.frames / info.samplerate
