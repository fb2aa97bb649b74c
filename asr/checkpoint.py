"""Training checkpoints: everything that decides the next step (weights, optimiser moments, the
`TrainState` counters, every random generator), written atomically, so that a run resumed from one
continues as if never stopped. Resuming checks that the checkpoint trains the same network."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from . import __version__
from .config import to_dict
from .errors import ConfigError, ModelFileError
from .modelfile import CHECKPOINT_FORMAT, FORMAT_VERSION, atomic_save, safe_load
from .phone_aux import PhoneAuxConfig

# config sections a checkpoint must share with the config that resumes it, and their values in
# checkpoints written before the section existed
RESUME_SECTIONS = {"features": None, "model": None, "phone_aux": to_dict(PhoneAuxConfig())}


@dataclass
class TrainState:
    """Where a run stands (checkpointed)."""

    step: int = 0
    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # batches of the current epoch already done
    best_wer: float | None = None
    history: list[dict] = field(default_factory=list)
    init_metadata: dict | None = None  # the metadata of the model file the run started from
    epoch_loss: list = field(default_factory=lambda: [0.0, 0])  # sum and count of this epoch's batch losses


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), np_state[2], np_state[3], np_state[4]],
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))


def save_checkpoint(path: str, config: dict, state: TrainState, modules: dict[str, torch.nn.Module],
                    optimizer: torch.optim.Optimizer) -> None:
    """`modules`: name -> module whose weights the checkpoint carries ("model", and training-only parts)."""
    header = {"config": config, **asdict(state), "asr_version": __version__}
    atomic_save({"format": CHECKPOINT_FORMAT, "version": FORMAT_VERSION, "header": json.dumps(header),
                 **{name: module.state_dict() for name, module in modules.items()},
                 "optimizer": optimizer.state_dict(), "rng": rng_state()}, path)


def load_checkpoint(path: str, config: dict, modules: dict[str, torch.nn.Module],
                    optimizer: torch.optim.Optimizer) -> TrainState:
    """Load a checkpoint into `modules`, `optimizer` and the random generators; its TrainState."""
    obj = safe_load(path, CHECKPOINT_FORMAT)
    header = obj["header"]
    saved = header.get("config") if isinstance(header, dict) else None
    if not isinstance(saved, dict):
        raise ModelFileError(f"{path}: checkpoint is damaged (no training config)")
    for section, default in RESUME_SECTIONS.items():
        if saved.get(section, default) != config[section]:
            raise ConfigError(f"cannot resume: the {section} config differs from the one in {path}; "
                              f"use a new out_dir or the original config")
    if saved.get("units", "chars") != config["units"]:
        raise ConfigError(f"cannot resume: {path} trains {saved.get('units', 'chars')}, this config {config['units']}")
    try:
        for name, module in modules.items():
            module.load_state_dict(obj[name])
        optimizer.load_state_dict(obj["optimizer"])
        set_rng_state(obj["rng"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: checkpoint does not fit this model ({str(exc).splitlines()[0]})") from None
    return TrainState(**{k: header[k] for k in ("step", "epoch", "batch_in_epoch", "best_wer", "history")},
                      init_metadata=header.get("init_metadata"), epoch_loss=list(header.get("epoch_loss", [0.0, 0])))
