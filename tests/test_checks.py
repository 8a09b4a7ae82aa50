import statistics

import pytest

from course_utils.checks import done_by_hand


def test_done_by_hand_makes_the_function_raise_and_gives_it_back():
    with done_by_hand(statistics.mean, exercise="the mean"):
        with pytest.raises(NotImplementedError, match=r"Write the mean yourself: it may not call statistics\.mean\."):
            statistics.mean([1, 2])
    assert statistics.mean([1, 2]) == 1.5


def test_done_by_hand_catches_a_copy_saved_before_and_a_library_calling_it():
    saved = statistics.mean

    def learners_mean(values):
        return saved(values)

    with done_by_hand(statistics.mean, exercise="the mean"), pytest.raises(NotImplementedError):
        learners_mean([1, 2])
    with done_by_hand(statistics.mean, exercise="the mean"), pytest.raises(NotImplementedError):
        statistics.fmean.__globals__["mean"]([3])  # the module's own name for it


def test_done_by_hand_restores_the_code_when_the_block_raises():
    with pytest.raises(ZeroDivisionError), done_by_hand(statistics.median, exercise="the median"):
        raise ZeroDivisionError
    assert statistics.median([1, 2, 3]) == 2


def test_done_by_hand_unwraps_decorators_and_refuses_closures():
    import functools

    def inner(x):
        return x

    @functools.wraps(inner)
    def wrapper(x):
        return inner(x)

    with done_by_hand(wrapper, exercise="the identity"), pytest.raises(NotImplementedError):
        wrapper(1)
    assert wrapper(1) == 1
    offset = 1

    def closure(x):
        return x + offset

    with pytest.raises(TypeError, match="plain Python functions"), done_by_hand(closure, exercise="x"):
        pass  # its code reads a free variable: it cannot be swapped for code without one
    with pytest.raises(TypeError, match="plain Python functions"), done_by_hand(len, exercise="x"):
        pass  # a builtin has no Python code to swap


def test_plotted_points_reads_lines_scatters_and_pandas_plots_alike():
    import matplotlib.pyplot as plt
    import pandas as pd

    from course_utils.checks import plotted_points

    expected = [(1.0, 0.5), (2.0, -1.0), (3.0, 2.0)]
    frame = pd.DataFrame({"length": [1, 2, 3], "reward": [0.5, -1.0, 2.0]})
    figure, (lines, markers, pandas_scatter, pandas_line) = plt.subplots(1, 4)
    lines.plot(frame["length"], frame["reward"], "o", label="held-out")
    markers.scatter(frame["length"], frame["reward"])
    frame.plot.scatter(x="length", y="reward", ax=pandas_scatter)
    frame.plot(x="length", y="reward", ax=pandas_line)
    assert plotted_points(lines) == {"held-out": expected}
    assert plotted_points(markers) == {"": expected}
    assert plotted_points(pandas_scatter) == {"": expected}
    assert plotted_points(pandas_line) == {"reward": expected}
    plt.close(figure)


def test_done_by_hand_catches_a_function_rebuilt_from_the_original_code():
    import types

    rebuilt = types.FunctionType(statistics.median.__code__, statistics.median.__globals__)
    with pytest.raises(NotImplementedError, match=r"ran a copy of statistics\.median"):  # noqa: PT012
        with done_by_hand(statistics.median, exercise="the median"):
            assert rebuilt([1, 2, 3]) == 2  # the copy runs: the block fails on leaving
    assert statistics.median([1, 2, 3]) == 2


def test_done_by_hand_fails_when_the_profiler_is_switched_off_inside():
    import sys

    with pytest.raises(RuntimeError, match="switched off"):  # noqa: PT012
        with done_by_hand(statistics.median, exercise="the median"):
            sys.setprofile(None)
    assert sys.getprofile() is None
