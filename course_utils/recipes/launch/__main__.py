"""`python -m course_utils.recipes.launch NAME`: print the path of a shipped launch configuration."""

import sys

from . import CONFIGS, launch_config

if __name__ == "__main__":  # not when a tool imports every module of the package
    if len(sys.argv) != 2 or sys.argv[1] not in CONFIGS:
        print(f"usage: python -m course_utils.recipes.launch {{{','.join(CONFIGS)}}}", file=sys.stderr)
        sys.exit(2)
    print(launch_config(sys.argv[1]))
