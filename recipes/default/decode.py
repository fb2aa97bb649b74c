"""Decode every real dev and test set with a model, beside PocketSphinx on the same audio.

    python recipes/default/decode.py MODEL OUT_DIR [--shared DIR] [--lm default|PATH|none]
                                     [--lm-weight W] [--word-score S] [--limit N] [--no-peer]

For each set (../shared/data/speech dev and test, the LibriSpeech sample, FSDD digits) it runs
greedy decoding and beam search with the language model (default: the one shipped in
asr/pretrained, with its stored weights, as `asr transcribe` decodes; none: greedy only); and PocketSphinx
(`asr.benchmark`'s peer, its own en-us model) on the same utterances. It writes
OUT_DIR/results.json, one hypotheses file per set and decoder (`ID<tab>REF<tab>HYP`), and
OUT_DIR/table.md, the model card's results table, which it also prints. PocketSphinx's results do
not depend on our model, so they are kept in OUT_DIR/peer/ and reused when the recipe is rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

# name, folder under the shared data, what it is
SETS = [
    ("dev/librispeech", "speech/dev/librispeech", "LibriSpeech dev-clean, 19 speakers"),
    ("dev/speechocean762", "speech/dev/speechocean762", "non-native (Mandarin L1) children and adults, 12 speakers"),
    ("test/librispeech", "speech/test/librispeech", "LibriSpeech test-clean and test-other, 11 speakers"),
    ("test/speechocean762", "speech/test/speechocean762", "non-native children and adults, 13 speakers"),
    ("librispeech-sample", "librispeech-sample", "9 LibriSpeech utterances (also in dev/test above)"),
    ("fsdd/9001", "fsdd/9001", "spoken digits, 8 kHz, speaker 9001 (held out of training)"),
    ("fsdd", "fsdd", "spoken digits, 8 kHz, all 4 speakers (9002-9004 were in training)"),
]


def _slug(name: str) -> str:
    return name.replace("/", "-")


def evaluate_set(recognizer, utts, decoder, out_dir: str, name: str, label: str) -> dict:
    from asr.transcribe import evaluate

    result = evaluate(recognizer, utts, decoder=decoder)
    with open(os.path.join(out_dir, f"{_slug(name)}.{label}.tsv"), "w", encoding="utf-8") as fh:
        for utt_id, ref, hyp in result.hypotheses:
            fh.write(f"{utt_id}\t{ref}\t{hyp}\n")
    return result.summary()


def peer_result(utts, out_dir: str, name: str) -> dict:
    """PocketSphinx on the same utterances, cached by set name and utterance list."""
    from asr.benchmark import run_peer

    path = os.path.join(out_dir, "peer", f"{_slug(name)}.json")
    ids = [u.id for u in utts]
    if os.path.exists(path):
        cached = json.load(open(path, encoding="utf-8"))
        if cached.get("ids") == ids:
            return cached["result"]
    result = run_peer([(u.path, u.text, u.duration) for u in utts])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"ids": ids, "result": result}, fh)
    return result


def table(results: dict, lm_label: str | None) -> str:
    head = "| set | utterances (min) | greedy WER / CER |"
    rule = "| --- | --- | --- |"
    if lm_label:
        head += f" {lm_label} WER / CER |"
        rule += " --- |"
    head += " PocketSphinx WER |"
    rule += " --- |"
    lines = [head, rule]
    for name, _, what in SETS:
        if name not in results:
            continue
        r = results[name]
        row = f"| {name} ({what}) | {r['utterances']} ({r['audio_seconds'] / 60:.1f}) | " \
              f"{100 * r['greedy']['wer']:.1f} % / {100 * r['greedy']['cer']:.1f} % |"
        if lm_label:
            row += f" {100 * r['beam_lm']['wer']:.1f} % / {100 * r['beam_lm']['cer']:.1f} % |"
        row += f" {100 * r['pocketsphinx']['wer']:.1f} % |" if "pocketsphinx" in r else " - |"
        lines.append(row)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("out_dir")
    ap.add_argument("--shared", default=os.environ.get("SHARED_DATA", "../shared/data"))
    ap.add_argument("--lm", default="default",
                    help="language model for the beam-search column: default (the shipped one), a path, or none")
    ap.add_argument("--lm-weight", type=float, default=None, help="default: the LM's own")
    ap.add_argument("--word-score", type=float, default=None, help="default: the LM's own")
    ap.add_argument("--limit", type=int, default=None, help="first N utterances of each set (smoke runs)")
    ap.add_argument("--no-peer", dest="peer", action="store_false")
    args = ap.parse_args()

    from asr.data import scan_librispeech
    from asr.decoding import Decoder, DecoderConfig
    from asr.errors import AsrError
    from asr.transcribe import load_model

    try:
        recognizer = load_model(args.model)
        greedy = Decoder(recognizer.vocab, DecoderConfig(kind="greedy"))
        beam = Decoder(recognizer.vocab, DecoderConfig(lm=args.lm, lm_weight=args.lm_weight,
                                                       word_score=args.word_score))
        if not beam.config.lm:  # --lm none, or no LM installed
            beam = None
        os.makedirs(args.out_dir, exist_ok=True)
        results = {}
        for name, folder, _ in SETS:
            utts = scan_librispeech(os.path.join(args.shared, folder))[: args.limit]
            r = {"utterances": len(utts), "audio_seconds": sum(u.duration for u in utts),
                 "greedy": evaluate_set(recognizer, utts, greedy, args.out_dir, name, "greedy")}
            if beam:
                r["beam_lm"] = evaluate_set(recognizer, utts, beam, args.out_dir, name, "beam-lm")
            if args.peer:
                r["pocketsphinx"] = peer_result(utts, args.out_dir, name)
            results[name] = r
            print(f"{name}: greedy WER {100 * r['greedy']['wer']:.1f} %"
                  + (f", beam + LM {100 * r['beam_lm']['wer']:.1f} %" if beam else "")
                  + (f", PocketSphinx {100 * r['pocketsphinx']['wer']:.1f} %" if args.peer else ""),
                  file=sys.stderr)
    except AsrError as exc:
        sys.exit(f"decode: error: {exc}")
    decoding = beam.describe() if beam else greedy.describe()
    lm_label = (f"beam + LM ({os.path.basename(decoding['lm'])}, weight {decoding['lm_weight']:g}, "
                f"word score {decoding['word_score']:g})") if beam else None
    summary = {"model": os.path.abspath(args.model), **decoding, "limit": args.limit, "sets": results}
    with open(os.path.join(args.out_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1)
    text = table(results, lm_label)
    with open(os.path.join(args.out_dir, "table.md"), "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
