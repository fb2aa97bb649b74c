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
from asr.device import BATCH_SECONDS
from asr.errors import AsrError

# Exit statuses (README "Commands" lists them): 2 is click's, for a wrong command line.
EXIT_USER_ERROR = 1  # bad input, model, config or output folder: nothing (more) was done
EXIT_SOME_FILES_FAILED = 3  # transcribe: every readable file was transcribed, the others reported
EXIT_INTERRUPTED = 130


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
        except OSError as exc:  # the environment, not a bug: unwritable folder, full disk, closed pipe
            fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc) or type(exc).__name__)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asr")
def cli() -> None:
    """asr: train and run your own speech recogniser (BiLSTM-CTC)."""


model_option = click.option("--model", "-m", "model_path", default=None, metavar="PATH",
                            help="Model file (default: the model shipped with asr, or $ASR_MODEL).")
device_option = click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda|cuda:N",
                             help="Where the network runs: auto is the GPU when torch sees one, else the CPU "
                                  "(reading audio, features and decoding always run on the CPU).")
batch_seconds_option = click.option(
    "--batch-seconds", type=click.FloatRange(min=1), default=None,
    help=f"Padded seconds of audio per network batch (default: {BATCH_SECONDS['cpu']:g} on a CPU, "
         f"{BATCH_SECONDS['cuda']:g} on a GPU; halved when the GPU runs out of memory).")
punctuation_option = click.option(
    "--punctuation/--no-punctuation", default=True, show_default=True,
    help="Restore case and punctuation with the shipped punctuation model (or $ASR_PUNCTUATION_MODEL); "
         "--no-punctuation writes the recogniser's lower-case words as they are.")


