"""Edit a real photo with DragGAN from the command line (see README, "Usage").

python run_pipeline.py --image photo.jpg --points pts.json
"""

import os
import signal
import sys


def _interrupted_while_importing(signum, frame):
    # Ctrl-C before `main` runs (the imports take seconds): one line and exit 130, not a traceback.
    os.write(2, b"error: interrupted\n")
    os._exit(130)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, _interrupted_while_importing)
    from pipeline.cli.main import main

    sys.exit(main())
