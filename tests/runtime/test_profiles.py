import pytest
import torch

from course_utils.library_output import progress_bars_enabled
from course_utils.runtime import profiles
from course_utils.runtime.profiles import DRY_RUN_EXAMPLES, PROFILES, Profile, detect_profile, hub_reachable, setup


@pytest.fixture
def clean_env(monkeypatch):
    """No profile variables, no GPU; tests switch on what they need."""
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("COURSE_HUB_MIRROR", raising=False)
    monkeypatch.delenv("COURSE_MAX_STEPS", raising=False)
    monkeypatch.delenv("COURSE_SEED", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return monkeypatch


def _fail_if_called(*args, **kwargs):
    raise AssertionError("hub_reachable must not be consulted here")


# --- Profile ---------------------------------------------------------------------------------------------------


def test_profiles_are_full_tiny_grade():
    assert PROFILES == ("full", "tiny", "grade")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("full", "F"), ("tiny", "T"), ("grade", "G")],
)
def test_pick_returns_the_value_of_the_profile(name, expected):
    assert Profile(name, "cpu").pick(full="F", tiny="T", grade="G") == expected


def test_pick_grade_falls_back_to_tiny_when_grade_not_given():
    assert Profile("grade", "cpu").pick(full=500, tiny=100) == 100


def test_pick_grade_zero_is_not_treated_as_missing():
    # `grade=0` is a real value (e.g. zero warm-up steps), only `None` means "not given".
    assert Profile("grade", "cpu").pick(full=500, tiny=100, grade=0) == 0


def test_profile_flags():
    assert [Profile(n, "cpu").is_full for n in PROFILES] == [True, False, False]
    assert [Profile(n, "cpu").quiet for n in PROFILES] == [False, False, True]
    assert Profile("tiny", "cpu").seed == 0


# --- hub_reachable ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "true", "YES", "On"])
def test_hub_reachable_is_false_offline_without_touching_the_network(monkeypatch, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)

    def no_network(*args, **kwargs):
        raise AssertionError("hub_reachable opened a connection in offline mode")

    monkeypatch.setattr(profiles.socket, "create_connection", no_network)
    assert hub_reachable() is False


# --- detect_profile --------------------------------------------------------------------------------------------


def test_detect_profile_course_profile_beats_nbgrader_and_gpu(clean_env):
    clean_env.setenv("COURSE_PROFILE", "tiny")
    clean_env.setenv("NBGRADER_EXECUTION", "autograde")
    clean_env.setattr(torch.cuda, "is_available", lambda: True)
    clean_env.setattr(profiles, "hub_reachable", lambda *a, **k: True)
    assert detect_profile() == ("tiny", "chosen with COURSE_PROFILE=tiny")


def test_detect_profile_course_profile_is_case_and_space_insensitive(clean_env):
    clean_env.setenv("COURSE_PROFILE", "  Full ")
    assert detect_profile()[0] == "full"


def test_detect_profile_invalid_course_profile_raises_naming_the_choices(clean_env):
    clean_env.setenv("COURSE_PROFILE", "huge")
    with pytest.raises(ValueError, match="'huge'") as info:
        detect_profile()
    assert "full, tiny, grade" in str(info.value)


def test_detect_profile_nbgrader_beats_gpu(clean_env):
    clean_env.setenv("NBGRADER_EXECUTION", "autograde")
    clean_env.setattr(torch.cuda, "is_available", lambda: True)
    clean_env.setattr(profiles, "hub_reachable", lambda *a, **k: True)
    assert detect_profile() == ("grade", "the autograder is running this notebook")


def test_detect_profile_full_with_gpu_and_hub(clean_env):
    clean_env.setattr(torch.cuda, "is_available", lambda: True)
    clean_env.setattr(profiles, "hub_reachable", lambda *a, **k: True)
    assert detect_profile() == ("full", "a GPU and the Hugging Face Hub: the real models and datasets")


def test_detect_profile_full_with_gpu_and_a_mirror_does_not_probe_the_hub(clean_env, tmp_path):
    clean_env.setattr(torch.cuda, "is_available", lambda: True)
    clean_env.setattr(profiles, "hub_reachable", _fail_if_called)
    clean_env.setenv("COURSE_HUB_MIRROR", str(tmp_path))
    name, reason = detect_profile()
    assert name == "full" and str(tmp_path) in reason


def test_detect_profile_tiny_with_gpu_but_no_hub_says_how_to_get_full(clean_env):
    clean_env.setattr(torch.cuda, "is_available", lambda: True)
    clean_env.setattr(profiles, "hub_reachable", lambda *a, **k: False)
    name, reason = detect_profile()
    assert name == "tiny"
    assert "the Hugging Face Hub (huggingface.co) cannot be reached" in reason
    assert "COURSE_HUB_MIRROR" in reason


