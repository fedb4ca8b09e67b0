"""PyInstaller entry point: the GUI and the CLI in one program (``anomaly-studio``)."""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from app.main import main

    sys.exit(main())
