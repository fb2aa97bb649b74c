"""Write a training run's latest checkpoint as a model file, to evaluate a run mid-epoch:

    python recipes/default/checkpoint_model.py EXP_DIR OUTPUT.pt
    asr evaluate data/real/manifests/dev.jsonl --model OUTPUT.pt --decoder greedy

EXP_DIR holds config.yaml and checkpoint.pt (what `asr train` writes); the model file records the step.
"""

from __future__ import annotations

import os
import sys

from asr.config import load_config
from asr.modelfile import save_model
from asr.train import CHECKPOINT_NAME, TrainConfig, Trainer


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: python recipes/default/checkpoint_model.py EXP_DIR OUTPUT.pt")
    exp, output = sys.argv[1:3]
    # the run's own config, without its data: the checkpoint carries weights and normalisation
    cfg = load_config(TrainConfig, os.path.join(exp, "config.yaml"), ["valid_data=[]", "cache_features=false"])
    trainer = Trainer(cfg, log=lambda _m: None)
    trainer.load_checkpoint(os.path.join(exp, CHECKPOINT_NAME))
    save_model(trainer.bundle({"checkpoint_step": trainer.state.step}), output)
    print(f"{output}: step {trainer.state.step} (epoch {trainer.state.epoch + 1}, batch {trainer.state.batch_in_epoch})")


if __name__ == "__main__":
    main()
