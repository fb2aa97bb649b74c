"""Turning per-frame log-probabilities into text."""

from __future__ import annotations

import torch

from .text import Vocabulary


def greedy_ids(log_probs: torch.Tensor, length: int, blank: int = 0) -> list[int]:
    """Best label per frame, repeats merged, blanks removed (one utterance, (frames, vocab))."""
    best = log_probs[:length].argmax(dim=-1)
    if best.numel() == 0:
        return []
    keep = torch.ones_like(best, dtype=torch.bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(i) for i in best[keep & (best != blank)]]


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, vocab: Vocabulary) -> list[str]:
    """Batch (batch, frames, vocab) -> one transcript per utterance."""
    return [vocab.decode(greedy_ids(log_probs[b], int(lengths[b]), vocab.blank)) for b in range(log_probs.shape[0])]
