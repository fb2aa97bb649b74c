"""The punctuation step on real recogniser output: before/after examples, its share of transcription
time, and the time it adds to start-up (loading the model on first use).

    python recipes/punctuation/speed.py FILE_OR_FOLDER... [--examples N] [--threads N]
"""

import argparse
import copy
import time

import torch

from asr.punctuation import default_punctuator
from asr.transcribe import load_model, transcribe_files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from cli.main import expand_inputs

    paths = expand_inputs(tuple(args.inputs), None)
    recognizer = load_model()
    decoder = recognizer.default_decoder()
    decoder.prepare()  # the LM loads once per process, before any timing
    start = time.perf_counter()
    punctuator = default_punctuator()
    load = time.perf_counter() - start
    start = time.perf_counter()
    results = [r for _, r in transcribe_files(recognizer, paths, decoder, punctuate=False)]
    transcribe_seconds = time.perf_counter() - start
    raw = copy.deepcopy(results)
    start = time.perf_counter()
    for r in results:
        punctuator.punctuate_result(r)
    punctuate_seconds = time.perf_counter() - start
    words = sum(len(r["raw_text"].split()) for r in results)
    audio = sum(r["duration"] for r in results)
    for before, after, path in list(zip(raw, results, paths))[: args.examples]:
        print(f"{path}\n  before: {before['text']}\n  after:  {after['text']}")
    print(f"{len(paths)} files, {audio:.0f} s of audio, {words:,} words: default decoding {transcribe_seconds:.2f} s "
          f"(RTF {transcribe_seconds / audio:.4f}), punctuation {punctuate_seconds:.3f} s = "
          f"{100 * punctuate_seconds / transcribe_seconds:.1f} % of it ({words / punctuate_seconds:,.0f} words/s); "
          f"loading the punctuation model {load:.3f} s; {args.threads} thread")


if __name__ == "__main__":
    main()
