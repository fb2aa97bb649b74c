"""Install the chosen language model's metadata, and write its card from the recipe's results.

    python recipes/lm/lm_card.py install BUILT.json asr/pretrained/lm.json NAME TEXT_STATS.json
    python recipes/lm/lm_card.py card asr/pretrained/lm.json RESULTS_DIR asr/pretrained/LM_CARD.md
"""

from __future__ import annotations

import json
import os
import sys

from asr.lm import load_info

SETS = ["dev/librispeech", "dev/speechocean762", "test/librispeech", "test/speechocean762", "fsdd"]
LICENCE = ("The n-gram counts come partly from CC BY-SA text (Wikipedia, CC BY-SA 3.0/4.0; Schema-Guided "
           "Dialogue, CC BY-SA 4.0), so `lm.bin` and `lm.vocab.txt` are shared under **CC BY-SA 4.0**: "
           "anyone may use, share and adapt them, commercially too, if they credit the sources below and "
           "share adapted language models under the same licence. This applies to the LM files only, not to "
           "the asr code (MIT) or to transcripts produced with the LM. For an LM without share-alike terms, "
           "build from `gutenberg.txt.xz` (public domain) and the CC BY dialogue parts alone "
           "(`asr lm build`).")


def install(built: str, dest: str, name: str, stats_path: str) -> None:
    with open(built, encoding="utf-8") as fh:
        meta = json.load(fh)
    with open(stats_path, encoding="utf-8") as fh:
        stats = json.load(fh)
    meta.update(vocabulary="lm.vocab.txt", lm_weight=0.5, word_score=0.0, unk_score=None, tuned={})
    meta["extra"] = {"candidate": name, "sources": stats, "licence": "CC BY-SA 4.0",
                     "megabytes": round(os.path.getsize(built[: -len(".json")] + ".bin") / 1e6, 1)}
    tmp = dest + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, dest)
    load_info(dest[: -len(".json")] + ".bin")  # readable by asr
    print(f"{dest}: {name}")


