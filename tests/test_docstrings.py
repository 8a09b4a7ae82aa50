"""The examples in the package's docstrings (``>>>``) are run: a learner who copies one gets what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import course_utils

MODULES = sorted(info.name for info in pkgutil.walk_packages(course_utils.__path__, "course_utils."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
