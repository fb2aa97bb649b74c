"""Split the Free Spoken Digit Dataset subset into manifests, as its authors do: takes 0-4 of
every speaker are the test set, the rest is training. Speaker 9004 can also be held out entirely
(--unseen-speaker) to measure a voice the model never heard."""

from __future__ import annotations

import argparse
import os

from asr.data import scan_librispeech, write_manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("fsdd", help="FSDD folder in the LibriSpeech layout (../shared/data/fsdd)")
    parser.add_argument("out", help="folder for train.jsonl, test.jsonl and unseen.jsonl")
    parser.add_argument("--unseen-speaker", default="9004")
    args = parser.parse_args()
    utts = scan_librispeech(args.fsdd)
    take = lambda u: int(u.id.rsplit("-", 1)[1]) % 50  # noqa: E731  (utterances numbered digit*50 + take)
    unseen = [u for u in utts if u.speaker == args.unseen_speaker]
    seen = [u for u in utts if u.speaker != args.unseen_speaker]
    splits = {
        "train": [u for u in seen if take(u) >= 5],
        "test": [u for u in seen if take(u) < 5],
        "unseen": unseen,
    }
    for name, part in splits.items():
        write_manifest(part, os.path.join(args.out, f"{name}.jsonl"))
        print(f"{name}: {len(part)} utterances, {sum(u.duration for u in part) / 60:.1f} min")


if __name__ == "__main__":
    main()
