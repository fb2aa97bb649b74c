"""Training: the loss falls, checkpoints resume exactly, the best model is a standalone file."""

import json
from pathlib import Path

import pytest
import torch

from asr.config import load_config
from asr.errors import ConfigError
from asr.modelfile import CHECKPOINT_FORMAT, load_model_file, safe_load
from asr.train import TrainConfig, train


def small_config(data, out, **extra) -> TrainConfig:
    overrides = [
        f"train_data=[{data}]", f"valid_data=[{data}]", f"out_dir={out}", "epochs=4", "max_batch_size=4",
        "features.n_mels=24", "model.hidden_size=24", "model.num_layers=2", "model.dropout=0.2",
        "optim.warmup_steps=2", "optim.lr=0.003", "progress=false", "cache_features=true",
    ] + [f"{k}={v}" for k, v in extra.items()]
    return load_config(TrainConfig, None, overrides)


def quiet(_msg):
    pass


def test_resume_continues_exactly(tmp_path, digits_corpus):
    """Stop mid-epoch, resume across an epoch boundary, resume again: same weights as one straight run
    (SpecAugment and its vocal-tract warp draw from the random state the checkpoint carries)."""
    warp = {"specaugment.warp_range": 0.1}
    straight = train(small_config(digits_corpus, tmp_path / "a", **warp), log=quiet)
    assert straight.steps == 12 and straight.epochs_done == 4
    first = train(small_config(digits_corpus, tmp_path / "b", **warp), max_steps=2, log=quiet)
    assert first.stopped_early and first.steps == 2
    second = train(small_config(digits_corpus, tmp_path / "b", **warp), resume=True, max_steps=3, log=quiet)
    assert second.steps == 5 and second.epochs_done == 1
    third = train(small_config(digits_corpus, tmp_path / "b", **warp), resume=True, log=quiet)
    assert third.steps == 12 and third.epochs_done == 4
    # resuming a finished run (a recipe stage run again) changes nothing
    again = train(small_config(digits_corpus, tmp_path / "a", **warp), resume=True, log=quiet)
    assert again.steps == 12 and again.epochs_done == 4 and not again.stopped_early

    a = safe_load(str(tmp_path / "a" / "checkpoint.pt"), CHECKPOINT_FORMAT)
    b = safe_load(str(tmp_path / "b" / "checkpoint.pt"), CHECKPOINT_FORMAT)
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for pid, state in a["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg"], b["optimizer"]["state"][pid]["exp_avg"])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert [h["valid_wer"] for h in straight.history] == [h["valid_wer"] for h in third.history]

    # the best model is a standalone file carrying its training metadata
    best = load_model_file(str(tmp_path / "a" / "best_model.pt"))
    assert best.metadata["train_utterances"] == 10 and "valid_wer" in best.metadata
    log_lines = (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in log_lines] == [1, 2, 3, 4]


def test_a_round_cut_short_keeps_the_planned_schedule(tmp_path, digits_corpus):
    """stop_epoch ends the run after that epoch, on the schedule planned for all `epochs`: the model
    a 4-epoch run has after epoch 2, and `--resume` without it goes on to the end as if never cut."""
    cut = train(small_config(digits_corpus, tmp_path / "cut", stop_epoch=2), log=quiet)
    assert cut.epochs_done == 2 and cut.steps == 6 and not cut.stopped_early
    sliced = train(small_config(digits_corpus, tmp_path / "sliced"), max_steps=6, log=quiet)
    a = safe_load(str(tmp_path / "cut" / "checkpoint.pt"), CHECKPOINT_FORMAT)
    b = safe_load(str(tmp_path / "sliced" / "checkpoint.pt"), CHECKPOINT_FORMAT)
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"] > 0.003 * 0.05
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    rest = train(small_config(digits_corpus, tmp_path / "cut"), resume=True, log=quiet)
    assert rest.epochs_done == 4 and rest.steps == 12
    with pytest.raises(ConfigError, match="stop_epoch"):
        small_config(digits_corpus, tmp_path / "bad", stop_epoch=5).validate()


def test_loss_falls(tmp_path, digits_corpus):
    result = train(small_config(digits_corpus, tmp_path / "c", epochs=8, use_specaugment="false"), log=quiet)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.6 * losses[0], losses


def test_training_refuses_to_overwrite_or_resume_mismatched(tmp_path, digits_corpus):
    train(small_config(digits_corpus, tmp_path / "d", epochs=1), log=quiet)
    with pytest.raises(ConfigError, match="--resume"):
        train(small_config(digits_corpus, tmp_path / "d", epochs=1), log=quiet)
    with pytest.raises(ConfigError, match="model config differs"):
        train(small_config(digits_corpus, tmp_path / "d", epochs=2, **{"model.hidden_size": 32}), resume=True, log=quiet)


