"""Audio input devices through PortAudio (the `sounddevice` package), imported only when used, so
asr works on machines without a sound card or PortAudio."""

from __future__ import annotations

import queue
from typing import Iterator

import numpy as np

from .errors import AsrError

STALL_SECONDS = 3.0  # no audio from an open device for this long means it went away


class MicrophoneError(AsrError):
    """No usable input device, or the device failed while recording."""


def _sounddevice():
    try:
        import sounddevice
    except ImportError:
        raise MicrophoneError("microphone input needs the Python package sounddevice (pip install sounddevice)") from None
    except OSError:
        raise MicrophoneError("PortAudio is not installed (Debian: apt install libportaudio2)") from None
    return sounddevice


def input_devices() -> list[dict]:
    """[{index, name, channels, default_samplerate, default}] for every device that can record."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise MicrophoneError(f"cannot list audio devices ({exc})") from None
    return [
        {"index": i, "name": d["name"], "channels": d["max_input_channels"],
         "default_samplerate": d["default_samplerate"], "default": i == default_in}
        for i, d in enumerate(devices) if d["max_input_channels"] > 0
    ]


def resolve_device(device: str | int | None) -> int | None:
    """A device index from an index, an exact name or a unique part of a name (None: the default)."""
    devices = input_devices()
    if not devices:
        raise MicrophoneError("no audio input device found (is a microphone connected? asr stream --list-devices)")
    if device is None or device == "":
        return None
    if isinstance(device, int) or str(device).isdigit():
        index = int(device)
        if index not in {d["index"] for d in devices}:
            raise MicrophoneError(f"no input device with index {index} (asr stream --list-devices)")
        return index
    exact = [d for d in devices if d["name"] == device]
    found = exact or [d for d in devices if str(device).lower() in d["name"].lower()]
    if len(found) != 1:
        why = "matches several devices" if found else "matches no input device"
        raise MicrophoneError(f"--device {device!r} {why} (asr stream --list-devices)")
    return found[0]["index"]


def microphone_blocks(device: str | int | None, sample_rate: int = 16000,
                      block_seconds: float = 0.1) -> Iterator[np.ndarray]:
    """Float32 mono blocks at `sample_rate` from an input device, until the caller stops.

    The device is opened at `sample_rate` if it accepts it, otherwise at its own rate and
    resampled. A device that fails or stops delivering audio raises MicrophoneError."""
    sd = _sounddevice()
    index = resolve_device(device)
    blocks: queue.Queue = queue.Queue()

    def callback(indata, frames, time_info, status):  # noqa: ARG001 - PortAudio's signature
        blocks.put(indata[:, 0].copy())

    def open_stream(rate: float):
        return sd.InputStream(device=index, channels=1, samplerate=rate, dtype="float32",
                              blocksize=max(int(rate * block_seconds), 1), latency="low", callback=callback)

    resampler = None
    try:
        try:
            stream = open_stream(sample_rate)
        except sd.PortAudioError:
            rate = sd.query_devices(index, "input")["default_samplerate"]
            stream = open_stream(rate)
            import soxr

            resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
    except sd.PortAudioError as exc:
        raise MicrophoneError(f"cannot open the input device ({exc})") from None
    with stream:
        while True:
            try:
                block = blocks.get(timeout=STALL_SECONDS)
            except queue.Empty:
                raise MicrophoneError(f"the input device delivered no audio for {STALL_SECONDS:g} s "
                                      "(disconnected?)") from None
            if not stream.active:
                raise MicrophoneError("the input device stopped (disconnected?)")
            yield resampler.resample_chunk(block) if resampler else block
