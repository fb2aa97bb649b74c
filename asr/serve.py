"""`asr serve`: the recogniser over HTTP and WebSocket, a thin ASGI shell (Starlette, run by uvicorn)
over `asr.transcribe` and `asr.streaming`.

- `POST /v1/audio/transcriptions`: OpenAI's transcription API (multipart `file`); the same pipeline,
  and so the same transcript, as `asr transcribe`.
- WebSocket at `/`: Vosk's protocol (`{"config": {"sample_rate": R}}`, 16-bit mono PCM chunks,
  `{"eof": 1}`; `{"partial"}` or `{"result", "text"}` back per message) over `StreamingRecognizer`.
- `GET /`: a page that streams the browser's microphone and uploads files; `GET /health`.

One thread (`Engine`) runs the network and the decoder, whose beam search is not thread-safe: file
requests waiting together are transcribed in one `transcribe_files` call (its batching), stream
steps go first, and a full queue answers 503 instead of growing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import json
import os
import threading
from concurrent.futures import Future
from dataclasses import replace
from importlib import resources
from urllib.parse import parse_qs

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import __version__
from .audio import MIN_SAMPLE_RATE
from .decoding import Decoder, parse_hotword
from .errors import AsrError
from .streaming import StreamingRecognizer
from .transcribe import Recognizer, transcribe_files
from .writers import to_srt, to_vtt

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
MAX_SAMPLE_RATE = 384000
MAX_PHRASE_WORDS = 100  # hotwords from one stream's phrase_list
HOTWORD_DECODERS = 4  # decoders kept for streams' phrase lists (each holds its own copy of the LM)


class Overloaded(Exception):
    pass


class Engine:
    """The one thread that runs the model and the decoder. `transcribe` queues a file (at most
    `max_queue` wait; more raise Overloaded); `call` runs a function here (stream steps), before files."""

    def __init__(self, recognizer: Recognizer, decoder: Decoder, max_queue: int, punctuate: bool = True):
        self.recognizer, self.decoder, self.max_queue, self.punctuate = recognizer, decoder, max_queue, punctuate
        self._files: collections.deque[tuple[bytes, Future]] = collections.deque()
        self._calls: collections.deque[tuple[Future, object, tuple]] = collections.deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._hot: dict[tuple[str, ...], Decoder] = {}
        self._thread = threading.Thread(target=self._run, name="asr-engine", daemon=True)
        self._thread.start()

    def transcribe(self, data: bytes) -> Future:
        future: Future = Future()
        with self._wake:
            if len(self._files) >= self.max_queue:
                raise Overloaded(f"server busy: {len(self._files)} files are waiting; try again shortly")
            self._files.append((data, future))
            self._wake.notify()
        return future

    def call(self, fn, *args) -> Future:
        future: Future = Future()
        with self._wake:
            self._calls.append((future, fn, args))
            self._wake.notify()
        return future

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()

    def streamer(self, hotwords: tuple[str, ...]) -> StreamingRecognizer:
        """A streaming recogniser on the server's decoder, or on one that also favours `hotwords`
        (built here, in the engine's thread: it loads the language model)."""
        decoder = self.decoder
        if hotwords:
            decoder = self._hot.pop(hotwords, None) or Decoder(
                self.recognizer.vocab, replace(self.decoder.config, hotwords=list(hotwords)))
            self._hot[hotwords] = decoder  # most recently used last
            while len(self._hot) > HOTWORD_DECODERS:
                del self._hot[next(iter(self._hot))]
        return StreamingRecognizer(self.recognizer, decoder, punctuate=self.punctuate)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._calls or self._files or self._stopping):
                    self._wake.wait()
                if self._calls:
                    calls, files = [self._calls.popleft()], []
                elif self._files:
                    calls, files = [], list(self._files)
                    self._files.clear()
                else:
                    return
            # a request whose client went away was cancelled: skip it
            calls = [c for c in calls if c[0].set_running_or_notify_cancel()]
            files = [f for f in files if f[1].set_running_or_notify_cancel()]
            for future, fn, args in calls:
                _settle(future, fn, *args)
            if files:
                _settle_files(self.recognizer, self.decoder, files, self.punctuate)


def _settle(future: Future, fn, *args) -> None:
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - raised in the request that asked
        future.set_exception(exc)


