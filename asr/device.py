"""Where the network runs: one rule for training (`device:` in a config) and inference (`--device`).

`auto` is the first GPU when torch sees a usable one, else the CPU. Asking for a GPU that is not
there is a ConfigError (one `asr: error:` line from the CLI), never a traceback from inside torch.
torch is imported only when a device is resolved, so the CLI can check a name without it.
"""

from __future__ import annotations

import re

from .errors import ConfigError

DEVICE_NAMES = "auto, cpu, cuda or cuda:N"

# Inference: padded seconds of audio per network batch, by device type. A GPU needs large batches
# to be busy; a CPU is as fast with a few utterances per batch (README "Measured here").
BATCH_SECONDS = {"cpu": 240.0, "cuda": 1200.0}


def check_device_name(name: str) -> None:
    """Raise ConfigError unless `name` is auto, cpu, cuda or cuda:N."""
    if not isinstance(name, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", name):
        raise ConfigError(f"device must be {DEVICE_NAMES}, got {name!r}")


def resolve_device(name: str = "auto"):
    """A torch.device for auto | cpu | cuda | cuda:N; a missing or unusable GPU is a ConfigError."""
    import torch

    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: torch sees no GPU here (use cpu or auto)")
        count = torch.cuda.device_count()
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            raise ConfigError(f"device {name!r}: torch sees {count} GPU{'s' if count > 1 else ''} "
                              f"(cuda:0 to cuda:{count - 1})")
    return torch.device(name)
