import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.plots import history_series, plot_loss  # noqa: E402

# What Trainer.state.log_history looks like: training logs, evaluation logs and a final summary entry.
HISTORY = [
    {"loss": 2.5, "learning_rate": 1e-4, "step": 1},
    {"loss": 2.0, "learning_rate": 1e-4, "step": 2},
    {"eval_loss": 2.2, "step": 2},
    {"loss": 1.5, "step": 3},
    {"loss": 9.9},  # no step: left out
    {"eval_loss": 1.8, "step": 4},
    {"train_runtime": 1.0, "train_loss": 2.0, "step": 4},
]
TRAIN_ONLY = [entry for entry in HISTORY if "eval_loss" not in entry]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_history_series_train_loss():
    assert history_series(HISTORY, "loss") == ([1, 2, 3], [2.5, 2.0, 1.5])


def test_history_series_eval_loss():
    assert history_series(HISTORY, "eval_loss") == ([2, 4], [2.2, 1.8])


def test_history_series_missing_key_and_empty_history():
    assert history_series(HISTORY, "reward") == ([], [])
    assert history_series([], "loss") == ([], [])


def test_history_series_values_are_floats():
    steps, values = history_series([{"loss": 3, "step": 5}], "loss")
    assert (steps, values) == ([5], [3.0])
    assert isinstance(values[0], float)


def test_plot_loss_train_only():
    figure = plot_loss(TRAIN_ONLY, title="Lab 1")
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert axes.get_xlabel() == "optimizer step"
    assert axes.get_ylabel() == "cross-entropy loss (nats per token)"
    assert axes.get_title() == "Lab 1"
    assert len(axes.lines) == 1
    (line,) = axes.lines
    assert line.get_label() == "train"
    assert list(line.get_xdata()) == [1, 2, 3]
    assert list(line.get_ydata()) == [2.5, 2.0, 1.5]


def test_plot_loss_with_eval_loss_has_two_lines():
    figure = plot_loss(HISTORY)
    (axes,) = figure.axes
    assert axes.get_title() == "Training loss"
    assert [line.get_label() for line in axes.lines] == ["train", "eval"]
    train, evaluation = axes.lines
    assert list(train.get_ydata()) == [2.5, 2.0, 1.5]
    assert list(evaluation.get_xdata()) == [2, 4]
    assert list(evaluation.get_ydata()) == [2.2, 1.8]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["train", "eval"]


def test_plot_loss_without_loss_raises_and_leaves_no_figure_open():
    plt.close("all")
    with pytest.raises(ValueError, match="no 'loss' or 'eval_loss' entries"):
        plot_loss([{"train_runtime": 1.0, "step": 4}, {"learning_rate": 1e-4, "step": 1}])
    assert plt.get_fignums() == []
