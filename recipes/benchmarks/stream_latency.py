"""Latency and CPU load of streaming recognition (`asr stream`), and its WER against offline decoding.

Utterances from a corpus are joined into streams with pauses between them (as a talker would
pause) and fed to StreamingRecognizer in microphone-sized blocks. Each block "arrives" when its
last sample would have been spoken; the recogniser's measured compute time then decides when each
event comes out (a block waits while the previous one is still being processed), exactly as at
real-time pace on this machine, without waiting in real time.

For every reference word (its end time from a forced alignment of the reference transcript on
the offline network output) the benchmark reports the delay from the end of the word in the audio
to the first partial result that holds it, and to the final segment that holds it: median and
90th percentile over the words the recogniser got right. CPU load is compute time over audio
time (1.0 = one core fully busy at real-time pace).

    python recipes/benchmarks/stream_latency.py data/synthetic/manifests/test.jsonl --utterances 60
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time

import numpy as np
import soundfile as sf

from asr.audio import load_audio
from asr.decoding import Decoder, DecoderConfig
from asr.data import load_corpus
from asr.metrics import ErrorCounter
from asr.streaming import StreamingConfig, StreamingRecognizer, final_text
from asr.timing import align_words
from asr.transcribe import load_model, transcribe_file


def reference_words(recognizer, samples: np.ndarray, text: str, offset: float):
    """Word times of the reference transcript, by forced alignment on the offline output."""
    log_probs, lengths = recognizer.log_probs([recognizer.features(samples)])
    ids = recognizer.vocab.encode(text)
    return align_words(log_probs[0, : int(lengths[0])], ids, recognizer.vocab.symbols, recognizer.frame_seconds,
                       offset=offset)


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="LibriSpeech-layout folder or .jsonl manifest")
    parser.add_argument("--model", default=None)
    parser.add_argument("--utterances", type=int, default=60)
    parser.add_argument("--per-stream", type=int, default=6, help="utterances joined into one stream")
    parser.add_argument("--block-seconds", type=float, default=0.1, help="microphone block size")
    parser.add_argument("--step-seconds", type=float, default=StreamingConfig.step_seconds)
    parser.add_argument("--commit-lag", type=float, default=StreamingConfig.commit_lag)
    parser.add_argument("--left-context", type=float, default=StreamingConfig.left_context)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--lm", default="default",
                        help="language model: 'default' (the shipped one, as asr stream), 'none' (greedy) or a path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    recognizer = load_model(args.model)
    decoder = Decoder(recognizer.vocab, DecoderConfig(lm=args.lm))
    decoder.prepare()
    utts = load_corpus(args.data)
    rng = random.Random(args.seed)
    utts = rng.sample(utts, min(args.utterances, len(utts)))
    rate = recognizer.sample_rate
    block = int(args.block_seconds * rate)

    partial_delays, final_delays = [], []
    stream_counter, offline_counter = ErrorCounter(), ErrorCounter()
    audio_seconds = compute_seconds = cpu_seconds = 0.0
    words_total = words_found = 0
    for first in range(0, len(utts), args.per_stream):
        group = utts[first : first + args.per_stream]
        parts, refs, t = [], [], 0.0
        for u in group:
            x = load_audio(u.path, rate)
            refs.extend(reference_words(recognizer, x, u.text, t))
            pause = np.zeros(int(rng.uniform(0.3, 1.0) * rate), np.float32)
            parts += [x, pause]
            t += (len(x) + len(pause)) / rate
        audio = np.concatenate(parts)
        reference = " ".join(u.text for u in group)

        config = StreamingConfig(step_seconds=args.step_seconds, commit_lag=args.commit_lag,
                                 left_context=args.left_context)
        stream = StreamingRecognizer(recognizer, decoder, config=config)
        events = []  # (time the event came out, event)
        busy_until = 0.0
        cpu0 = time.process_time()
        for i in range(0, len(audio), block):
            arrival = min(i + block, len(audio)) / rate
            t0 = time.perf_counter()
            out = stream.feed(audio[i : i + block])
            spent = time.perf_counter() - t0
            busy_until = max(busy_until, arrival) + spent
            compute_seconds += spent
            events += [(busy_until, e) for e in out]
        t0 = time.perf_counter()
        out = stream.flush()
        busy_until = max(busy_until, len(audio) / rate) + time.perf_counter() - t0
        events += [(busy_until, e) for e in out]
        cpu_seconds += time.process_time() - cpu0
        audio_seconds += len(audio) / rate

        for ref in refs:
            words_total += 1

            def holds(e) -> bool:
                return any(w.word == ref.word and w.start < ref.end + 0.1 and w.end > ref.start - 0.1 for w in e.words)

            seen = [at for at, e in events if holds(e)]
            final = [at for at, e in events if e.kind == "final" and holds(e)]
            if final:
                words_found += 1
                final_delays.append(final[0] - ref.end)
                partial_delays.append(seen[0] - ref.end)
        stream_counter.add(reference, final_text([e for _, e in events]))
        wav = io.BytesIO()
        sf.write(wav, audio, rate, format="WAV", subtype="FLOAT")
        offline_counter.add(reference, transcribe_file(recognizer, wav.getvalue(), decoder)["text"])

    result = {
        "audio_seconds": round(audio_seconds, 1),
        "streams": (len(utts) + args.per_stream - 1) // args.per_stream,
        "block_seconds": args.block_seconds,
        "step_seconds": args.step_seconds,
        "commit_lag": args.commit_lag,
        "left_context": args.left_context,
        "words": words_total,
        "words_timed": words_found,
        "partial_latency_median": percentile(partial_delays, 50),
        "partial_latency_p90": percentile(partial_delays, 90),
        "final_latency_median": percentile(final_delays, 50),
        "final_latency_p90": percentile(final_delays, 90),
        "cpu_load_wall": round(compute_seconds / audio_seconds, 3),
        "cpu_load_process": round(cpu_seconds / audio_seconds, 3),
        "wer_streaming": round(stream_counter.wer, 4),
        "wer_offline": round(offline_counter.wer, 4),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['audio_seconds']} s of audio in {result['streams']} streams; {words_found} of {words_total} "
          f"reference words recognised and timed")
    print(f"partial latency: median {result['partial_latency_median']} s, p90 {result['partial_latency_p90']} s")
    print(f"final latency:   median {result['final_latency_median']} s, p90 {result['final_latency_p90']} s")
    print(f"CPU load at real-time pace: {result['cpu_load_wall']:.3f} (compute time / audio time), "
          f"{result['cpu_load_process']:.3f} in CPU time over all threads")
    print(f"WER streaming {100 * stream_counter.wer:.2f} %, offline {100 * offline_counter.wer:.2f} % "
          f"(difference {100 * (stream_counter.wer - offline_counter.wer):+.2f} points)")


if __name__ == "__main__":
    sys.exit(main())
