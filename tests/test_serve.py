"""`asr serve`, started as a real process on a free loopback port: the official openai client gets the
same transcript as `asr transcribe`; a Vosk-protocol client gets the same final text as `asr stream`; the
page works in a real (headless) Chromium; bad input gets a clean error and the server keeps serving;
the API key is enforced; SIGTERM gives open streams their final result."""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, run_asr

SAMPLE = "test-clean/1089/134691/1089-134691-0001.flac"  # 5.4 s: "for a full hour he had paced up and down ..."
UPLOAD_LIMIT = 1024 * 1024  # the test servers' --max-upload-mb 1


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log: Path

    @property
    def ws(self) -> str:
        return self.url.replace("http", "ws", 1) + "/"

    def health(self, headers: dict | None = None) -> dict:
        with urllib.request.urlopen(urllib.request.Request(self.url + "/health", headers=headers or {}), timeout=30) as r:
            return json.load(r)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(folder: Path, *args: str) -> Server:
    """`asr serve` on a free port, with --threads 1 and --no-punctuation as the CLI runs it is compared with
    (the same arithmetic, the recogniser's own words)."""
    log = folder / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", "0", "--max-upload-mb", "1",
                                 "--threads", "1", "--no-punctuation", *args], cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            return Server(proc, found.group(1), log)
        if proc.poll() is not None:
            pytest.fail(f"asr serve exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"asr serve did not start:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=60) == 0, server.log_text()
    log = server.log_text()
    assert "Traceback" not in log and "asr: stopped" in log, log


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("serve"), "--idle-timeout", "3", "--max-streams", "3")
    assert srv.health()["status"] == "ok"
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def sample(librispeech_sample) -> Path:
    return librispeech_sample / SAMPLE


@pytest.fixture(scope="module")
def offline(sample, tmp_path_factory) -> dict[str, str]:
    """`asr transcribe` of the sample in every format it writes."""
    out = tmp_path_factory.mktemp("offline")
    proc = run_asr("transcribe", sample, "--output-dir", out, "--threads", "1", "--no-punctuation")
    assert proc.returncode == 0, proc.stderr.decode()
    return {fmt: (out / f"{sample.stem}.{fmt}").read_text() for fmt in ("txt", "srt", "vtt", "json")}


def post(server: Server, data: bytes, filename: str = "audio.flac", headers: dict | None = None,
         **fields: str) -> tuple[int, bytes]:
    """A multipart POST to /v1/audio/transcriptions with the standard library: (status, body)."""
    boundary = "asr-test-boundary"
    body = io.BytesIO()
    for name, value in fields.items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
               f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(server.url + "/v1/audio/transcriptions", data=body.getvalue(), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def assert_error(status: int, body: bytes, expected: int) -> str:
    assert status == expected, body
    err = json.loads(body)["error"]
    assert err["type"] and err["message"]
    return err["message"]


def read_response(sock: socket.socket, head: bytes = b"") -> str:
    """An HTTP response read off a raw socket: status line, headers and its Content-Length of body."""
    sock.settimeout(30)
    while b"\r\n\r\n" not in head:
        head += sock.recv(65536)
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
    while len(head.split(b"\r\n\r\n", 1)[1]) < length:
        head += sock.recv(65536)
    return head.decode()


def pcm16(path: Path, rate: int = 16000) -> bytes:
    from asr.audio import load_audio, to_pcm16

    return to_pcm16(load_audio(path, rate)).tobytes()


async def vosk_client(url: str, pcm: bytes, rate: int = 16000, chunk_seconds: float = 0.2, **config) -> list[dict]:
    """Vosk's protocol: config, binary chunks (one reply each), eof (the final reply); every reply."""
    import websockets

    replies = []
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"config": {"sample_rate": rate, **config}}))
        step = int(rate * chunk_seconds) * 2
        for i in range(0, len(pcm), step):
            await ws.send(pcm[i : i + step])
            replies.append(json.loads(await ws.recv()))
        await ws.send('{"eof" : 1}')
        replies.append(json.loads(await ws.recv()))
    return replies


def final_text(replies: list[dict]) -> str:
    return " ".join(r["text"] for r in replies if r.get("text"))


