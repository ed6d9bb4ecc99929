"""The spoken-phrase check on real speech: true and false accepts, and its cost.

    python bench/bench_challenge.py [--voices rms,awb,slt] [--phrases 6]

1. Every GRID clip in ../shared/media/talking against its own sentence (its file name encodes it)
   and against every other clip's sentence.
2. Phrases drawn from the challenge vocabulary, spoken by Debian's `flite` voices, muxed over the
   frames of a real face video (../shared/media/talking/akash_video_8s.mp4), decoded by the service's
   own decoder, checked against their own phrase and against another phrase.
Prints the true-accept and false-accept rates and the check's time per clip and per second of audio.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from scoring.liveness.speech import PhraseVerifier
from scoring.liveness.tokens import VOCABULARY
from scoring.media.video import AUDIO_RATE, decode_video
from tests.helpers.media import grid_sentence, video_with_speech

ROOT = Path(__file__).resolve().parents[1]
TALKING = ROOT.parent / "shared" / "media" / "talking"


class Tally:
    def __init__(self, name: str):
        self.name, self.own, self.other, self.seconds, self.audio_s = name, [], [], [], []

    def timed_check(self, verifier: PhraseVerifier, pcm, phrase: str):
        started = time.perf_counter()
        result = verifier.check(pcm, phrase)
        self.seconds.append(time.perf_counter() - started)
        self.audio_s.append(pcm.size / AUDIO_RATE)
        return result

    def report(self) -> str:
        tar = sum(r.passed for r in self.own) / len(self.own)
        far = sum(r.passed for r in self.other) / max(1, len(self.other))
        per_clip = sum(self.seconds) / len(self.seconds)
        factor = sum(self.seconds) / sum(self.audio_s)
        return (
            f"{self.name:28s} true accepts {sum(r.passed for r in self.own)}/{len(self.own)} ({tar:.0%}), "
            f"false accepts {sum(r.passed for r in self.other)}/{len(self.other)} ({far:.0%}), "
            f"{per_clip * 1000:.0f} ms per check, {factor:.3f}x real time"
        )


def grid(verifier: PhraseVerifier) -> Tally:
    tally = Tally("GRID clips (own vs others)")
    clips = {clip: decode_video(clip).audio for clip in sorted(TALKING.glob("grid_*.mpg"))}
    for clip, pcm in clips.items():
        own = tally.timed_check(verifier, pcm, grid_sentence(clip))
        tally.own.append(own)
        print(
            f"  {clip.name:22s} own '{own.phrase}': heard '{own.heard}' {own.matched_words}/{own.total_words} {'PASS' if own.passed else 'fail'}"
        )
        tally.other += [tally.timed_check(verifier, pcm, grid_sentence(other)) for other in clips if other != clip]
    return tally


def flite(verifier: PhraseVerifier, voices: list[str], count: int, workdir: Path) -> Tally:
    tally = Tally(f"flite {','.join(voices)} over a face video")
    rng = random.Random(0)
    for voice in voices:
        for index in range(count):
            phrase, decoy = (" ".join(rng.sample(VOCABULARY, 4)) for _ in range(2))
            clip = video_with_speech(TALKING / "akash_video_8s.mp4", phrase, voice, workdir / f"{voice}{index}.mkv")
            pcm = decode_video(clip).audio
            own = tally.timed_check(verifier, pcm, phrase)
            tally.own.append(own)
            tally.other.append(tally.timed_check(verifier, pcm, decoy))
            print(
                f"  {voice} '{phrase}': heard '{own.heard}' {'PASS' if own.passed else 'fail'}; decoy '{decoy}' {'PASSED' if tally.other[-1].passed else 'refused'}"
            )
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voices", default="rms,awb,slt")
    parser.add_argument("--phrases", type=int, default=6, help="phrases per flite voice")
    args = parser.parse_args()
    verifier = PhraseVerifier()
    verifier.check(decode_video(sorted(TALKING.glob("grid_*.mpg"))[0]).audio, "warm up")
    tallies = [grid(verifier)]
    if shutil.which("flite"):
        with tempfile.TemporaryDirectory() as workdir:
            tallies.append(flite(verifier, args.voices.split(","), args.phrases, Path(workdir)))
    else:
        print("flite is not installed (apt-get install flite): synthetic phrases skipped")
    print()
    for tally in tallies:
        print(tally.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
