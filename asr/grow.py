"""Growing a network: a deeper BiLSTM whose bottom layers start as a trained shallower one's.

Layer-wise construction of deep BiLSTM encoders (Zeyer et al. 2018, RETURNN: start shallow, add
layers on top) lets a 5-layer model start from the shipped 3-layer one instead of from random
weights. The trained layers keep their weights and their normalisation. Each new layer starts as a
near-copy of its input (Net2DeeperNet, Chen et al. 2016: a function-preserving deepening), so that
the grown network starts where the trained one was, output layer included, instead of at CTC's
all-blank plateau: its forward direction passes the first half of its input through its cell, its
backward direction the second half (input and output gates open, forget gate shut, no recurrence),
plus a little noise that lets the zero weights learn apart.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from .errors import ConfigError
from .model import ModelConfig

_LAYER = re.compile(r"^lstm\.(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")


def check_growable(theirs: ModelConfig, ours: ModelConfig, where: str) -> None:
    """`theirs` can seed `ours` when only the depth grows (same width, frame stacking and dropout aside)."""
    if theirs.hidden_size != ours.hidden_size or theirs.stack_frames != ours.stack_frames:
        raise ConfigError(f"{where}: a network grows only in depth: its hidden_size and stack_frames "
                          f"({theirs.hidden_size}, {theirs.stack_frames}) must be this config's "
                          f"({ours.hidden_size}, {ours.stack_frames})")
    if theirs.num_layers > ours.num_layers:
        raise ConfigError(f"{where}: has {theirs.num_layers} layers, more than this config's {ours.num_layers}")


def grown_state(state: dict[str, torch.Tensor], keep_output: bool) -> dict[str, torch.Tensor]:
    """The entries of a trained model's state that seed a deeper one: its LSTM layers (as the bottom
    layers: their names already say which layer they are), its normalisation, and its output layer
    when `keep_output` (the new top layers feed it something else, so callers usually start it fresh)."""
    return {k: v for k, v in state.items()
            if _LAYER.match(k) or k.startswith("feature_") or (keep_output and k.startswith("output."))}


def pass_through(lstm: nn.LSTM, layers: range, noise: float = 0.01) -> None:
    """Initialise `layers` of a bidirectional LSTM (input size 2 x hidden) so that each outputs about
    tanh(tanh(x)) of its input x: unit by unit, the forward direction's cell carries input dims [0, h),
    the backward's [h, 2h). Uses torch's global generator (seeded by training)."""
    h = lstm.hidden_size
    with torch.no_grad():
        for layer in layers:
            for direction, suffix in enumerate(("", "_reverse")):
                w_ih, w_hh = getattr(lstm, f"weight_ih_l{layer}{suffix}"), getattr(lstm, f"weight_hh_l{layer}{suffix}")
                b_ih, b_hh = getattr(lstm, f"bias_ih_l{layer}{suffix}"), getattr(lstm, f"bias_hh_l{layer}{suffix}")
                for weights in (w_ih, w_hh):
                    weights.uniform_(-noise, noise)
                # gates in PyTorch's order: input, forget, cell (g), output
                w_ih[2 * h:3 * h, direction * h:(direction + 1) * h] += torch.eye(h)
                b_ih.zero_()
                b_hh.zero_()
                b_ih[0:h] = 5.0  # input gate open
                b_ih[h:2 * h] = -5.0  # forget gate shut: the cell holds this frame's input only
                b_ih[3 * h:4 * h] = 5.0  # output gate open
