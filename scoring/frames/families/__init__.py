"""Every frame-classifier family, one module each; importing this package registers them all
(`scoring.frames.register`). A new family is a module here and its name below."""

from scoring.frames.families import clip_norms, clip_probe, clip_tokens, deepfakebench, effort, plain, polimi, sbi, selimsef

__all__ = ["clip_norms", "clip_probe", "clip_tokens", "deepfakebench", "effort", "plain", "polimi", "sbi", "selimsef"]
