"""Write the default model's card from what the recipe left behind.

    python recipes/default/model_card.py EXP_DIR OUTPUT.md

EXP_DIR (the last training round) holds best_model.pt, config.yaml, train_log.jsonl and stage 4's
results/ (results.json, table.md); its config's train_data are the training manifests (hours and
speakers per source). The earlier rounds and the pretraining are read from the model file, which
records what each model it started from was trained on.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import defaultdict

import torch
import yaml

from asr.modelfile import load_model_file

ROUNDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rounds.tsv")

# source folder -> (name, licence and credit), as ../shared/data/README.md and speech/README.md state them
SOURCES = {
    "speechocean762": ("speechocean762 (non-native English, Mandarin L1, children and adults)",
                       "free for commercial and non-commercial use (OpenSLR 101 lists CC BY 4.0); Speechocean and Xiaomi"),
    "librispeech": ("LibriSpeech train-clean-100 and dev-clean (speakers not in dev/test)",
                    "CC BY 4.0; Vassil Panayotov et al."),
    "mini_librispeech": ("LibriSpeech train-clean-5 (\"mini LibriSpeech\", read audiobooks)",
                         "CC BY 4.0; Vassil Panayotov et al."),
    "rhasspy_cathy": ("rhasspy dataset-voice-cathy (one US-English reader of the CMU ARCTIC prompts)",
                      "CC0 1.0; Rhasspy"),
    "commonvoice_en": ("Common Voice (English, releases of 2017 and 6.1)", "CC0; Mozilla"),
    "speech_commands": ("Google Speech Commands (one word per clip)", "CC BY 4.0; Pete Warden / Google"),
    "vctk": ("CSTR VCTK", "CC BY 4.0; University of Edinburgh"),
    "cmu_arctic": ("CMU ARCTIC", "free use with the CMU copyright notice; Carnegie Mellon University"),
    "commonvoice_en_v1": ("Common Voice (English v1)", "CC0; Mozilla"),
    "fsdd": ("Free Spoken Digit Dataset, speakers 9002-9004 (9001 held out)",
             "CC BY-SA 4.0; Zohar Jackson and contributors"),
}


def source_of(path: str) -> str:
    found = re.search(r"/speech/train/([^/]+)/", path)
    if found:
        return found.group(1)
    return "fsdd" if "/fsdd/" in path else "other"


def short_name(src: str) -> str:
    """A source's name without its parenthesised description: "LibriSpeech train-clean-5"."""
    return SOURCES.get(src, (src,))[0].split(" (")[0]


def data_lines(manifests: list[str]) -> tuple[list[str], float, int, dict[str, int], list[str]]:
    """Per-source table of the training manifests (hours before speed perturbation, speakers; an
    utterance listed in several manifests counts once), the number of speed factors, the sources
    listed more than once (source -> times per epoch) and, when only some sources are speed-perturbed,
    which (else empty)."""
    seconds, speakers = defaultdict(float), defaultdict(set)
    factors, listed, perturbed = set(), defaultdict(int), set()
    for line in (line for manifest in manifests for line in open(manifest, encoding="utf-8")):
        u = json.loads(line)
        factors.add(u.get("speed", 1.0))
        if u.get("speed", 1.0) != 1.0:
            perturbed.add(source_of(u["path"]))
            continue
        listed[u["path"]] += 1
        if listed[u["path"]] > 1:
            continue
        src = source_of(u["path"])
        seconds[src] += u["duration"]
        speakers[src].add(u["speaker"])
    lines = ["| source | hours | speakers | licence, credit |", "| --- | --- | --- | --- |"]
    for src, secs in sorted(seconds.items(), key=lambda kv: -kv[1]):
        name, licence = SOURCES.get(src, (src, "see ../shared/data"))
        lines.append(f"| {name} | {secs / 3600:.2f} | {len(speakers[src])} | {licence} |")
    total = sum(seconds.values()) / 3600
    lines.append(f"| all | {total:.2f} | {sum(len(s) for s in speakers.values())} | |")
    repeated = defaultdict(int)
    for path, times in listed.items():
        if times > 1:
            repeated[source_of(path)] = max(times, repeated[source_of(path)])
    return lines, total, len(factors), repeated, sorted(perturbed) if perturbed != set(seconds) else []


