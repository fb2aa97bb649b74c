"""Acoustic features (log-mel filterbanks or MFCC, optional deltas), their statistics, SpecAugment.

Features are computed with torchaudio. The settings mirror librosa's with `htk=True, norm=None`
(see tests/test_features.py for the agreement). Normalisation statistics are gathered here
from the training set and stored inside the model (see model.py), so a model file is
self-contained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import ConfigError

FEATURE_KINDS = ("fbank", "mfcc")


@dataclass
class FeatureConfig:
    """How audio becomes frames; stored in every model file."""

    kind: str = "fbank"  # "fbank" (log-mel filterbank) or "mfcc"
    sample_rate: int = 16000
    n_fft: int = 400  # 25 ms window at 16 kHz
    win_length: int = 400
    hop_length: int = 160  # 10 ms hop
    n_mels: int = 80
    n_mfcc: int = 40  # used when kind == "mfcc"
    f_min: float = 0.0
    f_max: float | None = None
    deltas: int = 0  # 0: static only; 1: + delta; 2: + delta + delta-delta
    delta_window: int = 5
    log_floor: float = 1e-6  # added to mel power before the natural log (fbank)

    def validate(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ConfigError(f"features.kind must be one of {', '.join(FEATURE_KINDS)}, got {self.kind!r}")
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "n_mfcc"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"features.{name} must be positive, got {getattr(self, name)}")
        if self.win_length > self.n_fft:
            raise ConfigError("features.win_length must not exceed features.n_fft")
        if self.hop_length > self.win_length:
            raise ConfigError("features.hop_length must not exceed features.win_length (frames would skip audio)")
        if self.deltas not in (0, 1, 2):
            raise ConfigError(f"features.deltas must be 0, 1 or 2, got {self.deltas}")
        if self.kind == "mfcc" and self.n_mfcc > self.n_mels:
            raise ConfigError("features.n_mfcc must not exceed features.n_mels")
        if self.delta_window < 3 or self.delta_window % 2 == 0 or self.delta_window > 99:
            raise ConfigError("features.delta_window must be odd, between 3 and 99")
        if self.n_fft > self.sample_rate:
            raise ConfigError(f"features.n_fft must not exceed one second ({self.sample_rate} samples), got {self.n_fft}")
        if self.n_mels > self.n_fft // 2 + 1:
            raise ConfigError(f"features.n_mels must not exceed the {self.n_fft // 2 + 1} frequencies of n_fft "
                              f"{self.n_fft}, got {self.n_mels}")
        top = self.sample_rate / 2 if self.f_max is None else self.f_max
        if not 0 <= self.f_min < top <= self.sample_rate / 2:  # also refuses NaN
            raise ConfigError(f"features: need 0 <= f_min < f_max <= sample_rate / 2, got f_min {self.f_min}, "
                              f"f_max {self.f_max}, sample_rate {self.sample_rate}")
        if not self.log_floor > 0:
            raise ConfigError(f"features.log_floor must be positive, got {self.log_floor}")

    @property
    def dim(self) -> int:
        """Number of values per frame."""
        static = self.n_mfcc if self.kind == "mfcc" else self.n_mels
        return static * (1 + self.deltas)

    @property
    def frame_seconds(self) -> float:
        return self.hop_length / self.sample_rate

    @property
    def min_samples(self) -> int:
        """Audio shorter than this (one analysis window) has no frames: it transcribes as silence."""
        return max(self.win_length, self.n_fft // 2 + 1)


class FeatureExtractor(torch.nn.Module):
    """Waveform (samples,) -> features (frames, dim), per `FeatureConfig`."""

    def __init__(self, config: FeatureConfig):
        super().__init__()
        import torchaudio.transforms as T

        config.validate()
        self.config = config
        self.melspec = T.MelSpectrogram(
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            win_length=config.win_length,
            hop_length=config.hop_length,
            f_min=config.f_min,
            f_max=config.f_max,
            n_mels=config.n_mels,
            power=2.0,
            center=True,
            pad_mode="reflect",
            norm=None,
            mel_scale="htk",
        )
        if config.kind == "mfcc":
            import torchaudio.functional as AF

            # Orthonormal DCT-II of the dB mel spectrum, as librosa.feature.mfcc does.
            self.register_buffer("dct", AF.create_dct(config.n_mfcc, config.n_mels, norm="ortho"))

    @torch.no_grad()
    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if waveform.shape[-1] < cfg.min_samples:  # shorter than one window: no frames, like silence
            return waveform.new_zeros(0, cfg.dim)
        mel = self.melspec(waveform)  # (n_mels, frames)
        if cfg.kind == "fbank":
            static = torch.log(mel + cfg.log_floor)
        else:
            db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
            static = torch.matmul(db.transpose(-1, -2), self.dct).transpose(-1, -2)
        parts = [static]
        if cfg.deltas >= 1:
            import torchaudio.functional as AF

            d1 = AF.compute_deltas(static, win_length=cfg.delta_window)
            parts.append(d1)
            if cfg.deltas == 2:
                parts.append(AF.compute_deltas(d1, win_length=cfg.delta_window))
        return torch.cat(parts, dim=-2).transpose(-1, -2).contiguous()  # (frames, dim)


class FeatureStats:
    """Running per-dimension mean and variance (float64 sums), for global normalisation."""

    def __init__(self, dim: int):
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.sumsq = torch.zeros(dim, dtype=torch.float64)
        self.count = 0

    def update(self, feats: torch.Tensor) -> None:
        f = feats.to(torch.float64)
        self.sum += f.sum(0)
        self.sumsq += (f * f).sum(0)
        self.count += f.shape[0]

    def mean_std(self, min_std: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
        if self.count == 0:
            raise ValueError("no frames seen")
        mean = self.sum / self.count
        var = (self.sumsq / self.count - mean * mean).clamp(min=0.0)
        return mean.float(), var.sqrt().clamp(min=min_std).float()


@dataclass
class SpecAugmentConfig:
    """SpecAugment (Park et al. 2019) without time warping: frequency and time masks."""

    freq_masks: int = 2
    freq_width: int = 15  # max bins per frequency mask
    time_masks: int = 2
    time_width: int = 40  # max frames per time mask
    time_max_ratio: float = 0.1  # a time mask never covers more than this share of the utterance
    # Vocal tract length perturbation (Jaitly & Hinton 2013): warp the mel axis by a factor drawn
    # from [1 - warp_range, 1 + warp_range] per utterance, so that formants move as between
    # speakers. 0 turns it off; log-mel (fbank) features only.
    warp_range: float = 0.0

    def validate(self) -> None:
        for name in ("freq_masks", "freq_width", "time_masks", "time_width"):
            if getattr(self, name) < 0:
                raise ConfigError(f"specaugment.{name} must be >= 0")
        if not 0.0 <= self.time_max_ratio <= 1.0:
            raise ConfigError("specaugment.time_max_ratio must be between 0 and 1")
        if not 0.0 <= self.warp_range < 0.5:
            raise ConfigError(f"specaugment.warp_range must be in [0, 0.5), got {self.warp_range}")


def _hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def _mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def frequency_warp_matrix(features: FeatureConfig, alpha: torch.Tensor | float) -> torch.Tensor:
    """(..., n_mels, n_mels) matrices W, one per warp factor in `alpha` (...), such that
    `logmel @ W.T` is the log-mel spectrum of the same sound with every frequency f below the
    top of the band moved to alpha * f (alpha > 1: a shorter vocal tract, formants up). The warp
    is piecewise linear, as Kaldi's VTLN: it bends at 0.85 of the band's top (times alpha when
    alpha < 1) so the band's edges stay where they are."""
    lo = features.f_min
    hi = features.f_max if features.f_max is not None else features.sample_rate / 2
    n = features.n_mels
    alpha = torch.as_tensor(alpha, dtype=torch.float64)[..., None]
    mel_points = torch.linspace(float(_hz_to_mel(torch.tensor(lo))), float(_hz_to_mel(torch.tensor(hi))), n + 2,
                                dtype=torch.float64)
    centres = _mel_to_hz(mel_points[1:-1])  # each bin's centre frequency
    bend = 0.85 * hi * alpha.clamp(max=1.0)
    source = torch.where(  # the frequency whose energy lands on each bin
        centres <= bend,
        centres / alpha,
        bend / alpha + (centres - bend) * (hi - bend / alpha) / (hi - bend),
    )
    step = mel_points[1] - mel_points[0]
    position = ((_hz_to_mel(source) - mel_points[1]) / step).clamp(0, n - 1)  # fractional bin index
    below = position.floor().long().clamp(max=n - 2)
    frac = position - below
    matrix = torch.zeros(*position.shape, n, dtype=torch.float64)
    matrix.scatter_add_(-1, below[..., None], (1.0 - frac)[..., None])
    matrix.scatter_add_(-1, below[..., None] + 1, frac[..., None])
    return matrix.float()


