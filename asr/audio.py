"""Reading audio: any file soundfile can read, any rate, any channel count -> float32 mono.

`torchaudio.load` needs TorchCodec, which is not available here, so soundfile (libsndfile)
does the decoding and torchaudio only resamples.
"""

from __future__ import annotations

import io
import os
import re
import sys
from typing import BinaryIO, Iterator, Union

import numpy as np
import soundfile as sf

from .errors import AudioError

AudioSource = Union[str, os.PathLike, bytes, BinaryIO]

SAMPLE_RATE = 16000
MIN_SAMPLE_RATE = 1000  # below this no speech survives; resampling up from it takes very long
MAX_BLOCK_VALUES = 1 << 22  # samples (all channels) decoded at once: 16 MB whatever the channel count


def _describe(source: AudioSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return "<stdin>" if source is sys.stdin.buffer else "<audio bytes>"


def _opener(source: AudioSource) -> tuple[str, Union[str, io.BytesIO]]:
    """Validate `source` cheaply and return (name for messages, what soundfile should open)."""
    name = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path == "-":
            return _opener(sys.stdin.buffer.read())
        if not os.path.exists(path):
            raise AudioError(f"{name}: no such file")
        if os.path.isdir(path):
            raise AudioError(f"{name}: is a folder, not an audio file")
        if os.path.getsize(path) == 0:
            raise AudioError(f"{name}: file is empty")
        return name, path
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else source.read()
    if not data:
        raise AudioError(f"{name}: no data")
    return name, _Bytes(data)


class _Bytes(io.BytesIO):
    """Audio in memory. libsndfile seeks before the start of some damaged files; a BytesIO would raise
    inside soundfile's callback, which prints a traceback and carries on. Staying put reports the same
    failure to libsndfile without it."""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            return super().seek(offset, whence)
        except (ValueError, OverflowError):
            return self.tell()


def _reason(exc: Exception) -> str:
    """libsndfile's message on one line, without the "Error opening '<file>': " that repeats the name."""
    return re.sub(r"^Error opening ('.*?'|<.*?>): ", "", str(exc).split("\n")[0])


def _quiet_decoders():
    """libmpg123 prints warnings about damaged MP3 files straight to the terminal; asr reports them itself
    (in one line). The same silencer keeps KenLM's banners away."""
    from .decoding import _SilenceNativeOutput

    return _SilenceNativeOutput()


def iter_audio_blocks(source: AudioSource, block_frames: int = 1 << 20) -> tuple[int, Iterator[np.ndarray]]:
    """Open `source` and return (sample rate, generator of float32 mono blocks at that rate).

    Memory stays bounded by `block_frames` whatever the file length. Problems found while
    reading (truncation, corrupt data) raise AudioError from the generator.
    """
    name, opener = _opener(source)
    try:
        with _quiet_decoders():
            f = sf.SoundFile(opener)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        reason = _reason(exc)
        if "Format not recognised" in reason or "unknown format" in reason.lower():
            reason = "format not recognised"
        elif "not a regular file" in reason:  # what libsndfile says of some damaged MP3 files (it exists: see _opener)
            reason = "damaged or unsupported data"
        raise AudioError(f"{name}: not a readable audio file ({reason})") from None
    try:
        if f.samplerate < MIN_SAMPLE_RATE:
            raise AudioError(f"{name}: sample rate {f.samplerate} Hz is too low for speech "
                             f"(asr reads {MIN_SAMPLE_RATE} Hz and above)")
        if f.format == "WAV":
            _check_wav_complete(name, opener)
    except AudioError:
        f.close()
        raise
    block_frames = max(1, min(block_frames, MAX_BLOCK_VALUES // max(f.channels, 1)))

    def blocks() -> Iterator[np.ndarray]:
        with f:
            declared, total = f.frames, 0
            while True:
                try:
                    with _quiet_decoders():
                        block = f.read(block_frames, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
                    raise AudioError(f"{name}: truncated or corrupt audio data ({_reason(exc)})") from None
                if block.shape[0] == 0:
                    break
                total += block.shape[0]
                mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
                if not np.all(np.isfinite(mono)):
                    raise AudioError(f"{name}: contains NaN or infinite samples")
                yield np.ascontiguousarray(mono, dtype=np.float32)
        if 0 < declared < (1 << 62) and total < declared:
            raise AudioError(f"{name}: truncated (header promises {declared} samples, only {total} present)")

    return int(f.samplerate), blocks()


def read_audio(source: AudioSource) -> tuple[np.ndarray, int]:
    """Decode `source` (a path, '-', raw bytes or a binary file) to (float32 mono samples, rate).

    Raises AudioError with a one-line reason for missing, empty, truncated or non-audio input.
    """
    rate, blocks = iter_audio_blocks(source)
    parts = list(blocks) or [np.zeros(0, np.float32)]  # a valid file may hold no samples: silence
    return (parts[0] if len(parts) == 1 else np.concatenate(parts)), rate


def stream_audio(source: AudioSource, sample_rate: int = SAMPLE_RATE, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Float32 mono blocks at `sample_rate`, resampled on the fly: memory independent of length."""
    rate, blocks = iter_audio_blocks(source, max(int(block_seconds * SAMPLE_RATE), 1024))
    if rate == sample_rate:
        yield from blocks
        return
    import soxr

    resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
    for block in blocks:
        out = resampler.resample_chunk(block, last=False)
        if len(out):
            yield out
    tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    if len(tail):
        yield tail


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
    """High-quality band-limited resampling (libsoxr), the same filter as `stream_audio` uses."""
    if rate == target_rate:
        return samples
    import soxr

    return soxr.resample(samples, rate, target_rate, quality="HQ").astype(np.float32, copy=False)


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


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> signed 16-bit little-endian PCM (clipped), as devices and pipes take it."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")


def pcm_blocks(stream: BinaryIO, block_seconds: float = 0.1, sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Raw signed 16-bit little-endian mono PCM at `sample_rate` (a pipe, stdin) -> float32 blocks.
    Each read waits for a whole block, so a live pipe is consumed as it is produced."""
    size = max(int(block_seconds * sample_rate), 1) * 2
    while True:
        data = stream.read(size)
        if not data:
            return
        data = data[: len(data) // 2 * 2]  # an odd byte can only be the truncated end of the stream
        if data:
            yield np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