@pytest.mark.parametrize("config", sorted(str(p) for p in (Path(__file__).parents[1] / "recipes").glob("*/conf/*.yaml")
                                           if p.name != "base.yaml"))  # a base holds only what configs share
def test_every_recipe_config_loads(config):
    """A recipe's config names only keys that exist, with values in range (a stage that fails on its
    config after an hour of the stages before it is a broken recipe)."""
    load_config(TrainConfig, config).validate()


def test_a_config_inherits_its_base(tmp_path):
    """`base: FILE` (relative to the config) supplies every key the config does not set; sections merge
    key by key; a chain of bases works; a base that includes itself is an error, not a recursion."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "base.yaml").write_text("train_data: [a.jsonl]\nepochs: 3\nmodel: {hidden_size: 64, num_layers: 2}\n")
    (tmp_path / "conf" / "mid.yaml").write_text("base: base.yaml\nepochs: 5\n")
    (tmp_path / "round.yaml").write_text("base: conf/mid.yaml\nmodel: {num_layers: 4}\noptim: {lr: 0.0002}\n")
    cfg = load_config(TrainConfig, str(tmp_path / "round.yaml"), ["model.dropout=0.3"])
    assert (cfg.train_data, cfg.epochs, cfg.optim.lr) == (["a.jsonl"], 5, 0.0002)
    assert (cfg.model.hidden_size, cfg.model.num_layers, cfg.model.dropout) == (64, 4, 0.3)
    (tmp_path / "conf" / "base.yaml").write_text("base: mid.yaml\n")
    with pytest.raises(ConfigError, match="includes itself"):
        load_config(TrainConfig, str(tmp_path / "round.yaml"))
    (tmp_path / "loose.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(ConfigError, match="missing.yaml: no such config file"):
        load_config(TrainConfig, str(tmp_path / "loose.yaml"))


def test_config_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key model.hiden_size"):
        load_config(TrainConfig, None, ["train_data=[x]", "model.hiden_size=3"])
    with pytest.raises(ConfigError, match="epochs: expected an integer"):
        load_config(TrainConfig, None, ["train_data=[x]", "epochs=many"])
    with pytest.raises(ConfigError, match="features.kind must be one of"):
        load_config(TrainConfig, None, ["train_data=[x]", "features.kind=spectrogram"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(TrainConfig, str(bad))
    with pytest.raises(ConfigError, match="warp_range needs log-mel features"):
        load_config(TrainConfig, None, ["train_data=[x]", "features.kind=mfcc", "specaugment.warp_range=0.1"])
    with pytest.raises(ConfigError, match="warp_range must be in"):
        load_config(TrainConfig, None, ["train_data=[x]", "specaugment.warp_range=0.7"])
    cfg = load_config(TrainConfig, None, ["train_data=[x]", "optim.lr=1e-4", "features.kind=mfcc"])
    assert cfg.optim.lr == 1e-4 and cfg.features.kind == "mfcc"


def test_device_choice_and_parallel_feature_cache(tmp_path, digits_corpus):
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or cuda:N"):
        load_config(TrainConfig, None, ["train_data=[x]", "device=tpu"])
    if not torch.cuda.is_available():
        from asr.train import Trainer

        with pytest.raises(ConfigError, match="sees no GPU"):
            Trainer(small_config(digits_corpus, tmp_path / "gpu", device="cuda"), log=quiet)

    # features computed in worker processes are the ones computed here, for every utterance
    from asr.data import UtteranceDataset, load_corpus
    from asr.features import FeatureConfig, FeatureExtractor
    from asr.text import Vocabulary

    utts = load_corpus(str(digits_corpus))
    extractor = FeatureExtractor(FeatureConfig(n_mels=24))
    parallel = UtteranceDataset(utts, Vocabulary(), extractor, cache=True)
    parallel.fill_cache(workers=2)
    here = UtteranceDataset(utts, Vocabulary(), extractor, cache=False)
    assert sorted(parallel.cache) == list(range(len(utts)))
    for i in range(len(utts)):
        assert torch.equal(parallel.cache[i], here.features(i))


def test_fine_tuning_starts_from_a_model_file(tmp_path, digits_corpus):
    from asr.train import Trainer

    first = train(small_config(digits_corpus, tmp_path / "a", epochs=1), log=quiet)
    model_file = tmp_path / "a" / "best_model.pt"
    tuned = Trainer(small_config(digits_corpus, tmp_path / "b", init_from=str(model_file)), log=quiet)
    tuned.initialise_from(str(model_file))
    source = load_model_file(str(model_file)).model.state_dict()
    assert all(torch.equal(v, source[k]) for k, v in tuned.model.state_dict().items())
    with pytest.raises(ConfigError, match="model config differs"):
        Trainer(small_config(digits_corpus, tmp_path / "c", **{"model.hidden_size": 16}),
                log=quiet).initialise_from(str(model_file))
    assert first.epochs_done == 1
