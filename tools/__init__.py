"""Off the request path: the command-line client (test_ensemble.py), a local gunicorn for tests and
benchmarks, and the bundled sample."""
