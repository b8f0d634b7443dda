"""``python -m turbodicom``: the command-line interface."""
import sys

from turbodicom.cli import main

sys.exit(main())
