"""Normalise LM text once for the recipe: free text -> one normalised sentence per line (asr.lm),
with a word-count table for choosing the vocabulary.

    python recipes/lm/prepare_text.py OUT.txt TEXT.xz...
"""

import sys
from collections import Counter

from asr.lm import read_sentences


def main(out: str, texts: list[str]) -> None:
    counts: Counter = Counter()
    sentences = 0
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for s in read_sentences(texts):
            fh.write(s + "\n")
            counts.update(s.split())
            sentences += 1
    with open(out + ".counts.tsv", "w", encoding="utf-8") as fh:
        for w, c in counts.most_common():
            fh.write(f"{w}\t{c}\n")
    import os

    os.replace(tmp, out)
    print(f"{out}: {sentences} sentences, {sum(counts.values())} words, {len(counts)} distinct")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
