"""Audio shorter than one analysis window is silence wherever it arrives (files, stdin, the API,
streaming, evaluation, training); a batch with bad files transcribes the good ones and says which
failed, one line each, with exit status 3."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from conftest import run_asr

pytestmark = pytest.mark.usefixtures("one_thread")

SHORT = (0, 1, 10, 160, 399)  # samples at 16 kHz: all shorter than the 400-sample (25 ms) window


def noise(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = 16000, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def recognizer(random_model):
    from asr.transcribe import load_model

    return load_model(str(random_model))


@pytest.fixture(scope="module")
def digit(fsdd):
    return fsdd / "9001" / "1" / "9001-1-0003.flac"


def test_short_audio_is_silence_in_the_api_and_streaming(recognizer, digit, tmp_path):
    from asr.audio import load_audio
    from asr.decoding import Decoder, DecoderConfig
    from asr.streaming import StreamingRecognizer, final_text, stream_blocks
    from asr.transcribe import transcribe_file

    beam = Decoder(recognizer.vocab, DecoderConfig(kind="beam", beam_size=4))
    speech = load_audio(digit)
    for n in SHORT:
        x = noise(n, n)
        path = tmp_path / f"short{n}.wav"
        sf.write(path, x, 16000)
        flac = [wav_bytes(x, fmt="FLAC")] if n else []  # a FLAC file of no samples is an empty file: an error
        for source in (wav_bytes(x), str(path), *flac):
            for decoder in (None, beam):
                result = transcribe_file(recognizer, source, decoder)
                assert result["text"] == "" and result["duration"] == round(n / 16000, 3), (n, result)
        assert recognizer.transcribe(str(path)) == ""
        assert recognizer.transcribe_samples([x, speech])[0] == ""  # batched with a longer one
        assert final_text(stream_blocks(StreamingRecognizer(recognizer), [x])) == ""
        # a last block shorter than a window, after the window has moved on
        stream_blocks(StreamingRecognizer(recognizer), [np.zeros(48000, np.float32), speech, x])


def test_short_utterances_in_evaluation_and_training(recognizer, fsdd, tmp_path):
    """evaluate scores an empty hypothesis; training skips what its manifest says is too short (with a
    count in the log) and survives what is too short despite its manifest."""
    from asr.config import load_config
    from asr.data import load_corpus
    from asr.errors import DataError
    from asr.train import TrainConfig, train
    from asr.transcribe import evaluate

    short = tmp_path / "short.wav"
    sf.write(short, noise(160), 16000)
    liar = tmp_path / "liar.wav"  # its manifest entry claims a second
    sf.write(liar, noise(20), 16000)
    manifest = tmp_path / "train.jsonl"
    entries = [{"id": f"d{i}", "path": str(fsdd / "9001" / "1" / f"9001-1-{i:04d}.flac"), "text": "zero",
                "duration": 0.6, "speaker": "9001"} for i in (3, 4)]
    entries += [{"id": "short", "path": str(short), "text": "one", "duration": 0.01, "speaker": "x"},
                {"id": "liar", "path": str(liar), "text": "two", "duration": 1.0, "speaker": "x"}]
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))

    result = evaluate(recognizer, load_corpus(str(manifest)))
    hyps = {utt: hyp for utt, _ref, hyp in result.hypotheses}
    assert result.utterances == 4 and hyps["short"] == "" and hyps["liar"] == "" and result.wer >= 0.5

    log: list[str] = []
    cfg = load_config(TrainConfig, None, [
        f"train_data=[{manifest}]", f"out_dir={tmp_path / 'exp'}", "epochs=1", "max_batch_size=4", "progress=false",
        "features.n_mels=20", "model.hidden_size=8", "model.num_layers=1", "optim.warmup_steps=0"])
    done = train(cfg, log=log.append)
    assert done.steps == 1 and done.last_loss == done.last_loss  # trained, loss not NaN
    assert any("skipped 1 utterances (1 shorter than one analysis window (25 ms))" in line for line in log), log
    manifest.write_text(json.dumps(entries[-1]) + "\n")  # nothing but the liar
    cfg.out_dir = str(tmp_path / "exp2")
    with pytest.raises(DataError, match="no utterance is long enough for one feature frame"):
        train(cfg, log=log.append)


def test_cli_short_audio_from_file_stdin_and_stream(random_model, tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, noise(160), 16000)
    m = ("--model", random_model, "--threads", "1")
    for proc in (run_asr("transcribe", short, *m), run_asr("transcribe", "-", *m, input=short.read_bytes()),
                 run_asr("stream", "--input", short, *m), run_asr("stream", "--input", "-", *m, input=b"\x01\x02" * 99)):
        assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode()
        assert proc.stdout.decode().strip() == ""


def test_a_batch_with_bad_files(random_model, digit, tmp_path):
    """Every good file is transcribed (short ones as silence), each bad one reported on one line, exit 3;
    when no file could be read, exit 1."""
    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(digit, folder / "a-good.flac")
    sf.write(folder / "b-short.wav", noise(100), 16000)
    whole = wav_bytes(noise(8000))
    (folder / "c-cut.wav").write_bytes(whole[:3000])
    (folder / "d-empty.flac").write_bytes(b"")
    (folder / "e-text.ogg").write_text("not audio\n")
    (folder / "f-1hz.wav").write_bytes(wav_bytes(noise(30), rate=1))
    shutil.copy(digit, folder / "g-good.flac")
    proc = run_asr("transcribe", folder, "--model", random_model, "--threads", "1", "-o", tmp_path / "out", "-f", "json")
    err = proc.stderr.decode().splitlines()
    assert proc.returncode == 3, proc.stderr.decode()
    assert len(err) == 4 and all(line.startswith("asr: error: ") for line in err), err
    for line, name, reason in zip(err, ("c-cut", "d-empty", "e-text", "f-1hz"),
                                  ("truncated", "empty", "not a readable audio file", "too low")):
        assert name in line and reason in line, line
    printed = [line.split(": ")[0] for line in proc.stdout.decode().splitlines()]
    assert [p.rsplit("/", 1)[1] for p in printed] == ["a-good.flac", "b-short.wav", "g-good.flac"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a-good.json", "b-short.json", "g-good.json"]

    proc = run_asr("transcribe", folder / "c-cut.wav", folder / "e-text.ogg", "--model", random_model)
    assert proc.returncode == 1 and len(proc.stderr.decode().splitlines()) == 2, proc.stderr.decode()
