"""The offline recipe end to end at smoke size: corpus from Debian TTS engines -> manifests -> train -> decode."""

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, SHARED_DATA

pytestmark = pytest.mark.skipif(
    not all(shutil.which(e) for e in ("espeak-ng", "flite", "text2wave")),
    reason="needs Debian espeak-ng, flite, festival (installed by .ci/install)",
)


def read_tsv(path):
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def digest(folder):
    h = hashlib.sha256()
    for root, _dirs, files in sorted(os.walk(folder)):
        for name in sorted(files):
            h.update(name.encode())
            with open(os.path.join(root, name), "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def test_smoke_recipe_end_to_end(tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    env = dict(os.environ, ASR=os.path.join(os.path.dirname(sys.executable), "asr"), SHARED_DATA=str(SHARED_DATA))
    proc = subprocess.run(
        ["bash", "recipes/synthetic/run.sh", "--hours", "0.02", "--config", "recipes/synthetic/conf/smoke.yaml",
         "--rounds", "2", "--continue-config", "recipes/synthetic/conf/smoke-continue.yaml", "--data", str(data),
         "--exp", str(exp), "--stop-stage", "5"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # corpus: three splits, disjoint by voice identity and by sentence, real audio at 16 kHz
    splits = {s: read_tsv(data / s / "utterances.tsv") for s in ("train", "dev", "test")}
    identities = {s: {r["identity"] for r in rows} for s, rows in splits.items()}
    texts = {s: {r["text"] for r in rows} for s, rows in splits.items()}
    assert not identities["train"] & identities["test"] and not identities["train"] & identities["dev"]
    assert not texts["train"] & texts["test"]
    assert len(identities["train"]) >= 6 and len(identities["test"]) >= 3
    assert {r["engine"] for rows in splits.values() for r in rows} == {"espeak", "flite", "festival"}
    assert any(r["augmentation"] != "clean" for r in splits["train"])
    assert all(r["augmentation"] == "clean" for r in splits["test"])
    train_seconds = sum(float(r["seconds"]) for r in splits["train"])
    assert 0.02 * 3600 <= train_seconds < 0.02 * 3600 + 30

    # round 2's corpus: the same training voices, other utterances (seed + 1), no test sentence
    round2 = read_tsv(data / "round2" / "train" / "utterances.tsv")
    assert {r["identity"] for r in round2} <= identities["train"]
    assert [r["text"] for r in round2] != [r["text"] for r in splits["train"]]
    assert not {r["text"] for r in round2} & texts["test"]

    # training ran and learnt something; round 2 started from round 1's model and continued it
    log = [json.loads(l) for l in (exp / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 3 and log[-1]["train_loss"] < log[0]["train_loss"]
    final = exp / "round2"
    log2 = [json.loads(l) for l in (final / "train_log.jsonl").read_text().splitlines()]
    assert len(log2) == 2 and log2[0]["train_loss"] < log[0]["train_loss"]
    assert f"init_from: {exp / 'best_model.pt'}" in (final / "config.yaml").read_text()
    # decoding (of round 2's model) produced the JSON summaries
    exp = final
    for name in ("test-unseen-voices.greedy", "librispeech-sample.greedy", "fsdd-digits.greedy",
                 "test-unseen-voices.beam-lm"):
        result = json.loads((exp / "results" / f"{name}.json").read_text())
        assert result["utterances"] > 0 and 0 <= result["cer"]
    # stage 6's model card (written here to a temporary file, not into the package)
    card = tmp_path / "card.md"
    subprocess.run([sys.executable, "recipes/synthetic/model_card.py", str(final), str(data), str(card),
                    str(final.parent)], cwd=REPO, check=True, capture_output=True)
    text = card.read_text()
    greedy = json.loads((final / "results" / "test-unseen-voices.greedy.json").read_text())
    assert "- Round 1 (" in text and "- Round 2 (" in text and f"{100 * greedy['wer']:.1f} %" in text
    tuned = json.loads((exp / "results" / "lm-tune-dev.json").read_text())
    assert len(tuned["grid"]) == 24 and tuned["best"] in tuned["grid"]
    # the language model was built from training sentences only
    lm_text = set((data / "train" / "lm_text.txt").read_text().splitlines())
    from asr.text import normalize_transcript

    assert not any(normalize_transcript(r["text"]) in lm_text for r in splits["test"])

    # the same seed rebuilds the same test split, byte for byte
    again = tmp_path / "again"
    subprocess.run([sys.executable, "recipes/synthetic/build_corpus.py", str(again), "--hours", "0.02",
                    "--splits", "test", "--no-progress"], cwd=REPO, check=True, capture_output=True)
    assert digest(again / "test") == digest(data / "test")
