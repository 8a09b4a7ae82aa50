"""The reward-hacking monitor (`course_utils.ppo.monitor`): tiny inputs, exact numbers."""

import pytest

from course_utils.ppo import HackingMonitor, MonitorThresholds, discordance, first_warnings
from course_utils.ppo.monitor import moved


def test_discordance_counts_the_pairs_ordered_the_other_way_and_leaves_ties_out():
    # proxy 1, 2, 3, 3 and gold 1, 3, 0, 1. Pair (0, 1): 1 < 2 and 1 < 3, agrees; (0, 2): 1 < 3 but 1 > 0, disagrees;
    # (0, 3): gold tied, left out; (1, 2): 2 < 3 but 3 > 0, disagrees; (1, 3): 2 < 3 but 3 > 1, disagrees;
    # (2, 3): proxy tied, left out. 3 of 4 untied pairs disagree.
    assert discordance([1.0, 2.0, 3.0, 3.0], [1.0, 3.0, 0.0, 1.0]) == 3 / 4
    assert discordance([1, 2, 3], [10, 20, 30]) == 0.0  # the same order on another scale
    assert discordance([1, 2, 3], [3, 2, 1]) == 1.0
    assert discordance([5, 5, 5], [1, 2, 3]) == 0.0  # every pair tied under the proxy
    with pytest.raises(ValueError, match="both scores"):
        discordance([1, 2], [1])


def test_moves_are_in_the_units_of_each_threshold():
    start = {"kl": 0.1, "entropy": 2.0, "length": 20.0, "discordance": 0.2}
    now = {"kl": 1.6, "entropy": 1.5, "length": 25.0, "discordance": 0.25}
    # KL +1.5 nats; entropy moved 0.5 of 2.0 = 0.25; length moved 5 of 20 = 0.25; discordance rose by 0.05
    assert moved(start, now) == pytest.approx({"kl": 1.5, "entropy": 0.25, "length": 0.25, "discordance": 0.05})
    assert moved(start, {**now, "length": 15.0})["length"] == 0.25  # shorter counts too
    assert moved(start, {**now, "entropy": 2.5})["entropy"] == 0.25  # and so does a rising entropy


def test_the_monitor_warns_once_per_signal_at_the_first_step_past_its_threshold():
    thresholds = MonitorThresholds(kl=1.0, entropy_change=0.5, length_change=None, discordance_rise=0.1)
    monitor = HackingMonitor(thresholds)
    assert monitor.update(0, {"kl": 0.0, "entropy": 2.0, "length": 10.0, "discordance": 0.2}) == []  # the start
    assert monitor.update(3, {"kl": 0.5, "entropy": 1.9, "length": 30.0, "discordance": 0.35}) == ["discordance"]
    assert monitor.update(6, {"kl": 1.2, "entropy": 1.9, "length": 30.0, "discordance": 0.4}) == ["kl"]
    assert monitor.update(9, {"kl": 1.2, "entropy": 0.9, "length": 30.0, "discordance": 0.4}) == ["entropy"]
    assert monitor.warnings == {"discordance": 3, "kl": 6, "entropy": 9}  # length is switched off


def test_first_warnings_over_a_history_say_none_for_a_signal_that_never_warns():
    history = [{"step": 0, "kl": 0.0, "length": 10.0}, {"step": 5, "kl": 2.0, "length": 11.0}]
    assert first_warnings(history) == {"kl": 5, "length": None}


@pytest.mark.parametrize("field", ["kl", "entropy_change", "length_change", "discordance_rise"])
def test_thresholds_must_be_positive(field):
    with pytest.raises(ValueError, match=f"MonitorThresholds.{field} must be positive"):
        MonitorThresholds(**{field: 0.0})
