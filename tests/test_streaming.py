"""Streaming recognition: chunked input of any size agrees with offline decoding; partial results
come before final ones; finals carry absolute times; the CLI streams files, stdin PCM and a
(virtual PulseAudio) microphone."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.audio import load_audio
from asr.metrics import wer
from asr.streaming import StreamingConfig, StreamingRecognizer, final_text, stream_blocks
from conftest import REPO, run_asr

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore",
    "we walked home slowly after the long day",
    "the children sang a song about the river",
]
needs_espeak = pytest.mark.skipif(not shutil.which("espeak-ng"), reason="needs Debian espeak-ng (.ci/install)")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[Path, np.ndarray, str]:
    """About 12 s of speech: four sentences from espeak-ng with pauses of 0.3 to 1 s between them,
    the first word starting at the first sample."""
    if not shutil.which("espeak-ng"):
        pytest.skip("needs Debian espeak-ng (.ci/install)")
    folder = tmp_path_factory.mktemp("stream")
    parts = []
    for i, (text, gap) in enumerate(zip(SENTENCES, (0.3, 1.0, 0.5, 0.0))):
        wav = folder / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True)
        x = load_audio(wav)
        loud = np.flatnonzero(np.abs(x) > 0.01)
        parts += [x[loud[0] : loud[-1] + 1], np.zeros(int(gap * 16000), np.float32)]
    audio = np.concatenate(parts)
    path = folder / "speech.wav"
    sf.write(path, audio, 16000)
    return path, audio, " ".join(SENTENCES)


@pytest.fixture(scope="module")
def recognizer():
    from asr.transcribe import load_model

    return load_model()


@needs_espeak
def test_chunk_sizes_agree_with_offline_decoding(speech, recognizer):
    path, audio, reference = speech
    from asr.transcribe import transcribe_file

    offline = transcribe_file(recognizer, str(path))["text"]
    offline_wer = wer(reference, offline)
    assert offline_wer < 0.3, offline  # the default model hears this voice well enough to compare
    for block in (0.03, 0.13, 0.5, 2.0):
        n = int(block * 16000)
        events = stream_blocks(StreamingRecognizer(recognizer), (audio[i : i + n] for i in range(0, len(audio), n)))
        text = final_text(events)
        # never much worse: at most 5 of the 33 words. The default model of 2026-12-01 (round 2) loses 4 on
        # this synthetic voice (offline 12 %, streamed 24 %; the model before lost 0 to 1), while on real
        # speech its streaming gap is +3.4 points (recipes/benchmarks/stream_latency.py, 12 dev utterances)
        assert wer(reference, text) <= offline_wer + 0.16, (block, text, offline)
        finals = [e for e in events if e.kind == "final" and e.text]
        assert finals[0].start < 0.3 and finals[-1].end <= len(audio) / 16000 + 0.05
        starts = [w.start for e in finals for w in e.words]
        assert all(b >= a - 0.15 for a, b in zip(starts, starts[1:]))  # times run forward, absolute
        assert sum(e.end_of_utterance for e in events) >= 2  # the 1 s pause ends an utterance


@needs_espeak
def test_partials_come_before_finals_and_windows_stay_short(speech, recognizer):
    _, audio, _ = speech
    stream = StreamingRecognizer(recognizer, config=StreamingConfig(step_seconds=0.2, commit_lag=0.5))
    events, longest = [], 0
    for i in range(0, len(audio), 1600):
        events += stream.feed(audio[i : i + 1600])
        longest = max(longest, len(stream.buffer))
    events += stream.flush()
    assert longest < 6 * 16000  # the open window never holds the whole stream
    first_partial = {}
    for e in events:
        for w in e.words:
            key = (w.word, round(w.start, 1))
            if e.kind == "partial":
                first_partial.setdefault(key, e.emitted_at)
            elif key in first_partial:
                assert first_partial[key] <= e.emitted_at
    finals = [w for e in events if e.kind == "final" for w in e.words]
    seen_early = sum((w.word, round(w.start, 1)) in first_partial for w in finals)
    assert seen_early >= 0.8 * len(finals)  # nearly every final word was shown as a partial first
    for e in events:
        if e.kind == "final" and not e.end_of_utterance:
            assert e.emitted_at - e.end >= 0.5 - 1e-6  # committed only with commit_lag of audio after it


@needs_espeak
def test_cli_streams_a_file_and_raw_pcm_from_stdin(speech, tmp_path):
    path, audio, reference = speech
    out = tmp_path / "finals.tsv"
    proc = run_asr("stream", "--input", path, "--json", "--output", out)
    assert proc.returncode == 0, proc.stderr.decode()
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert {e["type"] for e in events} == {"partial", "final"}
    text = " ".join(e["text"] for e in events if e["type"] == "final" and e["text"])
    assert wer(reference, text) < 0.3
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert " ".join(r[2] for r in rows) == text and all(float(r[0]) <= float(r[1]) for r in rows)

    pcm = sf.read(path, dtype="int16")[0].astype("<i2").tobytes()  # the file's own samples, bit for bit
    piped = subprocess.run([sys.executable, "-m", "cli.main", "stream", "--input", "-"], input=pcm,
                           capture_output=True, timeout=120, cwd=REPO)
    assert piped.returncode == 0, piped.stderr.decode()
    assert " ".join(piped.stdout.decode().split()) == text  # same audio, same streaming path, same words


def test_missing_input_and_bad_device_are_one_line_errors(tmp_path):
    proc = run_asr("stream", "--input", tmp_path / "nope.wav")
    err = proc.stderr.decode()
    assert proc.returncode == 1 and err.startswith("asr: error:") and err.count("\n") == 1, err
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/no-such-socket"}  # no sound server, no card
    # the microphone is --mic; --device NAME, its old spelling, still means it when NAME is no compute device
    for args in (["--mic", "no-such-microphone"], ["--device", "no-such-microphone"]):
        proc = run_asr("stream", *args, env=env)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and err.startswith("asr: error:") and err.count("\n") == 1, err
        assert "Traceback" not in err


# -- a real (virtual) microphone: PulseAudio's pipe source, read through PortAudio --------------------

def _virtual_microphone_module():
    spec = importlib.util.spec_from_file_location("virtual_mic", REPO / "recipes" / "benchmarks" / "virtual_mic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


needs_pulse = pytest.mark.skipif(not shutil.which("pulseaudio"), reason="needs Debian pulseaudio (.ci/install)")


@needs_espeak
@needs_pulse
def test_virtual_microphone_end_to_end(speech, tmp_path):
    path, audio, reference = speech
    offline = run_asr("transcribe", path).stdout.decode().strip()
    module = _virtual_microphone_module()
    with module.VirtualMicrophone(tmp_path) as mic:
        listed = run_asr("stream", "--list-devices", env=mic.env)
        assert listed.returncode == 0 and "micsim" in listed.stdout.decode(), listed.stderr.decode()
        live = module.listen(mic, audio)  # spoken at real-time pace, then Ctrl-C
    # 33 words: 0.16 is five words, the same limit as offline-vs-chunked above (a 168 s recording measured
    # +2.7 points, README)
    assert wer(reference, live) <= wer(reference, offline) + 0.16, (live, offline)
