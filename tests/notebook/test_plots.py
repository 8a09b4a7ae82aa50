import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.notebook.plots import (
    history_series,
    plot_curves,
    plot_history,
    plot_logps,
    plot_loss,
    plot_monitor,
    plot_points,
    plot_ppo_history,
    plot_reward_against_kl,
    plot_reward_distributions,
)  # noqa: E402

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


REWARD_HISTORY = [
    {"loss": 0.7, "accuracy": 0.5, "step": 10},
    {"loss": 0.3, "accuracy": 0.9, "step": 20},
    {"eval_loss": 0.4, "eval_accuracy": 0.8, "step": 20},
]


def test_plot_history_draws_one_panel_per_label_with_train_and_eval_lines():
    figure = plot_history(
        REWARD_HISTORY, {"loss": ("loss", "eval_loss"), "accuracy": ("accuracy", "eval_accuracy")}, "Lab 2"
    )
    loss_axes, accuracy_axes = figure.axes
    assert figure._suptitle.get_text() == "Lab 2"
    assert [axes.get_ylabel() for axes in figure.axes] == ["loss", "accuracy"]
    assert [line.get_label() for line in accuracy_axes.lines] == ["train", "eval"]
    train, evaluation = accuracy_axes.lines
    assert list(train.get_xdata()) == [10, 20] and list(train.get_ydata()) == [0.5, 0.9]
    assert list(evaluation.get_ydata()) == [0.8]
    assert list(loss_axes.lines[0].get_ydata()) == [0.7, 0.3]
    assert [axes.get_xlabel() for axes in figure.axes] == ["optimizer step"] * 2
    named = plot_history(REWARD_HISTORY, {"loss": ("loss",)}, "course train ppo", xlabel="PPO step")
    assert named.axes[0].get_xlabel() == "PPO step"


def test_plot_history_names_the_missing_keys():
    with pytest.raises(ValueError, match="no 'margin' entries"):
        plot_history(REWARD_HISTORY, {"loss": ("loss",), "margin": ("margin",)}, "x")
    assert plt.get_fignums() == []


def test_plot_reward_distributions_histograms_and_accuracy_title():
    chosen, rejected = torch.tensor([2.0, 1.0, 0.5, -1.0]), torch.tensor([0.0, 1.5, -0.5, -2.0])
    figure = plot_reward_distributions(chosen, rejected, title="held out")
    left, right = figure.axes
    assert figure._suptitle.get_text() == "held out"
    assert [text.get_text() for text in left.get_legend().get_texts()] == ["rejected", "chosen"]
    # Each histogram counts every pair once.
    assert sum(patch.get_height() for patch in left.patches) == 8
    assert sum(patch.get_height() for patch in right.patches) == 4
    assert right.get_title() == "75% of pairs ranked correctly"
    assert right.lines[0].get_xdata()[0] == 0.0  # the line that separates right from wrong


def test_plot_reward_distributions_rejects_mismatched_rewards():
    with pytest.raises(ValueError, match="same non-zero length"):
        plot_reward_distributions(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="same non-zero length"):
        plot_reward_distributions(torch.zeros(0), torch.zeros(0))


def test_plot_ppo_history_draws_reward_kl_and_coefficient_per_step():
    history = [
        {"env/reward_mean": 0.1, "objective/kl": 0.0, "objective/kl_coef": 0.2},
        {"env/reward_mean": 1.5, "objective/kl": 2.0, "objective/kl_coef": 0.19},
    ]
    figure = plot_ppo_history(history, title="Lab 3")
    reward, kl, coef = figure.axes
    assert figure._suptitle.get_text() == "Lab 3"
    assert list(reward.lines[0].get_xdata()) == [1, 2]
    assert list(reward.lines[0].get_ydata()) == [0.1, 1.5]
    assert list(kl.lines[0].get_ydata()) == [0.0, 2.0]
    assert list(coef.lines[0].get_ydata()) == [0.2, 0.19]
    assert [axes.get_xlabel() for axes in figure.axes] == ["PPO step"] * 3


def test_plot_ppo_history_needs_a_step():
    with pytest.raises(ValueError, match="at least one PPO step"):
        plot_ppo_history([])


