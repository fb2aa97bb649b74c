"""Stage 2 of recipes/punctuation: train the tagger on DATA/train.*.jsonl (validated on
DATA/valid.*.jsonl after each epoch) and save it as MODEL."""

import argparse
import glob
import os
import sys

import torch

from asr.punctuation import TaggerConfig, read_labelled, train_tagger


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("model")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core machine)")
    ap.add_argument("--vocab-size", type=int, default=20000)
    ap.add_argument("--hidden", type=int, default=TaggerConfig.hidden)
    ap.add_argument("--max-minutes", type=float, default=None, help="stop training after this long")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, valid, sources = [], [], []
    for path in sorted(glob.glob(os.path.join(args.data, "train.*.jsonl"))):
        source = path.split(".")[-2]
        sources.append(source)
        train += read_labelled(path)
        valid += read_labelled(os.path.join(args.data, f"valid.{source}.jsonl"))
    if not train:
        sys.exit(f"{args.data}: no train.*.jsonl (run stage 1)")
    log = lambda line: print(line, flush=True)  # noqa: E731
    tagger = train_tagger(train, valid, vocab_size=args.vocab_size, epochs=args.epochs,
                          config=TaggerConfig(hidden=args.hidden), max_minutes=args.max_minutes, log=log)
    tagger.metadata["sources"] = sources
    tagger.save(args.model)
    print(f"saved {args.model} ({os.path.getsize(args.model) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
