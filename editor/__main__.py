"""`python -m editor`: start the interactive DragGAN editor (see `editor.server`)."""

import sys

from editor.server import main

sys.exit(main())
