"""`asr` commands. Each parses options, calls the library and turns user errors into one line
on stderr with a non-zero exit. Heavy imports (torch) happen inside the commands, so
`asr --help` is instant."""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from asr import __version__
from asr.errors import AsrError

EXIT_USER_ERROR = 1


def fail(message: str, code: int = EXIT_USER_ERROR) -> None:
    click.echo(f"asr: error: {message}", err=True)
    sys.exit(code)


def user_errors(func):
    """Report AsrError (bad input, bad model, bad config) as one line instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except AsrError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asr")
def cli() -> None:
    """asr: train and run your own speech recogniser (BiLSTM-CTC)."""


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--model", "-m", "model_path", default=None, metavar="PATH",
              help="Model file (default: the model shipped with asr, or $ASR_MODEL).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for the network.")
@user_errors
def transcribe(files: tuple[str, ...], model_path: str | None, threads: int | None) -> None:
    """Transcribe audio FILES (WAV, FLAC, OGG, MP3; any rate; '-' reads stdin).

    Prints one transcript per file, prefixed with the file name when there are several.
    """
    from asr.transcribe import load_model

    if threads:
        import torch

        torch.set_num_threads(threads)
    recognizer = load_model(model_path)
    failed = 0
    for path in files:
        try:
            text = recognizer.transcribe(path)
        except AsrError as exc:
            click.echo(f"asr: error: {exc}", err=True)
            failed += 1
            continue
        click.echo(f"{path}: {text}" if len(files) > 1 else text)
    if failed:
        sys.exit(EXIT_USER_ERROR)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--resume", is_flag=True, help="Continue from OUT_DIR/checkpoint.pt exactly where it stopped.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config field, e.g. --set model.hidden_size=128 (repeatable).")
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Stop (with a checkpoint) after this many steps in this run.")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal).")
@user_errors
def train(config: str, resume: bool, overrides: tuple[str, ...], max_steps: int | None, progress: bool | None) -> None:
    """Train a model from a YAML CONFIG (see recipes/*/conf/).

    Writes OUT_DIR/checkpoint.pt (resumable), OUT_DIR/best_model.pt (best validation WER)
    and OUT_DIR/train_log.jsonl.
    """
    from asr.config import load_config
    from asr.train import TrainConfig, train as run_training

    cfg = load_config(TrainConfig, config, overrides)
    if progress is not None:
        cfg.progress = progress
    elif not sys.stderr.isatty():
        cfg.progress = False
    result = run_training(cfg, resume=resume, max_steps=max_steps, log=lambda m: click.echo(m, err=True))
    best = os.path.join(result.out_dir, "best_model.pt")
    click.echo(f"done: {result.epochs_done} epochs, {result.steps} steps, "
               f"{result.audio_seconds_per_second:.0f} s of audio per second; model: {best}")


@cli.command()
@click.argument("data_dir")
@click.option("--model", "-m", "model_path", default=None, metavar="PATH",
              help="Model file (default: the model shipped with asr, or $ASR_MODEL).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object: wer, cer, utterances, audio_seconds, rtf.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--hypotheses", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write 'ID<TAB>REFERENCE<TAB>HYPOTHESIS' lines to this file.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for the network.")
@user_errors
def evaluate(data_dir: str, model_path: str | None, as_json: bool, batch_size: int, hypotheses: str | None,
             threads: int | None) -> None:
    """Decode a LibriSpeech-layout DATA_DIR (or a .jsonl manifest) and report WER, CER and speed."""
    from asr.data import load_corpus
    from asr.transcribe import evaluate as run_evaluation, load_model

    if threads:
        import torch

        torch.set_num_threads(threads)
    recognizer = load_model(model_path)
    utts = load_corpus(data_dir)
    bar = None
    if not as_json and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(utts), unit="utt", desc="decoding", leave=False, file=sys.stderr)
    result = run_evaluation(recognizer, utts, batch_size=batch_size, progress=bar.update if bar else None)
    if bar:
        bar.close()
    if hypotheses:
        with open(hypotheses, "w", encoding="utf-8") as fh:
            for utt_id, ref, hyp in result.hypotheses:
                fh.write(f"{utt_id}\t{ref}\t{hyp}\n")
    summary = result.summary()
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"WER {100 * summary['wer']:.2f}%  CER {100 * summary['cer']:.2f}%  "
                   f"utterances {summary['utterances']}  audio {summary['audio_seconds']:.1f} s  "
                   f"RTF {summary['rtf']:.4f}")


@cli.command()
@click.argument("data_dirs", nargs=-1, required=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Manifest to write (.jsonl).")
@user_errors
def prepare(data_dirs: tuple[str, ...], output: str) -> None:
    """Scan LibriSpeech-layout DATA_DIRS into one JSON-lines manifest (id, path, text, duration, speaker)."""
    from asr.data import scan_librispeech, write_manifest

    utts = [u for d in data_dirs for u in scan_librispeech(d)]
    write_manifest(utts, output)
    hours = sum(u.duration for u in utts) / 3600
    click.echo(f"{output}: {len(utts)} utterances, {hours:.2f} h, {len({u.speaker for u in utts})} speakers")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
