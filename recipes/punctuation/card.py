"""Stage 4 of recipes/punctuation: the model card (PUNCTUATION_CARD.md) from the model's metadata and
the held-out results of stage 3."""

import argparse
import json
import os
import platform

import torch

from asr.punctuation import load_punctuator

SOURCES = {
    "gutenberg": ("books", "Project Gutenberg fiction and non-fiction", "public domain"),
    "wikipedia": ("encyclopaedia", "English Wikipedia (2015 and 2021 extracts), Wikipedia contributors",
                  "CC BY-SA 3.0 / 4.0"),
    "dialogue": ("dialogue", "Schema-Guided Dialogue (DSTC8, Google), Taskmaster-4 (Google), SLURP (Bastianelli et al.)",
                 "CC BY-SA 4.0 (SGD), CC BY 4.0 (Taskmaster-4, SLURP)"),
}


def cell(s: dict) -> str:
    return f"{100 * s['precision']:.1f} / {100 * s['recall']:.1f} / {100 * s['f1']:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("results")
    ap.add_argument("card")
    args = ap.parse_args()
    tagger = load_punctuator(args.model)
    meta, cfg = tagger.metadata, tagger.net.cfg
    with open(args.results, encoding="utf-8") as fh:
        results = json.load(fh)
    params = sum(p.numel() for p in tagger.net.parameters())
    rows = []
    for reading in ("stream", "paragraphs"):
        for source, r in results[reading].items():
            for system in ("model", "baseline"):
                s = r[system]
                rows.append(f"| {reading} | {source} ({s['words']:,} words) | {system} | {cell(s['comma'])} | "
                            f"{cell(s['period'])} | {cell(s['question'])} | **{cell(s['overall'])}** | "
                            f"{100 * s['case_accuracy']:.1f} % |")
    forms = list(tagger.mixed.values())
    examples = [v for v in ("McDonald", "iPhone", "MacDonald", "YouTube", "PhD") if v in forms][:4] or forms[:4]
    data_rows = [f"| {s} | {SOURCES[s][1]} | {SOURCES[s][2]} |" for s in meta.get("sources", []) if s in SOURCES]
    card = f"""# Punctuation model card: case and punctuation restoration (asr/pretrained/punctuation.pt)

Restores capitals and punctuation on the recogniser's words: `asr transcribe` (every format), `asr stream`
(final segments), `asr punctuate` and the Python API use it by default; `--no-punctuation` (or
`punctuate=False`) turns it off. Built by `bash recipes/punctuation/run.sh` (asr.punctuation).

## What it is

| | |
| --- | --- |
| network | word embedding ({len(tagger.vocabulary):,} most frequent words + unknown, {cfg.embed} values) and suffix embedding ({len(tagger.suffix_list):,} most frequent last-three-letters, {cfg.suffix_embed} values), {cfg.layers}-layer bidirectional GRU ({cfg.hidden} per direction), two softmax heads |
| predicts | per word: case (lower, Capitalised, UPPER, mixed from a table of {len(tagger.mixed):,} forms counted on the text, such as {", ".join(examples)}) and the mark after it (none , . ? !) |
| input | words normalised as LM text (`asr.lm.normalize_lm_text`): lower case, numbers spelled out, no punctuation |
| windows | {cfg.window} words in training; in use, windows of {cfg.window} overlapping by half (each word takes the window where it is farthest from an edge) |
| size | {params:,} parameters, {os.path.getsize(args.model) / 1e6:.1f} MB |
| training | {meta.get('train_words', 0):,} words, {meta.get('epochs')} epochs ({meta.get('steps', 0):,} steps of 64 windows), AdamW one-cycle, {meta.get('train_seconds', 0) / 60:.0f} min at {meta.get('words_per_second', 0):,} words/s on {meta.get('threads')} thread |
| environment | {platform.machine()}, torch {torch.__version__}, 2 CPU cores shared with two training jobs |

## Held-out results

Whole documents held out at the end of each source file (a gap of 30,000 words before them, longer
than any document), normalised like the training text. Read two ways: "stream", all of a source's
held-out text as one passage without boundaries (one long recording); "paragraphs", each paragraph
(a dialogue turn) on its own, its start and end known (a segment ended by a pause). Precision /
recall / F1 in %; "overall" counts every mark (the exclamation mark too); case: share of words written
exactly right. Baseline: each passage's first word and "i" capitalised, a period at its end.

| reading | source | system | comma | period | question | overall | case |
| --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Tagging speed: {results.get('words_per_second', 0):,} words/s on one thread.

## Sources and licence

| part | what | licence |
| --- | --- | --- |
{chr(10).join(data_rows)}

From `../shared/data/text` (its README names the public repositories: rcdm-uga/Gutenberg_Text,
LuEE-C/FewShotAuthorClassificationMetaLearning, jason-feng/wikiVisual, Vibhas-hs-edu/WikiTasks,
google-research-datasets/dstc8-schema-guided-dialogue, google-research-datasets/Taskmaster,
pswietojanski/slurp). The text is clean of every evaluation transcript.

The model's weights, vocabulary and case table are learnt partly from CC BY-SA text (Wikipedia, CC BY-SA
3.0/4.0; Schema-Guided Dialogue, CC BY-SA 4.0), so `punctuation.pt` is shared under **CC BY-SA 4.0**:
anyone may use, share and adapt it, commercially too, if they credit the sources above (Wikipedia
contributors; Rastogi et al., Schema-Guided Dialogue; Google Research, Taskmaster-4; Bastianelli et al.,
SLURP; Project Gutenberg) and share adapted models under the same licence. This applies to the model file
only, not to the asr code or to transcripts restored with it.

## Limits

Trained on written text: it has never seen recognition errors, so a wrong word can pull a wrong mark
with it. Sentence ends in speech that runs on are guessed from the words alone (no pauses or
intonation). Words outside its vocabulary are cased from their suffix and context only (names it never
saw are usually, not always, capitalised). Digits are not restored: numbers stay spelled out, as the
recogniser writes them.
"""
    with open(args.card, "w", encoding="utf-8") as fh:
        fh.write(card)
    print(f"wrote {args.card}")


if __name__ == "__main__":
    main()
