import statistics

import pytest

from course_utils.notebook.checks import done_by_hand


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

    from course_utils.notebook.checks import plotted_points

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


def test_model_weights_of_a_lora_model_fit_its_base_and_leave_it_adapted():
    import torch
    from peft import LoraConfig, get_peft_model

    from course_utils.notebook.checks import load_weights, model_weights
    from course_utils.runtime.loaders import load_reward_model
    from course_utils.runtime.profiles import Profile

    torch.manual_seed(0)
    base, tokenizer = load_reward_model(Profile("tiny", "cpu"))
    config = LoraConfig(
        r=2, target_modules=["c_attn"], fan_in_fan_out=True, task_type="SEQ_CLS", init_lora_weights=False
    )
    adapted = get_peft_model(base, config).eval()  # random adapters: merging them changes the weights
    inputs = tokenizer(["Human: hi\n\nAssistant: Hello."], return_tensors="pt")
    with torch.no_grad():
        expected = adapted(**inputs).logits
    weights = model_weights(adapted)
    fresh, _ = load_reward_model(Profile("tiny", "cpu"))
    assert weights.keys() == fresh.state_dict().keys()
    with torch.no_grad():
        torch.testing.assert_close(load_weights(fresh, weights)(**inputs).logits, expected)
    assert hasattr(adapted, "peft_config") and any("lora_A" in name for name, _ in adapted.named_parameters())


def test_load_weights_names_what_does_not_fit():
    import torch

    from course_utils.notebook.checks import load_weights

    model = torch.nn.Linear(2, 1)
    with pytest.raises(AssertionError, match=r"missing \['bias'\], unexpected \['extra'\]"):
        load_weights(model, {"weight": torch.zeros(1, 2), "extra": torch.zeros(1)})
    with pytest.raises(AssertionError, match=r"\['weight'\] have other shapes"):
        load_weights(model, {"weight": torch.zeros(2, 2), "bias": torch.zeros(1)})
    assert torch.equal(
        load_weights(model, {"weight": torch.ones(1, 2), "bias": torch.zeros(1)})(torch.ones(1, 2)),
        torch.tensor([[2.0]]),
    )
