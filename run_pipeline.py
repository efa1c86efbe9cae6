"""Edit a real photo with DragGAN from the command line (see README, "Usage").

    python run_pipeline.py --image photo.jpg --points pts.json
"""

import sys

from pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
