"""Shared fixtures: real recordings from ../shared/data and one tiny model trained through the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ASR_SHARED_DATA", REPO.parent / "shared" / "data"))

# One take of each digit from one real speaker: the corpus the end-to-end test memorises.
MEMORISE_IDS = [f"9001-1-{d * 50 + 3:04d}" for d in range(10)]

TINY_CONFIG = """\
train_data: [{data}]
valid_data: [{data}]
out_dir: {out}
epochs: 150
max_batch_size: 5
cache_features: true
use_specaugment: false
features: {{kind: fbank, n_mels: 40}}
model: {{hidden_size: 64, num_layers: 2, dropout: 0.0}}
optim: {{lr: 0.005, warmup_steps: 10, schedule: constant}}
"""


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"test data missing: {path} (the repository expects ../shared beside it, or set ASR_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def fsdd() -> Path:
    return shared("fsdd")


@pytest.fixture(scope="session")
def librispeech_sample() -> Path:
    return shared("librispeech-sample")


@pytest.fixture(scope="session")
def digits_corpus(tmp_path_factory, fsdd) -> Path:
    """Ten real utterances (ZERO..NINE, speaker 9001) in the LibriSpeech layout."""
    root = tmp_path_factory.mktemp("digits")
    chapter = root / "9001" / "1"
    chapter.mkdir(parents=True)
    src = fsdd / "9001" / "1"
    lines = dict(l.split(" ", 1) for l in (src / "9001-1.trans.txt").read_text().splitlines() if l.strip())
    with open(chapter / "9001-1.trans.txt", "w") as fh:
        for utt in MEMORISE_IDS:
            shutil.copy(src / f"{utt}.flac", chapter / f"{utt}.flac")
            fh.write(f"{utt} {lines[utt]}\n")
    return root


def run_asr(*args: str, input: bytes | None = None, timeout: float = 600,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `asr` command line in a fresh process (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *map(str, args)],
        cwd=REPO,
        input=input,
        capture_output=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory, digits_corpus) -> Path:
    """A tiny model trained from scratch through `asr train` until it has memorised the ten digits."""
    out = tmp_path_factory.mktemp("tiny-model")
    config = out / "tiny.yaml"
    config.write_text(TINY_CONFIG.format(data=digits_corpus, out=out / "exp"))
    proc = run_asr("train", config)
    assert proc.returncode == 0, proc.stderr.decode()
    model = out / "exp" / "best_model.pt"
    assert model.exists()
    return model


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> Path:
    """A real model file holding an untrained tiny network: for tests of input handling, not accuracy."""
    import torch

    from asr.features import FeatureConfig
    from asr.model import AcousticModel, ModelConfig
    from asr.modelfile import ModelBundle, save_model
    from asr.text import Vocabulary

    torch.manual_seed(0)
    features, vocab = FeatureConfig(n_mels=20), Vocabulary()
    network = AcousticModel(ModelConfig(hidden_size=8, num_layers=1, dropout=0.0), features.dim, vocab.size)
    path = tmp_path_factory.mktemp("random-model") / "random.pt"
    save_model(ModelBundle(network, features, vocab, {"train_data": ["none"]}), str(path))
    return path


@pytest.fixture(scope="module")
def one_thread():
    """For modules that run thousands of tiny networks: with several threads torch spends its time
    waking them (and on a shared machine, waiting for them)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
