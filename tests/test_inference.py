"""Fast inference: int8 quantisation, TorchScript/ONNX export matching the eager model, and
`asr benchmark` against PocketSphinx."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from asr.metrics import cer
from conftest import run_asr


@pytest.fixture(scope="module")
def recognizer():
    from asr.transcribe import load_model

    return load_model()


def test_int8_model_transcribes_nearly_as_the_float_one(librispeech_sample, tmp_path):
    from asr.transcribe import load_model

    files = sorted(librispeech_sample.glob("test-clean/*/*/*.flac"))[:3]
    full, small = load_model(), load_model(int8=True)
    assert isinstance(small.model.lstm, torch.ao.nn.quantized.dynamic.LSTM)
    for f in files:
        a, b = full.transcribe(str(f)), small.transcribe(str(f))
        assert cer(a, b) <= 0.1, (a, b)
    proc = run_asr("transcribe", "--int8", "-f", "json", "-o", tmp_path, files[0])
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads((tmp_path / f"{files[0].stem}.json").read_text())["model"]["quantized"] == "int8"


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_network_matches_the_eager_one(recognizer, tmp_path, fmt):
    if fmt == "onnx" and importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("needs onnx and onnxruntime (pip install 'asr[export]', done by .ci/install)")
    out = tmp_path / f"model.{fmt}"
    proc = run_asr("export", "--format", fmt, "-o", out)
    assert proc.returncode == 0, proc.stderr.decode()
    sidecar = json.loads((tmp_path / f"model.{fmt}.json").read_text())
    assert sidecar["vocabulary"] == recognizer.vocab.to_dict() and sidecar["features"]["n_mels"] == 80
    torch.manual_seed(0)
    for frames in (40, 301, 1000):  # any length, not only the one traced
        feats = torch.randn(1, frames, 80) * 3 - 8
        with torch.inference_mode():
            eager, _ = recognizer.model(feats, torch.tensor([frames]))
        if fmt == "torchscript":
            from asr.export import load_torchscript

            exported = load_torchscript(str(out))(feats)
        else:
            import onnxruntime

            session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            exported = torch.from_numpy(session.run(None, {"features": feats.numpy()})[0])
        assert exported.shape == eager.shape
        assert (exported - eager).abs().max() < 1e-4


def test_export_errors_are_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_asr("export", "--format", "torchscript", "-o", blocker / "model.pt")
    err = proc.stderr.decode()
    assert proc.returncode == 1 and err.startswith("asr: error:") and err.count("\n") == 1, err


def test_benchmark_reports_ours_and_the_peers_figures(librispeech_sample):
    peer = importlib.util.find_spec("pocketsphinx") is not None
    proc = run_asr("benchmark", librispeech_sample, "--limit", "2", "--train-steps", "1", "--json",
                   *([] if peer else ["--no-peer"]))
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(proc.stdout)
    names = [r["name"] for r in result["rows"]]
    assert names[:4] == ["asr greedy", "asr greedy, 1 thread", "asr greedy, int8", "asr beam (lexicon-free)"]
    for r in result["rows"]:
        assert r["files"] == 2 and r["audio_seconds"] > 5 and 0 < r["rtf"] and r["peak_rss_mb"] > 50
        assert 0 <= r["wer"] <= 1.5
    if peer:
        assert names[-1] == "PocketSphinx (peer)" and set(result["ratios"]) == set(names[:-1])
        assert result["rows"][-1]["wer"] < 0.6  # a real recogniser of real speech, measured here
    assert result["training"]["steps"] == 1 and result["training"]["audio_seconds_per_second"] > 0