def _load(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def card(meta_path: str, results: str, out: str) -> None:
    info = load_info(meta_path[: -len(".json")] + ".bin")
    folder = os.path.dirname(meta_path)
    size = os.path.getsize(os.path.join(folder, "lm.bin")) / 1e6
    vocab_size = os.path.getsize(os.path.join(folder, info.vocabulary)) / 1e6
    sources = info.extra.get("sources", {})
    lines = ["# Language model card: general English word 4-gram (asr/pretrained/lm.bin)", "",
             "The language model that `asr transcribe`, `asr evaluate`, `asr stream` and the Python API use by "
             "default (beam search with a lexicon of its vocabulary). Built by `bash recipes/lm/run.sh` "
             "(KenLM `lmplz` + `build_binary`); its decoder defaults (LM weight, word score, unknown-word score) "
             "are in `lm.json` beside it.", "",
             "## What it is", "",
             "| | |", "| --- | --- |",
             f"| order | {info.order} (modified Kneser-Ney, interpolated; KenLM lmplz) |",
             f"| pruning | lmplz `--prune {' '.join(map(str, info.prune)) or 'none'}` (n-grams seen at most that often dropped, per order) |",
             f"| vocabulary | {info.vocabulary_size:,} most frequent words of the text (others are `<unk>`); the decoder's lexicon |",
             f"| training text | {info.words:,} words in {info.sentences:,} sentences |",
             f"| n-grams | " + ", ".join(f"{int(c):,} {n}-grams" for n, c in info.ngrams.items()) + " |",
             f"| files | `lm.bin` {size:.1f} MB (KenLM trie, 8-bit quantised probabilities and back-offs, memory-mapped), "
             f"`lm.vocab.txt` {vocab_size:.1f} MB, `lm.json` |",
             f"| decoder defaults | lm_weight {info.lm_weight:g}, word_score {info.word_score:g}, unk_score "
             f"{'off' if info.unk_score is None else f'{info.unk_score:g}'} |", ""]
    if info.tuned:
        t = info.tuned
        lines += [f"Tuned on {', '.join(t.get('data', []))} ({t.get('utterances')} utterances, dev sets only) with "
                  f"the acoustic model `{t.get('model')}` on {t.get('date')}: dev WER {100 * t.get('wer', 0):.1f} %.", ""]
    lines += ["## Sources and licence", "", "| part | words | licence |", "| --- | --- | --- |"]
    for part, s in sources.items():
        lines.append(f"| {part} | {s.get('words', 0) / 1e6:.1f} M | {s.get('licence', '')} |")
    lines += ["", "From `../shared/data/text` (its README names the repositories). The text is clean of every "
              "evaluation transcript (books or articles sharing 8-word sequences with them were dropped).", "",
              LICENCE, "",
              "Normalisation (`asr.lm.normalize_lm_text`): sentences split at . ! ?; titles (Mr., Dr., St., ...) "
              "spelled out; numbers as read (years 1905 -> nineteen oh five, ordinals, money, percentages, times, "
              "decimals); then the transcripts' own normalisation (lower case, letters and apostrophes).", ""]
    ppl = _load(os.path.join(results, "perplexity.json"))
    if ppl:
        lines += ["## Perplexity on the dev transcripts", "", "| set | perplexity | without OOVs | OOV tokens |",
                  "| --- | --- | --- | --- |"]
        for folder_name, r in ppl.items():
            name = "/".join(folder_name.rstrip("/").split("/")[-2:])
            lines.append(f"| {name} | {r['perplexity']:.0f} | {r['perplexity_without_oov']:.0f} | "
                         f"{r['oov']} of {r['tokens']} |")
        lines.append("")
    rows = []
    for s in SETS:
        tag = s.replace("/", "-")
        g, l = _load(os.path.join(results, f"{tag}.greedy.json")), _load(os.path.join(results, f"{tag}.lm.json"))
        if g and l:
            rel = 100 * (g["wer"] - l["wer"]) / g["wer"] if g["wer"] else 0.0
            rows.append(f"| {s} | {g['utterances']} | {100 * g['wer']:.1f} | {100 * l['wer']:.1f} | {rel:.1f} % | "
                        f"{g['rtf']:.4f} | {l['rtf']:.4f} |")
    if rows:
        model = (info.tuned or {}).get("model", "the shipped model")
        lines += ["## Word error rate with and without it", "",
                  f"Acoustic model: `{model}`. Greedy: `asr evaluate DIR --decoder greedy --json`; with the LM: "
                  "`asr evaluate DIR --json` (the default decoding). Sets: `../shared/data/speech/{dev,test}/*` "
                  "and `../shared/data/fsdd`. Relative reduction: (greedy - LM) / greedy. Real-time factors are "
                  "from `asr evaluate` on the machine that ran the recipe (here: 2 CPU cores shared with a training "
                  "job, so they are slower than on an idle machine).", "",
                  "| set | utterances | WER greedy % | WER beam + LM % | relative reduction | RTF greedy | RTF beam + LM |",
                  "| --- | --- | --- | --- | --- | --- | --- |", *rows, ""]
    oov = _load(os.path.join(results, "oov.json"))
    if oov:
        lines += ["## Words outside the vocabulary", "",
                  f"Measured by `recipes/lm/oov.py` on both dev sets: the {oov['removed_words']} dev words ranked "
                  f"below {oov['min_rank']:,} in the vocabulary ({oov['occurrences']} occurrences) are taken out of the "
                  "decoder's lexicon, so that they are new words to it; recall: how many of their occurrences come out.",
                  "", "| decoding | WER % | CER % | recall of the removed words |", "| --- | --- | --- | --- |"]
        for name in ("full lexicon", "reduced lexicon, vocabulary only", "reduced lexicon + unknown-word path"):
            r = oov[name]
            label = name + (f" (unk_score {oov['unk_score']:g})" if "unknown" in name else "")
            lines.append(f"| {label} | {100 * r['wer']:.1f} | {100 * r['cer']:.1f} | {100 * r['removed_word_recall']:.1f} % |")
        lines += ["", "A word outside the vocabulary can come out only through the unknown-word path (`--unk-score`, "
                  "stored in `lm.json`; off when it is null) or as a hotword (`--hotword WORD`, added to the lexicon "
                  "and boosted).", ""]
    lines += ["## Rebuild, re-tune, re-measure", "", "```bash",
              "bash recipes/lm/run.sh                                  # everything (text, candidates, build, tune, card)",
              "bash recipes/lm/run.sh --stage 4 --model NEW_MODEL.pt   # re-tune for a new acoustic model, re-measure, rewrite this card",
              "```", ""]
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    os.replace(tmp, out)
    print(out)


if __name__ == "__main__":
    {"install": install, "card": card}[sys.argv[1]](*sys.argv[2:])
