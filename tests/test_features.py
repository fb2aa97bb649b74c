"""Our torchaudio features against librosa's implementation of the same features, on real speech."""

import librosa
import numpy as np
import pytest
import torch

from asr.audio import load_audio
from asr.augment import speed_perturb
from asr.errors import ConfigError
from asr.features import (FeatureConfig, FeatureExtractor, FeatureStats, SpecAugmentConfig, frequency_warp,
                          spec_augment)

# Tolerances: the filterbanks are the same; differences come from float32 FFTs (ours) vs float64-ish.
LOG_MEL_ATOL = 2e-3  # natural-log units, on frames with mel power well above the floor
MFCC_ATOL = 5e-2  # dB-domain cepstra (values span about +-500)


@pytest.fixture(scope="module")
def speech(librispeech_sample):
    path = next(librispeech_sample.glob("test-clean/1089/134691/*.flac"))
    return load_audio(path)


def librosa_mel(y, cfg: FeatureConfig):
    return librosa.feature.melspectrogram(
        y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length, hop_length=cfg.hop_length,
        n_mels=cfg.n_mels, htk=True, norm=None, pad_mode="reflect", center=True, power=2.0,
    )


def test_log_mel_matches_librosa(speech):
    cfg = FeatureConfig(kind="fbank", n_mels=80)
    ours = FeatureExtractor(cfg)(torch.from_numpy(speech)).numpy()
    mel = librosa_mel(speech, cfg)
    ref = np.log(mel + cfg.log_floor).T
    assert ours.shape == ref.shape == (len(speech) // 160 + 1, 80)
    loud = mel.T > 1e-4
    assert loud.mean() > 0.5
    assert np.abs(ours - ref)[loud].max() < LOG_MEL_ATOL
    assert np.abs(ours - ref).mean() < LOG_MEL_ATOL


def test_mfcc_with_deltas_matches_librosa(speech):
    cfg = FeatureConfig(kind="mfcc", n_mels=40, n_mfcc=13, deltas=2)
    ours = FeatureExtractor(cfg)(torch.from_numpy(speech)).numpy().T
    assert ours.shape[0] == cfg.dim == 39
    db = librosa.power_to_db(librosa_mel(speech, cfg), ref=1.0, amin=1e-10, top_db=None)
    mfcc = librosa.feature.mfcc(S=db, n_mfcc=13, dct_type=2, norm="ortho")
    assert np.abs(ours[:13] - mfcc).max() < MFCC_ATOL
    # librosa's deltas (Savitzky-Golay) equal the regression formula away from the two edge frames
    inner = slice(4, -4)
    d1 = librosa.feature.delta(mfcc, width=5, order=1)
    assert np.abs(ours[13:26, inner] - d1[:, inner]).max() < MFCC_ATOL
    # delta-delta = delta of the delta (HTK style), so compare with librosa's delta of its delta
    d2 = librosa.feature.delta(d1, width=5, order=1)
    inner2 = slice(8, -8)
    assert np.abs(ours[26:39, inner2] - d2[:, inner2]).max() < MFCC_ATOL


def test_stats_and_specaugment(speech):
    feats = FeatureExtractor(FeatureConfig())(torch.from_numpy(speech))
    stats = FeatureStats(feats.shape[1])
    stats.update(feats[:100])
    stats.update(feats[100:])
    mean, std = stats.mean_std()
    assert torch.allclose(mean, feats.mean(0), atol=1e-4)
    assert torch.allclose(std, feats.std(0, unbiased=False), atol=1e-3)
    g = torch.Generator().manual_seed(0)
    aug = spec_augment(feats, SpecAugmentConfig(freq_masks=2, freq_width=10, time_masks=2, time_width=20), mean, g)
    changed = aug != feats
    assert changed.any() and aug.shape == feats.shape
    # masked cells hold the mean, everything else is untouched
    assert torch.equal(aug[~changed], feats[~changed])
    rows, cols = changed.nonzero(as_tuple=True)
    assert torch.equal(aug[rows, cols], mean.expand_as(aug)[rows, cols])


def test_frequency_warp_moves_formants_as_a_faster_playback_does(speech):
    """Warping the mel axis by alpha should look like the same speech played alpha times faster
    (every frequency times alpha): compare long-term spectra below the warp's bend."""
    cfg = FeatureConfig()
    extract = FeatureExtractor(cfg)
    original = extract(torch.from_numpy(speech))
    alpha = 1.1
    faster = extract(torch.from_numpy(speed_perturb(speech, alpha))).mean(0)
    warped = frequency_warp(original, cfg, alpha).mean(0)
    assert torch.equal(frequency_warp(original, cfg, 1.0), original)  # alpha 1: nothing moves
    band = slice(5, 70)  # above the lowest bins (interpolation) and below the bend at 6.8 kHz
    warped_error = (warped[band] - faster[band]).abs().mean()
    unwarped_error = (original.mean(0)[band] - faster[band]).abs().mean()
    assert warped_error < 0.5 * unwarped_error, (float(warped_error), float(unwarped_error))
    # with deltas, each block is warped alike
    with_deltas = FeatureConfig(deltas=1)
    feats = FeatureExtractor(with_deltas)(torch.from_numpy(speech))
    out = frequency_warp(feats, with_deltas, 0.9)
    assert torch.allclose(out[:, :80], frequency_warp(feats[:, :80], cfg, 0.9))
    assert torch.allclose(out[:, 80:], frequency_warp(feats[:, 80:], cfg, 0.9))
    # a batch with one factor per utterance warps each as alone
    batch = torch.stack([original[:100], original[100:200]])
    both = frequency_warp(batch, cfg, torch.tensor([0.9, 1.1]))
    assert torch.allclose(both[1], frequency_warp(original[100:200], cfg, 1.1), atol=1e-5)
    with pytest.raises(ConfigError):
        frequency_warp(feats, FeatureConfig(kind="mfcc"), 1.1)
