"""Everything behind the front doors (app.py, syncnet_wrapper.py, efficientnet_detector.py,
frame_extractor.py, test_ensemble.py): the HTTP layer, the service, its detectors and their stages."""

__version__ = "1.0.0"
