"""Where the network runs (--device) and batched inference: `auto` is the one rule of training and
inference, a missing GPU is one error line, batches by seconds of audio give the transcripts that
one file at a time gives, and running out of memory halves the batch and goes on."""

from __future__ import annotations

import pytest
import torch

from asr.errors import AsrError, ConfigError
from conftest import run_asr

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")


@pytest.fixture(scope="module")
def recognizer():
    from asr.transcribe import load_model

    return load_model()


@pytest.fixture(scope="module")
def utterances(librispeech_sample, fsdd):
    """Real speech of very different lengths: nine LibriSpeech utterances (2 to 12 s) and six spoken
    digits (0.3 to 0.8 s, 8 kHz)."""
    from asr.data import load_corpus

    takes = ("-0000", "-0051", "-0102", "-0203", "-0304", "-0449")
    digits = [u for u in load_corpus(str(fsdd / "9002")) if u.id.endswith(takes)]
    assert len(digits) == 6
    return load_corpus(str(librispeech_sample)) + digits


def test_auto_is_the_rule_of_training_and_inference(recognizer):
    import asr.train
    from asr.device import resolve_device

    here = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto") == here and recognizer.device == here
    assert asr.train.resolve_device is resolve_device  # one function decides for both
    assert next(recognizer.model.parameters()).device.type == here.type
    for bad in ("gpu", "cuda:x", "CPU", ""):
        with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or cuda:N"):
            resolve_device(bad)


@no_gpu
def test_a_missing_gpu_is_one_error_line(librispeech_sample, tmp_path):
    one = str(next(librispeech_sample.glob("test-clean/*/*/*.flac")))
    for args in (["transcribe", one], ["evaluate", librispeech_sample], ["lm", "tune", librispeech_sample],
                 ["benchmark", librispeech_sample, "--no-peer"], ["stream", "--input", one]):
        proc = run_asr(*args, "--device", "cuda")
        err = proc.stderr.decode()
        assert proc.returncode == 1 and err.startswith("asr: error: device 'cuda': torch sees no GPU"), (args, err)
        assert err.count("\n") == 1 and not proc.stdout, (args, err)
    proc = run_asr("transcribe", one, "--device", "cuda:1", "--int8")  # int8 is a CPU option, GPU or not
    err = proc.stderr.decode()
    assert proc.returncode == 1 and err.startswith("asr: error: int8 runs on the CPU only") and err.count("\n") == 1


def test_int8_with_auto_runs_on_the_cpu():
    from asr.transcribe import load_model

    assert load_model(int8=True).device == torch.device("cpu")


def test_batches_by_seconds_give_the_transcripts_of_one_at_a_time(recognizer, utterances):
    from asr.transcribe import _network_batches, evaluate, transcribe_files

    # one file, one batch, default decoding; the recogniser's words, as evaluation scores them
    alone = {u.id: recognizer.transcribe(u.path, punctuate=False) for u in utterances}
    sizes = [len(chunk) for chunk, *_ in _network_batches(recognizer, utterances, batch_seconds=60)]
    assert sum(sizes) == len(utterances) and max(sizes) >= 8 and len(sizes) >= 2  # really batched, by seconds
    for seconds in (20, None):  # 20 s batches, and the device's default (all of them in one)
        batched = evaluate(recognizer, utterances, batch_seconds=seconds)
        assert {i: hyp for i, _, hyp in batched.hypotheses} == alone
    # asr transcribe of many files: short files decoded together, results in the order given
    paths = [u.path for u in utterances]
    results = list(transcribe_files(recognizer, paths, batch_seconds=30, punctuate=False))
    assert [p for p, _ in results] == paths
    assert [r["text"] for _, r in results] == [alone[u.id] for u in utterances]


def test_out_of_memory_halves_the_batch_and_goes_on(recognizer, utterances, monkeypatch):
    from asr.decoding import Decoder, DecoderConfig
    from asr.transcribe import evaluate

    greedy = Decoder(recognizer.vocab, DecoderConfig(kind="greedy"))
    expected = evaluate(recognizer, utterances, decoder=greedy).hypotheses
    forward, seen = recognizer.model.forward, []

    def small_device(feats, lengths):  # a device that holds at most two utterances at a time
        seen.append(feats.shape[0])
        if feats.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (fake)")
        return forward(feats, lengths)

    monkeypatch.setattr(recognizer.model, "forward", small_device)
    monkeypatch.setattr(recognizer, "batch_seconds", 1000.0)
    result = evaluate(recognizer, utterances, decoder=greedy)
    assert result.hypotheses == expected and result.utterances == len(utterances)
    assert seen[0] == len(utterances) and min(seen) <= 2
    assert recognizer.batch_seconds < 1000.0  # later calls start from the smaller batches
    assert evaluate(recognizer, utterances, decoder=greedy).hypotheses == expected

    def no_memory(feats, lengths):
        raise torch.OutOfMemoryError("CUDA out of memory (fake)")

    monkeypatch.setattr(recognizer.model, "forward", no_memory)
    with pytest.raises(AsrError, match="out of memory on cpu with one .* utterance alone"):
        evaluate(recognizer, utterances[:3], decoder=greedy)


def test_an_unreadable_utterance_in_a_batch_is_the_callers_error(recognizer, utterances, tmp_path):
    import dataclasses

    from asr.errors import AudioError
    from asr.transcribe import evaluate

    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"fLaC" + bytes(100))
    utts = [*utterances[:4], dataclasses.replace(utterances[4], path=str(broken))]
    with pytest.raises(AudioError, match="broken.flac"):  # raised by the reading thread, here
        evaluate(recognizer, utts, batch_seconds=20)
