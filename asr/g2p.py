"""Grapheme-to-phoneme: pronunciations for words outside the lexicon (a user's LM, hotwords, rare words).

A small BiLSTM-CTC over letters, trained on CMUdict (`recipes/g2p`): each letter is read `repeat` times
(with its position in the repeat), so that a letter can become several phones ("x" -> K S), and CTC
picks the phones and their alignment. Greedy decoding; no lookup of known words here (the lexicon does
that). The shipped model is `asr/pretrained/g2p.pt`; its phone error rate on held-out CMUdict words is
in recipes/g2p/README.md.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .errors import ModelFileError
from .metrics import edit_distance
from .text import PHONES

LETTERS = "'abcdefghijklmnopqrstuvwxyz"  # what normalised words are made of
DEFAULT_G2P = os.path.join(os.path.dirname(__file__), "pretrained", "g2p.pt")


@dataclass
class G2PConfig:
    embed: int = 64
    hidden: int = 128  # per direction
    layers: int = 2
    repeat: int = 2  # steps per letter
    dropout: float = 0.1


class G2PNet(nn.Module):
    def __init__(self, cfg: G2PConfig):
        super().__init__()
        self.cfg = cfg
        self.letters = nn.Embedding(len(LETTERS) + 1, cfg.embed, padding_idx=0)
        self.position = nn.Embedding(cfg.repeat, cfg.embed)
        self.lstm = nn.LSTM(cfg.embed, cfg.hidden, cfg.layers, batch_first=True, bidirectional=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.out = nn.Linear(2 * cfg.hidden, len(PHONES) + 1)  # 0: CTC blank

    def forward(self, letters: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """letters (batch, max letters) ids, 0-padded -> log-probs (batch, steps, phones + 1), step lengths."""
        r = self.cfg.repeat
        x = self.letters(letters).repeat_interleave(r, dim=1)
        x = x + self.position.weight.repeat(letters.shape[1], 1)[None]
        steps = lengths * r
        packed = nn.utils.rnn.pack_padded_sequence(x, steps.cpu(), batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        return self.out(y).log_softmax(-1), steps


def _letter_ids(words: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    index = {c: i + 1 for i, c in enumerate(LETTERS)}
    ids = [[index[c] for c in w if c in index] or [index["'"]] for w in words]
    lengths = torch.tensor([len(i) for i in ids])
    padded = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
    for b, seq in enumerate(ids):
        padded[b, : len(seq)] = torch.tensor(seq)
    return padded, lengths


class G2P:
    """A trained G2P network: words -> one pronunciation each (ARPAbet phones, no stress)."""

    def __init__(self, net: G2PNet, metadata: dict | None = None):
        self.net = net.eval()
        self.metadata = metadata or {}

    @torch.inference_mode()
    def predict(self, words: list[str], batch_size: int = 512) -> list[list[str]]:
        out: list[list[str]] = []
        for i in range(0, len(words), batch_size):
            letters, lengths = _letter_ids(words[i : i + batch_size])
            log_probs, steps = self.net(letters, lengths)
            best = log_probs.argmax(-1)
            for b in range(best.shape[0]):
                path = best[b, : int(steps[b])].tolist()
                phones = [p for j, p in enumerate(path) if p != 0 and (j == 0 or p != path[j - 1])]
                out.append([PHONES[p - 1] for p in phones])
        return out

    def save(self, path: str) -> None:
        from .modelfile import FORMAT_VERSION, G2P_FORMAT, atomic_save

        header = {"config": asdict(self.net.cfg), "letters": LETTERS, "phones": PHONES, "metadata": self.metadata}
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        atomic_save({"format": G2P_FORMAT, "version": FORMAT_VERSION, "header": json.dumps(header), "state_dict": state},
                    path)


def load_g2p(path: str | None = None) -> G2P | None:
    """The G2P model at `path`, or the shipped one (None when none is installed)."""
    from .modelfile import G2P_FORMAT, safe_load

    if path is None:
        if not os.path.exists(DEFAULT_G2P):
            return None
        path = DEFAULT_G2P
    obj = safe_load(path, G2P_FORMAT)
    header = obj["header"]
    try:
        if header["letters"] != LETTERS or header["phones"] != PHONES:
            raise ValueError("its letters or phones differ from this asr's")
        net = G2PNet(G2PConfig(**header["config"]))
        net.load_state_dict(obj["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: G2P model is damaged ({str(exc).splitlines()[0]})") from None
    return G2P(net, header.get("metadata", {}))


def phone_error_rate(g2p: G2P, words: dict[str, list[list[str]]]) -> tuple[float, float]:
    """(phone error rate, word error rate) of `g2p` against reference pronunciations; a word with
    several counts its closest one."""
    names = sorted(words)
    errors = length = wrong = 0
    for word, guess in zip(names, g2p.predict(names)):
        best = min(words[word], key=lambda ref: edit_distance(ref, guess) / max(len(ref), 1))
        e = edit_distance(best, guess)
        errors, length, wrong = errors + e, length + len(best), wrong + (e > 0)
    return errors / max(length, 1), wrong / max(len(names), 1)


def train_g2p(entries: dict[str, list[list[str]]], held_out: int = 2000, epochs: int = 8, batch_size: int = 256,
              lr: float = 2e-3, seed: int = 1, config: G2PConfig | None = None, log=print) -> tuple[G2P, dict]:
    """Train on every word of `entries` but `held_out` random ones, scored after each epoch; returns the
    model and its metadata (held-out phone and word error rates, sizes, time)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    cfg = config or G2PConfig()
    words = sorted(w for w in entries if w and all(c in LETTERS for c in w))
    rng.shuffle(words)
    test = {w: entries[w] for w in words[:held_out]}
    pairs = [(w, p) for w in words[held_out:] for p in entries[w] if 0 < len(p) <= cfg.repeat * len(w)]
    net = G2PNet(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    steps = epochs * ((len(pairs) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    ctc = nn.CTCLoss(zero_infinity=True)
    phone_index = {p: i + 1 for i, p in enumerate(PHONES)}
    model = G2P(net)
    start = time.time()
    for epoch in range(1, epochs + 1):
        net.train()
        rng.shuffle(pairs)
        total = 0.0
        batches = range(0, len(pairs), batch_size)
        for i in batches:
            chunk = pairs[i : i + batch_size]
            letters, lengths = _letter_ids([w for w, _ in chunk])
            targets = [torch.tensor([phone_index[p] for p in pron]) for _, pron in chunk]
            log_probs, out_lengths = net(letters, lengths)
            loss = ctc(log_probs.transpose(0, 1), torch.cat(targets), out_lengths,
                       torch.tensor([len(t) for t in targets]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            total += loss.item()
        net.eval()
        per, wer = phone_error_rate(model, test)
        log(f"epoch {epoch}/{epochs}: loss {total / len(batches):.3f}, held-out PER {100 * per:.2f} %, "
            f"word error {100 * wer:.1f} % ({time.time() - start:.0f} s)")
        sys.stdout.flush()
    metadata = {"trained_on": "CMUdict", "train_words": len(words) - len(test), "train_pronunciations": len(pairs),
                "held_out_words": len(test), "held_out_per": round(per, 4), "held_out_word_error": round(wer, 4),
                "epochs": epochs, "seed": seed, "train_seconds": round(time.time() - start)}
    model.metadata = metadata
    return model, metadata
