"""Write the model card of a model trained by this recipe from its metadata and stage-5 results.

    python recipes/synthetic/model_card.py EXP_DIR CORPUS_DIR OUTPUT.md [EARLIER_ROUND_DIR...]

EXP_DIR holds the model and its stage-5 results; with several training rounds it is the last
round's folder and the earlier rounds' folders follow, first round first. A round's training
split listing (CORPUS_DIR/train/utterances.tsv for round 1, CORPUS_DIR/roundN/train/... for
round N) gives its voices and speakers; where the model was trained on another machine, the
round's corpus build log (build_corpus.py's output, in its folder's corpus.log) stands in for it.
"""

from __future__ import annotations

import json
import os
import re
import sys

import torch

from asr.modelfile import load_model_file


def train_voices_from_log(path: str) -> tuple[int, float | None, list[str], int]:
    """(utterances, augmented share (unknown here), identities, speakers) of the training split,
    from build_corpus.py's summary line and the recipe's voice split."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from build_corpus import all_voices, split_of

    with open(path, encoding="utf-8") as fh:
        found = re.search(r"^train: (\d+) utterances, [\d.]+ h, (\d+) speakers", fh.read(), re.M)
    if not found:
        raise SystemExit(f"model_card: no training split summary in {path}")
    identities = sorted({v.identity for v in all_voices() if split_of(v) == "train"})
    return int(found.group(1)), None, identities, int(found.group(2))


def read_listing(path: str) -> tuple[int, float, list[str], int]:
    """(utterances, augmented share, identities, speakers) of a split's utterances.tsv."""
    with open(path, encoding="utf-8") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh][1:]
    return (len(rows), sum(r[7] != "clean" for r in rows) / max(len(rows), 1),
            sorted({r[4] for r in rows}), len({r[1] for r in rows}))


def describe_round(exp: str, listing: str, label: str) -> list[str]:
    """Model-card lines for one training round: its audio, voices, epochs, machine and result."""
    meta = load_model_file(os.path.join(exp, "best_model.pt")).metadata
    import yaml

    config = yaml.safe_load(open(os.path.join(exp, "config.yaml")))
    log = [json.loads(l) for l in open(os.path.join(exp, "train_log.jsonl")) if l.strip()]
    _, augmented, identities, speakers = (read_listing(listing) if os.path.exists(listing)
                                          else train_voices_from_log(os.path.join(exp, "corpus.log")))
    done, planned = log[-1]["epoch"], config["epochs"]
    stopped = (f" of {planned} planned (stopped by a time limit; the learning rate had not finished its cosine decay)"
               if done < planned else "")
    test = os.path.join(exp, "results", "test-unseen-voices.greedy.json")
    test_wer = f"; unseen-voice test WER {100 * json.load(open(test))['wer']:.1f} %" if os.path.exists(test) else ""
    return [
        f"- {label}: {meta.get('train_hours', 0):.2f} h of audio, {meta.get('train_utterances')} utterances, "
        f"{speakers} speakers (voice x rate x pitch) of {len(identities)} voice identities "
        f"({', '.join(identities)}); "
        + (f"{100 * augmented:.0f} % of it" if augmented is not None else "most of it")
        + " augmented (speed perturbation, noise at 5-25 dB SNR, reverberation). "
        f"{done} epochs ({log[-1]['step']} steps){stopped}, "
        f"peak learning rate {config['optim']['lr']:g}, SpecAugment"
        + (f" and a vocal-tract warp of up to {100 * config['specaugment'].get('warp_range', 0):.0f} %"
           if config.get("specaugment", {}).get("warp_range") else "")
        + f". Trained on {meta.get('trained_on', 'an unrecorded machine')}, at "
        f"{log[-1]['audio_seconds_per_second']:.0f} s of audio per second. Best model after epoch "
        f"{meta.get('epochs')}: dev WER {100 * meta.get('valid_wer', 0):.1f} %{test_wer}.",
    ]


