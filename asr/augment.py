"""Waveform augmentation: speed perturbation, additive noise at a chosen SNR, reverberation.

Deterministic given a numpy Generator, so a corpus built with a seed is rebuilt bit for bit.
"""

from __future__ import annotations

import numpy as np

NOISE_KINDS = ("white", "pink", "brown", "hum", "babble")


def speed_perturb(samples: np.ndarray, factor: float, sample_rate: int = 16000) -> np.ndarray:
    """Play `factor` times faster (tempo and pitch together, as Kaldi's speed perturbation)."""
    if factor == 1.0:
        return samples
    from .audio import resample

    # Reading the signal as if sampled at rate*factor and resampling back to rate.
    return resample(samples, int(round(sample_rate * factor)), sample_rate)


def coloured_noise(kind: str, length: int, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """Unit-RMS noise of a given colour (or mains hum, or a babble-like modulated pink noise)."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; choose from {', '.join(NOISE_KINDS)}")
    if kind == "hum":
        t = np.arange(length) / sample_rate
        f0 = rng.choice([50.0, 60.0])
        noise = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h for h in (1, 2, 3, 5))
        noise = noise + 0.05 * rng.standard_normal(length)
    else:
        white = rng.standard_normal(length)
        if kind == "white":
            noise = white
        else:
            spectrum = np.fft.rfft(white)
            freqs = np.fft.rfftfreq(length, 1 / sample_rate)
            freqs[0] = freqs[1] if length > 1 else 1.0
            power = 1.0 if kind in ("pink", "babble") else 2.0
            noise = np.fft.irfft(spectrum / freqs ** (power / 2), n=length)
            if kind == "babble":  # syllable-rate amplitude modulation, speech-band emphasis
                envelope = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(3, 6) * np.arange(length) / sample_rate)
                noise = noise * envelope
    rms = np.sqrt(np.mean(noise**2)) or 1.0
    return (noise / rms).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, kind: str, rng: np.random.Generator,
              sample_rate: int = 16000) -> np.ndarray:
    """Mix noise of `kind` at `snr_db` dB signal-to-noise ratio (signal power over active samples)."""
    signal_power = np.mean(samples**2)
    if signal_power == 0:
        return samples
    noise = coloured_noise(kind, len(samples), rng, sample_rate)
    scale = np.sqrt(signal_power / (10 ** (snr_db / 10)))
    return (samples + scale * noise).astype(np.float32)


def synthetic_rir(rt60: float, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """A room impulse response: direct path plus exponentially decaying diffuse tail with reverberation time rt60."""
    length = max(int(rt60 * sample_rate), 1)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    tail[: int(0.002 * sample_rate)] = 0.0  # early gap before reflections
    rir = 0.3 * tail / (np.sqrt(np.sum(tail**2)) or 1.0)
    rir[0] = 1.0
    return rir.astype(np.float32)


def reverberate(samples: np.ndarray, rt60: float, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """Convolve with a synthetic room response; keeps length and peak level."""
    from scipy.signal import fftconvolve

    wet = fftconvolve(samples, synthetic_rir(rt60, rng, sample_rate))[: len(samples)]
    peak_in, peak_out = np.abs(samples).max(), np.abs(wet).max()
    if peak_out > 0:
        wet = wet * (peak_in / peak_out)
    return wet.astype(np.float32)
