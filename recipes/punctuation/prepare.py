"""Stage 1 of recipes/punctuation: written text -> normalised words with case and mark targets.

For each source file (one paragraph per line, documents one after another): the last TEST_WORDS
words (whole lines) are held out for testing, the VALID_WORDS before them for validation, and a gap
of GAP_WORDS words before those is used by neither, so no document is shared between training and
the held-out parts (a gap longer than any document: books are cut at 25,000 words, articles and
dialogues are far shorter). Training text is TRAIN_WORDS words taken from the rest in blocks of
BLOCK lines spread evenly over it, so that many documents contribute. Lines with neither a capital
nor a punctuation mark (SLURP's lower-case voice commands) are left out: they are not written text. Writes
OUT/{train,valid,test}.<source>.jsonl (asr.punctuation.Labelled, one paragraph per line).
"""

import argparse
import lzma
import os
import re
import sys
import time

from asr.punctuation import label_paragraph

_WRITTEN = re.compile(r"[A-Z.,?!]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("texts", nargs="+", help="SOURCE=PATH.txt.xz")
    ap.add_argument("--train-words", type=int, nargs="+", default=[2_000_000],
                    help="training words per source (one value, or one per source)")
    ap.add_argument("--valid-words", type=int, default=20_000)
    ap.add_argument("--test-words", type=int, default=100_000)
    ap.add_argument("--gap-words", type=int, default=30_000)
    ap.add_argument("--block", type=int, default=40, help="consecutive lines per training block")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    budgets = args.train_words * len(args.texts) if len(args.train_words) == 1 else args.train_words
    for spec, budget in zip(args.texts, budgets):
        source, path = spec.split("=", 1)
        start = time.time()
        with lzma.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            # a line with neither a capital nor a mark is not written text (SLURP's voice commands)
            lines = [l.strip() for l in fh if _WRITTEN.search(l)]
        sizes = [len(l.split()) for l in lines]
        cut = len(lines)
        parts = {}
        for name, want in (("test", args.test_words), ("valid", args.valid_words), (None, args.gap_words)):
            end, got = cut, 0
            while cut > 0 and got < want:
                cut -= 1
                got += sizes[cut]
            if name:
                parts[name] = lines[cut:end]
        pool = cut  # lines[:pool] may be trained on
        pool_words = sum(sizes[:pool])
        blocks = max(1, pool // args.block)
        step = max(1, int(blocks * min(1.0, budget / max(pool_words, 1))))
        stride = blocks / step  # take `step` blocks evenly spaced
        train, got, k = [], 0, 0.0
        while got < budget and int(k) < blocks:
            first = int(k) * args.block
            for l, n in zip(lines[first : first + args.block], sizes[first : first + args.block]):
                train.append(l)
                got += n
            k += stride
        parts["train"] = train
        for name, chosen in parts.items():
            words = 0
            with open(os.path.join(args.out, f"{name}.{source}.jsonl"), "w", encoding="utf-8") as out:
                for line in chosen:
                    item = label_paragraph(line)
                    if item.words:
                        out.write(item.to_json() + "\n")
                        words += len(item.words)
            print(f"{source} {name}: {len(chosen):,} paragraphs, {words:,} normalised words")
        print(f"{source}: {len(lines):,} paragraphs in the file; {time.time() - start:.0f} s")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
