"""Export the acoustic network to TorchScript or ONNX, for serving without asr.

The exported graph maps log-mel (or MFCC) frames of one utterance, shape (1, frames, dim), to
per-frame log-probabilities (1, ceil(frames / stack), vocab), normalisation included. Feature
extraction and decoding stay outside it; a JSON file beside the export (`FILE.json`) carries what
they need: the feature config, the vocabulary and the model's metadata.
"""

from __future__ import annotations

import importlib.util
import json
import os
import warnings

import torch
from torch import nn

from .errors import AsrError
from .model import stack_frames
from .modelfile import ModelBundle

FORMATS = ("torchscript", "onnx")


class ExportError(AsrError):
    """The export could not be written (missing onnx package, unwritable path)."""


class _Network(nn.Module):
    """The network of an AcousticModel for one unpadded utterance, in TorchScript-compatible form."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.lstm = model.lstm
        self.output = model.output
        self.register_buffer("mean", model.feature_mean.clone())
        self.register_buffer("std", model.feature_std.clone())
        self.stack = int(model.config.stack_frames)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(stack_frames((feats - self.mean) / self.std, self.stack))
        return self.output(y).log_softmax(dim=-1)


def export_model(bundle: ModelBundle, path: str, fmt: str) -> str:
    """Write the network of `bundle` to `path` in `fmt` (torchscript | onnx) plus `path`.json."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    with warnings.catch_warnings():  # torch marks TorchScript deprecated; it still works (tested)
        warnings.simplefilter("ignore")
        network = torch.jit.script(_Network(bundle.model.eval()).eval())
    example = torch.zeros(1, 120, bundle.model.input_dim)
    tmp = path + ".tmp"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "torchscript":
                torch.jit.save(network, tmp)
            else:
                if importlib.util.find_spec("onnx") is None:
                    raise ExportError("ONNX export needs the onnx package: pip install 'asr[export]'")
                torch.onnx.export(network, (example,), tmp, input_names=["features"], output_names=["log_probs"],
                                  dynamic_axes={"features": {1: "frames"}, "log_probs": {1: "steps"}},
                                  opset_version=17, dynamo=False)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror or exc})") from None
    os.replace(tmp, path)
    with open(path + ".json", "w", encoding="utf-8") as fh:
        json.dump({"format": fmt, "input": "features (1, frames, dim)", "output": "log_probs (1, steps, vocab)",
                   **bundle.header()}, fh, indent=1)
    return path


def load_torchscript(path: str) -> torch.jit.ScriptModule:
    """An exported TorchScript network (see the module docstring for its input and output)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(path)
