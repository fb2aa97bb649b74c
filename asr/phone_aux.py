"""An auxiliary phone CTC loss at an intermediate BiLSTM layer (hierarchical multitask CTC).

A character model must learn English spelling and sound at once. A second CTC output over CMUdict's
phones, read from a lower layer, gives the lower layers a target that is closer to the sound
(Fernández et al. 2007; Krishna et al. 2018; Sanabria and Metze 2018: phone targets at a lower layer
improve character and subword CTC). The phone head exists only in training: it is saved in
checkpoints (so that a run resumes exactly) but never in the model file, and costs nothing at
inference.

Config (`phone_aux:` in a training config): `layer` (1-based BiLSTM layer the head reads; 0: off) and
`weight` (the step's loss is (1 - weight) x character CTC + weight x phone CTC, each per utterance,
divided by its target length as the character loss is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from .errors import ConfigError
from .lexicon import Lexicon
from .text import Vocabulary


@dataclass
class PhoneAuxConfig:
    layer: int = 0  # the BiLSTM layer (1-based) whose output the phone head reads; 0: no phone loss
    weight: float = 0.3  # share of the phone loss in the step's loss

    def validate(self, num_layers: int) -> None:
        if not 0 <= self.layer <= num_layers:
            raise ConfigError(f"phone_aux.layer must be 0 (off) to model.num_layers ({num_layers}), got {self.layer}")
        if not 0.0 < self.weight < 1.0:
            raise ConfigError(f"phone_aux.weight must be between 0 and 1, got {self.weight}")


class PhoneHead(nn.Module):
    """Linear phone output over one BiLSTM layer and its CTC loss; targets from a phone lexicon
    (CMUdict, and the G2P model for words outside it), each transcript's encoded once."""

    def __init__(self, cfg: PhoneAuxConfig, hidden_size: int, lexicon: Lexicon):
        super().__init__()
        self.layer = cfg.layer
        self.weight = cfg.weight
        self.lexicon = lexicon
        self.output = nn.Linear(2 * hidden_size, lexicon.vocab.size)
        self.ctc = nn.CTCLoss(blank=lexicon.vocab.blank, reduction="none", zero_infinity=True)
        self._targets: dict[str, torch.Tensor] = {}

    @classmethod
    def build(cls, cfg: PhoneAuxConfig, hidden_size: int, texts: Sequence[str], lexicon: str = "",
              g2p: str = "", log: Callable[[str], None] = print) -> "PhoneHead":
        """The head for a run whose training transcripts are `texts`: every word outside the lexicon is
        pronounced by the G2P model now, once."""
        phones = Lexicon.for_vocab(Vocabulary.for_units("phones"), lexicon or None, g2p or None)
        unknown = phones.pronounce_unknown(texts, "phone_aux")
        log(f"phone_aux: phone CTC at layer {cfg.layer}, weight {cfg.weight}; "
            f"{unknown} training words pronounced by the G2P model")
        return cls(cfg, hidden_size, phones)

    def targets(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = []
        for text in texts:
            if text not in self._targets:
                self._targets[text] = torch.tensor(self.lexicon.encode(text), dtype=torch.long)
            ids.append(self._targets[text])
        return torch.cat(ids), torch.tensor([len(i) for i in ids], dtype=torch.long)

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """Per-utterance phone CTC loss over `hidden` (batch, steps, 2 * hidden_size), divided by each
        target's length."""
        log_probs = self.output(hidden).float().log_softmax(dim=-1)
        targets, target_lengths = self.targets(texts)
        device = hidden.device
        loss = self.ctc(log_probs.transpose(0, 1), targets.to(device), lengths, target_lengths.to(device))
        return loss / target_lengths.to(device).clamp(min=1)

    def mix(self, chars: torch.Tensor, phones: torch.Tensor) -> torch.Tensor:
        """The step's per-utterance loss from the character and phone losses."""
        return (1.0 - self.weight) * chars + self.weight * phones


class WithPhoneHead(nn.Module):
    """The acoustic model and its phone head as one module (so that DistributedDataParallel averages the
    head's gradients too): forward -> log_probs, out_lengths, per-utterance phone loss."""

    def __init__(self, model: nn.Module, head: PhoneHead):
        super().__init__()
        self.model = model
        self.head = head

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, texts: Sequence[str]):
        log_probs, out_lengths, hidden = self.model(feats, lengths, taps=(self.head.layer,))
        return log_probs, out_lengths, self.head(hidden, out_lengths, texts)
