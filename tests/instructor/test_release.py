"""`course release`: the package every lab installs (course.toml, `--package`), and the manifests the learners' check
reads."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from conftest import LABS, ROOT, release_path

from course_utils import cli
from course_utils.instructor.release import checked_package, colab_badge_base, save_package
from course_utils.notebook.submission import MANIFEST_FOLDER, manifest_text

LAB = "lab1_instruction_tuning"
EXAMPLE = "e.g. 'align-course @ git+https://github.com/OWNER/REPO@v1.0.0' or 'align-course==1.0.0'"


@pytest.mark.parametrize("lab", LABS)
def test_the_committed_manifest_is_what_the_release_writes(lab: str) -> None:
    committed = ROOT / "course_utils" / Path(*MANIFEST_FOLDER) / f"{lab}.json"
    assert committed.read_text() == manifest_text(lab, json.loads(release_path(lab).read_text())), (
        f"{committed.name} is stale: run `make release`."
    )


@pytest.mark.parametrize(
    ("package", "refusal"),
    [
        (
            "align-course @ git+https://github.com/me/course",
            "'align-course @ git+https://github.com/me/course' is not pinned: give a git URL ending with @ and a tag "
            f"or commit; {EXAMPLE}.",
        ),
        (
            "align-course @ https://example.org/align_course-1.0-py3-none-any.whl",
            "'align-course @ https://example.org/align_course-1.0-py3-none-any.whl' is not pinned: give a git URL "
            f"ending with @ and a tag or commit; {EXAMPLE}.",
        ),
        ("align-course", f"'align-course' is not pinned: name one version with ==; {EXAMPLE}."),
        ("align-course>=1.2", f"'align-course>=1.2' is not pinned: name one version with ==; {EXAMPLE}."),
        ("align-course==1.*", f"'align-course==1.*' is not pinned: name one version with ==; {EXAMPLE}."),
        (
            "align-course[instructor]==1.2",
            f"'align-course[instructor]==1.2' asks for extras; Colab gets the base install only; {EXAMPLE}.",
        ),
        ("trl==1.16", f"'trl==1.16' installs trl, not the course's package align-course; {EXAMPLE}."),
        ("align course", f"'align course' is not a requirement pip can read; {EXAMPLE}."),
        (
            "align-course @ git+https://github.com/me/${REPO}@v1",
            "'align-course @ git+https://github.com/me/${REPO}@v1' has quotes, braces, $, backticks or backslashes, "
            "which the install cell cannot hold.",
        ),
    ],
)
def test_an_unpinned_or_foreign_package_is_refused_in_one_line(package: str, refusal: str) -> None:
    with pytest.raises(ValueError) as refused:
        checked_package(package, "align-course")
    assert str(refused.value) == refusal


@pytest.mark.parametrize(
    ("package", "badge"),
    [
        ("align-course==1.2.0", None),
        ("align_course===1.2.0", None),
        (
            "align-course @ git+https://github.com/me/course@v2.0",
            "https://colab.research.google.com/github/me/course/blob/v2.0",
        ),
        (
            "align-course @ git+https://github.com/me/course.git@0123abcd#egg=align-course",
            "https://colab.research.google.com/github/me/course/blob/0123abcd",
        ),
        ("align-course @ git+https://gitlab.com/me/course@v2.0", None),
    ],
)
def test_a_pinned_package_is_accepted_and_a_github_one_sets_the_badges(package: str, badge: str | None) -> None:
    assert checked_package(package, "align-course") == package
    assert colab_badge_base(package) == badge


def test_a_course_without_course_toml_gets_one_holding_the_package(tmp_path: Path) -> None:
    save_package(tmp_path, "align-course==1.2.0")
    assert (tmp_path / "course.toml").read_text() == '[release]\npackage = "align-course==1.2.0"\n'


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course of one lab: the repository's first lab, its configuration and nbgrader's."""
    for name in ("course.toml", "pyproject.toml", "nbgrader_config.py"):
        shutil.copy(ROOT / name, tmp_path)
    shutil.copytree(ROOT / "solutions" / LAB, tmp_path / "solutions" / LAB)
    return tmp_path


def install_and_badge(path: Path) -> tuple[str, str]:
    """A notebook's install cell and its first cell (the Colab badge's)."""
    cells = json.loads(path.read_text())["cells"]
    return "".join(cells[1]["source"]), "".join(cells[0]["source"])


def test_course_release_with_a_package_writes_it_everywhere(course: Path, capsys) -> None:
    package = "align-course @ git+https://github.com/me/my-course@v2.0"
    assert cli.main(["--root", str(course), "release", "--package", package]) == 0
    assert capsys.readouterr().out == f"released labs/{LAB}\n"
    config = (course / "course.toml").read_text()
    assert tomllib.loads(config)["release"]["package"] == package
    assert config.splitlines()[:-1] == (ROOT / "course.toml").read_text().splitlines()[:-1]  # comments kept
    badge = f"https://colab.research.google.com/github/me/my-course/blob/v2.0/labs/{LAB}/{LAB}.ipynb"
    for folder in ("solutions", "labs"):
        install, intro = install_and_badge(course / folder / LAB / f"{LAB}.ipynb")
        assert f'-m pip install -q --report /tmp/course-install.json "{package}"\n' in install
        assert f"(https://colab.research.google.com/assets/colab-badge.svg)]({badge})" in intro
    # Only the install line and the badge changed in the solution.
    solution = (course / "solutions" / LAB / f"{LAB}.ipynb").read_text()
    original = (ROOT / "solutions" / LAB / f"{LAB}.ipynb").read_text()
    changed = sorted(set(solution.splitlines()) ^ set(original.splitlines()))
    assert len(changed) == 4 and all("align-course" in line or "colab.research" in line for line in changed)
    manifest = course / "course_utils" / Path(*MANIFEST_FOLDER) / f"{LAB}.json"
    assert manifest.read_text() == manifest_text(LAB, json.loads((course / "labs" / LAB / f"{LAB}.ipynb").read_text()))

    # A version on PyPI: the install cell installs it, and the badges keep the repository they open.
    assert cli.main(["--root", str(course), "release", "--package", "align-course==1.2.0"]) == 0
    install, intro = install_and_badge(course / "labs" / LAB / f"{LAB}.ipynb")
    assert '/tmp/course-install.json "align-course==1.2.0"\n' in install and badge in intro


def test_course_release_refuses_an_unpinned_package_in_one_line(course: Path, capsys) -> None:
    before = (course / "course.toml").read_text()
    assert cli.main(["--root", str(course), "release", "--package", "align-course>=1"]) == 1
    assert capsys.readouterr().err == (
        f"course release: 'align-course>=1' is not pinned: name one version with ==; {EXAMPLE}.\n"
    )
    assert cli.main(["--root", str(course), "release", LAB, "--package", "align-course==1.0"]) == 1
    assert capsys.readouterr().err == (
        "course release: The package is every lab's: release them all with it (name no lab).\n"
    )
    (course / "course.toml").write_text(before.replace("@v0.1.0", ""))
    assert cli.main(["--root", str(course), "release"]) == 1
    assert capsys.readouterr().err == (
        "course release: course.toml: 'align-course @ git+https://github.com/align-course/align-labs' is not pinned: "
        f"give a git URL ending with @ and a tag or commit; {EXAMPLE}.\n"
    )
    assert not (course / "labs").exists()
