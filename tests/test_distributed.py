"""Data-parallel training with torchrun: two CPU processes (gloo) give the model that one process
gives on the same global batches, and a checkpoint resumes with a different number of processes."""

from __future__ import annotations

import subprocess
import sys

import torch
import yaml

from asr.config import load_config
from asr.data import BucketBatchSampler, load_corpus
from asr.modelfile import load_model_file, safe_load
from asr.train import TrainConfig, train
from conftest import REPO

SETTINGS = {
    "epochs": 3, "max_batch_size": 4, "max_batch_seconds": 1000, "seed": 7, "progress": False,
    "cache_features": True, "use_specaugment": False, "checkpoint_minutes": 0, "device": "cpu",
    "features": {"n_mels": 24}, "model": {"hidden_size": 24, "num_layers": 2, "dropout": 0.0},
    "optim": {"warmup_steps": 2, "lr": 0.003},
}  # no dropout and no SpecAugment: no per-process random draws, so the runs can match


def write_config(path, data, out) -> str:
    path.write_text(yaml.safe_dump({**SETTINGS, "train_data": [str(data)], "valid_data": [str(data)],
                                    "out_dir": str(out)}))
    return str(path)


def torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "cli.main", "train", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def weights(path) -> dict[str, torch.Tensor]:
    return load_model_file(str(path)).model.state_dict()


def close(a: dict, b: dict, tol: float = 1e-4) -> bool:
    return all(torch.allclose(a[k], b[k], atol=tol, rtol=0) for k in a)


def test_two_processes_match_one_and_resume_across_process_counts(tmp_path, digits_corpus):
    cfg = write_config(tmp_path / "c.yaml", digits_corpus, tmp_path / "one")
    durations = [u.duration for u in load_corpus(str(digits_corpus))]
    sampler = BucketBatchSampler(durations, 1000, 4, seed=7)
    assert all(len(b) >= 2 for e in range(3) for b in (sampler.set_epoch(e) or sampler)), "every batch splits in two"

    one = train(load_config(TrainConfig, cfg), log=lambda _m: None)
    assert one.steps == 9 and one.history[-1]["train_loss"] < one.history[0]["train_loss"]

    two = torchrun(2, cfg, "--set", f"out_dir={tmp_path / 'two'}")
    assert two.returncode == 0, two.stderr[-2000:]
    assert "2 processes" in two.stderr and two.stderr.count("training on") == 1  # rank 0 alone speaks
    assert two.stdout.count("done:") == 1
    assert close(weights(tmp_path / "one" / "best_model.pt"), weights(tmp_path / "two" / "best_model.pt"))
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())

    # two processes stop after 4 steps; one process finishes the run from their checkpoint
    part = torchrun(2, cfg, "--set", f"out_dir={tmp_path / 'mixed'}", "--max-steps", "4")
    assert part.returncode == 0, part.stderr[-2000:]
    assert safe_load(str(tmp_path / "mixed" / "checkpoint.pt"), "asr-checkpoint")["header"]["step"] == 4
    rest = subprocess.run([sys.executable, "-m", "cli.main", "train", cfg, "--resume", "--set",
                           f"out_dir={tmp_path / 'mixed'}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rest.returncode == 0, rest.stderr[-2000:]
    assert close(weights(tmp_path / "one" / "best_model.pt"), weights(tmp_path / "mixed" / "best_model.pt"))
