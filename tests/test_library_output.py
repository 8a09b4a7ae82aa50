import os
import sys
import warnings

import datasets
import huggingface_hub
import transformers

from course_utils.library_output import progress_bars_enabled, quiet_progress, silence_libraries


def _write_warnings_to_stderr(message, category, filename, lineno, file=None, line=None):
    # pytest records warnings instead of printing them; this prints them the way plain Python does.
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _emit_warning_and_log(text):
    warnings.warn(f"python warning {text}", UserWarning, stacklevel=1)
    transformers.logging.get_logger("transformers.modeling_utils").warning(f"transformers warning {text}")


def test_progress_bars_enabled_before_silencing(restore_quiet_state):
    assert progress_bars_enabled() is True


def test_silence_libraries_disables_progress_bars_and_sets_env(restore_quiet_state):
    silence_libraries()
    assert progress_bars_enabled() is False
    names = ("TQDM_DISABLE", "TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS")
    assert {name: os.environ.get(name) for name in names} == {
        "TQDM_DISABLE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    assert transformers.logging.get_verbosity() == transformers.logging.ERROR
    assert datasets.is_progress_bar_enabled() is False
    assert huggingface_hub.utils.are_progress_bars_disabled() is True


def test_silence_libraries_leaves_stderr_empty(restore_quiet_state, monkeypatch, capfd):
    monkeypatch.setattr(warnings, "showwarning", _write_warnings_to_stderr)
    transformers.logging.set_verbosity_warning()
    # The transformers handler holds the stderr of the time it was made; point it at the captured one.
    monkeypatch.setattr(transformers.utils.logging._default_handler, "stream", sys.stderr)

    _emit_warning_and_log("before")
    before = capfd.readouterr().err
    # Control: without silencing both messages do reach stderr, so the check below can fail.
    assert "python warning before" in before
    assert "transformers warning before" in before

    silence_libraries()
    _emit_warning_and_log("after")
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_quiet_progress_restores_datasets_progress_bars():
    datasets.enable_progress_bars()
    with quiet_progress():
        assert datasets.is_progress_bar_enabled() is False
    assert datasets.is_progress_bar_enabled() is True


def test_quiet_progress_keeps_bars_off_when_they_were_off():
    datasets.disable_progress_bars()
    try:
        with quiet_progress():
            pass
        assert datasets.is_progress_bar_enabled() is False
    finally:
        datasets.enable_progress_bars()
