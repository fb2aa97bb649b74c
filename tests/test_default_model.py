"""The model shipped inside the package: used when no --model is given, on real voices it never heard."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from asr.audio import load_audio
from conftest import REPO, run_asr

needs_flite = pytest.mark.skipif(not shutil.which("flite"), reason="needs Debian flite (installed by .ci/install)")


def say(text: str, path, voice: str = "rms") -> np.ndarray:
    """Speech from flite's rms voice (a synthetic voice: the word-time test needs exact silences)."""
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
    return load_audio(path)


def test_default_model_is_shipped_and_self_describing():
    from asr.transcribe import DEFAULT_MODEL_PATH, load_model

    rec = load_model()
    assert rec.path == DEFAULT_MODEL_PATH
    meta = rec.bundle.metadata
    assert meta["train_hours"] >= 10 and meta["epochs"] >= 1 and "valid_wer" in meta
    assert rec.bundle.features.kind in ("fbank", "mfcc") and rec.vocab.size == 29


def test_readme_quotes_what_the_main_command_prints():
    """README's main command transcribes the shipped sample; the output it quotes must stay true."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quoted = re.search(r"the model prints\s+`([^`]+)`", readme)
    assert quoted, "README.md no longer quotes the sample's transcript after 'the model prints'"
    proc = run_asr("transcribe", "recipes/default/sample.flac")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip() == quoted.group(1)


def test_transcribe_real_voices_it_never_heard(librispeech_sample):
    """Eight LibriSpeech test-clean utterances of five speakers, none of them in training, greedy and
    with the default decoding (beam search + the shipped LM). The limits sit just above what the
    shipped model measures (WER 0.47 greedy, 0.23 by default: `asr evaluate
    ../shared/data/librispeech-sample/test-clean [--decoder greedy] --json`); a broken model,
    LM or pipeline scores near 1."""
    from asr.data import scan_librispeech
    from asr.metrics import ErrorCounter

    utts = scan_librispeech(str(librispeech_sample / "test-clean"))
    wer = {}
    for name, options in (("greedy", ["--decoder", "greedy"]), ("default", [])):
        proc = run_asr("transcribe", *options, *[u.path for u in utts])
        assert proc.returncode == 0, proc.stderr.decode()
        hyps = [line.split(": ", 1)[1] if ": " in line else "" for line in proc.stdout.decode().splitlines()]
        counter = ErrorCounter()
        for u, h in zip(utts, hyps, strict=True):
            counter.add(u.text, h)
        wer[name] = counter.wer
    assert wer["greedy"] <= 0.55 and wer["default"] <= 0.30, wer
    assert wer["default"] < wer["greedy"], wer


@needs_flite
def test_word_times_follow_an_inserted_silence(tmp_path):
    first = say("the water was cold", tmp_path / "first.wav")
    second = say("we walked home slowly", tmp_path / "second.wav")
    frames = second[: len(second) // 160 * 160].reshape(-1, 160)
    onset = int(np.argmax(10 * np.log10((frames**2).mean(1) + 1e-10) > -45)) * 0.01  # speech starts here
    gap = 1.5
    sf.write(tmp_path / "both.wav", np.concatenate([first, np.zeros(int(gap * 16000), np.float32), second]), 16000)
    proc = run_asr("transcribe", tmp_path / "both.wav", "-f", "json", "-o", tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads((tmp_path / "both.json").read_text())
    words = [w for seg in result["segments"] for w in seg["words"]]
    middle = len(first) / 16000 + gap / 2
    before = [w for w in words if w["end"] <= middle]
    after = [w for w in words if w["start"] >= middle]
    assert len(before) + len(after) == len(words)  # no word spans the silence
    truth = len(first) / 16000 + gap + onset
    assert before and after and abs(after[0]["start"] - truth) <= 0.1, (after[0], truth)
    assert all(0 < w["confidence"] <= 1 for w in words)


def test_evaluate_without_model_option(librispeech_sample):
    proc = run_asr("evaluate", librispeech_sample, "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(proc.stdout)
    assert result["utterances"] == 9 and 0 <= result["wer"] <= 1.5