def decoder_options(func):
    """Options shared by every command that decodes."""
    options = [
        click.option("--decoder", type=click.Choice(["greedy", "beam"]), default=None,
                     help="Beam search (with the language model) or greedy CTC (raw speed, no language model). "
                          "Default: beam search with the shipped language model when it is installed (or --lm, "
                          "--lexicon, --hotword, --nbest > 1 is given), else greedy."),
        click.option("--beam-size", type=click.IntRange(min=1), default=None,
                     help="Hypotheses kept by beam search (default: 192)."),
        click.option("--lm", "lm_path", default=None, metavar="PATH|none",
                     help="Word n-gram language model (ARPA or KenLM binary). Default: the one shipped with asr "
                          "(or $ASR_LM); 'none': no language model."),
        click.option("--lexicon", default=None, metavar="PATH",
                     help="Lexicon ('word w o r d |' lines); default: the LM's vocabulary."),
        click.option("--lm-weight", type=float, default=None,
                     help="Language model weight (default: the value stored with the LM, else 0.5)."),
        click.option("--word-score", type=float, default=None,
                     help="Score added per word (default: the value stored with the LM, else 0)."),
        click.option("--unk-score", type=float, default=None,
                     help="Score of a word outside the LM's vocabulary, spelled letter by letter "
                          "(default: the value stored with the LM; -inf: only vocabulary words)."),
        click.option("--hotword", "hotwords", multiple=True, metavar="WORD[:BOOST]",
                     help="Favour WORD (log10 boost, default 5); repeatable; turns beam search on."),
        click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for the network."),
        click.option("--int8", is_flag=True,
                     help="Quantise the network to int8 (dynamic): faster on a CPU, slightly less accurate; CPU "
                          "only (--device auto then means the CPU; with --device cuda it is an error)."),
        device_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def make_decoder(recognizer, decoder: str | None, beam_size: int, lm_path, lexicon, lm_weight, word_score, unk_score,
                 hotwords, nbest: int = 1):
    from asr.decoding import DEFAULT_LM, NO_LM, Decoder, DecoderConfig

    explicit_lm = lm_path is not None and lm_path.lower() != NO_LM
    # a phone model's greedy decoding walks a lexicon (without the LM): --lexicon names which
    lexicon_needs_beam = lexicon and recognizer.vocab.units == "chars"
    needs_beam = [flag for flag, given in (("--lm", explicit_lm), ("--lexicon", lexicon_needs_beam),
                                           ("--hotword", hotwords), ("--nbest", nbest > 1)) if given]
    if decoder == "greedy" and needs_beam:
        raise click.UsageError(f"{needs_beam[0]} needs beam search; drop --decoder greedy")
    cfg = DecoderConfig(kind=decoder, beam_size=beam_size,
                        lm=DEFAULT_LM if lm_path is None else lm_path,
                        lexicon=lexicon, lm_weight=lm_weight, word_score=word_score, unk_score=unk_score,
                        hotwords=list(hotwords), nbest=nbest)
    return Decoder(recognizer.vocab, cfg)


def _audio_bar(paths: list[str]):
    """A progress bar in seconds of audio, for a terminal, when there is more than a minute of it."""
    import soundfile
    from tqdm import tqdm

    seconds = 0.0
    for path in paths:
        try:
            seconds += soundfile.info(path).duration if path != "-" else 0.0
        except Exception:  # noqa: BLE001 - unreadable files are reported by transcribe_files
            pass
    if seconds <= 60:
        return None
    return tqdm(total=round(seconds), unit="s", desc="audio", file=sys.stderr, leave=False)


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def expand_inputs(files: tuple[str, ...], file_list: str | None) -> list[str]:
    """Files as given; folders expand to the audio files inside them (sorted); plus a list file."""
    from asr.data import AUDIO_EXTENSIONS

    paths: list[str] = []
    for f in files:
        if os.path.isdir(f):
            found = sorted(os.path.join(root, n) for root, _d, names in os.walk(f) for n in names
                           if n.lower().endswith(AUDIO_EXTENSIONS))
            if not found:
                raise AsrError(f"{f}: no audio files in this folder")
            paths.extend(found)
        else:
            paths.append(f)
    if file_list:
        try:
            with open(file_list, encoding="utf-8") as fh:
                paths.extend(line.strip() for line in fh if line.strip())
        except OSError as exc:
            raise AsrError(f"{file_list}: cannot read the file list ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise AsrError(f"{file_list}: the file list is not UTF-8 text") from None
    if not paths:
        raise click.UsageError("give at least one audio file, folder or --file-list")
    return paths


@cli.command()
@click.argument("files", nargs=-1)
@model_option
@decoder_options
@click.option("--nbest", type=click.IntRange(min=1), default=1, help="Keep N best hypotheses (in JSON output).")
@click.option("--output-format", "-f", type=click.Choice(["txt", "json", "srt", "vtt", "tsv", "all"]), default=None,
              help="Write transcripts in this format (default with --output-dir: all).")
@click.option("--output-dir", "-o", default=None, type=click.Path(file_okay=False),
              help="Folder for output files (default with --output-format: the current folder).")
@click.option("--file-list", default=None, type=click.Path(dir_okay=False), help="A text file with one audio path per line.")
@batch_seconds_option
@punctuation_option
@user_errors
def transcribe(files: tuple[str, ...], model_path: str | None, decoder: str, beam_size: int, lm_path, lexicon,
               lm_weight, word_score, unk_score, hotwords, threads, int8: bool, device: str, nbest: int, output_format,
               output_dir, file_list, batch_seconds: float | None, punctuation: bool) -> None:
    """Transcribe audio FILES (WAV, FLAC, OGG, MP3; any rate and length; folders; '-' reads stdin).

    Prints one transcript per file, prefixed with the file name when there are several.
    Short files are decoded together and long files split on silence, in batches of similar
    length; --output-format writes txt, json (words with times and confidences), srt, vtt or tsv
    files named like the audio.
    """
    from asr.transcribe import load_model, transcribe_files
    from asr.writers import FORMATS, write_result

    paths = expand_inputs(files, file_list)
    set_threads(threads)
    recognizer = load_model(model_path, int8=int8, device=device)
    dec = make_decoder(recognizer, decoder, beam_size, lm_path, lexicon, lm_weight, word_score, unk_score, hotwords,
                       nbest)
    formats = None
    if output_format or output_dir:
        formats = list(FORMATS) if output_format in (None, "all") else [output_format]
        output_dir = output_dir or "."
    bar = _audio_bar(paths) if sys.stderr.isatty() else None
    failed = 0
    try:
        for path, result in transcribe_files(recognizer, paths, dec, batch_seconds=batch_seconds,
                                             progress=bar.update if bar else None, punctuate=punctuation):
            if isinstance(result, AsrError):
                click.echo(f"asr: error: {result}", err=True)
                failed += 1
                continue
            if formats:
                write_result(result, path, output_dir, formats)
            click.echo(f"{path}: {result['text']}" if len(paths) > 1 else result["text"])
    finally:
        if bar:
            bar.close()
    if failed:
        sys.exit(EXIT_USER_ERROR if failed == len(paths) else EXIT_SOME_FILES_FAILED)


@cli.command()
@click.argument("input_path", metavar="[FILE|-]", default="-")
@click.option("--model", "-m", "model_path", default=None, metavar="PATH",
              help="Punctuation model (default: the one shipped with asr, or $ASR_PUNCTUATION_MODEL).")
@user_errors
def punctuate(input_path: str, model_path: str | None) -> None:
    """Restore case and punctuation of text as a recogniser writes it (lower case, no punctuation,
    numbers spelled out): one passage per line of FILE (default '-': stdin), one restored line out."""
    from asr.punctuation import load_punctuator

    punctuator = load_punctuator(model_path)
    fh = sys.stdin if input_path == "-" else open(input_path, encoding="utf-8", errors="replace")
    with fh:
        for line in fh:
            click.echo(punctuator.punctuate_text(line))


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
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return
    best = os.path.join(result.out_dir, "best_model.pt")
    click.echo(f"done: {result.epochs_done} epochs, {result.steps} steps, "
               f"{result.audio_seconds_per_second:.0f} s of audio per second; model: {best}")


@cli.command()
@click.argument("data_dir")
@model_option
@click.option("--json", "as_json", is_flag=True,
              help="Print exactly one JSON object: wer, cer, utterances, audio_seconds, rtf and the decoder settings "
                   "(decoder, lm, lm_weight, word_score, ...).")
@batch_seconds_option
@click.option("--hypotheses", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write 'ID<TAB>REFERENCE<TAB>HYPOTHESIS' lines to this file.")
@decoder_options
@user_errors
def evaluate(data_dir: str, model_path: str | None, as_json: bool, batch_seconds: float | None,
             hypotheses: str | None, decoder: str, beam_size: int, lm_path, lexicon, lm_weight, word_score, unk_score,
             hotwords, threads: int | None, int8: bool, device: str) -> None:
    """Decode a LibriSpeech-layout DATA_DIR (or a .jsonl manifest) and report WER, CER and speed."""
    from asr.data import load_corpus
    from asr.transcribe import evaluate as run_evaluation, load_model

    set_threads(threads)
    recognizer = load_model(model_path, int8=int8, device=device)
    dec = make_decoder(recognizer, decoder, beam_size, lm_path, lexicon, lm_weight, word_score, unk_score, hotwords)
    utts = load_corpus(data_dir)
    bar = None
    if not as_json and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(utts), unit="utt", desc="decoding", leave=False, file=sys.stderr)
    result = run_evaluation(recognizer, utts, batch_seconds=batch_seconds, progress=bar.update if bar else None,
                            decoder=dec)
    if bar:
        bar.close()
    if hypotheses:
        with open(hypotheses, "w", encoding="utf-8") as fh:
            for utt_id, ref, hyp in result.hypotheses:
                fh.write(f"{utt_id}\t{ref}\t{hyp}\n")
    summary = result.summary()
    if as_json:
        summary.update(dec.describe())
        click.echo(json.dumps(summary))
    else:
        click.echo(f"WER {100 * summary['wer']:.2f}%  CER {100 * summary['cer']:.2f}%  "
                   f"utterances {summary['utterances']}  audio {summary['audio_seconds']:.1f} s  "
                   f"RTF {summary['rtf']:.4f}")


@cli.command()
@click.argument("data_dirs", nargs=-1, required=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Manifest to write (.jsonl).")
@click.option("--speed-perturb", default="1", show_default=True, metavar="F1,F2,...",
              help="Speed perturbation: list every utterance once per factor (e.g. 0.9,1,1.1), the copies played "
                   "that many times faster when read.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Keep only the first N utterances of each folder (smoke tests).")
@user_errors
def prepare(data_dirs: tuple[str, ...], output: str, speed_perturb: str, limit: int | None) -> None:
    """Scan LibriSpeech-layout DATA_DIRS into one JSON-lines manifest (id, path, text, duration, speaker, speed)."""
    from asr.data import scan_librispeech, speed_perturbed, write_manifest

    try:
        factors = [float(f) for f in speed_perturb.split(",")]
    except ValueError:
        raise click.BadParameter(f"not a comma-separated list of numbers: {speed_perturb!r}", param_hint="--speed-perturb")
    utts = [u for d in data_dirs for u in scan_librispeech(d)[:limit]]
    utts = speed_perturbed(utts, factors)
    write_manifest(utts, output)
    hours = sum(u.duration for u in utts) / 3600
    click.echo(f"{output}: {len(utts)} utterances, {hours:.2f} h, {len({u.speaker for u in utts})} speakers")


@cli.group()
def lm() -> None:
    """Build and tune n-gram language models for beam search."""


@lm.command("build")
@click.argument("texts", nargs=-1, required=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Model to write: NAME.arpa (ARPA text) or NAME.bin (KenLM binary, memory-mapped when loaded).")
@click.option("--order", type=click.IntRange(1, 6), default=3, show_default=True)
@click.option("--prune", default=None, metavar="'0 1 1'",
              help="Drop n-grams seen at most this often, one threshold per order (lmplz --prune).")
@click.option("--vocab-size", type=click.IntRange(min=1), default=None,
              help="Keep the N most frequent words; the rest become <unk> (default: all).")
@click.option("--normalized", is_flag=True, help="Plain-text TEXTS are already one normalised sentence per line.")
@click.option("--quantize", type=click.IntRange(0, 16), default=8, show_default=True,
              help="Bits per probability and back-off in a .bin model (0: none).")
@user_errors
def lm_build(texts: tuple[str, ...], output: str, order: int, prune, vocab_size, normalized: bool, quantize: int) -> None:
    """Build an n-gram model (modified Kneser-Ney, KenLM's lmplz and build_binary) from TEXTS: plain
    text (a paragraph per line, .gz/.xz too; normalised like transcripts, numbers spoken), LibriSpeech
    *.trans.txt files or folders of them, .jsonl manifests. Writes NAME.vocab.txt (the decoder's
    lexicon) and NAME.json (metadata, decoder defaults) beside the model."""
    from asr.lm import build_lm

    try:
        thresholds = [int(x) for x in prune.replace(",", " ").split()] if prune else None
    except ValueError:
        raise AsrError(f"--prune: expected counts per order such as '0 1 1', got {prune!r}") from None
    info = build_lm(list(texts), output, order=order, prune=thresholds, vocabulary_size=vocab_size,
                    normalized=normalized, quantize=quantize, log=lambda m: click.echo(m, err=True))
    sizes = ", ".join(f"{c} {n}-grams" for n, c in info.ngrams.items())
    click.echo(f"{output}: order {order}, {info.vocabulary_size} words of vocabulary, {sizes}, "
               f"{os.path.getsize(output) / 1e6:.1f} MB")


@lm.command("lexicon")
@click.argument("lm_path", metavar="LM")
@click.option("--units", type=click.Choice(["phones"]), default="phones", show_default=True,
              help="Units to pronounce the words in (characters need no lexicon).")
@click.option("--cmudict", default=None, metavar="PATH",
              help="Pronunciation dictionary (default: CMUdict as shipped in asr/pretrained).")
@click.option("--g2p", default=None, metavar="PATH",
              help="G2P model for words outside it (default: asr/pretrained/g2p.pt).")
@user_errors
def lm_lexicon(lm_path: str, units: str, cmudict, g2p) -> None:
    """Pronounce every word of LM's vocabulary (CMUdict, else the G2P model) into NAME.phones.txt beside
    it and record it in NAME.json: phone models decode with it (built once, not at every start)."""
    from asr.lm import build_lm_lexicon

    path, counts = build_lm_lexicon(lm_path, units, cmudict, g2p)
    click.echo(f"{path}: {counts['lines']} pronunciations of {counts['words']} words "
               f"({counts['in_lexicon']} from the dictionary, {counts['guessed']} by the G2P model)")


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float("-inf") if x.strip().lower() in ("none", "-inf") else float(x) for x in text.split(",")
                if x.strip()]
    except ValueError:
        raise AsrError(f"--{name}: expected comma-separated numbers, got {text!r}") from None


@lm.command("tune")
@click.argument("data_dirs", nargs=-1, required=True)
@model_option
@click.option("--lm", "lm_path", default=None, metavar="PATH",
              help="Language model to tune for (default: the one shipped with asr).")
@click.option("--lexicon", default=None, metavar="PATH")
@click.option("--lm-weights", default="0,0.5,1,1.5,2,3", show_default=True, help="Comma-separated grid.")
@click.option("--word-scores", default="-2,-1,0,1", show_default=True, help="Comma-separated grid.")
@click.option("--unk-scores", default="none", show_default=True,
              help="Comma-separated grid of unknown-word scores ('none': words outside the vocabulary are not allowed).")
@click.option("--beam-size", type=click.IntRange(min=1), default=None,
              help="Hypotheses kept by beam search (default: the default decoding's, 192).")
@click.option("--save", is_flag=True,
              help="Store the best values in the LM's metadata (NAME.json beside it) as its defaults.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole grid as JSON.")
@device_option
@batch_seconds_option
@user_errors
def lm_tune(data_dirs: tuple[str, ...], model_path, lm_path, lexicon, lm_weights: str, word_scores: str,
            unk_scores: str, beam_size: int, save: bool, as_json: bool, device: str, batch_seconds) -> None:
    """Grid-search --lm-weight, --word-score (and --unk-score) on dev DATA_DIRS together; print the best
    values and their WER (the network runs once)."""
    from asr.data import load_corpus
    from asr.decoding import default_lm_path
    from asr.transcribe import load_model, save_tuning, tune_language_model

    lm_path = lm_path or default_lm_path()
    if not lm_path:
        raise AsrError("no language model to tune: pass --lm PATH (none is installed with asr)")
    recognizer = load_model(model_path, device=device)
    utts = [u for d in data_dirs for u in load_corpus(d)]
    grid = tune_language_model(recognizer, utts, lm_path, _floats(lm_weights, "lm-weights"),
                               _floats(word_scores, "word-scores"), beam_size=beam_size, lexicon=lexicon,
                               unk_scores=_floats(unk_scores, "unk-scores"), batch_seconds=batch_seconds)
    best = min(grid, key=lambda r: (r["wer"], r["cer"]))
    if save:
        save_tuning(lm_path, best, recognizer, list(data_dirs), len(utts))
    if as_json:
        click.echo(json.dumps({"best": best, "grid": grid}))
    else:
        for r in grid:
            click.echo(f"lm_weight {r['lm_weight']:<5g} word_score {r['word_score']:<5g} unk_score {r['unk_score']!s:<5} "
                       f"WER {100 * r['wer']:.2f}%")
        click.echo(f"best: --lm-weight {best['lm_weight']:g} --word-score {best['word_score']:g} "
                   f"--unk-score {best['unk_score'] if best['unk_score'] is not None else '-inf'} (WER {100 * best['wer']:.2f}%, CER {100 * best['cer']:.2f}%)"
                   + (f"; stored in {lm_path}'s metadata" if save else ""))


@cli.command()
@click.option("--input", "-i", "input_path", default=None, metavar="FILE",
              help="Stream an audio file instead of a microphone ('-': raw 16-bit 16 kHz mono PCM on stdin).")
@click.option("--realtime/--no-realtime", default=False, show_default=True,
              help="Pace --input at real time (as a microphone would) or run as fast as possible.")
@click.option("--mic", "--input-device", "mic", default=None, metavar="NAME|INDEX",
              help="Microphone: an index or (part of) a name from --list-devices (default: the system's). "
                   "--device NAME|INDEX, its old spelling, still works for any value that is not a --device name.")
@click.option("--list-devices", is_flag=True, help="List input devices (microphones) and exit.")
@model_option
@decoder_options
@click.option("--output", "-o", "output_path", default=None, type=click.Path(dir_okay=False),
              help="Also append each final segment to FILE ('START<tab>END<tab>TEXT', seconds).")
@click.option("--timestamps", is_flag=True, help="Prefix final lines with [start --> end].")
@click.option("--json", "as_json", is_flag=True, help="Print every event (partial and final) as a JSON line.")
@click.option("--block-seconds", type=click.FloatRange(min=0.01, max=2.0), default=0.1, show_default=True,
              help="Audio block size read from the device or file.")
@click.option("--step-seconds", type=click.FloatRange(min=0.05), default=0.2, show_default=True,
              help="Decode again after this much new audio (partial-result rate).")
@click.option("--commit-lag", type=click.FloatRange(min=0.1), default=0.5, show_default=True,
              help="Seconds of audio after a word before it is final (more: steadier, later).")
@punctuation_option
@user_errors
def stream(input_path, realtime: bool, mic, list_devices: bool, model_path, decoder, beam_size, lm_path, lexicon,
           lm_weight, word_score, unk_score, hotwords, threads, int8: bool, device: str, output_path, timestamps: bool,
           as_json: bool, block_seconds: float, step_seconds: float, commit_lag: float, punctuation: bool) -> None:
    """Live transcription from a microphone (or --input FILE), with partial results while you speak.

    On a terminal the current utterance updates in place and each finished utterance stays on its
    own line; otherwise each final segment is printed on its own line. Ctrl-C stops and prints
    what is left.
    """
    from asr.device import check_device_name

    try:
        check_device_name(device)
    except AsrError:  # not auto, cpu or cuda[:N]: the old spelling of --mic
        if mic is not None:
            raise click.UsageError(f"--device {device!r} is not auto, cpu, cuda or cuda:N (the microphone is --mic)")
        mic, device = device, "auto"
    if list_devices:
        from asr.microphone import input_devices

        devices = input_devices()
        if not devices:
            raise AsrError("no audio input device found")
        for d in devices:
            mark = "*" if d["default"] else " "
            click.echo(f"{mark} {d['index']:3d}  {d['name']}  ({d['channels']} ch, {d['default_samplerate']:g} Hz)")
        return
    from asr.streaming import StreamingConfig, StreamingRecognizer
    from asr.transcribe import load_model

    if input_path is None:  # fail before loading the model when there is nothing to listen to
        from asr.microphone import resolve_device

        resolve_device(mic)
    set_threads(threads)
    recognizer = load_model(model_path, int8=int8, device=device)
    dec = make_decoder(recognizer, decoder, beam_size, lm_path, lexicon, lm_weight, word_score, unk_score, hotwords)
    streamer = StreamingRecognizer(recognizer, dec, StreamingConfig(step_seconds=step_seconds, commit_lag=commit_lag),
                                   punctuate=punctuation)
    rate = recognizer.sample_rate
    if input_path is not None:
        blocks = _input_blocks(input_path, rate, block_seconds, realtime)
    else:
        from asr.microphone import microphone_blocks

        blocks = microphone_blocks(mic, rate, block_seconds)
        click.echo("asr: listening (Ctrl-C stops)", err=True)  # the model and LM are loaded: speak now
    view = _StreamView(sys.stdout.isatty() and not as_json, as_json, timestamps,
                       open(output_path, "a", encoding="utf-8") if output_path else None)
    try:
        for block in blocks:
            view.show(streamer.feed(block))
    except KeyboardInterrupt:
        pass
    finally:
        blocks.close()  # stop the device now: a PortAudio thread left running can hang the exit
        view.show(streamer.flush())
        view.close()


def _input_blocks(path: str, rate: int, block_seconds: float, realtime: bool):
    """Blocks of a file (or raw PCM on stdin), paced at real time if asked."""
    import time

    from asr.audio import pcm_blocks, stream_audio

    blocks = pcm_blocks(sys.stdin.buffer, block_seconds, rate) if path == "-" else stream_audio(path, rate, block_seconds)
    start = time.monotonic()
    sent = 0.0
    for block in blocks:
        sent += len(block) / rate
        if realtime:
            time.sleep(max(0.0, start + sent - time.monotonic()))
        yield block


class _StreamView:
    """Prints streaming events: in place on a terminal, as lines otherwise, JSON lines on request."""

    def __init__(self, live: bool, as_json: bool, timestamps: bool, output) -> None:
        import shutil

        self.live, self.as_json, self.timestamps, self.output = live, as_json, timestamps, output
        self.width = shutil.get_terminal_size((100, 20)).columns - 1
        self.line: list[str] = []  # final text of the current terminal line

    def _final_line(self, event) -> str:
        return f"[{event.start:8.2f} --> {event.end:8.2f}] {event.text}" if self.timestamps else event.text

    def show(self, events) -> None:
        for e in events:
            if self.as_json:
                click.echo(json.dumps(e.to_dict()))
            if e.kind == "final" and e.text and self.output:
                self.output.write(f"{e.start:.2f}\t{e.end:.2f}\t{e.text}\n")
                self.output.flush()
            if self.as_json:
                continue
            if not self.live:
                if e.kind == "final" and e.text:
                    click.echo(self._final_line(e))
                continue
            if e.kind == "final":
                if e.text:
                    self.line.append(e.text)
                done = " ".join(self.line)
                if e.end_of_utterance or len(done) > self.width * 0.8:
                    self._redraw(done, newline=bool(done))
                    self.line = []
                else:
                    self._redraw(done)
            else:
                self._redraw(e.text)
        sys.stdout.flush()

    def _redraw(self, text: str, newline: bool = False) -> None:
        shown = text if len(text) <= self.width else "…" + text[-(self.width - 1):]
        sys.stdout.write("\r\x1b[K" + shown + ("\n" if newline else ""))

    def close(self) -> None:
        if self.live and self.line:
            self._redraw(" ".join(self.line), newline=True)
        if self.output:
            self.output.close()


SERVE_EXTRA = {"starlette", "uvicorn", "python_multipart", "websockets"}  # modules of `pip install 'asr[serve]'`


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; then set --api-key).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port.")
@model_option
@decoder_options
@click.option("--api-key", envvar="ASR_API_KEY", default=None, metavar="KEY",
              help="Require 'Authorization: Bearer KEY' (or ?key=KEY) on every request (default: $ASR_API_KEY).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=25.0, show_default=True,
              help="Largest request body (MiB); bigger uploads get 413 before they are read.")
@click.option("--max-streams", type=click.IntRange(min=1), default=8, show_default=True,
              help="WebSocket streams open at once; more are closed with code 1013 (try again later).")
@click.option("--max-queue", type=click.IntRange(min=1), default=16, show_default=True,
              help="File requests waiting for the model; more get 503.")
@click.option("--idle-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Close a stream that sends nothing for this many seconds.")
@punctuation_option
@user_errors
def serve(host: str, port: int, model_path, decoder, beam_size, lm_path, lexicon, lm_weight, word_score, unk_score,
          hotwords, threads, int8: bool, device: str, api_key, max_upload_mb: float, max_streams: int, max_queue: int,
          idle_timeout: float, punctuation: bool) -> None:
    """Serve the recogniser: OpenAI-compatible POST /v1/audio/transcriptions, a Vosk-compatible
    WebSocket at /, a browser page at / and GET /health. Ctrl-C or SIGTERM stops it (open
    streams get their final results first)."""
    try:
        import python_multipart, uvicorn, websockets  # noqa: F401 - the extra, checked before the model loads

        from asr.serve import Service, run
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in SERVE_EXTRA:
            raise
        fail("asr serve needs the server extra: pip install 'asr[serve]'")
    from asr.transcribe import load_model

    set_threads(threads)
    recognizer = load_model(model_path, int8=int8, device=device)
    dec = make_decoder(recognizer, decoder, beam_size, lm_path, lexicon, lm_weight, word_score, unk_score, hotwords)
    dec.prepare()  # the language model loads now, not on the first request
    if punctuation:  # loaded now: a missing model is an error before the server starts
        from asr.punctuation import default_punctuator

        default_punctuator()
    service = Service(recognizer, dec, int(max_upload_mb * 1024 * 1024), max_streams, max_queue, idle_timeout,
                      punctuation)
    run(service, host, port, api_key or None,
        lambda url: click.echo(f"asr: listening on {url} (POST /v1/audio/transcriptions, WebSocket {url.replace('http', 'ws', 1)}/, "
                               "page /; Ctrl-C stops)", err=True))
    click.echo("asr: stopped", err=True)


@cli.command("export")
@model_option
@click.option("--format", "-f", "fmt", type=click.Choice(["torchscript", "onnx"]), required=True)
@click.option("--output", "-o", "output_path", required=True, type=click.Path(dir_okay=False),
              help="File to write; its settings (features, vocabulary) go to OUTPUT.json beside it.")
@user_errors
def export_command(model_path, fmt: str, output_path: str) -> None:
    """Export the network (features -> log-probabilities) to TorchScript or ONNX."""
    from asr.export import export_model
    from asr.transcribe import load_model

    recognizer = load_model(model_path, device="cpu")  # exported networks take CPU tensors
    click.echo(export_model(recognizer.bundle, output_path, fmt))


@cli.command()
@click.argument("data_dir")
@model_option
@click.option("--lm", "lm_path", default=None, metavar="PATH",
              help="Measure beam search with this LM (default: the shipped LM, the default decoding).")
@click.option("--lm-weight", type=float, default=None, help="Default: the value stored with the LM.")
@click.option("--word-score", type=float, default=None, help="Default: the value stored with the LM.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Use N utterances, evenly spaced through DATA_DIR.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for asr (default: torch's).")
@device_option
@click.option("--peer/--no-peer", default=True, show_default=True, help="Also run PocketSphinx on the same audio.")
@click.option("--train-steps", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also measure training throughput over this many steps on DATA_DIR.")
@click.option("--train-batch-seconds", type=click.FloatRange(min=1), default=200.0, show_default=True)
@click.option("--corpus-hours", type=click.FloatRange(min=0.01), default=16.0, show_default=True,
              help="Corpus size for the minutes-per-epoch estimate.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@user_errors
def benchmark(data_dir: str, model_path, lm_path, lm_weight, word_score, limit, threads, device: str, peer: bool,
              train_steps: int, train_batch_seconds: float, corpus_hours: float, as_json: bool) -> None:
    """Speed, memory and WER of asr (greedy, beam, beam + LM, int8, batched) and of PocketSphinx on the
    utterances of DATA_DIR (LibriSpeech layout or .jsonl manifest), with the ratios between them."""
    from asr.benchmark import format_report, run_benchmark

    result = run_benchmark(data_dir, model=model_path, lm=lm_path, lm_weight=lm_weight, word_score=word_score,
                           limit=limit, threads=threads, device=device, peer=peer, train_steps=train_steps,
                           train_batch_seconds=train_batch_seconds, corpus_hours=corpus_hours,
                           log=lambda msg: click.echo(msg, err=True))
    click.echo(json.dumps(result) if as_json else format_report(result))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
