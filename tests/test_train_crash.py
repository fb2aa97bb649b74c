"""Training survives `kill -9` at any moment (a checkpoint write included): resuming ends with the very
weights of a run never interrupted, and a kill loses at most one checkpoint interval of work. A full
disk or a read-only output folder during a checkpoint write is one error line; the previous
checkpoint stays intact."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, run_asr

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = """\
train_data: [{data}]
valid_data: [{data}]
out_dir: {out}
epochs: {epochs}
max_batch_size: 2
threads: 1
cache_features: true
checkpoint_minutes: {minutes}
progress: false
features: {{n_mels: 20}}
model: {{hidden_size: 16, num_layers: 1, dropout: 0.0}}
specaugment: {{warp_range: 0.1}}
optim: {{lr: 0.003, warmup_steps: 3}}
"""


def write_config(path: Path, data: Path, out: Path, interval: float, epochs: int = 30) -> Path:
    path.write_text(CONFIG.format(data=data, out=out, epochs=epochs, minutes=interval / 60))
    return path


def temporaries(out: Path) -> list[str]:
    return [n for n in os.listdir(out) if n.startswith(".tmp-")] if out.exists() else []


def start_training(config: Path, resume: bool) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli.main", "train", str(config), *(["--resume"] if resume else [])],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120, poll: float = 0.01) -> bool:
    """Poll until `condition()`; False if training ended first (having finished)."""
    end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            return False
        assert time.monotonic() < end, "training made no progress"
        time.sleep(poll)
    return True


def test_kill_9_at_random_moments_then_resume_gives_the_same_model(tmp_path, digits_corpus):
    from asr.config import load_config
    from asr.modelfile import CHECKPOINT_FORMAT, safe_load
    from asr.train import TrainConfig, train

    start = time.monotonic()
    reference = train(load_config(TrainConfig, str(write_config(tmp_path / "ref.yaml", digits_corpus,
                                                                 tmp_path / "ref", interval=0))), log=lambda _m: None)
    interval = (time.monotonic() - start) / 25  # seconds between checkpoints: about 25 in the whole run
    out = tmp_path / "killed"
    config = write_config(tmp_path / "killed.yaml", digits_corpus, out, interval)
    checkpoint = out / "checkpoint.pt"
    rng = random.Random(13)
    kills, torn_writes, lost = 0, 0, []
    for attempt in range(8):
        during_write = attempt >= 3  # three kills at random moments, then kills in the middle of a write
        if during_write and kills > 3 and torn_writes:
            break
        proc = start_training(config, resume=checkpoint.exists())
        seen = checkpoint.stat().st_mtime_ns if checkpoint.exists() else 0
        # only once this run has trained (a fresh checkpoint): a kill while starting up loses no work
        if not wait_for(lambda: checkpoint.exists() and checkpoint.stat().st_mtime_ns != seen, proc):
            break  # finished
        if during_write:
            if not wait_for(lambda: temporaries(out), proc, poll=0.0005):
                break
        else:
            time.sleep(rng.uniform(0, 2 * interval))
        proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        proc.wait()
        if proc.returncode != -signal.SIGKILL:
            break  # it had finished: nothing was killed
        kills += 1
        torn_writes += bool(temporaries(out))
        lost.append(killed_at - checkpoint.stat().st_mtime)
        safe_load(str(checkpoint), CHECKPOINT_FORMAT)  # never torn: readable after every kill
    print(f"interval {interval:.2f} s, {kills} kills, {torn_writes} in a checkpoint write, seconds lost: {lost}")
    assert kills >= 4 and torn_writes >= 1, (kills, torn_writes)
    # a kill loses what was done since the last checkpoint: one interval, plus the step and the write
    # under way when it was due (generous: this machine is shared)
    assert max(lost) < interval + 2.0, lost

    proc = start_training(config, resume=True)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    assert not temporaries(out)  # what the torn writes left was cleaned up
    a = safe_load(str(tmp_path / "ref" / "checkpoint.pt"), CHECKPOINT_FORMAT)
    b = safe_load(str(checkpoint), CHECKPOINT_FORMAT)
    assert a["header"]["step"] == b["header"]["step"] == reference.steps
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for pid, state in a["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg_sq"], b["optimizer"]["state"][pid]["exp_avg_sq"])
    def scores(history):  # everything but the speed
        return [{k: v for k, v in h.items() if k != "audio_seconds_per_second"} for h in history]

    assert scores(a["header"]["history"]) == scores(b["header"]["history"])
    epochs = [json.loads(line)["epoch"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, reference.epochs_done + 1))  # no epoch logged twice


FULL_DISK = """\
import hashlib, json, os, subprocess, sys

out, report = sys.argv[1], sys.argv[2]
asr = [sys.executable, "-m", "cli.main", "train", sys.argv[3]]
digest = lambda: hashlib.sha256(open(os.path.join(out, "checkpoint.pt"), "rb").read()).hexdigest()
result = {}
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", out], check=True)
first = subprocess.run(asr + ["--max-steps", "2"], capture_output=True, text=True)
result["first"] = [first.returncode, first.stderr]
result["before"] = digest()
st = os.statvfs(out)
with open(os.path.join(out, "filler"), "wb") as fh:  # leave 16 kB: config.yaml fits, a checkpoint does not
    fh.write(bytes(st.f_bavail * st.f_frsize - 16384))
full = subprocess.run(asr + ["--resume", "--max-steps", "2"], capture_output=True, text=True)
result["full"] = [full.returncode, full.stderr, digest(), sorted(os.listdir(out))]
os.unlink(os.path.join(out, "filler"))
subprocess.run(["mount", "-o", "remount,ro", out], check=True)
readonly = subprocess.run(asr + ["--resume", "--max-steps", "2"], capture_output=True, text=True)
result["readonly"] = [readonly.returncode, readonly.stderr, digest()]
json.dump(result, open(report, "w"))
"""


def test_full_disk_or_read_only_folder_during_a_checkpoint_write(tmp_path, digits_corpus):
    """A real full disk: a 4 MB tmpfs, mounted in a user namespace of our own (no root needed)."""
    namespace = ["unshare", "--user", "--map-root-user", "--mount"]
    if subprocess.run([*namespace, "true"], capture_output=True).returncode != 0:
        pytest.skip("needs user namespaces (unshare --user --mount) to mount a small tmpfs")
    out = tmp_path / "out"
    out.mkdir()
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(data=digits_corpus, out=out, epochs=2, minutes=0))
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK)
    report = tmp_path / "report.json"
    proc = subprocess.run([*namespace, sys.executable, str(script), str(out), str(report), str(config)], cwd=REPO,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    r = json.loads(report.read_text())
    assert r["first"][0] == 0, r["first"][1]
    code, err, digest, files = r["full"]
    assert code == 1 and one_error_line(err).endswith(
        "checkpoint.pt: cannot write (No space left on device); the previous file is unchanged"), err
    assert digest == r["before"] and files == ["checkpoint.pt", "config.yaml", "filler"]
    code, err, digest = r["readonly"]
    assert code == 1 and "Read-only file system" in one_error_line(err), err
    assert digest == r["before"]


def one_error_line(stderr: str) -> str:
    """The error, which must be stderr's last line and its only `asr: error:` line (progress lines may precede it)."""
    lines = stderr.splitlines()
    assert "Traceback" not in stderr and [l for l in lines if l.startswith("asr: error: ")] == lines[-1:], stderr
    return lines[-1]
