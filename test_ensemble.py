"""Score videos with a running service and print the results (the client is `tools.client`).

    python test_ensemble.py VIDEO_OR_FOLDER [...] [--url http://localhost:5000] [--json] [--challenge TOKEN]
"""

import sys

from tools.client import collect, main, score

__all__ = ["collect", "main", "score"]

if __name__ == "__main__":
    sys.exit(main())
