"""Parity of scoring.voice with the authors' AASIST code, on the same waveforms and the same published weights.

    python bench/parity_audio.py --reference-dir /tmp/aasist_ref [--weights AASIST.pth AASIST-L.pth]

`--reference-dir` is a scratch checkout of clovaai/aasist (outside this repository, never
committed), e.g. at commit a04c9863f63d44471dde8a6abcb3b082b07cd1d1. Their `models/AASIST.py` is
loaded by file path and built with the `model_config` of their `config/<variant>.conf`; both
networks load the same file from models/aasist/ and score the same windows: the scorer's windows of
every real clip with sound in ../shared/media and of flite speech. Printed per clip and file: the
largest |bona fide logit ours - theirs| over the windows (goal: at most 1e-4). Where their
`data_utils.py` imports (it needs soundfile), the first window of each clip is also checked to be
exactly their evaluation padding `pad()` of the same speech.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from scoring.media.video import DecodeLimits, decode_video
from scoring.runtime.timing import Stopwatch
from scoring.voice.network import BONA_FIDE
from scoring.voice.scorer import VoiceScorer, fill_window, find_speech, window_starts
from scoring.weights.catalog import AASIST, AASIST_L, BUNDLED_VOICE_DIR

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
FLITE_VOICES = ("kal16", "awb", "rms", "slt")
FLITE_TEXT = "Please verify my identity for this account, blue seven river nine."
GOAL = 1e-4


def _load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_pad(reference_dir: Path):
    """Their evaluation `pad`, or None where their data_utils cannot be imported here."""
    try:
        return _load_module("aasist_reference_data_utils", reference_dir / "data_utils.py").pad
    except (ImportError, OSError) as exc:
        print(f"their data_utils.py does not import here ({exc}); the padding check is skipped")
        return None


def waveforms(scratch: Path) -> dict[str, np.ndarray]:
    """int16 16 kHz mono speech: every shared clip with sound, then flite voices."""
    found = {}
    for path in sorted(MEDIA.rglob("*")):
        if path.suffix in {".avi", ".mp4", ".mpg"}:
            audio = decode_video(path, DecodeLimits(), Stopwatch()).audio
            if audio is not None:
                found[path.relative_to(MEDIA).as_posix()] = audio
    for voice in FLITE_VOICES:
        out = scratch / f"flite_{voice}.wav"
        subprocess.run(["flite", "-voice", voice, "-t", FLITE_TEXT, "-o", str(out)], check=True, capture_output=True)
        found[f"flite {voice}"] = _read_wav(out)
    return found


def _read_wav(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        chunks = [out.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.int16)


def windows_of(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scorer's windows of `audio` (speech span), and that span as float."""
    span = find_speech(audio)
    speech = audio[span.start : span.end].astype(np.float32) / 32768
    return np.stack([fill_window(speech[s : s + 64600]) for s in window_starts(speech.size)]), speech


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-dir", type=Path, required=True, help="a checkout of clovaai/aasist")
    parser.add_argument("--weights", nargs="+", default=[AASIST.name, AASIST_L.name], choices=[AASIST.name, AASIST_L.name])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    reference = _load_module("aasist_reference_model", args.reference_dir / "models" / "AASIST.py")
    pad = reference_pad(args.reference_dir)

    with tempfile.TemporaryDirectory(prefix="parity_audio_") as scratch:
        clips = waveforms(Path(scratch))
    prepared = {name: windows_of(audio) for name, audio in clips.items()}
    if pad is not None:
        exact = sum(np.array_equal(pad(speech.astype(np.float64)).astype(np.float32), windows[0]) for windows, speech in prepared.values())
        print(f"first window == their pad(speech): {exact} of {len(prepared)} clips")

    worst_overall = {}
    for file_name in args.weights:
        path = BUNDLED_VOICE_DIR / file_name
        variant = file_name.removesuffix(".pth")
        model_config = json.loads((args.reference_dir / "config" / f"{variant}.conf").read_text())["model_config"]
        theirs = reference.Model(model_config)
        theirs.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        theirs.eval()
        ours = VoiceScorer.load(path)
        print(f"\n{file_name} (their d_args: {json.dumps({k: model_config[k] for k in ('filts', 'gat_dims', 'pool_ratios', 'temperatures')})})")
        worst, count, started = 0.0, 0, time.perf_counter()
        theirs_by_clip = {}
        for name, (windows, _) in prepared.items():
            mine = ours.window_logits(windows)
            with torch.inference_mode():
                their = np.concatenate([theirs(torch.from_numpy(w[None]))[1][:, BONA_FIDE].numpy() for w in windows]).astype(np.float64)
            theirs_by_clip[name] = their
            difference = float(np.abs(mine - their).max())
            worst, count = max(worst, difference), count + len(windows)
            print(f"  {name:45s} {len(windows):3d} windows  logits {their.min():+7.3f}..{their.max():+7.3f}  max |diff| {difference:.2e}")
        worst_overall[file_name] = worst
        print(f"  {file_name}: {count} windows, max |bona fide logit ours - theirs| = {worst:.2e} ({time.perf_counter() - started:.0f} s)")
        # What is left is the filter bank: theirs evaluates the sinc in float32, ours in float64 (rounded once).
        bank = ours.network.front_end.bank
        print(f"  filter banks differ by at most {float((bank.squeeze(1) - theirs.conv_time.band_pass).abs().max()):.2e}", end="")
        bank.copy_(theirs.conv_time.band_pass.view_as(bank))
        same_bank = max(float(np.abs(ours.window_logits(windows) - theirs_by_clip[name]).max()) for name, (windows, _) in prepared.items())
        print(f"; with their float32 bank copied into ours: max |diff| = {same_bank:.2e}")
    failed = [name for name, worst in worst_overall.items() if worst > GOAL]
    print("\n" + ("PASS" if not failed else f"FAIL ({', '.join(failed)})") + f": goal max |diff| <= {GOAL:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
