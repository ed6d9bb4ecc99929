"""Scores into a verdict: the fusion of detectors' scores with risk levels, and calibration to P(genuine)."""
