"""The voice detector: is the speech in a clip a recording of a person, or synthesised?

AASIST (Jung et al., ICASSP 2022), a graph-attention spoofing countermeasure over the raw
waveform, with the authors' published weights (clovaai/aasist, MIT, trained on ASVspoof 2019 LA),
bundled in `models/aasist/`. `network.py` is the network, written here to load their files
strictly; `scoring.weights.catalog` lists the files; `scorer.py` turns a clip's audio into window and clip
scores. `bench/parity_audio.py` checks it against the authors' code, `bench/bench_voice.py`
measures it (docs/voice.md).
"""

from scoring.voice.scorer import NoSpeechError, VoiceResult, VoiceScorer, VoiceWindow

__all__ = ["NoSpeechError", "VoiceResult", "VoiceScorer", "VoiceWindow"]
