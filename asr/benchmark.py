"""`asr benchmark`: speed, memory and WER of asr and of a peer recogniser on the same audio.

Every configuration runs in a fresh Python process (`python -m asr.benchmark WORKER` with the spec as JSON on stdin), so
its peak memory and load time are its own. The peer is PocketSphinx (PyPI `pocketsphinx`, which
ships its own US English model and runs offline), decoding each file whole, as it would in a
batch job. Figures: model load seconds, real-time factor (processing seconds per second of
audio, files decoded one after another as `asr transcribe` does, after one warm-up file), batch
throughput, peak resident
memory, WER/CER against the references, and the ratio of the peer's figure to ours. Training
throughput (seconds of audio per second) uses the model's own architecture and features.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

from .errors import AsrError


class BenchmarkError(AsrError):
    """A benchmark worker failed (its last error line is in the message)."""


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _scores(pairs: list[tuple[str, str]]) -> dict:
    from .metrics import ErrorCounter

    counter = ErrorCounter()
    for ref, hyp in pairs:
        counter.add(ref, hyp)
    return {"wer": round(counter.wer, 4), "cer": round(counter.cer, 4)}


# -- workers (each in its own process) -----------------------------------------------------------

def _worker_asr(spec: dict) -> dict:
    import torch

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    from .data import Utterance
    from .decoding import Decoder, DecoderConfig
    from .transcribe import evaluate, load_model, transcribe_file

    start = time.perf_counter()
    recognizer = load_model(spec.get("model"), int8=spec.get("int8", False), device=spec.get("device", "auto"))
    decoder = Decoder(recognizer.vocab, DecoderConfig(**spec["decoder"]))
    decoder.prepare()
    load_seconds = time.perf_counter() - start
    items = spec["items"]
    transcribe_file(recognizer, items[0][0], decoder)  # warm-up (first-call allocations), as for the peer
    if spec.get("batch"):
        utts = [Utterance(id=str(i), path=p, text=t, duration=d, speaker="") for i, (p, t, d) in enumerate(items)]
        result = evaluate(recognizer, utts, decoder=decoder)
        return {"load_seconds": load_seconds, "audio_seconds": result.audio_seconds,
                "decode_seconds": result.decode_seconds, "files": len(items), "peak_rss_mb": _peak_rss_mb(),
                "wer": round(result.wer, 4), "cer": round(result.cer, 4)}
    pairs, audio_seconds = [], 0.0
    start = time.perf_counter()
    for path, text, _ in items:
        out = transcribe_file(recognizer, path, decoder)
        audio_seconds += out["duration"]
        pairs.append((text, out["text"]))
    decode_seconds = time.perf_counter() - start
    return {"load_seconds": load_seconds, "audio_seconds": audio_seconds, "decode_seconds": decode_seconds,
            "files": len(items), "peak_rss_mb": _peak_rss_mb(), **_scores(pairs)}


def _worker_pocketsphinx(spec: dict) -> dict:
    from .audio import load_audio, to_pcm16
    from .text import normalize_transcript

    start = time.perf_counter()
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise BenchmarkError("the peer needs PocketSphinx: pip install 'asr[benchmark]' (or --no-peer)") from None
    decoder = Decoder(samprate=16000, loglevel="FATAL")
    load_seconds = time.perf_counter() - start
    pairs, audio_seconds, decode_seconds = [], 0.0, 0.0
    for i, (path, text, _) in enumerate([spec["items"][0], *spec["items"]]):  # the first is a warm-up
        samples = load_audio(path, 16000)
        pcm = to_pcm16(samples).tobytes()
        t0 = time.perf_counter()  # like ours, reading the file is outside the decoder but inside the total
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        if i == 0:
            continue
        decode_seconds += time.perf_counter() - t0
        audio_seconds += len(samples) / 16000
        pairs.append((text, normalize_transcript(hyp.hypstr if hyp else "")))
    return {"load_seconds": load_seconds, "audio_seconds": audio_seconds, "decode_seconds": decode_seconds,
            "files": len(spec["items"]), "peak_rss_mb": _peak_rss_mb(), **_scores(pairs)}


def _worker_train(spec: dict) -> dict:
    import torch

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    import tempfile

    from .config import to_dict
    from .modelfile import load_model_file
    from .train import TrainConfig, Trainer
    from .transcribe import default_model_path

    bundle = load_model_file(spec.get("model") or default_model_path())
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(train_data=[spec["data"]], out_dir=out, epochs=1000, progress=False,
                          max_batch_seconds=spec["batch_seconds"], cache_features=True, checkpoint_minutes=0,
                          device=spec.get("device", "auto"))
        cfg.features = type(bundle.features)(**to_dict(bundle.features))
        cfg.model = type(bundle.model.config)(**to_dict(bundle.model.config))
        trainer = Trainer(cfg, log=lambda _msg: None)
        result = trainer.run(max_steps=spec["steps"])
    return {"audio_seconds_per_second": result.audio_seconds_per_second, "steps": result.steps,
            "device": str(trainer.device), "hidden_size": cfg.model.hidden_size, "num_layers": cfg.model.num_layers,
            "batch_seconds": spec["batch_seconds"]}


WORKERS = {"asr": _worker_asr, "pocketsphinx": _worker_pocketsphinx, "train": _worker_train}


def _speeds(result: dict) -> dict:
    """Add the real-time factor and seconds of audio per second to a worker's result."""
    result["rtf"] = result["decode_seconds"] / max(result["audio_seconds"], 1e-9)
    result["audio_seconds_per_second"] = result["audio_seconds"] / max(result["decode_seconds"], 1e-9)
    return result