def lineage(meta: dict) -> list[dict]:
    """The models this one was trained from, oldest first (each model file records its start's metadata)."""
    chain = []
    start = meta.get("init_from") or {}
    while start:
        chain.insert(0, start)
        start = start.get("init_from") or {}
    return chain


def round_line(number: int, meta: dict) -> str:
    """One earlier round of training on real speech, as its model file recorded it."""
    data = ", ".join(os.path.basename(p) for p in meta.get("train_data", []))
    return (f"{number}. **Real speech, round {number - 1}**: "
            f"{meta.get('train_hours', 0):.1f} h per epoch ({data}), {meta.get('epochs')} epoch{'s' if meta.get('epochs') != 1 else ''} "
            f"({meta.get('steps')} steps) on {meta.get('trained_on', 'an unrecorded machine')}, "
            f"{meta.get('created', '')[:10]}.")


def read_rounds() -> list[list[str]]:
    """recipes/default/rounds.tsv: its header, then a row per round."""
    with open(ROUNDS, encoding="utf-8") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if line.strip()]


def markdown_table(rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0]), *("| " + " | ".join(r) + " |" for r in rows[1:])]


def provenance_lines(made: dict | None) -> list[str]:
    """The command, commit and training-data hashes the model file records (files made since 2026-12-05)."""
    if not made:
        return []
    commit = made.get("git_commit") or "no git checkout"
    dirty = " with uncommitted changes" if made.get("git_dirty") else ""
    return [f"Made by `{made['command']}` at commit {commit}{dirty}; training data (sha256): "
            + ", ".join(f"`{path}` {digest[:16]}" for path, digest in made["train_data_sha256"].items()) + ".", ""]


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: python recipes/default/model_card.py EXP_DIR OUTPUT.md")
    exp, output = sys.argv[1:3]
    bundle = load_model_file(os.path.join(exp, "best_model.pt"))
    meta, mc = bundle.metadata, bundle.model.config
    config = yaml.safe_load(open(os.path.join(exp, "config.yaml"), encoding="utf-8"))
    log = [json.loads(l) for l in open(os.path.join(exp, "train_log.jsonl"), encoding="utf-8") if l.strip()]
    results = json.load(open(os.path.join(exp, "results", "results.json"), encoding="utf-8"))
    table = open(os.path.join(exp, "results", "table.md"), encoding="utf-8").read().strip()
    sources, hours, n_factors, repeated, perturbed_only = data_lines(config["train_data"])
    chain = lineage(meta)
    if not chain and config.get("init_from") and os.path.exists(config["init_from"]):
        chain = [{"path": config["init_from"], **load_model_file(config["init_from"]).metadata}]
    init = chain[0] if chain else {}
    feats = bundle.features
    spec = config.get("specaugment", {})
    done, planned = log[-1]["epoch"], config["epochs"]
    curve = ", ".join(f"{r['epoch']}: {100 * r['valid_wer']:.1f} %" for r in log if "valid_wer" in r)
    sets = results["sets"]

    units = "characters" if bundle.vocab.units == "chars" else "phones and a word boundary"
    lines = [
        "# The default model",
        "",
        f"`asr/pretrained/default.pt`: a {mc.num_layers}-layer bidirectional LSTM ({mc.hidden_size} units per "
        f"direction, {meta.get('parameters', 0) / 1e6:.1f} M parameters) over {feats.n_mels} log-mel filterbanks "
        f"stacked {mc.stack_frames} at a time ({10 * mc.stack_frames} ms per output frame), CTC over "
        f"{bundle.vocab.size - 1} {units}. English, lower case, no punctuation. "
        f"{os.path.getsize(os.path.join(exp, 'best_model.pt')) / 1e6:.0f} MB.",
        "",
        "## How it was made",
        "",
        "Recipe: `bash recipes/default/run.sh` (recipes/default/README.md); nothing is downloaded.",
        "",
        *provenance_lines(meta.get("provenance")),
    ]
    rounds = read_rounds()
    if init and len(chain) == len(rounds) - 1:  # the recipe's lineage: pretraining, then every round before this
        lines += ["The rounds (`recipes/default/rounds.tsv`, what `run.sh` trains):", "", *markdown_table(rounds), ""]
    if init:
        lines += [
            f"1. **Pretraining on synthetic speech** (`recipes/synthetic`): {init.get('train_hours', 0):.0f} h per "
            f"round of text-to-speech voices from Debian's free engines (espeak-ng, flite, festival), 3 rounds; "
            f"trained on {init.get('trained_on', 'an unrecorded machine')}. This was asr's default model before "
            f"(its card: `git show 0a0b3ef:asr/pretrained/MODEL_CARD.md`).",
            *(round_line(n, m) for n, m in enumerate(chain[1:], start=2)),
            f"{len(chain) + 1}. **Real speech, round {len(chain)}** (this model): {hours:.2f} h of real recordings "
            "(below)"
            + (f", {' and '.join(map(short_name, perturbed_only)) or 'all'}"
               f" speed-perturbed {n_factors} ways (0.9/1.0/1.1, Ko et al. 2015)" if n_factors > 1 else "")
            + "".join(f", {short_name(src)} listed {times} times"
                      for src, times in sorted(repeated.items()))
            + f": {meta.get('train_hours', 0):.1f} h per epoch "
            f"({', '.join(os.path.basename(p) for p in config['train_data'])}).",
        ]
    else:
        lines += [f"Trained from scratch on {hours:.2f} h of real recordings ({meta.get('train_hours', 0):.1f} h per "
                  "epoch with speed perturbation)."]
    lines += [
        f"   {done} epoch{'s' if done != 1 else ''} ({log[-1]['step']} steps)"
        + (f" of {planned} planned" if done < planned else "")
        + f", batches of up to {config['max_batch_seconds']:g} s of audio, AdamW, peak learning rate "
        f"{config['optim']['lr']:g} after {config['optim']['warmup_steps']} warm-up steps, {config['optim']['schedule']} "
        f"decay, dropout {mc.dropout:g}, SpecAugment ({spec.get('freq_masks')} frequency masks of up to "
        f"{spec.get('freq_width')} bins, {spec.get('time_masks')} time masks of up to {spec.get('time_width')} frames)"
        + (f" and a vocal-tract warp of up to {100 * spec['warp_range']:.0f} %" if spec.get("warp_range") else "")
        + f". Trained on {meta.get('trained_on', 'an unrecorded machine')} at "
        f"{log[-1]['audio_seconds_per_second']:.0f} s of audio per second, with torch {torch.__version__}.",
        f"   Model selection: greedy WER on dev/librispeech + dev/speechocean762 together after each epoch "
        f"({curve}); kept epoch {meta.get('epochs')}.",
        "",
        "Real training speech (speaker-disjoint from every dev and test set; ../shared/data/speech):",
        "",
        *sources,
        "",
        "## Results",
        "",
        "Greedy decoding unless stated; PocketSphinx 5.1.1 (its own en-us acoustic model, dictionary and "
        "language model) decoded the same audio in the same run. Command: "
        f"`python recipes/default/decode.py {os.path.join(exp, 'best_model.pt')} {os.path.join(exp, 'results')}` "
        "(stage 4 of the recipe).",
        "",
        table,
        "",
        *(f"{label} WER below PocketSphinx's on: "
          + (", ".join(n for n, r in sets.items() if key in r and "pocketsphinx" in r
                       and r[key]["wer"] < r["pocketsphinx"]["wer"]) or "none")
          + "; above it on: "
          + (", ".join(n for n, r in sets.items() if key in r and "pocketsphinx" in r
                       and r[key]["wer"] >= r["pocketsphinx"]["wer"]) or "none") + ". "
          for label, key in (("Default decoding (beam + LM)", "beam_lm"), ("Greedy", "greedy"))
          if any(key in r for r in sets.values())),
        "The network is the one asr shipped before, so its speed is the same (README, \"Measured here\").",
        "",
        "## Licences and credits",
        "",
        "The model's weights are derived from the recordings above (each under its own licence, listed in the "
        "table) and from synthetic speech of Debian's free text-to-speech voices. FSDD is CC BY-SA 4.0: "
        "share derived data under the same terms. Credit: speechocean762 (Speechocean, Xiaomi), LibriSpeech "
        "(Vassil Panayotov et al.), Google Speech Commands (Pete Warden), CSTR VCTK (University of Edinburgh), "
        "CMU ARCTIC (Carnegie Mellon University), Common Voice (Mozilla), rhasspy dataset-voice-cathy (Rhasspy), "
        "Free Spoken Digit Dataset (Zohar Jackson and contributors).",
    ]
    with open(output, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
