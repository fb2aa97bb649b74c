"""The acoustic model: normalised features -> frame stacking -> BiLSTM -> per-frame log-probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .errors import ConfigError

MAX_PARAMETERS = 10**9  # a bigger network is a typo in a config, not a model to allocate


@dataclass
class ModelConfig:
    """Architecture of the BiLSTM-CTC model; stored in every model file."""

    hidden_size: int = 256  # units per direction
    num_layers: int = 3
    dropout: float = 0.1
    stack_frames: int = 3  # frames stacked per step: 3 x 10 ms hop = 30 ms per output frame

    def validate(self) -> None:
        if self.hidden_size <= 0 or not 0 < self.num_layers <= 100:
            raise ConfigError("model.hidden_size must be positive and model.num_layers between 1 and 100")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if not 1 <= self.stack_frames <= 8:
            raise ConfigError(f"model.stack_frames must be between 1 and 8, got {self.stack_frames}")

    def parameters_needed(self, input_dim: int, vocab_size: int) -> int:
        """Weights of the network this config builds, counted before building it."""
        h, total, inputs = self.hidden_size, 0, input_dim * self.stack_frames
        for _ in range(self.num_layers):
            total += 2 * 4 * h * (inputs + h + 2)  # two directions, four gates, weights and biases
            inputs = 2 * h
        return total + (2 * h + 1) * vocab_size


def stack_frames(x: torch.Tensor, s: int) -> torch.Tensor:
    """(batch, frames, dim) -> (batch, ceil(frames / s), s * dim), zero-padding the last step.
    TorchScript-compatible: exported networks (export.py) call it too."""
    frames = x.shape[1]
    pad = (s - frames % s) % s
    if pad > 0:
        x = nn.functional.pad(x, [0, 0, 0, pad])
    return x.reshape(x.shape[0], (frames + pad) // s, s * x.shape[2])


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of (batch, steps, dim) over its first `lengths` steps; the padding stays after them."""
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    lengths = lengths.to(x.device)[:, None]
    index = torch.where(t < lengths, lengths - 1 - t, t)
    return x.gather(1, index[:, :, None].expand(-1, -1, x.shape[2]))


def bilstm(lstm: nn.Module, x: torch.Tensor, lengths: torch.Tensor, taps: tuple[int, ...] = ()) -> list[torch.Tensor]:
    """A batch_first bidirectional LSTM over padded x (batch, steps, dim) -> [(batch, steps, 2 * hidden)]:
    the top layer's output, then the outputs of the layers (1-based) listed in `taps` (training's
    auxiliary losses read them; such a call always takes the layer-by-layer path below).

    Each layer runs its two directions as padded unidirectional LSTMs, the backward one over each
    sequence reversed within its length, so that padding only ever follows an utterance's frames and
    the result is the packed-sequence result. On a CPU padded input takes PyTorch's oneDNN LSTM
    (packed sequences take its step-by-step kernel: 4.6x slower to train on 2 cores, see
    recipes/default/README.md). A GPU keeps packed sequences (cuDNN runs them natively, and would copy
    the weights of a layer called alone), as does a quantised LSTM (`quantize_int8`)."""
    if x.shape[1] == 0:  # only utterances without frames: one zero step whose output their length (0) hides
        x = nn.functional.pad(x, [0, 0, 0, 1])
    if not taps and (not isinstance(lstm, nn.LSTM) or x.device.type != "cpu"):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        return [nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]]
    per_direction = 4 if lstm.bias else 2
    weights = lstm._flat_weights
    h0 = x.new_zeros(1, x.shape[0], lstm.hidden_size)  # zero initial state, hidden and cell alike
    tapped = {}
    for layer in range(lstm.num_layers):
        if layer > 0:
            x = nn.functional.dropout(x, lstm.dropout, lstm.training)
        outputs = []
        for direction in (0, 1):
            first = (2 * layer + direction) * per_direction
            inputs = x if direction == 0 else reverse_within(x, lengths)
            y = torch._VF.lstm(inputs, (h0, h0), weights[first:first + per_direction], lstm.bias, 1, 0.0,
                               lstm.training, False, True)[0]
            outputs.append(y if direction == 0 else reverse_within(y, lengths))
        x = torch.cat(outputs, dim=2)
        tapped[layer + 1] = x
    return [x] + [tapped[t] for t in taps]


class AcousticModel(nn.Module):
    """BiLSTM over stacked frames with a linear CTC output layer.

    Normalisation statistics live in buffers so that the weights file alone fixes what
    the network sees. An utterance's output does not depend on the batch it is in
    (`bilstm`: each direction runs over padded batches with the padding after the frames).
    """

    def __init__(self, config: ModelConfig, input_dim: int, vocab_size: int):
        super().__init__()
        config.validate()
        if config.parameters_needed(input_dim, vocab_size) > MAX_PARAMETERS:
            raise ConfigError(f"model too large: {config.parameters_needed(input_dim, vocab_size) / 1e6:.0f} M parameters "
                              f"(asr builds at most {MAX_PARAMETERS / 1e6:.0f} M; lower model.hidden_size or num_layers)")
        self.config = config
        self.input_dim = input_dim
        self.vocab_size = vocab_size
        self.register_buffer("feature_mean", torch.zeros(input_dim))
        self.register_buffer("feature_std", torch.ones(input_dim))
        self.lstm = nn.LSTM(
            input_size=input_dim * config.stack_frames,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=True,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(2 * config.hidden_size, vocab_size)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        s = self.config.stack_frames
        return torch.div(lengths + s - 1, s, rounding_mode="floor")

    @property
    def frame_stride(self) -> int:
        """Input frames per output frame."""
        return self.config.stack_frames

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, taps: tuple[int, ...] = ()):
        """feats (batch, frames, dim), lengths (batch,) -> log_probs (batch, out_frames, vocab), out_lengths,
        then the outputs of the BiLSTM layers (1-based) named in `taps`, if any (auxiliary training losses)."""
        frames = feats.shape[1]
        x = (feats - self.feature_mean) / self.feature_std
        valid = torch.arange(frames, device=feats.device)[None, :] < lengths[:, None]
        x = stack_frames(x * valid[:, :, None], self.config.stack_frames)  # padding is exactly zero
        out_lengths = self.output_lengths(lengths)
        y, *tapped = bilstm(self.lstm, x, out_lengths, taps)
        logits = self.output(self.dropout(y))
        return (logits.log_softmax(dim=-1), out_lengths, *tapped)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def quantize_int8(model: AcousticModel) -> AcousticModel:
    """Dynamic int8 quantisation of the LSTM and output layer (weights int8, activations float):
    a smaller, faster model for CPU inference; its WER cost is measured by `asr benchmark`. Each
    weight row (a gate unit or an output unit) gets its own scale: on the real dev sets, default
    decoding, the round-3 default model lost 1.0 point of WER with one scale per matrix (49.0 ->
    50.0 %), 0.1 with one per row (49.1 %)."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig

    with warnings.catch_warnings():  # torch warns that its quantisation API will move; it works (tested)
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(
            model.eval(), {nn.LSTM: per_channel_dynamic_qconfig, nn.Linear: per_channel_dynamic_qconfig})
