"""python -m tui: the same as mlmon-tui."""
import sys

from tui.cli import main

sys.exit(main())
