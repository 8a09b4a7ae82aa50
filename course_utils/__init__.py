"""Helpers shared by the labs of the course on aligning language models with human preferences.

Every lab starts with::

    import course_utils
    profile = course_utils.setup()
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("align-course")
except PackageNotFoundError:  # imported from a source tree that was not installed
    __version__ = "0+unknown"

from .profiles import Profile, setup

__all__ = ["Profile", "setup", "__version__"]