# -- the OpenAI-compatible file API ------------------------------------------------------------------------------
def test_openai_client_gets_the_transcript_of_asr_transcribe(server, sample, offline):
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    with open(sample, "rb") as fh:
        result = client.audio.transcriptions.create(model="whisper-1", file=fh)
    assert result.text == offline["txt"].strip() and len(result.text.split()) > 10
    with open(sample, "rb") as fh:
        text = client.audio.transcriptions.create(model="/etc/passwd", file=fh, response_format="text",
                                                  prompt="ignored")
    assert text.strip() == offline["txt"].strip()  # `model` picks nothing on the server's disk

    with open(sample, "rb") as fh:
        verbose = client.audio.transcriptions.create(model="whisper-1", file=fh, response_format="verbose_json",
                                                     timestamp_granularities=["word", "segment"])
    assert verbose.text == result.text and verbose.duration == pytest.approx(5.415)
    words = [w for seg in json.loads(offline["json"])["segments"] for w in seg["words"]]
    assert [(w.word, w.start, w.end) for w in verbose.words] == [(w["word"], w["start"], w["end"]) for w in words]
    assert all(0 <= w.start < w.end <= verbose.duration for w in verbose.words)
    assert [s.text for s in verbose.segments] == [s["text"] for s in json.loads(offline["json"])["segments"]]


def test_every_response_format(server, sample, offline):
    data = sample.read_bytes()
    for fmt, expected in (("srt", offline["srt"]), ("vtt", offline["vtt"]), ("text", offline["txt"])):
        status, body = post(server, data, response_format=fmt)
        assert status == 200 and body.decode() == expected, (fmt, body)
    status, body = post(server, data)  # json is the default
    assert status == 200 and json.loads(body) == {"text": offline["txt"].strip()}
    status, body = post(server, data, response_format="verbose_json")  # segments only, by default
    verbose = json.loads(body)
    assert "words" not in verbose and verbose["segments"][0]["start"] == 0.0
    assert_error(*post(server, data, response_format="docx"), 400)
    assert_error(*post(server, data, response_format="verbose_json", **{"timestamp_granularities[]": "char"}), 400)


def test_concurrent_requests_share_the_model(server, sample, offline):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: post(server, sample.read_bytes()), range(6)))
    for status, body in answers:  # batched together or queued, the transcript does not change
        assert status == 200 and json.loads(body)["text"] == offline["txt"].strip()


def test_bad_uploads_get_a_json_error_and_the_server_goes_on(server, sample, tmp_path):
    assert "not a readable audio file" in assert_error(*post(server, b"hello, not audio" * 100, "notes.txt"), 400)
    assert "notes.txt" in assert_error(*post(server, b"\x00" * 5000, "notes.txt"), 400)
    assert "no data" in assert_error(*post(server, b"", "empty.wav"), 400)
    wav = tmp_path / "cut.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000, subtype="PCM_16")
    assert "truncated" in assert_error(*post(server, wav.read_bytes()[:20000], "cut.wav"), 400)
    # no file field at all
    request = urllib.request.Request(server.url + "/v1/audio/transcriptions", data=b"x=1", method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert_error(info.value.code, info.value.read(), 400)
    # over the limit: refused on its Content-Length, before a byte of the body is sent
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                     b"boundary=b\r\nContent-Length: 500000000\r\n\r\n")
        head = read_response(sock)
    assert head.startswith("HTTP/1.1 413") and '"error"' in head, head
    # over the limit without a length (chunked): refused once the limit is passed, while the client still sends
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                     b"boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n")
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        sent, answer = 0, b""
        sock.settimeout(0.05)
        while sent < 4 * UPLOAD_LIMIT and not answer:
            sock.sendall(b"10000\r\n" + b"\x01" * 0x10000 + b"\r\n")
            sent += 0x10000
            try:
                answer = sock.recv(65536)
            except socket.timeout:
                pass
        answer = read_response(sock, answer)
    assert answer.startswith("HTTP/1.1 413") and '"error"' in answer, answer
    assert UPLOAD_LIMIT <= sent < 2 * UPLOAD_LIMIT, sent
    # and the server is still serving
    status, body = post(server, sample.read_bytes())
    assert status == 200 and json.loads(body)["text"]
    assert "Traceback" not in server.log_text()