def _run_worker(kind: str, spec: dict) -> dict:
    # the spec travels on stdin: thousands of items would overflow a command line
    proc = subprocess.run([sys.executable, "-m", "asr.benchmark", kind], input=json.dumps(spec), capture_output=True,
                          text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
        raise BenchmarkError(f"{kind} worker failed: {lines[-1] if lines else 'no output'}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_peer(items: list[tuple[str, str, float]]) -> dict:
    """PocketSphinx alone on (path, reference, seconds) items, in its own process: WER, CER, speed."""
    return _speeds(_run_worker("pocketsphinx", {"items": items}))


# -- the whole benchmark ----------------------------------------------------------------------------

def run_benchmark(data: str, model: str | None = None, lm: str | None = None, lm_weight: float | None = None,
                  word_score: float | None = None, limit: int | None = None, threads: int | None = None,
                  device: str = "auto", peer: bool = True, train_steps: int = 0, train_batch_seconds: float = 200.0,
                  corpus_hours: float = 16.0, log=lambda _msg: None) -> dict:
    """Run every configuration on the utterances of `data` (folder or manifest) -> a result dict
    with `rows` (one per configuration), `ratios` (peer / ours) and `training`. Beam + LM uses `lm`, else
    the shipped language model (the default decoding) when one is installed. The network runs on
    `device` (int8 on the CPU, where alone it runs)."""
    from .data import load_corpus
    from .decoding import DEFAULT_LM, default_lm_path
    from .device import resolve_device

    device = str(resolve_device(device))  # a missing GPU is one error here, not one per worker

    utts = load_corpus(data)
    if limit and limit < len(utts):  # evenly spaced, so that every speaker of a sorted corpus is in it
        utts = [utts[i * len(utts) // limit] for i in range(limit)]
    items = [(u.path, u.text, u.duration) for u in utts]
    greedy = {"kind": "greedy"}
    configs = [
        ("asr greedy", {"decoder": greedy, "threads": threads}),
        ("asr greedy, 1 thread", {"decoder": greedy, "threads": 1}),
        ("asr greedy, int8" + ("" if device == "cpu" else " (CPU)"),
         {"decoder": greedy, "threads": threads, "int8": True, "device": "cpu"}),
        ("asr beam (lexicon-free)", {"decoder": {"kind": "beam", "lm": None}, "threads": threads}),
    ]
    if lm or default_lm_path():
        name = "asr beam + LM" if lm else "asr default (beam + LM)"
        configs.append((name, {"decoder": {"kind": "beam", "lm": lm or DEFAULT_LM, "lm_weight": lm_weight,
                                           "word_score": word_score}, "threads": threads}))
    configs.append(("asr greedy, batched", {"decoder": greedy, "threads": threads, "batch": True}))
    rows = []
    for name, spec in configs:
        log(f"benchmark: {name}")
        rows.append({"name": name, **_run_worker("asr", {"device": device, **spec, "model": model, "items": items})})
    if peer:
        log("benchmark: PocketSphinx")
        rows.append({"name": "PocketSphinx (peer)", **_run_worker("pocketsphinx", {"items": items})})
    for r in rows:
        _speeds(r)
    ratios = {}
    if peer:
        ps = rows[-1]
        for r in rows[:-1]:
            ratios[r["name"]] = {"speed": ps["rtf"] / max(r["rtf"], 1e-12),
                                 "memory": ps["peak_rss_mb"] / r["peak_rss_mb"],
                                 "load_time": ps["load_seconds"] / max(r["load_seconds"], 1e-12)}
    training = None
    if train_steps:
        log(f"benchmark: training, {train_steps} steps")
        training = _run_worker("train", {"model": model, "data": data, "steps": train_steps, "threads": threads,
                                         "batch_seconds": train_batch_seconds, "device": device})
        training["corpus_hours"] = corpus_hours
        training["minutes_per_epoch"] = corpus_hours * 3600 / training["audio_seconds_per_second"] / 60
    return {"data": data, "files": len(items), "audio_seconds": rows[0]["audio_seconds"], "threads": threads,
            "device": device, "rows": rows, "ratios": ratios, "training": training}


def format_report(result: dict) -> str:
    lines = [f"{result['files']} files, {result['audio_seconds']:.1f} s of audio from {result['data']}; "
             f"the network on {result.get('device', 'cpu')}",
             "",
             f"{'configuration':28s} {'load s':>7s} {'RTF':>8s} {'audio s/s':>10s} {'peak MB':>8s} {'WER %':>7s} "
             f"{'CER %':>7s}"]
    for r in result["rows"]:
        lines.append(f"{r['name']:28s} {r['load_seconds']:7.2f} {r['rtf']:8.4f} {r['audio_seconds_per_second']:10.1f} "
                     f"{r['peak_rss_mb']:8.0f} {100 * r['wer']:7.2f} {100 * r['cer']:7.2f}")
    if result["ratios"]:
        lines += ["", "PocketSphinx's figure divided by ours (above 1: asr is faster / smaller / loads sooner):"]
        for name, q in result["ratios"].items():
            lines.append(f"  {name:28s} speed x{q['speed']:.1f}  memory x{q['memory']:.2f}  load time x{q['load_time']:.2f}")
    t = result.get("training")
    if t:
        lines += ["", f"training ({t['num_layers']} x {t['hidden_size']} BiLSTM, {t['batch_seconds']:g} s batches, "
                      f"{t['device']}): {t['audio_seconds_per_second']:.1f} s of audio per second, "
                      f"{t['minutes_per_epoch']:.0f} min per epoch of {t['corpus_hours']:g} h"]
    return "\n".join(lines)


def _worker_main(argv: list[str]) -> int:
    kind, spec = argv[0], json.loads(sys.stdin.read())
    try:
        print(json.dumps(WORKERS[kind](spec)))
    except AsrError as exc:
        print(f"asr: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
