"""Training throughput (seconds of audio per second) of a training config, on whatever device torch
finds, without downloading a corpus: utterances of noise with random transcripts, shaped like
LibriSpeech's (10-16 s, about 15 characters per second), go through the real training step
(features cached in memory, SpecAugment, CTC, AdamW; cuDNN LSTM and autocast on a GPU).

    python recipes/benchmarks/train_throughput.py recipes/librispeech/conf/train-960.yaml \
        --precision fp32 bf16 --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time

import numpy as np
import soundfile as sf
import torch

from asr.config import load_config
from asr.data import collate
from asr.train import TrainConfig, Trainer


def make_corpus(folder: str, utterances: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    chapter = os.path.join(folder, "1", "1")
    os.makedirs(chapter)
    lines = []
    for i in range(utterances):
        seconds = rng.uniform(10, 16)
        audio = np.random.default_rng(i).normal(0, 0.05, int(seconds * 16000)).astype(np.float32)
        sf.write(os.path.join(chapter, f"1-1-{i:04d}.flac"), audio, 16000)
        words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))
                 for _ in range(int(seconds * 2.5))]
        lines.append(f"1-1-{i:04d} {' '.join(words).upper()}")
    with open(os.path.join(chapter, "1-1.trans.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def measure(config: str, data: str, precision: str, steps: int, warmup: int, overrides: list[str]) -> dict:
    cfg = load_config(TrainConfig, config, [f"train_data=[{data}]", "valid_data=[]", "progress=false",
                                            "cache_features=true", f"precision={precision}", *overrides])
    trainer = Trainer(cfg, log=lambda _m: None)
    trainer.fill_feature_caches()
    trainer.compute_normalization()
    trainer.model.train()
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    done, audio, start = 0, 0.0, 0.0
    epoch = 0
    while done < warmup + steps:
        trainer.sampler.set_epoch(epoch)
        for indices in trainer.sampler:
            if done == warmup:
                sync()
                start = time.perf_counter()
            trainer.train_step(collate([trainer.train_set[i] for i in indices]))
            if done >= warmup:
                audio += sum(trainer.train_utts[i].duration for i in indices)
            done += 1
            if done >= warmup + steps:
                break
        epoch += 1
    sync()
    elapsed = time.perf_counter() - start
    return {"config": config, "precision": precision, "device": str(trainer.device),
            "device_name": torch.cuda.get_device_name(trainer.device) if trainer.device.type == "cuda" else "cpu",
            "hidden_size": cfg.model.hidden_size, "num_layers": cfg.model.num_layers,
            "max_batch_seconds": cfg.max_batch_seconds, "steps": steps,
            "seconds_per_step": elapsed / steps, "audio_seconds_per_second": audio / elapsed,
            "hours_960_per_epoch": 960 * 3600 / (audio / elapsed) / 3600}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        make_corpus(folder, args.utterances)
        for precision in args.precision:
            print(json.dumps(measure(args.config, folder, precision, args.steps, args.warmup, args.overrides)),
                  flush=True)


if __name__ == "__main__":
    main()