# -- the Vosk-compatible WebSocket --------------------------------------------------------------------------------
def test_vosk_client_gets_the_final_text_of_asr_stream(server, sample):
    proc = run_asr("stream", "--input", sample, "--threads", "1", "--no-punctuation")
    assert proc.returncode == 0, proc.stderr.decode()
    expected = " ".join(proc.stdout.decode().split())
    pcm = pcm16(sample)
    replies = asyncio.run(vosk_client(server.ws, pcm))
    partials = [r["partial"] for r in replies if "partial" in r]
    assert len(replies) == -(-len(pcm) // 6400) + 1 and len([p for p in partials if p]) >= 5  # one reply per chunk, plus the final
    assert final_text(replies) == expected and len(expected.split()) > 10
    results = [r for r in replies if "text" in r]
    assert "text" in replies[-1] and all(len(r["result"]) == len(r["text"].split()) for r in results if r["text"])
    times = [(w["start"], w["end"], w["conf"]) for r in results for w in r.get("result", [])]
    assert all(0 <= s < e <= 5.5 and 0 <= c <= 1 for s, e, c in times)
    # without words: text only
    replies = asyncio.run(vosk_client(server.ws, pcm16(sample), words=False, phrase_list=["paced", "hour"]))
    assert final_text(replies) and not any("result" in r for r in replies)


def test_vosk_client_at_another_sample_rate(server, sample, tmp_path):
    from asr.metrics import wer

    pcm = pcm16(sample, 8000)  # telephone audio: resampled on the server, as `asr stream` resamples a file
    wav = tmp_path / "8k.wav"
    sf.write(wav, np.frombuffer(pcm, "<i2"), 8000, subtype="PCM_16")
    proc = run_asr("stream", "--input", wav, "--threads", "1", "--block-seconds", "0.2", "--no-punctuation")
    expected = " ".join(proc.stdout.decode().split())
    heard = final_text(asyncio.run(vosk_client(server.ws, pcm, rate=8000)))
    assert wer(expected, heard) < 0.2, (expected, heard)  # about the same words (resampled in other blocks)


async def _ws_error(url: str, *messages) -> tuple[dict, int]:
    """Send messages; return the server's error reply and the code it closed the connection with."""
    import websockets

    ws = await websockets.connect(url)
    replies = []
    try:
        for m in messages:
            await ws.send(m)
        while True:
            replies.append(json.loads(await ws.recv()))
    except websockets.ConnectionClosed as closed:
        assert "error" in replies[-1], replies
        return replies[-1]["error"], closed.rcvd.code


def test_bad_streams_get_a_clean_error_and_free_their_slot(server, sample):
    import websockets

    chunk = pcm16(sample)[:6400]
    for messages, code, words in (
        (["this is not json"], 1003, "JSON"),
        (['{"hello": 1}'], 1003, "expected"),
        (['{"config": {"sample_rate": 0}}'], 1003, "sample_rate"),
        (['{"config": {"sample_rate": "fast"}}'], 1003, "sample_rate"),
        (['{"config": {"sample_rate": 100000000}}'], 1003, "sample_rate"),
        (['{"config": {"sample_rate": 16000, "phrase_list": "not a list"}}'], 1003, "phrase_list"),
        (['{"config": {"sample_rate": 16000}}', chunk, '{"config": {"sample_rate": 8000}}'], 1003, "before"),
        ([chunk], 1008, "nothing received"),  # then silence: closed after --idle-timeout (3 s)
    ):
        err, close = asyncio.run(_ws_error(server.ws, *messages))
        assert close == code and words in err["message"], (messages, err)

    async def walk_away():  # mid-stream, without eof
        async with websockets.connect(server.ws) as ws:
            await ws.send('{"config": {"sample_rate": 16000}}')
            for i in range(0, 32000, 3200):
                await ws.send(chunk[: 3200])
            await ws.recv()

    async def crowd():  # --max-streams 3: the fourth is turned away, with a reason
        async with websockets.connect(server.ws) as a, websockets.connect(server.ws) as b, \
                websockets.connect(server.ws) as c:
            for ws in (a, b, c):
                await ws.send(chunk)
                await ws.recv()
            return await _ws_error(server.ws)

    def streams_left() -> int:
        deadline = time.monotonic() + 15
        while server.health()["streams"] and time.monotonic() < deadline:
            time.sleep(0.1)
        return server.health()["streams"]

    asyncio.run(walk_away())
    assert streams_left() == 0  # every stream that left, by error or by walking away, is gone
    err, close = asyncio.run(crowd())
    assert close == 1013 and "busy" in err["message"]
    assert streams_left() == 0
    assert final_text(asyncio.run(vosk_client(server.ws, pcm16(sample))))
    assert "Traceback" not in server.log_text()


# -- the page, in a real browser ------------------------------------------------------------------------------------
def test_page_in_headless_chromium(server, sample, offline, tmp_path):
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wav = tmp_path / "mic.wav"  # Chromium's fake microphone plays a 16-bit WAV (and loops it)
    audio = np.concatenate([sf.read(sample, dtype="float32")[0], np.zeros(16000 * 3, np.float32)])
    sf.write(wav, audio, 16000, subtype="PCM_16")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 "--autoplay-policy=no-user-gesture-required", f"--use-file-for-fake-audio-capture={wav}"):
        options.add_argument(flag)
    try:
        browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    except (WebDriverException, OSError) as exc:
        pytest.skip(f"headless Chromium cannot start here ({str(exc).splitlines()[0]}): "
                    "install Debian chromium and chromium-driver (.ci/install)")
    expected = offline["txt"].split()
    try:
        browser.get(server.url + "/")
        browser.find_element(By.ID, "mic").click()

        def heard(_):
            shown = browser.find_element(By.ID, "final").text.split()
            return len(set(expected) & set(shown)) >= 0.8 * len(set(expected)) and shown

        try:
            shown = WebDriverWait(browser, 40, poll_frequency=0.5).until(heard)
        except Exception:  # noqa: BLE001 - show what the page had
            pytest.fail(f"page shows {browser.find_element(By.ID, 'live').text!r} "
                        f"({browser.find_element(By.ID, 'mic-status').text}), expected {' '.join(expected)!r}")
        assert "paced" in shown and "longer" in shown
        browser.find_element(By.ID, "mic").click()  # stop: eof, the final result, the server closes
        WebDriverWait(browser, 20).until(lambda _: browser.find_element(By.ID, "mic-status").text == "stopped")

        browser.find_element(By.ID, "file").send_keys(str(sample))
        browser.find_element(By.ID, "upload").click()
        WebDriverWait(browser, 60).until(lambda _: browser.find_element(By.ID, "file-text").text)
        assert browser.find_element(By.ID, "file-text").text == offline["txt"].strip()
        rows = browser.find_elements(By.CSS_SELECTOR, "#words tr")
        words = [w for seg in json.loads(offline["json"])["segments"] for w in seg["words"]]
        assert rows[1].text.split() == [words[0]["word"], f"{words[0]['start']:.2f}", f"{words[0]['end']:.2f}"]
        assert len(rows) == len(words) + 1
    finally:
        browser.quit()
    assert server.health()["streams"] == 0


