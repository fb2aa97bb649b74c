"""Words the language model's lexicon does not know: do they still come out, and at what cost?

    python recipes/lm/oov.py LM RESULT.json DEV_DIR... [--model PATH] [--unk-score S] [--min-rank N]

Every dev word ranked below N in the LM's vocabulary (rarer words: names, technical terms) is taken
out of the decoder's lexicon (the LM itself is unchanged), which makes them out-of-vocabulary words.
The dev sets are then decoded three ways: the full lexicon (reference point), the reduced lexicon
with words outside it forbidden, and the reduced lexicon with the unknown-word path (a word spelled
letter by letter, scored `unk_score` plus the LM's <unk>). Reported: WER, and the recall of the
removed words (how many of their occurrences in the references the hypothesis has).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import Counter

from asr.data import load_corpus
from asr.decoding import Decoder, DecoderConfig
from asr.lm import lm_vocabulary, load_info
from asr.transcribe import evaluate, load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("lm")
    ap.add_argument("output")
    ap.add_argument("dev", nargs="+")
    ap.add_argument("--model", default=None)
    ap.add_argument("--unk-score", type=float, default=None, help="default: the LM's tuned value, else -6")
    ap.add_argument("--min-rank", type=int, default=10000)
    args = ap.parse_args()
    info = load_info(args.lm)
    unk = args.unk_score if args.unk_score is not None else (info.unk_score if info.unk_score is not None else -6.0)
    vocab = lm_vocabulary(args.lm)
    rank = {w: i for i, w in enumerate(vocab)}
    utts = [u for d in args.dev for u in load_corpus(d)]
    removed = sorted({w for u in utts for w in u.text.split() if rank.get(w, -1) >= args.min_rank})
    recognizer = load_model(args.model)
    results = {"removed_words": len(removed), "min_rank": args.min_rank, "unk_score": unk,
               "occurrences": sum(1 for u in utts for w in u.text.split() if w in set(removed))}
    with tempfile.TemporaryDirectory() as tmp:
        lexicon = os.path.join(tmp, "lexicon.txt")
        gone = set(removed)
        with open(lexicon, "w", encoding="utf-8") as fh:
            for w in vocab:
                if w not in gone:
                    fh.write(f"{w}\t{' '.join(w)} |\n")
        settings = {"full lexicon": {}, "reduced lexicon, vocabulary only": {"lexicon": lexicon, "unk_score": float("-inf")},
                    "reduced lexicon + unknown-word path": {"lexicon": lexicon, "unk_score": unk}}
        for name, extra in settings.items():
            decoder = Decoder(recognizer.vocab, DecoderConfig(kind="beam", lm=args.lm, **extra))
            result = evaluate(recognizer, utts, decoder=decoder)
            found = 0
            for _id, ref, hyp in result.hypotheses:
                have = Counter(hyp.split())
                for w in ref.split():
                    if w in gone and have[w] > 0:
                        have[w] -= 1
                        found += 1
            results[name] = {"wer": round(result.wer, 4), "cer": round(result.cer, 4),
                             "removed_word_recall": round(found / max(results["occurrences"], 1), 4)}
            print(name, results[name], flush=True)
    with open(args.output, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
