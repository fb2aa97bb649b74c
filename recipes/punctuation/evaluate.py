"""Stage 3 of recipes/punctuation: the model and the trivial baseline on the held-out documents of
each source (DATA/test.<source>.jsonl): P/R/F1 of comma, period, question mark and overall, case
accuracy; the held-out text read as one stream without boundaries, and paragraph by paragraph (each
one's start and end known, as a segment ended by a pause). Writes OUT.json and Markdown tables OUT.md."""

import argparse
import glob
import json
import os
import time

import torch

from asr.punctuation import baseline_restore, evaluate_tagger, load_punctuator, read_labelled


def row(source: str, system: str, s: dict) -> str:
    cells = [f"{s[k]['precision'] * 100:.1f} / {s[k]['recall'] * 100:.1f} / **{s[k]['f1'] * 100:.1f}**"
             for k in ("comma", "period", "question", "overall")]
    return f"| {source} | {system} | " + " | ".join(cells) + f" | {s['case_accuracy'] * 100:.1f} % |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("model")
    ap.add_argument("out", help="results path without extension")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tagger = load_punctuator(args.model)
    results: dict = {"stream": {}, "paragraphs": {}}
    head = ["| source | system | comma P / R / F1 | period P / R / F1 | question P / R / F1 | overall P / R / F1 | case |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    lines = {"stream": list(head), "paragraphs": list(head)}
    total_words = total_seconds = 0.0
    for path in sorted(glob.glob(os.path.join(args.data, "test.*.jsonl"))):
        source = path.split(".")[-2]
        items = read_labelled(path)
        for reading, per_item in (("stream", False), ("paragraphs", True)):
            start = time.perf_counter()
            model = evaluate_tagger(tagger.restore, items, per_item)
            seconds = time.perf_counter() - start
            if not per_item:
                total_words, total_seconds = total_words + model["words"], total_seconds + seconds
            base = evaluate_tagger(baseline_restore, items, per_item)
            results[reading][source] = {"model": model, "baseline": base, "seconds": round(seconds, 2)}
            lines[reading] += [row(source, "model", model), row(source, "baseline", base)]
            print(f"{source}, {reading}: {model['words']:,} words, overall F1 {model['overall']['f1']:.3f} (baseline "
                  f"{base['overall']['f1']:.3f}), case {model['case_accuracy']:.4f} (baseline "
                  f"{base['case_accuracy']:.4f})", flush=True)
    results["words_per_second"] = round(total_words / max(total_seconds, 1e-9))
    with open(args.out + ".json", "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1)
    text = "".join(f"{reading}:\n\n" + "\n".join(table) + "\n\n" for reading, table in lines.items())
    with open(args.out + ".md", "w", encoding="utf-8") as fh:
        fh.write(text)
    print(text, end="")
    print(f"tagging speed: {results['words_per_second']:,} words/s ({args.threads} thread)")


if __name__ == "__main__":
    main()