def _settle_files(recognizer: Recognizer, decoder: Decoder, files: list[tuple[bytes, Future]], punctuate: bool) -> None:
    """Every waiting file in one `transcribe_files` call: short ones are decoded in shared batches."""
    futures = iter([f for _, f in files])
    sources = [d for d, _ in files]
    try:
        for (_, result), future in zip(transcribe_files(recognizer, sources, decoder, punctuate=punctuate), futures):
            future.set_result(result)  # a result dict, or the AudioError of a file that cannot be read
    except BaseException as exc:  # noqa: BLE001 - a bug: every request still waiting gets it
        for future in futures:
            future.set_exception(exc)


def error(status: int, message: str, kind: str = "invalid_request_error", headers: dict | None = None) -> JSONResponse:
    """OpenAI's error shape."""
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


class _TooLarge(Exception):
    pass


class _Auth:
    """ASGI middleware: with a key, every request needs `Authorization: Bearer KEY` or `?key=KEY`
    (browsers cannot set headers on a WebSocket or on the page they open)."""

    def __init__(self, app, key: str | None):
        self.app, self.key = app, key

    def _allowed(self, scope) -> bool:
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        given = header[7:] if header[:7].lower() == "bearer " else ""
        given = given or parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key", [""])[0]
        return hmac.compare_digest(given.encode(), self.key.encode())

    async def __call__(self, scope, receive, send):
        if self.key is None or scope["type"] not in ("http", "websocket") or self._allowed(scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await WebSocket(scope, receive, send).close(code=1008)  # before accepting: HTTP 403
        response = error(401, "missing or wrong API key: send 'Authorization: Bearer KEY'",
                         headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


class Service:
    """The routes, over one Engine."""

    def __init__(self, recognizer: Recognizer, decoder: Decoder, max_upload_bytes: int, max_streams: int,
                 max_queue: int, idle_seconds: float, punctuate: bool = True):
        self.recognizer, self.decoder, self.punctuate = recognizer, decoder, punctuate
        self.max_upload_bytes, self.max_streams, self.idle_seconds = max_upload_bytes, max_streams, idle_seconds
        self.max_queue = max_queue
        self.engine: Engine | None = None
        self.streams = 0
        self.stopping: asyncio.Event | None = None
        self.page = resources.files("asr").joinpath("web/index.html").read_text(encoding="utf-8")

    def app(self, api_key: str | None = None):
        routes = [Route("/", self.index), Route("/health", self.health),
                  Route("/v1/audio/transcriptions", self.transcriptions, methods=["POST"]),
                  WebSocketRoute("/", self.vosk)]
        app = Starlette(routes=routes, lifespan=self._lifespan,
                        exception_handlers={HTTPException: lambda _req, exc: error(exc.status_code, exc.detail)})
        return _Auth(app, api_key)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app):
        self.engine = Engine(self.recognizer, self.decoder, self.max_queue, self.punctuate)
        self.stopping = asyncio.Event()
        try:
            yield
        finally:
            self.engine.stop()

    async def finish_streams(self, timeout: float = 10.0) -> None:
        """Shutting down: every open stream gets its final result and is closed."""
        if self.stopping is None:
            return
        self.stopping.set()
        for _ in range(int(timeout * 20)):
            if not self.streams:
                return
            await asyncio.sleep(0.05)

    # -- HTTP --------------------------------------------------------------------------------------
    async def index(self, _request: Request) -> Response:
        return HTMLResponse(self.page)

    async def health(self, _request: Request) -> Response:
        cfg = self.decoder.config
        return JSONResponse({"status": "ok", "version": __version__,
                             "model": os.path.basename(self.recognizer.path or ""), "units": self.recognizer.vocab.units,
                             "decoder": cfg.kind, "lm": os.path.basename(cfg.lm) if cfg.lm else None,
                             "device": str(self.recognizer.device), "streams": self.streams})

    async def transcriptions(self, request: Request) -> Response:
        limit = self.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return error(413, f"upload of {int(declared)} bytes is over this server's limit of {limit} bytes")
        seen = 0

        async def counted():  # a body sent without its length is counted as it arrives
            nonlocal seen
            message = await request.receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            form = await Request(request.scope, counted).form(max_files=1, max_fields=32)
        except _TooLarge:
            return error(413, f"upload is over this server's limit of {limit} bytes")
        except ClientDisconnect:  # nobody is left to answer
            return Response(status_code=400)
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                return error(400, "no audio: send it as the multipart/form-data file field 'file'")
            fmt = form.get("response_format") or "json"
            if fmt not in RESPONSE_FORMATS:
                return error(400, f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, not {fmt!r}")
            grains = form.getlist("timestamp_granularities[]") + form.getlist("timestamp_granularities")
            if set(grains) - {"word", "segment"}:
                return error(400, "timestamp_granularities must be word and/or segment")
            data = await upload.read()
        finally:
            await form.close()
        try:
            result = await asyncio.wrap_future(self.engine.transcribe(data))
        except Overloaded as exc:
            return error(503, str(exc), "server_error", headers={"Retry-After": "1"})
        if isinstance(result, AsrError):
            return error(400, str(result).replace("<audio bytes>", upload.filename or "file", 1))
        return _format(result, fmt, grains or ["segment"])

    # -- WebSocket (Vosk) --------------------------------------------------------------------------
    async def vosk(self, ws: WebSocket) -> None:
        await ws.accept()
        if self.streams >= self.max_streams:
            await _close(ws, 1013, f"server busy: {self.max_streams} streams are open; try again shortly")
            return
        self.streams += 1
        try:
            await self._stream(ws)
        except _StreamError as exc:
            await _close(ws, exc.code, str(exc))
        except (WebSocketDisconnect, OSError):  # the client went away: its recogniser goes with it
            pass
        finally:
            self.streams -= 1

    async def _next(self, ws: WebSocket) -> dict | None:
        """The client's next message; None when the server is stopping; _StreamError when it idles."""
        if self.stopping.is_set():
            return None
        receive = asyncio.ensure_future(ws.receive())
        stop = asyncio.ensure_future(self.stopping.wait())
        done, _ = await asyncio.wait({receive, stop}, timeout=self.idle_seconds, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if receive in done:
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            return message
        receive.cancel()
        if stop in done:
            return None
        raise _StreamError(f"nothing received for {self.idle_seconds:g} s: closing the stream", 1008)

    async def _stream(self, ws: WebSocket) -> None:
        rate, show_words, hotwords = 16000.0, True, ()
        streamer = resampler = None
        odd = b""  # a byte left over from a chunk of odd length
        reply = _VoskReply()
        while True:
            message = await self._next(ws)
            if message is None:  # shutting down: what was heard becomes final
                break
            if message.get("text") is not None:
                request = _parse_control(message["text"])
                if "config" in request:
                    if streamer is not None:
                        raise _StreamError("config must come before the audio")
                    rate, show_words, hotwords = _parse_config(request["config"])
                    continue
                if "eof" not in request and "reset" not in request:
                    raise _StreamError('expected {"config": ...}, {"eof": 1} or {"reset": 1}')
                events = []
                if streamer is not None:
                    if resampler is not None:
                        events += await self._feed(streamer, resampler.resample_chunk(np.zeros(0, np.float32), last=True))
                    events += await asyncio.wrap_future(self.engine.call(streamer.flush))
                await ws.send_text(json.dumps(reply.reply(events, show_words, end=True)))
                if "eof" in request:
                    await ws.close()
                    return
                streamer = resampler = None  # reset: the next audio starts a new stream
                continue
            data = odd + message.get("bytes", b"")
            odd = data[len(data) // 2 * 2 :]
            samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
            if streamer is None:
                try:
                    streamer = await asyncio.wrap_future(self.engine.call(self.engine.streamer, hotwords))
                except AsrError as exc:
                    raise _StreamError(f"phrase_list: {exc}") from None
                if rate != self.recognizer.sample_rate:
                    import soxr

                    resampler = soxr.ResampleStream(rate, self.recognizer.sample_rate, 1, dtype="float32",
                                                    quality="HQ")
            if resampler is not None:
                samples = resampler.resample_chunk(samples, last=False)
            await ws.send_text(json.dumps(reply.reply(await self._feed(streamer, samples), show_words)))
        events = await asyncio.wrap_future(self.engine.call(streamer.flush)) if streamer else []
        await ws.send_text(json.dumps(reply.reply(events, show_words, end=True)))
        await ws.close(1001)

    async def _feed(self, streamer: StreamingRecognizer, samples: np.ndarray) -> list:
        return await asyncio.wrap_future(self.engine.call(streamer.feed, samples)) if len(samples) else []


class _StreamError(Exception):
    def __init__(self, message: str, code: int = 1003):
        super().__init__(message)
        self.code = code


async def _close(ws: WebSocket, code: int, message: str) -> None:
    try:
        await ws.send_text(json.dumps({"error": {"message": message, "type": "invalid_request_error"}}))
        await ws.close(code)
    except (WebSocketDisconnect, OSError, RuntimeError):  # the client left first
        pass


def _parse_control(text: str) -> dict:
    try:
        request = json.loads(text)
    except ValueError:
        request = None
    if not isinstance(request, dict):
        raise _StreamError("text messages must be JSON objects: config, eof or reset; audio goes in binary messages")
    return request


def _parse_config(config) -> tuple[float, bool, tuple[str, ...]]:
    """Vosk's config -> (sample rate, whether results list words, hotwords from phrase_list)."""
    if not isinstance(config, dict):
        raise _StreamError("config must be an object, e.g. {\"config\": {\"sample_rate\": 16000}}")
    rate = config.get("sample_rate", 16000)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise _StreamError(f"sample_rate must be a number of Hz from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE}, "
                           f"not {rate!r}")
    phrases = config.get("phrase_list") or []
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
        raise _StreamError("phrase_list must be a list of strings")
    words = list(dict.fromkeys(w for p in phrases for w in p.split()))
    if len(words) > MAX_PHRASE_WORDS:
        raise _StreamError(f"phrase_list holds {len(words)} words; at most {MAX_PHRASE_WORDS}")
    try:
        hotwords = tuple(sorted({parse_hotword(w)[0] for w in words}))
    except AsrError as exc:
        raise _StreamError(f"phrase_list: {exc}") from None
    return float(rate), bool(config.get("words", True)), hotwords


class _VoskReply:
    """StreamingRecognizer events -> one Vosk message per client message: `{"partial"}` while an
    utterance goes on, `{"result", "text"}` with all its words once it has ended."""

    def __init__(self):
        self.words: list = []  # final words of the open utterance
        self.texts: list[str] = []  # and their text (with punctuation, when it is on)
        self.partial = ""

    def reply(self, events, show_words: bool, end: bool = False) -> dict:
        ended, texts = [], []
        for event in events:
            if event.kind == "partial":
                self.partial = event.text
                continue
            self.words += event.words
            self.texts += [event.text] if event.text else []
            if event.end_of_utterance:
                ended, texts = ended + self.words, texts + self.texts
                self.words, self.texts, self.partial = [], [], ""
        if end:
            ended, texts = ended + self.words, texts + self.texts
            self.words, self.texts, self.partial = [], [], ""
        if not (ended or end):
            return {"partial": self.partial}
        out = {"text": " ".join(texts)}
        if show_words and ended:
            out["result"] = [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3),
                              "conf": round(w.confidence, 3)} for w in ended]
        return out


def _format(result: dict, fmt: str, grains: list[str]) -> Response:
    if fmt == "json":
        return JSONResponse({"text": result["text"]})
    if fmt == "text":
        return PlainTextResponse(result["text"] + "\n")
    if fmt in ("srt", "vtt"):
        return PlainTextResponse((to_srt if fmt == "srt" else to_vtt)(result))
    body = {"task": "transcribe", "language": "english", "duration": result["duration"], "text": result["text"]}
    if "segment" in grains:
        body["segments"] = [{"id": s["id"], "seek": 0, "start": s["start"], "end": s["end"], "text": s["text"],
                             "tokens": [], "temperature": 0.0} for s in result["segments"]]
    if "word" in grains:
        body["words"] = [{"word": w["word"], "start": w["start"], "end": w["end"], "confidence": w["confidence"]}
                         for s in result["segments"] for w in s["words"]]
    return JSONResponse(body)


def run(service: Service, host: str, port: int, api_key: str | None, on_listening) -> None:
    """Serve until SIGINT or SIGTERM; open streams get their final results before the server stops.
    Binds first, so a busy port is an AsrError; `on_listening(url)` once the server accepts."""
    import socket

    import uvicorn

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family)
    except (OSError, UnicodeError) as exc:
        raise AsrError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            if self.started:
                on_listening(f"http://{shown}:{bound}")

        async def shutdown(self, sockets=None):
            await service.finish_streams()
            await super().shutdown(sockets)

        def handle_exit(self, sig, frame):
            super().handle_exit(sig, frame)
            self._captured_signals.clear()  # a signal is how a server stops: do not re-raise it afterwards

    config = uvicorn.Config(service.app(api_key), log_level="warning", timeout_graceful_shutdown=15)
    Server(config).run(sockets=[sock])