def main() -> None:
    exp, corpus, output = sys.argv[1:4]
    round_dirs = sys.argv[4:] + [exp]
    bundle = load_model_file(os.path.join(exp, "best_model.pt"))
    meta = bundle.metadata
    results = {}
    for name in os.listdir(os.path.join(exp, "results")):
        if name.endswith(".json") and name != "lm-tune-dev.json":
            with open(os.path.join(exp, "results", name)) as fh:
                results[name[:-5]] = json.load(fh)
    tune = json.load(open(os.path.join(exp, "results", "lm-tune-dev.json")))["best"]
    voices = {split: read_listing(os.path.join(corpus, split, "utterances.tsv")) for split in ("dev", "test")}
    rounds = describe_round(round_dirs[0], os.path.join(corpus, "train", "utterances.tsv"),
                            "Round 1 (`conf/default.yaml`)" if len(round_dirs) > 1 else "Training (`conf/default.yaml`)")
    for r, folder in enumerate(round_dirs[1:], start=2):
        rounds += describe_round(folder, os.path.join(corpus, f"round{r}", "train", "utterances.tsv"),
                                 f"Round {r} (`conf/continue.yaml`, from round {r - 1}'s best model, on a fresh corpus)")

    identity = {}
    with open(os.path.join(corpus, "test", "utterances.tsv"), encoding="utf-8") as fh:
        for line in list(fh)[1:]:
            cols = line.split("\t")
            identity[cols[0]] = cols[4]
    from asr.metrics import ErrorCounter

    counters: dict[str, ErrorCounter] = {}
    with open(os.path.join(exp, "results", "test-unseen-voices.greedy.tsv"), encoding="utf-8") as fh:
        for line in fh:
            utt, ref, hyp = (line.rstrip("\n").split("\t") + ["", ""])[:3]
            counters.setdefault(identity.get(utt, "?"), ErrorCounter()).add(ref, hyp)
    per_voice = ", ".join(f"{k} {100 * c.wer:.0f} %" for k, c in sorted(counters.items()))

    def row(name: str, label: str) -> str:
        r = results.get(name)
        if not r:
            return f"| {label} | not run | | | |"
        return (f"| {label} | {100 * r['wer']:.1f} % | {100 * r['cer']:.1f} % | {r['utterances']} "
                f"({r['audio_seconds'] / 60:.1f} min) | {r['rtf']:.4f} |")

    m = bundle.model.config
    f = bundle.features
    lines = [
        "# The synthetic-speech model (pretraining for asr's default model)",
        "",
        f"`best_model.pt`: a {m.num_layers}-layer bidirectional LSTM ({m.hidden_size} units per direction, "
        f"{meta.get('parameters', 0) / 1e6:.1f} M parameters) over {f.n_mels} log-mel filterbanks stacked "
        f"{m.stack_frames} at a time ({1000 * f.frame_seconds * m.stack_frames:.0f} ms per output frame), CTC over "
        f"28 characters. English, lower case, no punctuation.",
        "",
        "## How it was made",
        "",
        "- Recipe: `bash recipes/synthetic/run.sh`, which builds its own corpora from Debian's free text-to-speech "
        "engines; nothing was downloaded.",
        *rounds,
        f"- Model selection: best validation WER on the dev voice ({', '.join(voices['dev'][2])}), never heard in "
        f"training. Card written with torch {torch.__version__}.",
        "",
        "## Results (greedy decoding unless stated)",
        "",
        "| test set | WER | CER | utterances | real-time factor |",
        "| --- | --- | --- | --- | --- |",
        row("test-unseen-voices.greedy",
            f"unseen voices: {', '.join(voices['test'][2])} ({voices['test'][3]} speakers, sentences never seen)"),
        row("test-unseen-voices.beam-lm",
            f"same, beam search + the recipe's trigram LM (lm_weight {tune['lm_weight']:g}, word_score {tune['word_score']:g}, tuned on dev)"),
        row("librispeech-sample.greedy", "real read speech: 9 LibriSpeech utterances (../shared/data/librispeech-sample)"),
        row("fsdd-digits.greedy", "real voices: 2000 spoken digits, 4 speakers, 8 kHz (../shared/data/fsdd)"),
        "",
        f"Greedy WER per unseen voice: {per_voice}. On the dev voice, beam search with the LM gives "
        f"{100 * tune['wer']:.1f} % WER ({100 * tune['cer']:.1f} % CER).",
        "",
        "Errors concentrate on the unseen voices least like any training voice (per-voice WER above).",
        "A model trained only on synthetic voices does much worse on real human speech than on",
        "unseen synthetic voices; the two real-speech rows above measure how much. recipes/default",
        "fine-tunes this model on real recordings into asr's default model.",
        "",
    ]
    with open(output, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