def test_plot_curves_draws_each_run_thin_and_the_mean_thick():
    figure = plot_curves(
        {"no baseline": [[1.0, 2.0], [3.0, 4.0]], "baseline": [[5.0, 6.0]]},
        xlabel="step",
        ylabel="expected reward",
        title="toy",
        reference=3.0,
    )
    axes = figure.axes[0]
    labelled = {line.get_label(): list(line.get_ydata()) for line in axes.lines if not line.get_label().startswith("_")}
    assert labelled == {"no baseline": [2.0, 3.0], "baseline": [5.0, 6.0]}  # the mean of (1, 3) and of (2, 4)
    thin = [list(line.get_ydata()) for line in axes.lines if line.get_label().startswith("_") and line.get_alpha()]
    assert thin == [[1.0, 2.0], [3.0, 4.0]]  # one seed alone is drawn only as its mean
    assert (axes.get_xlabel(), axes.get_ylabel(), axes.get_title()) == ("step", "expected reward", "toy")
    assert [list(line.get_ydata()) for line in axes.lines if line.get_linestyle() == "--"] == [[3.0, 3.0]]
    plt.close(figure)


def test_plot_curves_rejects_an_empty_run():
    with pytest.raises(ValueError, match="at least one run"):
        plot_curves({"a": [[]]}, "step", "reward", "empty")


def test_plot_logps_draws_chosen_and_rejected_train_and_eval():
    history = [
        {"logps/chosen": -10.0, "logps/rejected": -12.0, "step": 5},
        {"logps/chosen": -11.0, "logps/rejected": -16.0, "step": 10},
        {"eval_logps/chosen": -10.5, "eval_logps/rejected": -15.0, "step": 10},
    ]
    figure = plot_logps(history)
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in figure.axes[0].lines}
    assert lines == {
        "chosen (train)": ([5, 10], [-10.0, -11.0]),
        "chosen (eval)": ([10], [-10.5]),
        "rejected (train)": ([5, 10], [-12.0, -16.0]),
        "rejected (eval)": ([10], [-15.0]),
    }
    plt.close(figure)
    with pytest.raises(ValueError, match="logps/chosen"):
        plot_logps([{"loss": 1.0, "step": 1}])


def test_plot_reward_against_kl_draws_each_method_in_the_proxy_and_gold_panels():
    curves = {
        "best-of-n": [{"kl": 0.0, "proxy": 0.5, "gold": 0.3}, {"kl": 0.19, "proxy": 1.2, "gold": 0.9}],
        "PPO": [{"kl": 0.0, "proxy": 0.6, "gold": 0.3}, {"kl": 2.0, "proxy": 2.0, "gold": -0.4}],
    }
    figure = plot_reward_against_kl(curves)
    proxy_axes, gold_axes = figure.axes
    assert "proxy" in proxy_axes.get_ylabel() and "gold" in gold_axes.get_ylabel()
    assert "KL" in gold_axes.get_xlabel()
    for axes, key in ((proxy_axes, "proxy"), (gold_axes, "gold")):
        assert [line.get_label() for line in axes.lines] == ["best-of-n", "PPO"]
        assert [list(line.get_ydata()) for line in axes.lines] == [
            [row[key] for row in rows] for rows in curves.values()
        ]
    with pytest.raises(ValueError, match="at least one curve"):
        plot_reward_against_kl({"PPO": []})


def test_plot_monitor_marks_each_runs_first_warning_and_its_gold_peak():
    rows = [
        {"step": 0, "gold": 0.0, "kl": 0.0, "entropy": 2.0, "length": 10.0},
        {"step": 3, "gold": 1.0, "kl": 1.5, "entropy": 1.8, "length": 12.0},
        {"step": 6, "gold": 0.2, "kl": 3.0, "entropy": 1.0, "length": 20.0},
    ]
    figure = plot_monitor({"loose": rows}, {"loose": {"kl": 3, "entropy": None}})
    gold, kl, entropy, length, discordance = figure.axes
    assert [tuple(point) for point in gold.lines[0].get_xydata()] == [(0, 0.0), (3, 1.0), (6, 0.2)]
    assert list(gold.lines[1].get_xdata()) == [3, 3]  # the gold peak, on every panel
    assert [tuple(point) for point in kl.lines[2].get_xydata()] == [(3, 1.5)]  # the warning's cross
    assert len(entropy.lines) == 2 and not discordance.lines  # no warning; a signal the runs lack
    plt.close(figure)


def test_plot_points_draws_one_line_per_label_at_its_points():
    figure = plot_points({"GRPO": [(0, 0.4), (640, 0.7)], "expert iteration": [(0, 0.4), (320, 0.6)]}, "x", "y", "t")
    axes = figure.axes[0]
    assert [line.get_label() for line in axes.lines] == ["GRPO", "expert iteration"]
    assert axes.lines[1].get_xydata().tolist() == [[0, 0.4], [320, 0.6]]
    assert (axes.get_xlabel(), axes.get_ylabel(), axes.get_title()) == ("x", "y", "t")
    with pytest.raises(ValueError, match="at least one"):
        plot_points({"empty": []}, "x", "y", "t")
