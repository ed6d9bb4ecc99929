"""Did the person say the phrase? Checked offline with pocketsphinx's bundled US English model.

Free dictation is poor on short clips, and a grammar of only the phrase's words would always "hear"
them. So the audio is force-aligned to the expected phrase, and each aligned word is compared with
what an unconstrained phone loop finds in the same frames: the word's log-likelihood ratio per
frame (alignment minus phone loop) is near 0 when the word was said and falls well below when
something else was. A word counts as heard when its ratio is at least `WORD_LLR_FLOOR`; the phrase
passes when at least `PASS_FRACTION` of its words were heard. Both values were chosen on the shared
GRID clips (`bench/bench_challenge.py`): every clip passes its own sentence, none another's.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
WORD_LLR_FLOOR = -2.0
PASS_FRACTION = 2 / 3
FILLERS = ("<s>", "</s>", "<sil>", "(NULL)")


@dataclass(frozen=True)
class PhraseCheck:
    phrase: str
    heard: str  # the phrase's words the audio supports, in order
    matched_words: int
    total_words: int
    passed: bool

    def to_json(self) -> dict:
        return asdict(self)


def required_words(total: int) -> int:
    return math.ceil(PASS_FRACTION * total)


class PhraseVerifier:
    """Loads the recogniser once (about 0.4 s); one check at a time per process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._aligner = None
        self._phone_loop = None

    @contextmanager
    def _decoders(self):
        """The (aligner, phone loop) pair, loaded on first use, held for one caller at a time."""
        with self._lock:
            if self._aligner is None:
                import pocketsphinx
                from pocketsphinx import Decoder

                model = Path(pocketsphinx.__file__).parent / "model" / "en-us"
                self._aligner = Decoder(loglevel="FATAL")
                self._phone_loop = Decoder(loglevel="FATAL", allphone=str(model / "en-us-phone.lm.bin"), backtrace=True, lw=2.0)
            yield self._aligner, self._phone_loop

    def knows(self, word: str) -> bool:
        with self._decoders() as (aligner, _):
            return aligner.lookup_word(word) is not None

    def check(self, pcm: np.ndarray | None, phrase: str) -> PhraseCheck:
        """`pcm`: 16 kHz mono int16 (the decoded audio); `phrase`: the words that should be said."""
        words = phrase.lower().split()
        scores = self._word_scores(pcm, words) if pcm is not None and pcm.size >= SAMPLE_RATE // 2 else []
        heard = [word for word, llr in scores if llr >= WORD_LLR_FLOOR]
        return PhraseCheck(phrase, " ".join(heard), len(heard), len(words), len(heard) >= required_words(len(words)))

    def _word_scores(self, pcm: np.ndarray, words: list[str]) -> list[tuple[str, float]]:
        raw = np.ascontiguousarray(pcm, dtype=np.int16).tobytes()
        with self._decoders() as (aligner, phone_loop):
            loop = [(s.start_frame, s.end_frame + 1, _log(s.ascore)) for s in _decode(phone_loop, raw) or []]
            aligner.set_align_text(" ".join(words))
            aligned = _decode(aligner, raw)
        if aligned is None:  # no path through the phrase at all: nothing of it was said
            return []
        # Pronunciation variants come back as "word(2)".
        return [(s.word.split("(")[0], _ratio(s, loop)) for s in aligned if s.word not in FILLERS and not s.word.startswith("[")]


def _decode(decoder, raw: bytes):
    decoder.start_utt()
    decoder.process_raw(raw, full_utt=True)
    decoder.end_utt()
    return decoder.seg()


def _log(probability: float) -> float:
    return math.log(max(probability, 1e-300))


def _ratio(segment, loop: list[tuple[int, int, float]]) -> float:
    """Per-frame log-likelihood ratio of an aligned word against the phone loop over its frames."""
    start, end = segment.start_frame, segment.end_frame + 1
    reference = sum(score * max(0, min(end, e) - max(start, s)) / max(1, e - s) for s, e, score in loop)
    return (_log(segment.ascore) - reference) / max(1, end - start)
