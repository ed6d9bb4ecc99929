"""The scoring request behind app.py: admission, pipeline, detectors, fusion, errors, settings, timings, weights."""
