"""Streaming recognition with a bidirectional model: re-decode a short sliding window, commit the
stable prefix.

A BiLSTM needs future context, so nothing is final the moment it is heard. Every `step_seconds`
of new audio the open window (the current utterance so far) is decoded again. A word becomes final
once `commit_lag` seconds of audio follow it and two consecutive decodes agree on it. When
`endpoint_silence` seconds pass without a new word, everything left is final, the utterance ends
and the window starts afresh; an utterance that runs past `max_window / 2` without a pause moves
its window past its final words (keeping `left_context` before them), so the work per step stays
bounded however long the stream runs.

Latency therefore has a floor set by the configuration: a word appears in a partial hypothesis
about `step_seconds` after it is spoken, and is final `commit_lag` + one or two steps after its
end (see recipes/benchmarks/stream_latency.py for measured figures).

    stream = StreamingRecognizer(load_model())
    for block in blocks:                       # float32 mono at 16 kHz, any block size
        for event in stream.feed(block):
            print(event.kind, event.text)
    events = stream.flush()
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .decoding import Decoder
from .errors import ConfigError
from .timing import Word, align_words


@dataclass
class StreamingConfig:
    step_seconds: float = 0.2  # decode again after this much new audio
    commit_lag: float = 0.5  # a word is final once this much audio follows it (and two decodes agree)
    endpoint_silence: float = 0.6  # this long without a new word ends the utterance
    left_context: float = 0.5  # committed audio kept in front of the window, for the backward LSTM
    max_window: float = 12.0  # open windows move on at half this; at this they commit what they have
    word_gap: float = 0.25  # a pause this long inside a decoded word splits it

    def validate(self) -> None:
        for name in ("step_seconds", "commit_lag", "endpoint_silence", "max_window"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"streaming.{name} must be positive")
        if self.left_context < 0:
            raise ConfigError("streaming.left_context must be >= 0")
        if self.max_window <= self.commit_lag + self.left_context:
            raise ConfigError("streaming.max_window must exceed commit_lag + left_context")


@dataclass
class StreamEvent:
    """`partial`: the current utterance so far (committed words plus a guess that may change).
    `final`: words that never change, with absolute times; `end_of_utterance` closes an utterance.
    With punctuation on, a final's `text` has case and punctuation restored (the recogniser's words
    are in `raw_text` and `words`); partials are the recogniser's words as they are."""

    kind: str  # "partial" | "final"
    text: str
    start: float
    end: float
    words: list[Word] = field(default_factory=list)
    end_of_utterance: bool = False
    emitted_at: float = 0.0  # seconds of audio received when the event was made
    raw_text: str | None = None  # a punctuated final: the recogniser's words

    def to_dict(self) -> dict:
        d = {"type": self.kind, "text": self.text, "start": round(self.start, 3), "end": round(self.end, 3),
             "words": [w.to_dict() for w in self.words], "end_of_utterance": self.end_of_utterance}
        if self.raw_text is not None:
            d["raw_text"] = self.raw_text
        return d


