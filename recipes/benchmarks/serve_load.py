"""Load test of `asr serve`: N live streams and M file clients at once, for a fixed time.

Starts `asr serve` on a free loopback port (or uses --url), then for --seconds:
- each of --streams clients streams --file over the Vosk WebSocket protocol at real-time pace
  (0.2 s chunks every 0.2 s), then sends eof; measured: the delay from a chunk to its reply, and
  from eof to the final result;
- each of --files clients posts --file to /v1/audio/transcriptions again and again; measured: the
  latency of every answer, and how many were 200 (transcribed) or 503 (queue full).
Every request must be answered 200 or 503 (anything else, or no answer, counts as lost and the script
exits 1). Prints throughput, p50/p95 latencies and the server's peak memory (VmHWM, when it started it).

    python recipes/benchmarks/serve_load.py --streams 4 --files 20 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from asr.audio import load_audio, to_pcm16

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FILE = REPO.parent / "shared/data/librispeech-sample/test-clean/1089/134686/1089-134686-0000.flac"  # 10.4 s


def start_server(args) -> tuple[subprocess.Popen, str]:
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "cli.main", "serve", "--port", "0", *args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(1200):
        found = re.search(r"listening on (http://\S+)", Path(log.name).read_text())
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"asr serve did not start:\n{Path(log.name).read_text()}")


def post_file(url: str, data: bytes) -> int:
    boundary = "load-test"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.flac"\r\n\r\n'.encode()
            + data + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(url + "/v1/audio/transcriptions", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=600) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code


async def file_client(url: str, data: bytes, until: float, stats: dict) -> None:
    while time.monotonic() < until:
        start = time.monotonic()
        try:
            status = await asyncio.to_thread(post_file, url, data)
        except OSError as exc:
            status = f"{type(exc).__name__}"
        stats.setdefault(status, []).append(time.monotonic() - start)
        if status == 503:
            await asyncio.sleep(0.5)  # as a client honouring Retry-After would (shortened)


async def stream_client(ws_url: str, pcm: bytes, until: float, stats: dict) -> None:
    import websockets

    step = 3200 * 2  # 0.2 s of 16 kHz 16-bit audio
    while time.monotonic() < until:
        try:
            async with websockets.connect(ws_url, max_size=None) as ws:
                await ws.send(json.dumps({"config": {"sample_rate": 16000}}))
                start = time.monotonic()
                for n, i in enumerate(range(0, len(pcm), step)):
                    await asyncio.sleep(max(0.0, start + n * 0.2 - time.monotonic()))  # real-time pace
                    sent = time.monotonic()
                    await ws.send(pcm[i : i + step])
                    reply = json.loads(await ws.recv())
                    stats["chunk"].append(time.monotonic() - sent)
                    if "error" in reply:
                        stats["errors"].append(reply["error"]["message"])
                sent = time.monotonic()
                await ws.send('{"eof": 1}')
                json.loads(await ws.recv())
                stats["final"].append(time.monotonic() - sent)
        except (OSError, websockets.ConnectionClosed) as exc:
            stats["errors"].append(repr(exc))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def peak_rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


async def main_async(args, url: str) -> dict:
    data = Path(args.file).read_bytes()
    audio = load_audio(args.file)
    pcm = to_pcm16(audio).tobytes()
    until = time.monotonic() + args.seconds
    files: dict = {}
    streams: dict = {"chunk": [], "final": [], "errors": []}
    start = time.monotonic()
    ws_url = url.replace("http", "ws", 1) + "/"
    await asyncio.gather(*[file_client(url, data, until, files) for _ in range(args.files)],
                         *[stream_client(ws_url, pcm, until, streams) for _ in range(args.streams)])
    elapsed = time.monotonic() - start
    done = files.get(200, [])
    lost = {str(k): len(v) for k, v in files.items() if k not in (200, 503)}
    return {
        "streams": args.streams, "file_clients": args.files, "seconds": round(elapsed, 1),
        "file_seconds": round(len(audio) / 16000, 2),
        "files_200": len(done), "files_503": len(files.get(503, [])), "lost": lost,
        "files_per_minute": round(60 * len(done) / elapsed, 1),
        "audio_seconds_per_second": round(len(done) * len(audio) / 16000 / elapsed, 2),
        "file_latency_p50": round(pct(done, 50), 2), "file_latency_p95": round(pct(done, 95), 2),
        "streams_finished": len(streams["final"]),
        "chunk_reply_p50": round(pct(streams["chunk"], 50), 3), "chunk_reply_p95": round(pct(streams["chunk"], 95), 3),
        "final_after_eof_p50": round(pct(streams["final"], 50), 3),
        "final_after_eof_p95": round(pct(streams["final"], 95), 3),
        "stream_errors": streams["errors"][:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="An asr serve already running (default: start one)")
    parser.add_argument("--file", default=str(DEFAULT_FILE), help="Audio for both kinds of client (16 kHz)")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--server-args", default="", help="Extra `asr serve` options, e.g. '--threads 1'")
    args = parser.parse_args()
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.server_args.split())
    try:
        result = asyncio.run(main_async(args, url))
        if proc:
            result["server_peak_rss_mb"] = round(peak_rss_mb(proc.pid), 0)
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    print(json.dumps(result, indent=1))
    if result["lost"] or result["stream_errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
