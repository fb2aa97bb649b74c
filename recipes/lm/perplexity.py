"""Perplexity of a language model on the transcripts of LibriSpeech-layout folders (KenLM's query).

    python recipes/lm/perplexity.py [--json] LM DIR...

Prints one perplexity per folder, tab-separated (OOVs included), or with --json every figure.
"""

import json
import sys

from asr.lm import perplexity, read_sentences


def main(argv: list[str]) -> None:
    as_json = argv[:1] == ["--json"]
    if as_json:
        argv = argv[1:]
    lm, folders = argv[0], argv[1:]
    results = {folder: perplexity(lm, read_sentences([folder])) for folder in folders}
    if as_json:
        print(json.dumps(results, indent=1))
    else:
        print("\t".join(f"{r['perplexity']:.1f}" for r in results.values()))


if __name__ == "__main__":
    main(sys.argv[1:])