class StreamingRecognizer:
    """Feed audio of any block size; get partial and final events with absolute times."""

    def __init__(self, recognizer, decoder: Decoder | None = None, config: StreamingConfig | None = None,
                 punctuate: bool = True):
        self.recognizer = recognizer
        self.punctuator = None  # final segments get case and punctuation (asr.punctuation); partials do not
        if punctuate:
            from .punctuation import default_punctuator

            self.punctuator = default_punctuator()
        self.decoder = decoder or recognizer.default_decoder()
        self.decoder.prepare()
        self.config = config or StreamingConfig()
        self.config.validate()
        self.rate = recognizer.sample_rate
        self.buffer = np.zeros(0, np.float32)
        self.window_start = 0  # absolute sample index of buffer[0]
        self.committed_until = 0.0  # seconds: words ending before this are final already
        self.received = 0  # samples fed so far
        self.undecoded = 0  # samples since the last decode
        self.previous: list[Word] = []  # the open words of the last decode
        self.utterance: list[Word] = []  # final words of the current utterance
        self.last_word_end = 0.0  # end of the newest word seen, final or not
        self.last_partial = ""

    @property
    def now(self) -> float:
        return self.received / self.rate

    def feed(self, samples: np.ndarray) -> list[StreamEvent]:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.buffer = np.concatenate([self.buffer, samples])
        self.received += len(samples)
        self.undecoded += len(samples)
        if self.undecoded < self.config.step_seconds * self.rate:
            return []
        return self._step(final=False)

    def flush(self) -> list[StreamEvent]:
        """End of stream: everything still open becomes final."""
        if self.received == 0:
            return []
        return self._step(final=True)

    # -- internals ---------------------------------------------------------------------------------
    def _decode_window(self) -> list[Word]:
        rec = self.recognizer
        offset = self.window_start / self.rate
        log_probs, lengths = rec.log_probs([rec.features(self.buffer)])
        best = self.decoder.decode(log_probs, lengths)[0][0]
        words = align_words(log_probs[0, : int(lengths[0])], best.label_ids, rec.vocab.symbols, rec.frame_seconds,
                            offset=offset, split_gap=self.config.word_gap, boundary=rec.vocab.boundary,
                            words=best.words)
        # words that belong to the committed left context were already given out
        return [w for w in words if (w.start + w.end) / 2 >= self.committed_until]

    def _step(self, final: bool) -> list[StreamEvent]:
        cfg = self.config
        self.undecoded = 0
        now = self.now
        words = self._decode_window() if len(self.buffer) else []
        if words:
            self.last_word_end = max(self.last_word_end, words[-1].end)
        events: list[StreamEvent] = []

        silent_for = now - max(self.last_word_end, self.committed_until if self.utterance else 0.0)
        endpoint = final or (silent_for >= cfg.endpoint_silence and (words or self.utterance))
        if endpoint:
            commit = len(words)
        else:
            commit = 0
            window = now - self.window_start / self.rate
            for i, w in enumerate(words):
                old = self.previous[i] if i < len(self.previous) else None
                settled = now - w.end >= cfg.commit_lag
                agreed = old is not None and old.word == w.word and abs(old.end - w.end) <= 0.1
                if settled and (agreed or window > cfg.max_window):
                    commit = i + 1
                else:
                    break
        if commit:
            done = words[:commit]
            if self.utterance and done[0].start - self.utterance[-1].end >= cfg.endpoint_silence:
                events.append(self._close_utterance(now))  # a pause between blocks ended it
            # pauses inside what is committed end utterances too (large blocks decode several at once)
            groups, group = [], [done[0]]
            for prev, w in zip(done, done[1:]):
                if w.start - prev.end >= cfg.endpoint_silence:
                    groups.append(group)
                    group = []
                group.append(w)
            groups.append(group)
            for i, group in enumerate(groups):
                last = i == len(groups) - 1
                closes = bool(endpoint) or not last
                raw = " ".join(w.word for w in group)
                text = raw
                if self.punctuator is not None:  # the utterance's earlier final words are its left context
                    text = " ".join(self.punctuator.restore([w.word for w in group], [w.word for w in self.utterance],
                                                            end=closes))
                self.utterance.extend(group)
                events.append(StreamEvent("final", text, group[0].start, group[-1].end, group, end_of_utterance=closes,
                                          emitted_at=now, raw_text=raw if self.punctuator is not None else None))
                if not last:
                    self.utterance = []
            if endpoint:  # the utterance is over: start afresh after its last word and some of the pause
                self._advance(min(now, done[-1].end + cfg.endpoint_silence / 2))
            else:
                cut = done[-1].end if commit == len(words) else (done[-1].end + words[commit].start) / 2
                self.committed_until = max(self.committed_until, cut)
                # the window keeps the utterance from its start (the network hears what an offline
                # decode would) until it grows long; then it moves past the final words
                if now - self.window_start / self.rate > cfg.max_window / 2:
                    self._advance(cut)
        elif endpoint and self.utterance:  # the utterance's last words were committed earlier
            events.append(self._close_utterance(now))
        open_words = words[commit:]
        self.previous = open_words

        if endpoint:
            self.utterance = []
            self.last_partial = ""
            if not words:  # silence: keep only the recent audio as context
                self._advance(max(now - cfg.left_context, self.committed_until), keep_context=False)
        else:
            shown = self.utterance + open_words
            text = " ".join(w.word for w in shown)
            if text != self.last_partial:
                self.last_partial = text
                events.append(StreamEvent("partial", text, shown[0].start if shown else now,
                                          shown[-1].end if shown else now, shown, emitted_at=now))
            if not shown:  # nothing heard yet: do not let leading silence pile up
                self._advance(max(now - cfg.left_context - cfg.commit_lag, self.committed_until), keep_context=False)
        return events

    def _close_utterance(self, now: float) -> StreamEvent:
        self.utterance = []
        return StreamEvent("final", "", now, now, [], end_of_utterance=True, emitted_at=now)

    def _advance(self, cut: float, keep_context: bool = True) -> None:
        """Everything before `cut` seconds is final; keep `left_context` before it as context."""
        self.committed_until = max(self.committed_until, cut)
        start = cut - (self.config.left_context if keep_context else 0.0)
        drop = int(round(start * self.rate)) - self.window_start
        if drop > 0:
            self.buffer = self.buffer[drop:]
            self.window_start += drop


def stream_blocks(streamer: StreamingRecognizer, blocks) -> list[StreamEvent]:
    """Feed every block, then flush; all events in order (files, tests, benchmarks)."""
    events: list[StreamEvent] = []
    for block in blocks:
        events.extend(streamer.feed(block))
    events.extend(streamer.flush())
    return events


def final_text(events: list[StreamEvent]) -> str:
    return " ".join(e.text for e in events if e.kind == "final" and e.text)
