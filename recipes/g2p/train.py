"""Train the grapheme-to-phoneme model on CMUdict, score it on held-out words, write it.

    python recipes/g2p/train.py CMUDICT OUT.pt [--epochs N] [--held-out N] [--threads N]

The held-out words (a seeded random 2,000) are never trained on; their phone error rate is printed
after every epoch and stored in the model's metadata.
"""

import argparse
import json

import torch

from asr.g2p import train_g2p
from asr.lexicon import read_pronunciations
from asr.text import PHONES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cmudict")
    ap.add_argument("output")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--held-out", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    entries = read_pronunciations(args.cmudict, PHONES)
    model, metadata = train_g2p(entries, held_out=args.held_out, epochs=args.epochs)
    model.save(args.output)
    print(json.dumps(metadata))


if __name__ == "__main__":
    main()
