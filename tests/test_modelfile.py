"""Model files: exact round trip, and clear errors (never code execution) for bad files."""

import os

import pytest
import torch

from asr.errors import ModelFileError, OutputError
from asr.features import FeatureConfig
from asr.model import AcousticModel, ModelConfig
from asr.modelfile import ModelBundle, atomic_save, load_model_file, safe_load, save_model, MODEL_FORMAT
from asr.text import Vocabulary


def make_bundle(kind="mfcc") -> ModelBundle:
    torch.manual_seed(1)
    feats = FeatureConfig(kind=kind, n_mels=40, n_mfcc=20, deltas=1)
    model = AcousticModel(ModelConfig(hidden_size=24, num_layers=1, stack_frames=4), feats.dim, Vocabulary().size)
    model.set_normalization(torch.randn(feats.dim), torch.rand(feats.dim) + 0.1)
    return ModelBundle(model=model.eval(), features=feats, vocab=Vocabulary(), metadata={"note": "unit test"})


def test_round_trip_restores_everything(tmp_path):
    bundle = make_bundle()
    path = tmp_path / "m.pt"
    save_model(bundle, str(path))
    loaded = load_model_file(str(path))
    assert loaded.features == bundle.features
    assert loaded.model.config == bundle.model.config
    assert loaded.vocab.symbols == bundle.vocab.symbols
    assert loaded.metadata == {"note": "unit test"}
    x = torch.randn(2, 50, bundle.features.dim)
    lengths = torch.tensor([50, 37])
    with torch.no_grad():
        assert torch.equal(bundle.model(x, lengths)[0], loaded.model(x, lengths)[0])
    for name, tensor in bundle.model.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name])


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch EXPLOITED",))


def test_bad_model_files_give_clear_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = tmp_path / "good.pt"
    save_model(make_bundle(), str(good))
    data = good.read_bytes()
    cases = {
        "missing.pt": None,
        "empty.pt": b"",
        "truncated.pt": data[: len(data) // 2],
        "text.pt": b"hello, I am not a model\n",
        "flipped.pt": data[:200] + bytes(b ^ 0xFF for b in data[200:4000]) + data[4000:],
    }
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    torch.save({"format": MODEL_FORMAT, "version": 99, "header": "{}", "state_dict": {}}, tmp_path / "future.pt")
    torch.save({"payload": Exploit()}, tmp_path / "exploit.pt")
    for name in list(cases) + ["foreign.pt", "future.pt", "exploit.pt"]:
        with pytest.raises(ModelFileError) as err:
            load_model_file(str(tmp_path / name))
        message = str(err.value)
        assert name in message and "\n" not in message, message
    assert not (tmp_path / "EXPLOITED").exists()
    with pytest.raises(ModelFileError, match="pickled Python objects"):
        load_model_file(str(tmp_path / "exploit.pt"))
    with pytest.raises(ModelFileError, match="version 99"):
        load_model_file(str(tmp_path / "future.pt"))


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    atomic_save({"format": MODEL_FORMAT, "version": 1, "header": "{}", "value": torch.ones(3)}, str(path))

    def torn_save(obj, fh):
        fh.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OutputError, match=r"ckpt.pt: cannot write \(disk full\); the previous file is unchanged"):
        atomic_save({"format": MODEL_FORMAT, "version": 1, "header": "{}", "value": torch.zeros(3)}, str(path))
    monkeypatch.undo()
    assert torch.equal(safe_load(str(path), MODEL_FORMAT)["value"], torch.ones(3))
    assert os.listdir(tmp_path) == ["ckpt.pt"]
