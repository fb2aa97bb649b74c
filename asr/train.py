"""Training: the config, and the loop (CTC loss, AdamW with warm-up and cosine decay, validation,
best-model export) over its parts: checkpoints and exact resume (asr/checkpoint.py: everything that
decides the next step is in the checkpoint, so `train(cfg, resume=True)` continues as if never
stopped), distributed helpers (asr/dist.py), batch augmentation (asr/features.py), a network grown
from a shallower one (asr/grow.py), an auxiliary phone loss (asr/phone_aux.py) and the model file's
provenance (asr/provenance.py).
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from . import __version__, dist
from .checkpoint import TrainState, load_checkpoint, save_checkpoint, seed_everything
from .config import to_dict
from .data import BucketBatchSampler, UtteranceDataset, collate, load_corpus
from .decoding import Decoder, DecoderConfig
from .device import check_device_name, resolve_device
from .errors import ConfigError, DataError, ModelFileError
from .features import FeatureConfig, FeatureExtractor, FeatureStats, SpecAugmentConfig, augment_batch
from .grow import check_growable, grown_state, pass_through
from .lexicon import Lexicon
from .metrics import ErrorCounter
from .model import AcousticModel, ModelConfig
from .modelfile import ModelBundle, atomic_write_text, remove_stale_temporaries, save_model
from .phone_aux import PhoneAuxConfig, PhoneHead, WithPhoneHead
from .provenance import provenance
from .text import UNITS, Vocabulary

CHECKPOINT_NAME = "checkpoint.pt"
BEST_MODEL_NAME = "best_model.pt"
LOG_NAME = "train_log.jsonl"


@dataclass
class OptimConfig:
    lr: float = 1e-3  # peak learning rate, reached after warm-up
    weight_decay: float = 1e-2
    warmup_steps: int = 500
    schedule: str = "cosine"  # "cosine" decay to min_lr_ratio * lr at the last step, or "constant"
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0  # max global gradient norm (0: off)

    def validate(self) -> None:
        if self.lr <= 0:
            raise ConfigError(f"optim.lr must be positive, got {self.lr}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"optim.schedule must be cosine or constant, got {self.schedule!r}")
        if self.warmup_steps < 0 or self.grad_clip < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError("optim.warmup_steps and optim.grad_clip must be >= 0, optim.min_lr_ratio in [0, 1]")


@dataclass
class TrainConfig:
    """Everything `asr train` needs; loaded from YAML (see recipes/*/conf/)."""

    train_data: list[str] = field(default_factory=list)  # LibriSpeech-layout folders or .jsonl manifests
    valid_data: list[str] = field(default_factory=list)
    out_dir: str = "exp/run"
    epochs: int = 20  # the epochs the learning-rate schedule spans
    stop_epoch: int = 0  # end the run after this many of them (a round cut short); 0: all `epochs`
    max_batch_seconds: float = 160.0  # padded audio per batch
    max_batch_size: int = 32
    max_utterance_seconds: float = 30.0  # longer utterances are skipped
    seed: int = 1234
    threads: int = 0  # torch intra-op threads (0: torch default)
    num_workers: int = 0  # DataLoader worker processes (with cache_features: processes that fill the cache)
    cache_features: bool = False  # compute features once, before the first epoch, and keep them in memory
    device: str = "auto"  # auto (a GPU when there is one) | cpu | cuda | cuda:N
    init_from: str = ""  # start from this model file's weights (fine-tuning; same features and model config, or
    #                      fewer layers of the same width: the network grows, asr/grow.py)
    init_output_layer: bool = True  # with init_from: copy its output layer too (when its units are these)
    units: str = "chars"  # output units: chars | phones (words through a pronunciation lexicon)
    lexicon: str = ""  # phones: the pronunciation lexicon (default: CMUdict as shipped in asr/pretrained)
    g2p: str = ""  # phones: the G2P model for words outside the lexicon (default: asr/pretrained/g2p.pt)
    precision: str = "fp32"  # fp32 | bf16 | fp16: mixed-precision autocast (bf16 on a GPU or CPU, fp16 on a GPU)
    stats_utterances: int = 2000  # utterances sampled for normalisation statistics
    checkpoint_minutes: float = 10.0  # also checkpoint mid-epoch this often (0: epoch ends only)
    progress: bool = True
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    specaugment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    use_specaugment: bool = True
    optim: OptimConfig = field(default_factory=OptimConfig)
    phone_aux: PhoneAuxConfig = field(default_factory=PhoneAuxConfig)  # an auxiliary phone CTC loss (asr/phone_aux.py)

    def validate(self) -> None:
        if not self.train_data:
            raise ConfigError("train_data is empty: give at least one LibriSpeech-layout folder or manifest")
        if self.epochs <= 0:
            raise ConfigError(f"epochs must be positive, got {self.epochs}")
        if not 0 <= self.stop_epoch <= self.epochs:
            raise ConfigError(f"stop_epoch must be 0 (all epochs) to epochs ({self.epochs}), got {self.stop_epoch}")
        if self.max_batch_seconds <= 0 or self.max_batch_size <= 0:
            raise ConfigError("max_batch_seconds and max_batch_size must be positive")
        if self.threads < 0 or self.num_workers < 0:
            raise ConfigError("threads and num_workers must be >= 0")
        check_device_name(self.device)
        if self.units not in UNITS:
            raise ConfigError(f"units must be chars or phones, got {self.units!r}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        self.features.validate()
        self.model.validate()
        self.specaugment.validate()
        if self.use_specaugment and self.specaugment.warp_range and self.features.kind != "fbank":
            raise ConfigError("specaugment.warp_range needs log-mel features (features.kind: fbank); set it to 0 for mfcc")
        self.optim.validate()
        self.phone_aux.validate(self.model.num_layers)


def describe_device(device: torch.device) -> str:
    """Where training ran, for the model card: a GPU's name, or the CPU and its core count."""
    cores = f"{os.cpu_count()} CPU cores"
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} GPU, {cores}"
    return f"{platform.machine()} CPU, {cores}"


def learning_rate(cfg: OptimConfig, step: int, total_steps: int) -> float:
    """Linear warm-up to cfg.lr, then constant or cosine decay to cfg.lr * min_lr_ratio."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    span = max(total_steps - cfg.warmup_steps, 1)
    progress = min(max(step - cfg.warmup_steps, 0) / span, 1.0)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class _StopFlag:
    """First Ctrl-C (or SIGTERM) asks the loop to checkpoint and stop after the current step;
    a second one stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame):  # noqa: ARG002
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step; checkpointing (Ctrl-C again to abort at once)", file=sys.stderr)

    def __enter__(self) -> "_StopFlag":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not in the main thread
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclass
class TrainResult:
    out_dir: str
    epochs_done: int
    steps: int
    best_wer: float | None
    last_loss: float
    audio_seconds_per_second: float
    stopped_early: bool
    history: list[dict]


class Trainer:
    def __init__(self, cfg: TrainConfig, log=print):
        cfg.validate()
        self.cfg = cfg
        self.world, self.rank, self.device = dist.start(resolve_device(cfg.device))
        self.log = log if self.rank == 0 else (lambda _msg: None)  # one process speaks and writes
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)  # model initialisation depends only on the seed
        self.vocab = Vocabulary.for_units(cfg.units)
        self.lexicon = Lexicon.for_vocab(self.vocab, cfg.lexicon or None, cfg.g2p or None)
        self.extractor = FeatureExtractor(cfg.features)
        self.train_utts = self._load(cfg.train_data, "train_data", filter_long=True)
        self.valid_utts = self._load(cfg.valid_data, "valid_data", filter_long=False) if cfg.valid_data else []
        if self.vocab.units == "phones":  # words outside the lexicon: G2P pronunciations, once
            n = self.lexicon.pronounce_unknown((u.text for u in self.train_utts), "train_data")
            self.log(f"lexicon: {n} words of the training transcripts pronounced by the G2P model")
        self.train_set = UtteranceDataset(self.train_utts, self.lexicon, self.extractor, cache=cfg.cache_features)
        self.valid_set = UtteranceDataset(self.valid_utts, self.lexicon, self.extractor, cache=True)
        self.model = AcousticModel(cfg.model, input_dim=cfg.features.dim, vocab_size=self.vocab.size).to(self.device)
        self.phone_head = PhoneHead.build(cfg.phone_aux, cfg.model.hidden_size, [u.text for u in self.train_utts],
                                          cfg.lexicon, cfg.g2p, self.log).to(self.device) if cfg.phone_aux.layer else None
        # what the optimiser trains: the model, and the phone head beside it (never in the model file)
        self.network = self.model if self.phone_head is None else WithPhoneHead(self.model, self.phone_head)
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        self.sampler = BucketBatchSampler(
            [u.duration for u in self.train_utts], cfg.max_batch_seconds, cfg.max_batch_size, shuffle=True,
            seed=cfg.seed, num_replicas=self.world, rank=self.rank,
        )
        # per-utterance losses: the step's loss is their mean over the *global* batch (see train_step)
        self.ctc = torch.nn.CTCLoss(blank=self.vocab.blank, reduction="none", zero_infinity=True)
        if self.world > 1:  # gradients are averaged over the processes after each backward
            self.network = torch.nn.parallel.DistributedDataParallel(
                self.network, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        # bf16 autocast on a GPU and on a CPU (the LSTM's matrix products in bfloat16: faster where the CPU has
        # AVX-512 BF16 or AMX); fp16 on a GPU only (a CPU runs it as fp32)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision) \
            if self.device.type == "cuda" or cfg.precision == "bf16" else None
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.state = TrainState()
        self.hours = sum(u.duration for u in self.train_utts) / 3600.0
        self._valid_decoder: Decoder | None = None
        self.provenance = provenance(cfg.train_data) if self.rank == 0 else {}  # commit, command, data hashes

    def _load(self, sources: list[str], what: str, filter_long: bool):
        utts = []
        for source in sources:
            utts.extend(load_corpus(source))
        shortest = self.cfg.features.min_samples / self.cfg.features.sample_rate
        reasons = {"empty transcript": lambda u: not u.text,
                   f"shorter than one analysis window ({1000 * shortest:g} ms)": lambda u: u.duration < shortest,
                   f"longer than {self.cfg.max_utterance_seconds:g} s":
                       lambda u: filter_long and u.duration > self.cfg.max_utterance_seconds}
        skipped = {reason: sum(1 for u in utts if test(u)) for reason, test in reasons.items()}
        kept = [u for u in utts if not any(test(u) for test in reasons.values())]
        if len(kept) < len(utts):
            self.log(f"{what}: skipped {len(utts) - len(kept)} utterances ("
                     + ", ".join(f"{n} {reason}" for reason, n in skipped.items() if n) + ")")
        if not kept:
            raise DataError(f"{what}: no usable utterances in {', '.join(sources)}")
        return kept

    # -- state ---------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.cfg.out_dir, CHECKPOINT_NAME)

    @property
    def total_steps(self) -> int:
        return len(self.sampler) * self.cfg.epochs

    def compute_normalization(self) -> None:
        rng = random.Random(self.cfg.seed)
        indices = list(range(len(self.train_set)))
        if len(indices) > self.cfg.stats_utterances:
            indices = rng.sample(indices, self.cfg.stats_utterances)
        stats = FeatureStats(self.cfg.features.dim)
        for i in indices:
            stats.update(self.train_set.features(i))
        if stats.count == 0:
            window = 1000 * self.cfg.features.min_samples / self.cfg.features.sample_rate
            raise DataError(f"train_data: no utterance is long enough for one feature frame ({window:g} ms), "
                            "whatever its manifest says")
        mean, std = stats.mean_std()
        self.model.set_normalization(mean, std)

    def initialise_from(self, path: str) -> None:
        """Copy weights and normalisation from a model file with the same features and architecture, or
        grow this deeper network from a shallower one (asr/grow.py); its output layer too when its units
        are these and cfg.init_output_layer (else the layer stays fresh: a character model's encoder can
        start a phone model)."""
        from .modelfile import load_model_file

        bundle = load_model_file(path)
        if to_dict(bundle.features) != to_dict(self.cfg.features):
            raise ConfigError(f"init_from {path}: its features config differs from this one")
        theirs = bundle.model.config
        keep_output = self.cfg.init_output_layer and bundle.vocab.to_dict() == self.vocab.to_dict()
        if to_dict(theirs) == to_dict(self.cfg.model):
            state = bundle.model.state_dict()
        elif theirs.num_layers < self.cfg.model.num_layers:  # a deeper network grown from a shallower one
            check_growable(theirs, self.cfg.model, f"init_from {path}")
            state = grown_state(bundle.model.state_dict(), keep_output)
            pass_through(self.model.lstm, range(theirs.num_layers, self.cfg.model.num_layers))
            self.log(f"grown from {path}: its {theirs.num_layers} layers at the bottom, "
                     f"{self.cfg.model.num_layers - theirs.num_layers} new on top, each passing its input through")
        else:
            raise ConfigError(f"init_from {path}: its model config differs from this one")
        if not keep_output:
            state = {k: v for k, v in state.items() if not k.startswith("output.")}
            self.log(f"output layer: new ({self.vocab.units}; {path} has {bundle.vocab.units})")
        self.model.load_state_dict(state, strict=False)
        # what the starting point was trained on travels with the model (and its card)
        keys = ("train_data", "train_hours", "train_utterances", "epochs", "steps", "trained_on", "created",
                "provenance", "init_from")
        self.state.init_metadata = {"path": path, **{k: bundle.metadata[k] for k in keys if k in bundle.metadata}}
        self.log(f"initialised from {path}")

    def fill_feature_caches(self) -> None:
        """Compute every feature once, in cfg.num_workers processes, before the first step."""
        for name, dataset in (("train", self.train_set), ("valid", self.valid_set)):
            if len(dataset):
                dataset.fill_cache(self.cfg.num_workers, progress=self.cfg.progress, desc=f"features ({name})")

    @property
    def checkpointed(self) -> dict[str, torch.nn.Module]:
        """The modules whose weights a checkpoint carries: the model, and the phone head when there is one."""
        return {"model": self.model, **({"phone_head": self.phone_head} if self.phone_head else {})}

    def save_checkpoint(self) -> None:
        """Rank 0 writes; checkpoints count global batches, so any number of processes can resume."""
        if self.rank == 0:
            save_checkpoint(self.checkpoint_path, to_dict(self.cfg), self.state, self.checkpointed, self.optimizer)

    def load_checkpoint(self, path: str) -> None:
        self.state = load_checkpoint(path, to_dict(self.cfg), self.checkpointed, self.optimizer)

    def bundle(self, extra: dict | None = None) -> ModelBundle:
        metadata = {
            "asr_version": __version__,
            "train_data": list(self.cfg.train_data),
            "train_hours": round(self.hours, 3),
            "train_utterances": len(self.train_utts),
            "epochs": self.state.epoch,
            "steps": self.state.step,
            "parameters": self.model.num_parameters(),
            "trained_on": describe_device(self.device),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if self.state.init_metadata:
            metadata["init_from"] = self.state.init_metadata
        metadata["provenance"] = self.provenance
        metadata.update(extra or {})
        return ModelBundle(model=self.model, features=self.cfg.features, vocab=self.vocab, metadata=metadata)

    # -- loop ----------------------------------------------------------------------------
    def validate_epoch(self) -> dict:
        self.model.eval()
        counter = ErrorCounter()
        sampler = BucketBatchSampler([u.duration for u in self.valid_utts], self.cfg.max_batch_seconds,
                                     self.cfg.max_batch_size, shuffle=False)
        if self._valid_decoder is None:  # greedy (phones: the best lexicon path, without a language model)
            self._valid_decoder = Decoder(self.vocab, DecoderConfig(kind="greedy"))
        with torch.inference_mode():
            for indices in sampler:
                batch = collate([self.valid_set[i] for i in indices])
                log_probs, lengths = self.model(batch.feats.to(self.device), batch.feat_lengths.to(self.device))
                for i, nbest in zip(indices, self._valid_decoder.decode(log_probs.float().cpu(), lengths.cpu())):
                    counter.add(self.valid_utts[i].text, nbest[0].text)
        self.model.train()
        return {"valid_wer": counter.wer, "valid_cer": counter.cer}

    def train_step(self, batch) -> float:
        cfg = self.cfg
        feats = batch.feats
        if cfg.use_specaugment:  # on the CPU, from the global generator that checkpoints carry
            feats = augment_batch(feats, batch.feat_lengths, cfg.specaugment, cfg.features, self.model.feature_mean.cpu())
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg.optim, self.state.step, self.total_steps)
        dev = self.device
        texts = ([self.train_utts[i].text for i in batch.indices],) if self.phone_head else ()
        with torch.autocast(device_type=dev.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            log_probs, out_lengths, *phone_loss = self.network(feats.to(dev, non_blocking=True),
                                                               batch.feat_lengths.to(dev), *texts)
        target_lengths = batch.target_lengths.to(dev)
        chars = self.ctc(log_probs.float().transpose(0, 1), batch.targets.to(dev), out_lengths,
                         target_lengths) / target_lengths.clamp(min=1)
        per_utterance = self.phone_head.mix(chars, phone_loss[0]) if self.phone_head else chars
        # CTCLoss's "mean" over the global batch; DDP averages gradients over processes, hence * world
        loss = per_utterance.sum() * (self.world / dist.global_count(len(batch.indices), self.world, dev)[0])
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if cfg.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), cfg.optim.grad_clip)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.state.step += 1
        return float(chars.detach().mean())  # the character loss: comparable with and without a phone head

    def run(self, resume: bool = False, max_steps: int | None = None) -> TrainResult:
        """Train to cfg.stop_epoch or cfg.epochs (or stop after `max_steps` more steps, for tests and
        time slices)."""
        last_epoch = self.cfg.stop_epoch or self.cfg.epochs
        self._start(resume, last_epoch)
        self.log(
            f"training on {len(self.train_utts)} utterances ({self.hours:.2f} h), "
            f"{len(self.valid_utts)} for validation; {self.model.num_parameters() / 1e6:.2f} M parameters; "
            f"{len(self.sampler)} batches per epoch; device {self.device}"
            + (f"; {self.world} processes" if self.world > 1 else "")
        )
        self.model.train()
        run = _Run(max_steps)
        stopped = False
        with _StopFlag() as stop:
            while self.state.epoch < last_epoch and not stopped:
                stopped = self._train_epoch(stop, run)
                if stopped and self.state.batch_in_epoch < len(self.sampler):
                    break
                self._end_epoch(run)
            if stopped:
                self.save_checkpoint()
                self.log(f"stopped at epoch {self.state.epoch + 1}, step {self.state.step}; checkpoint saved to "
                         f"{self.checkpoint_path} (continue with --resume)")
        dist.barrier(self.world)  # no process leaves (and closes its connections) while another still works
        return TrainResult(out_dir=self.cfg.out_dir, epochs_done=self.state.epoch, steps=self.state.step,
                           best_wer=self.state.best_wer if self.valid_utts else None, last_loss=run.last_loss,
                           audio_seconds_per_second=run.rate, stopped_early=stopped, history=self.state.history)

    def _start(self, resume: bool, last_epoch: int) -> None:
        """Resume or start: the checkpoint, or the starting weights and normalisation; the feature caches;
        the run's config.yaml (and its log cut back to the checkpoint)."""
        cfg = self.cfg
        os.makedirs(cfg.out_dir, exist_ok=True)
        if resume:
            if not os.path.exists(self.checkpoint_path):
                raise ModelFileError(f"cannot resume: no checkpoint at {self.checkpoint_path}")
            self.load_checkpoint(self.checkpoint_path)
            self.log(f"resumed from {self.checkpoint_path}: epoch {self.state.epoch + 1}, step {self.state.step}")
        elif os.path.exists(self.checkpoint_path):
            raise ConfigError(f"{self.checkpoint_path} exists: pass --resume to continue it, or choose another out_dir")
        if cfg.cache_features and self.state.epoch < last_epoch:  # a finished run resumed has nothing to compute
            self.fill_feature_caches()
        if not resume:  # a checkpoint carries its weights and normalisation
            if cfg.init_from:
                self.initialise_from(cfg.init_from)
            else:
                self.compute_normalization()
        if self.rank == 0:
            import yaml

            remove_stale_temporaries(cfg.out_dir)  # left by a process killed while writing a checkpoint
            atomic_write_text(os.path.join(cfg.out_dir, "config.yaml"), yaml.safe_dump(to_dict(cfg), sort_keys=False))
            log_path = os.path.join(cfg.out_dir, LOG_NAME)
            if resume and os.path.exists(log_path):  # epochs logged after the checkpoint will run again
                atomic_write_text(log_path, "".join(json.dumps(record) + "\n" for record in self.state.history))

    def _train_epoch(self, stop: "_StopFlag", run: "_Run") -> bool:
        """The rest of the current epoch, with timed checkpoints; True when asked to stop before its end."""
        cfg, st = self.cfg, self.state
        self.sampler.set_epoch(st.epoch, start=st.batch_in_epoch)
        # A private generator: creating a loader would otherwise draw from the global RNG, at a different
        # moment when resuming mid-epoch. Cached features need no worker processes.
        loader = torch.utils.data.DataLoader(
            self.train_set, batch_sampler=self.sampler, collate_fn=collate,
            num_workers=0 if cfg.cache_features else cfg.num_workers, pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(cfg.seed + st.epoch),
        )
        bar = _progress(len(self.sampler), st.batch_in_epoch, f"epoch {st.epoch + 1}/{cfg.epochs}",
                        cfg.progress and self.rank == 0)
        try:
            for batch in loader:
                run.last_loss = self.train_step(batch)
                st.batch_in_epoch += 1
                st.epoch_loss[0] += run.last_loss
                st.epoch_loss[1] += 1
                run.steps += 1
                # this process's share times the number of processes: about the global batch
                run.audio += sum(self.train_utts[i].duration for i in batch.indices) * self.world
                bar.update(1)
                bar.set_postfix(loss=f"{run.last_loss:.3f}", lr=f"{self.optimizer.param_groups[0]['lr']:.2e}",
                                audio=f"{run.rate:.0f}s/s")
                if not cfg.progress and time.monotonic() - run.last_report > 60:  # a line a minute in logs
                    self.log(f"epoch {st.epoch + 1} batch {st.batch_in_epoch}/{len(self.sampler)}, "
                             f"step {st.step}, loss {run.last_loss:.3f}, {run.rate:.0f} s audio/s")
                    run.last_report = time.monotonic()
                if dist.any_process(stop.requested, self.world, self.device) or run.max_steps == run.steps:
                    return True
                if cfg.checkpoint_minutes and time.monotonic() - run.last_checkpoint > 60 * cfg.checkpoint_minutes:
                    self.save_checkpoint()
                    run.last_checkpoint = time.monotonic()
        finally:
            bar.close()
        return False

    def _end_epoch(self, run: "_Run") -> None:
        """Log the epoch, validate, keep the best model, checkpoint."""
        st = self.state
        st.epoch += 1
        st.batch_in_epoch = 0
        record = {"epoch": st.epoch, "step": st.step, "train_loss": st.epoch_loss[0] / max(st.epoch_loss[1], 1),
                  "audio_seconds_per_second": run.rate}
        st.epoch_loss = [0.0, 0]
        if self.valid_utts and self.rank == 0:
            record.update(self.validate_epoch())
        st.history.append(record)
        if self.rank == 0:
            with open(os.path.join(self.cfg.out_dir, LOG_NAME), "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        self.log(_format_record(record))
        score = record.get("valid_wer", -float(st.epoch))  # no validation: keep the latest
        if st.best_wer is None or score <= st.best_wer:
            st.best_wer = score
            extra = {k: record[k] for k in ("valid_wer", "valid_cer") if k in record}
            if self.rank == 0:
                save_model(self.bundle(extra), os.path.join(self.cfg.out_dir, BEST_MODEL_NAME))
        self.save_checkpoint()
        dist.barrier(self.world)  # the others wait while rank 0 validates and writes
        run.last_checkpoint = time.monotonic()


@dataclass
class _Run:
    """This process's run so far (not checkpointed: a resumed run starts its own)."""

    max_steps: int | None  # stop after this many steps (None: at the end of the planned epochs)
    steps: int = 0
    audio: float = 0.0  # seconds of audio trained on (the global batches)
    last_loss: float = float("nan")
    start: float = field(default_factory=time.perf_counter)
    last_checkpoint: float = field(default_factory=time.monotonic)
    last_report: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        """Seconds of audio per second of wall-clock time."""
        return self.audio / max(time.perf_counter() - self.start, 1e-9)


def _format_record(r: dict) -> str:
    parts = [f"epoch {r['epoch']}", f"step {r['step']}", f"loss {r['train_loss']:.4f}",
             f"{r['audio_seconds_per_second']:.0f} s audio/s"]
    if "valid_wer" in r:
        parts += [f"valid WER {100 * r['valid_wer']:.2f}%", f"CER {100 * r['valid_cer']:.2f}%"]
    return ", ".join(parts)


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kw) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, initial: int, desc: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="batch", dynamic_ncols=True, leave=False, file=sys.stderr)


def train(cfg: TrainConfig, resume: bool = False, max_steps: int | None = None, log=print) -> TrainResult:
    """Train (or resume) per `cfg`; writes checkpoint.pt, best_model.pt and train_log.jsonl to cfg.out_dir."""
    trainer = Trainer(cfg, log=log)
    try:
        return trainer.run(resume=resume, max_steps=max_steps)
    finally:
        dist.close(trainer.world)
