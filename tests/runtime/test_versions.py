"""The runtime checks: a restart after pip replaced an imported library, and versions outside what the course admits."""

import json
import sys

import pytest
import tqdm
import transformers

from course_utils.runtime import versions
from course_utils.runtime.versions import CourseSetupError, canonical, check_runtime, restart_notice


def write_report(path, *installed: tuple[str, str]):
    """A pip installation report (``pip install --report``) listing ``installed`` as (name, version)."""
    items = [{"metadata": {"name": name, "version": version}, "requested": False} for name, version in installed]
    path.write_text(json.dumps({"version": "1", "install": items}))
    return path


def test_canonical_names_compare_as_pip_does():
    assert canonical("Align_Course") == canonical("align.course") == "align-course"


def test_restart_notice_names_an_imported_library_that_pip_replaced(tmp_path, capsys):
    assert "tqdm" in sys.modules  # imported above
    report = write_report(tmp_path / "r.json", ("tqdm", "99.0.0"), ("not-a-real-distribution", "1.0"))
    line = restart_notice(report)
    assert line == capsys.readouterr().out.strip()
    assert line.count("\n") == 0
    assert line.startswith("Now restart the runtime (on Colab: Runtime > Restart session)")
    assert f"tqdm {tqdm.__version__} -> 99.0.0" in line
    assert "not-a-real-distribution" not in line


def test_restart_notice_is_silent_when_nothing_imported_was_replaced(tmp_path, capsys, monkeypatch):
    # The course itself is imported by the install cell after pip ran, to call restart_notice: it is never stale.
    owners = {"course_utils": ["align-course"], "tqdm": ["tqdm"]}
    monkeypatch.setattr(versions.metadata, "packages_distributions", lambda: owners)
    report = write_report(tmp_path / "r.json", ("not-a-real-distribution", "1.0"), ("align-course", "0.1.0"))
    assert restart_notice(report) is None
    assert restart_notice(write_report(tmp_path / "empty.json")) is None
    assert capsys.readouterr().out == ""


def test_namespace_packages_prove_nothing(monkeypatch):
    # A namespace package (no __file__) such as `google` is shared by many distributions (protobuf, google-colab).
    namespace = type(sys)("google")
    monkeypatch.setitem(sys.modules, "google", namespace)
    monkeypatch.setattr(versions.metadata, "packages_distributions", lambda: {"google": ["protobuf"], "tqdm": ["tqdm"]})
    assert versions.imported_distributions() == {"tqdm": "tqdm"}


def test_check_runtime_passes_in_this_environment():
    check_runtime()


def fake_requirements(monkeypatch, requires: list[str], requires_python: str = ">=3.11"):
    monkeypatch.setattr(versions.metadata, "requires", lambda name: requires)
    monkeypatch.setattr(versions.metadata, "metadata", lambda name: {"Requires-Python": requires_python})


def test_check_runtime_names_what_to_install_in_one_line(monkeypatch):
    fake_requirements(
        monkeypatch, ["transformers>=99", "tqdm>=4", "not-a-real-distribution>=1", "pytest; extra == 'dev'"]
    )
    with pytest.raises(CourseSetupError) as info:
        check_runtime()
    message = str(info.value)
    assert "\n" not in message
    assert f"transformers {transformers.__version__} is installed" in message
    assert "not-a-real-distribution is not installed" in message
    assert 'pip install -U "transformers>=99" "not-a-real-distribution>=1"' in message
    assert "tqdm" not in message and "pytest" not in message  # satisfied, and an extra's requirement
    assert info.value._render_traceback_() == [f"CourseSetupError: {message}"]  # what IPython shows: one line


def test_check_runtime_rejects_an_unsupported_python(monkeypatch):
    fake_requirements(monkeypatch, [], requires_python=">=3.99")
    python = ".".join(map(str, sys.version_info[:3]))
    with pytest.raises(CourseSetupError, match=rf"needs Python >=3.99, and this is Python {python}"):
        check_runtime()


def test_check_runtime_asks_for_a_restart_when_the_loaded_version_is_not_the_installed_one(monkeypatch):
    fake_requirements(monkeypatch, ["transformers>=1"])
    installed = transformers.__version__
    monkeypatch.setattr(transformers, "__version__", "1.0.0")
    with pytest.raises(CourseSetupError, match=rf"transformers 1.0.0 is loaded but {installed} is installed: restart"):
        check_runtime()


def test_a_local_version_label_is_not_a_different_version(monkeypatch):
    fake_requirements(monkeypatch, ["transformers>=1"])
    monkeypatch.setattr(transformers, "__version__", transformers.__version__ + "+cu130")  # as a CUDA torch says
    check_runtime()


def test_check_runtime_skips_a_source_tree_that_was_never_installed():
    check_runtime("not-a-real-distribution")