def test_detect_profile_tiny_without_gpu_says_how_to_get_one_and_does_not_probe_the_hub(clean_env):
    clean_env.setattr(profiles, "hub_reachable", _fail_if_called)
    name, reason = detect_profile()
    assert name == "tiny"
    assert reason.startswith("no GPU here")
    assert "Runtime > Change runtime type > T4 GPU" in reason


# --- setup -----------------------------------------------------------------------------------------------------


def test_setup_returns_a_cpu_profile_and_prints_what_it_chose_and_why(clean_env, capsys):
    chosen = setup(profile="tiny", seed=3)
    assert chosen == Profile("tiny", "cpu", 3)
    versions, why = capsys.readouterr().out.splitlines()
    assert "profile tiny" in versions
    assert "device cpu" in versions
    assert why == "Profile tiny: chosen in setup()."


def test_setup_explains_a_tiny_profile_chosen_for_want_of_a_gpu(clean_env, capsys):
    clean_env.setattr(profiles, "hub_reachable", _fail_if_called)
    assert setup().name == "tiny"
    why = capsys.readouterr().out.splitlines()[1]
    assert why.startswith("Profile tiny: no GPU here") and "Runtime > Change runtime type > T4 GPU" in why


def test_steps_caps_pick_in_a_dry_run():
    assert Profile("full", "cpu").steps(full=400, tiny=120, grade=20) == 400
    assert Profile("full", "cpu", max_steps=2).steps(full=400, tiny=120, grade=20) == 2
    assert Profile("grade", "cpu", max_steps=50).steps(full=400, tiny=120, grade=20) == 20


def test_examples_caps_pick_in_a_dry_run_whatever_the_step_cap():
    assert Profile("full", "cpu").examples(full=4000, tiny=768, grade=256) == 4000
    assert Profile("full", "cpu", max_steps=2).examples(full=4000, tiny=768) == DRY_RUN_EXAMPLES == 8
    assert Profile("full", "cpu", max_steps=500).examples(full=4000, tiny=768) == 8  # steps and examples differ
    assert Profile("grade", "cpu", max_steps=2).examples(full=4000, tiny=768, grade=5) == 5


def test_setup_reads_a_dry_run_from_course_max_steps(clean_env, capsys):
    clean_env.setenv("COURSE_MAX_STEPS", "2")
    assert setup(profile="full").max_steps == 2
    assert "at most 2 steps" in capsys.readouterr().out.splitlines()[-1]
    clean_env.setenv("COURSE_MAX_STEPS", "two")
    with pytest.raises(ValueError, match="COURSE_MAX_STEPS='two' is not a whole number of at least 1"):
        setup(profile="full")
    clean_env.setenv("COURSE_MAX_STEPS", "0")
    with pytest.raises(ValueError, match="COURSE_MAX_STEPS='0'"):
        setup(profile="full")


def test_setup_takes_its_seed_from_course_seed_when_set(clean_env):
    assert setup(profile="tiny", seed=4).seed == 4
    clean_env.setenv("COURSE_SEED", "7")
    assert setup(profile="tiny", seed=4).seed == 7
    assert torch.initial_seed() == 7  # everything was seeded with it
    clean_env.setenv("COURSE_SEED", "-1")
    with pytest.raises(ValueError, match="COURSE_SEED='-1' is not a whole number of at least 0"):
        setup(profile="tiny")


def test_setup_uses_course_profile_when_no_profile_given(clean_env, capsys):
    clean_env.setenv("COURSE_PROFILE", "full")
    assert setup().name == "full"
    assert "profile full" in capsys.readouterr().out


def test_setup_seeds_torch(clean_env, capsys):
    setup(profile="tiny", seed=7)
    first = torch.rand(5)
    setup(profile="tiny", seed=7)
    second = torch.rand(5)
    setup(profile="tiny", seed=8)
    other = torch.rand(5)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_setup_rejects_an_unknown_profile(clean_env, capsys):
    with pytest.raises(ValueError, match="'bogus'"):
        setup(profile="bogus")
    assert capsys.readouterr().out == ""


def test_setup_grade_silences_libraries(clean_env, capsys, restore_quiet_state):
    assert progress_bars_enabled() is True
    chosen = setup(profile="grade")
    assert chosen.quiet is True
    assert progress_bars_enabled() is False
    assert "profile grade" in capsys.readouterr().out


def test_setup_tiny_does_not_silence(clean_env, capsys, restore_quiet_state):
    setup(profile="tiny")
    assert progress_bars_enabled() is True
