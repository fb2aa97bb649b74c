"""Audio input: every container soundfile reads, any rate and channel count; clean errors for bad files."""

import io

import numpy as np
import pytest
import soundfile as sf

from asr.audio import load_audio, read_audio
from asr.errors import AudioError


@pytest.fixture(scope="module")
def reference(librispeech_sample):
    path = next(librispeech_sample.glob("test-clean/1089/134691/*0000.flac"))
    samples, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    return samples


def write(tmp_path, name, data, rate, **kw):
    path = tmp_path / name
    sf.write(path, data, rate, **kw)
    return path


def test_formats_rates_and_channels_agree(tmp_path, reference):
    import librosa

    x44 = librosa.resample(reference, orig_sr=16000, target_sr=44100)
    stereo = np.stack([x44, 0.5 * x44], axis=1)
    lossless = {
        "pcm16.wav": write(tmp_path, "pcm16.wav", reference, 16000, subtype="PCM_16"),
        "float.wav": write(tmp_path, "float.wav", reference, 16000, subtype="FLOAT"),
        "int32-8k.flac": write(tmp_path, "int32-8k.flac",
                               librosa.resample(reference, orig_sr=16000, target_sr=8000), 8000, subtype="PCM_24"),
        "stereo44k.wav": write(tmp_path, "stereo44k.wav", stereo, 44100, subtype="PCM_16"),
    }
    for name, path in lossless.items():
        y = load_audio(path)
        assert abs(len(y) - len(reference)) <= 2, name
        n = min(len(y), len(reference))
        scale = 0.75 if "stereo" in name else 1.0  # the mean of (x, x/2)
        corr = np.corrcoef(y[:n], scale * reference[:n])[0, 1]
        assert corr > (0.95 if "8k" in name else 0.999), (name, corr)
    for name, subtype in (("v.ogg", "VORBIS"), ("m.mp3", "MPEG_LAYER_III")):
        y = load_audio(write(tmp_path, name, stereo, 44100, subtype=subtype))
        assert abs(len(y) / 16000 - len(reference) / 16000) < 0.1, name
        assert 0.5 < np.sqrt(np.mean(y**2)) / np.sqrt(np.mean((0.75 * reference) ** 2)) < 2.0, name
    # raw bytes (as from stdin) decode like the file
    data = lossless["pcm16.wav"].read_bytes()
    assert np.array_equal(load_audio(data), load_audio(lossless["pcm16.wav"]))
    assert read_audio(io.BytesIO(data))[1] == 16000


def test_bad_audio_gives_one_line_errors(tmp_path, reference):
    wav = io.BytesIO()
    sf.write(wav, reference, 16000, format="WAV", subtype="PCM_16")
    flac = io.BytesIO()
    sf.write(flac, reference, 16000, format="FLAC")
    mp3 = io.BytesIO()
    sf.write(mp3, reference, 16000, format="MP3")
    files = {
        "empty.wav": b"",
        "text.wav": b"this is not audio at all\n" * 20,
        "truncated.wav": wav.getvalue()[: len(wav.getvalue()) // 2],
        "truncated.flac": flac.getvalue()[: len(flac.getvalue()) // 2],
        "truncated.mp3": mp3.getvalue()[: len(mp3.getvalue()) // 3],
        "header-only.wav": wav.getvalue()[:44],
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    expected = {
        "empty.wav": "empty",
        "text.wav": "not a readable audio file",
        "truncated.wav": "truncated",
        "truncated.flac": "truncated",
        "truncated.mp3": "truncated",
        "header-only.wav": "truncated",
    }
    for name, words in expected.items():
        with pytest.raises(AudioError) as err:
            load_audio(tmp_path / name)
        assert words in str(err.value) and name in str(err.value) and "\n" not in str(err.value), str(err.value)
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)
    with pytest.raises(AudioError, match="no data"):
        load_audio(b"")
