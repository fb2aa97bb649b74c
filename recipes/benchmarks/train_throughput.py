"""Training throughput (seconds of audio per second) of a training config, on whatever device torch
finds, without downloading a corpus: utterances of noise with random transcripts, shaped like
LibriSpeech's (10-16 s, about 15 characters per second), go through the real training step
(features cached in memory, SpecAugment, CTC, AdamW; cuDNN LSTM and autocast on a GPU).

    python recipes/benchmarks/train_throughput.py recipes/librispeech/conf/train-960.yaml \
        --precision fp32 bf16 --steps 30

Variants of one config are measured interleaved, a step of each in turn, on the same cached features,
so that load from other work on the machine falls on all of them alike; `--data` takes real utterances:

    python recipes/benchmarks/train_throughput.py recipes/default/conf/units.yaml \
        --data data/real/manifests/train_nosp.jsonl --utterances 160 --threads 1 --steps 5 \
        --variant base --variant bf16:precision=bf16 --variant stack4:model.stack_frames=4
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


def build(config: str, data: str, overrides: list[str], cache: dict | None) -> Trainer:
    cfg = load_config(TrainConfig, config, [f"train_data=[{data}]", "valid_data=[]", "progress=false", "init_from=",
                                            "cache_features=true", *overrides])
    trainer = Trainer(cfg, log=lambda _m: None)
    if cache is not None:  # same audio and features: compute them once for every variant
        trainer.train_set.cache = cache
    trainer.fill_feature_caches()
    trainer.compute_normalization()
    trainer.model.train()
    return trainer


def measure(config: str, data: str, variants: dict[str, list[str]], steps: int, warmup: int) -> list[dict]:
    """Training steps of every variant, interleaved one step each in turn (so that other load on the
    machine falls on all alike), on the same cached features; seconds of audio per second each."""
    trainers, cache = {}, None
    for name, overrides in variants.items():
        trainers[name] = build(config, data, overrides, cache)
        cache = trainers[name].train_set.cache
    batches = {name: [b for e in range(1 + (warmup + steps) // max(len(t.sampler), 1))
                      for b in (t.sampler.set_epoch(e) or list(t.sampler))] for name, t in trainers.items()}
    totals = {name: [0.0, 0.0] for name in trainers}
    for k in range(warmup + steps):
        for name, trainer in trainers.items():
            indices = batches[name][k]
            batch = collate([trainer.train_set[i] for i in indices])
            sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
            sync()
            start = time.perf_counter()
            trainer.train_step(batch)
            sync()
            if k >= warmup:
                totals[name][0] += time.perf_counter() - start
                totals[name][1] += sum(trainer.train_utts[i].duration for i in indices)
    first = None
    results = []
    for name, (elapsed, audio) in totals.items():
        t = trainers[name]
        rate = audio / elapsed
        first = first or rate
        results.append({"variant": name, "overrides": variants[name], "config": config,
                        "device": str(t.device), "threads": torch.get_num_threads(),
                        "device_name": torch.cuda.get_device_name(t.device) if t.device.type == "cuda" else "cpu",
                        "hidden_size": t.cfg.model.hidden_size, "num_layers": t.cfg.model.num_layers,
                        "stack_frames": t.cfg.model.stack_frames, "precision": t.cfg.precision,
                        "max_batch_seconds": t.cfg.max_batch_seconds, "steps": steps,
                        "seconds_per_step": elapsed / steps, "audio_seconds_per_second": rate,
                        "relative": rate / first, "hours_960_per_epoch": 960 / rate})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--precision", nargs="+", default=None, choices=["fp32", "bf16", "fp16"],
                        help="One variant per precision (shorthand for --variant fp32: --variant bf16:precision=bf16).")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME[:KEY=VALUE,...]",
                        help="A variant of the config to measure (repeatable); the first is the baseline.")
    parser.add_argument("--data", default=None, metavar="MANIFEST",
                        help="Real utterances (a .jsonl manifest): a random --utterances of them (default: noise).")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Applied to every variant.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = {}
    for spec in args.variant:
        name, _, sets = spec.partition(":")
        variants[name] = [*args.overrides, *(s for s in sets.split(",") if s)]
    for precision in args.precision or ([] if variants else ["fp32"]):
        variants[precision] = [*args.overrides, f"precision={precision}"]
    with tempfile.TemporaryDirectory() as folder:
        if args.data:
            from asr.data import read_manifest, write_manifest

            utts = read_manifest(args.data)
            data = os.path.join(folder, "sample.jsonl")
            write_manifest(random.Random(0).sample(utts, min(args.utterances, len(utts))), data)
        else:
            make_corpus(folder, args.utterances)
            data = folder
        for result in measure(args.config, data, variants, args.steps, args.warmup):
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
