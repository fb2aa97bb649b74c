"""Word start/end times and confidences from the CTC output, by forced alignment of the transcript."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass
class Word:
    word: str
    start: float  # seconds
    end: float
    confidence: float  # mean posterior probability of the word's characters, 0..1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["start"], d["end"], d["confidence"] = round(self.start, 3), round(self.end, 3), round(self.confidence, 3)
        return d


def align_words(
    log_probs: torch.Tensor, token_ids: list[int], symbols: list[str], frame_seconds: float,
    offset: float = 0.0, blank: int = 0, split_gap: float | None = None, boundary: str = " ",
    words: list[str] | None = None,
) -> list[Word]:
    """Times for each word of `token_ids` (label ids of the transcript, word boundaries included).

    log_probs: (frames, vocab) for one utterance (no padding). `symbols[i - 1]` is the unit of
    label i (index 0 is the blank); `boundary` the unit between words (' ' for characters).
    Times are accurate to about one output frame. A word's text is its characters, or `words[k]`
    for the k-th word when given (phone models: the units are not letters). With `split_gap`, a
    pause of that many seconds inside a word splits it in two (a model may miss the space between
    words said with a pause between them; not with `words`).
    """
    import torchaudio.functional as AF

    ids = [i for i in token_ids if i != blank]
    # strip leading/trailing spaces: they carry no timing of their own
    while ids and symbols[ids[0] - 1] == boundary:
        ids.pop(0)
    while ids and symbols[ids[-1] - 1] == boundary:
        ids.pop()
    if not ids or log_probs.shape[0] == 0:
        return []
    targets = torch.tensor([ids], dtype=torch.int32)
    try:
        alignment, scores = AF.forced_align(log_probs[None].float(), targets, blank=blank)
    except RuntimeError:  # transcript longer than the audio allows: no reliable times
        return []
    spans = AF.merge_tokens(alignment[0], scores[0].exp(), blank=blank)
    out: list[Word] = []
    current: list = []

    def flush() -> None:
        if current:
            k = len(out)
            text = words[k] if words is not None and k < len(words) else "".join(symbols[s.token - 1] for s in current)
            confidence = sum(s.score for s in current) / len(current)
            out.append(Word(text, offset + current[0].start * frame_seconds,
                            offset + current[-1].end * frame_seconds, float(confidence)))
            current.clear()

    gap_frames = split_gap / frame_seconds if split_gap and words is None else None
    for span in spans:
        if symbols[span.token - 1] == boundary:
            flush()
            continue
        if gap_frames is not None and current and span.start - current[-1].end >= gap_frames:
            flush()
        current.append(span)
    flush()
    return out
