"""`python -m course_utils.recipes METHOD ...`: `course train` for launchers that start a module on every process
(``torchrun -m``, ``accelerate launch -m``)."""

import sys

from .command import main

if __name__ == "__main__":  # not when a tool imports every module of the package
    sys.exit(main())