def frequency_warp(feats: torch.Tensor, features: FeatureConfig, alpha: torch.Tensor | float) -> torch.Tensor:
    """Warp log-mel features (..., frames, n_mels x (1 + deltas)) by `alpha` (...): one factor per
    utterance (see frequency_warp_matrix). Each block (static, deltas) is warped alike, since
    deltas are linear in the static values; zero padding stays zero."""
    if features.kind != "fbank":
        raise ConfigError("frequency warping (specaugment.warp_range) needs log-mel features (features.kind: fbank)")
    n = features.n_mels
    matrix = frequency_warp_matrix(features, alpha).to(feats.dtype).reshape(-1, n, n)
    rows = feats.reshape(matrix.shape[0], -1, n)  # (utterances, frames x blocks, n)
    return torch.bmm(rows, matrix.transpose(1, 2)).reshape(feats.shape)


def spec_augment(
    feats: torch.Tensor, config: SpecAugmentConfig, fill: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Return a copy of `feats` (frames, dim) with random bands set to `fill` (the feature mean,
    i.e. zero after normalisation)."""
    out = feats.clone()
    frames, dim = out.shape

    def randint(high: int) -> int:
        return int(torch.randint(0, max(high, 1), (1,), generator=generator))

    for _ in range(config.freq_masks):
        width = randint(min(config.freq_width, dim) + 1)
        start = randint(dim - width + 1)
        out[:, start : start + width] = fill[start : start + width]
    max_time = min(config.time_width, int(frames * config.time_max_ratio))
    for _ in range(config.time_masks):
        width = randint(max_time + 1)
        start = randint(frames - width + 1)
        out[start : start + width, :] = fill
    return out


def augment_batch(feats: torch.Tensor, lengths: torch.Tensor, config: SpecAugmentConfig, features: FeatureConfig,
                  fill: torch.Tensor) -> torch.Tensor:
    """A training batch (batch, frames, dim), augmented: one vocal-tract warp factor per utterance (up to
    config.warp_range), then SpecAugment's masks within each utterance's frames. Draws from torch's global
    generator, which training checkpoints carry."""
    feats = feats.clone()
    if config.warp_range:
        alphas = 1.0 + config.warp_range * (2.0 * torch.rand(len(feats)) - 1.0)
        feats = frequency_warp(feats, features, alphas)
    for b, n in enumerate(lengths.tolist()):
        feats[b, :n] = spec_augment(feats[b, :n], config, fill)
    return feats
