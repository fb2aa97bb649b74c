"""The default-model recipe end to end at smoke size: real utterances (Opus) -> speed-perturbed
manifests -> training -> decoding of every real dev and test set beside PocketSphinx -> model card."""

import json
import os
import subprocess
import sys

from conftest import REPO, SHARED_DATA


def test_smoke_recipe_end_to_end(tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    env = dict(os.environ, ASR=os.path.join(os.path.dirname(sys.executable), "asr"), SHARED_DATA=str(SHARED_DATA))
    proc = subprocess.run(  # stages 1-5: the LM weights given (stage 4 tunes them on the whole dev sets)
        ["bash", "recipes/default/run.sh", "--config", "recipes/default/conf/smoke.yaml", "--init", "none",
         "--limit", "2", "--data", str(data), "--exp", str(exp), "--stop-stage", "5", "--lm-weight", "2",
         "--word-score", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # training manifest: Opus audio of every training corpus, three speeds, FSDD 9001 and dev/test kept out
    train = [json.loads(l) for l in (data / "manifests" / "train.jsonl").read_text().splitlines()]
    assert {u["speed"] for u in train} == {0.9, 1.0, 1.1}
    assert any(u["path"].endswith(".opus") for u in train)
    assert not any("/fsdd/9001/" in u["path"] or "/speech/dev/" in u["path"] or "/speech/test/" in u["path"]
                   for u in train)
    dev = [json.loads(l) for l in (data / "manifests" / "dev.jsonl").read_text().splitlines()]
    assert {os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(u["path"])))) for u in dev} == \
        {"librispeech", "speechocean762"}

    # training ran from scratch (--init none) and learnt something
    log = [json.loads(l) for l in (exp / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and log[-1]["train_loss"] < log[0]["train_loss"] and "valid_wer" in log[0]
    assert "init_from: ''" in (exp / "config.yaml").read_text()

    # every set decoded, greedy and by the peer, with hypotheses; the card's table lists them all
    results = json.loads((exp / "results" / "results.json").read_text())["sets"]
    assert set(results) == {"dev/librispeech", "dev/speechocean762", "test/librispeech", "test/speechocean762",
                            "librispeech-sample", "fsdd/9001", "fsdd"}
    for name, r in results.items():
        assert r["utterances"] == 2 and 0 <= r["greedy"]["cer"] and 0 <= r["pocketsphinx"]["wer"]
        hyps = (exp / "results" / f"{name.replace('/', '-')}.greedy.tsv").read_text().splitlines()
        assert len(hyps) == 2 and all(len(h.split("\t")) == 3 for h in hyps)
    table = (exp / "results" / "table.md").read_text()
    ls = results["test/librispeech"]["pocketsphinx"]["wer"]
    assert f"{100 * ls:.1f} %" in table and table.count("\n| ") == 8

    # stage 5's card (written here to a temporary file, not into the package)
    card = tmp_path / "card.md"
    subprocess.run([sys.executable, "recipes/default/model_card.py", str(exp), str(card)], cwd=REPO,
                   check=True, capture_output=True)
    text = card.read_text()
    assert "Trained from scratch" in text and table.strip() in text and "speechocean762" in text
    # ... with the command, commit and training-data hashes its model file records
    made = "Made by `asr train recipes/default/conf/smoke.yaml --set "
    assert made in text and "train.jsonl` " in text and "at commit " in text
    assert "CC BY-SA 4.0" in text


def test_the_rounds_table_and_the_configs_agree():
    """rounds.tsv is the one list of the shipped model's rounds: each config is right on its own (it trains
    in exp/default/roundR from round R-1's model, on the table's manifests, for the table's epochs), so
    that `asr train CONFIG` and run.sh train the same round."""
    from asr.config import load_config
    from asr.train import TrainConfig

    rows = [line.split("\t") for line in (REPO / "recipes/default/rounds.tsv").read_text().splitlines()[1:]]
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    for number, config, manifests, epochs, purpose in rows:
        cfg = load_config(TrainConfig, str(REPO / "recipes/default" / config))
        assert cfg.out_dir == f"exp/default/round{number}"
        start = "exp/synthetic/default/round3" if number == "1" else f"exp/default/round{int(number) - 1}"
        assert cfg.init_from == f"{start}/best_model.pt"
        assert cfg.train_data == [f"data/real/manifests/{m}" for m in manifests.split(",")]
        assert epochs == (f"{cfg.stop_epoch} of {cfg.epochs}" if cfg.stop_epoch else str(cfg.epochs)) and purpose