# -- security, shutdown, installation ------------------------------------------------------------------------------
def test_api_key_and_graceful_stop(tmp_path, sample):
    import websockets

    srv = start_server(tmp_path, "--api-key", "s3cret")
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            srv.health()
        assert_error(info.value.code, info.value.read(), 401)
        assert_error(*post(srv, sample.read_bytes(), headers={"Authorization": "Bearer wrong"}), 401)
        assert srv.health({"Authorization": "Bearer s3cret"})["status"] == "ok"
        status, body = post(srv, sample.read_bytes(), headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and json.loads(body)["text"]

        async def denied():
            with pytest.raises(websockets.InvalidStatus) as info:
                async with websockets.connect(srv.ws):
                    pass
            return info.value.response.status_code

        assert asyncio.run(denied()) == 403
        assert final_text(asyncio.run(vosk_client(srv.ws + "?key=s3cret", pcm16(sample)[:32000])))

        async def stopped_mid_stream() -> list[dict]:  # SIGTERM: an open stream gets its final result first
            replies = []
            async with websockets.connect(srv.ws, additional_headers={"Authorization": "Bearer s3cret"}) as ws:
                pcm = pcm16(sample)
                for i in range(0, 48000, 6400):  # 1.5 s of the audio
                    await ws.send(pcm[i : i + 6400])
                    replies.append(json.loads(await ws.recv()))
                srv.proc.send_signal(signal.SIGTERM)
                async for message in ws:
                    replies.append(json.loads(message))
                return replies, ws.close_code

        replies, code = asyncio.run(stopped_mid_stream())
        assert code == 1001 and "hour" in replies[-1]["text"].split(), replies  # 1.5 s: "for a full hour"
        assert srv.proc.wait(timeout=60) == 0
        assert "Traceback" not in srv.log_text() and "asr: stopped" in srv.log_text()
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()


def test_without_the_extra_asr_serve_says_what_to_install():
    code = "import sys; sys.modules['uvicorn'] = None; from cli.main import cli; cli(['serve'])"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.decode() == "asr: error: asr serve needs the server extra: pip install 'asr[serve]'\n"
