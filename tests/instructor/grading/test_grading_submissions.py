import zipfile

import pytest

from course_utils.instructor.grading.submissions import DEFAULT_PATTERN, Submission, collect, compile_pattern

LABS = ["lab1_instruction_tuning", "lab2_reward_modeling"]


def test_default_pattern_reads_student_and_lab_from_lms_names():
    pattern = compile_pattern(DEFAULT_PATTERN, LABS)
    assert pattern.match("jdoe_lab2_reward_modeling.ipynb").group("student", "lab") == ("jdoe", "lab2_reward_modeling")
    match = pattern.match("ann.lee_123456_78910_lab1_instruction_tuning (1).ipynb")
    assert match.group("student", "lab") == ("ann.lee", "lab1_instruction_tuning")
    assert pattern.match("lab2_reward_modeling.ipynb") is None  # no student
    assert pattern.match("jdoe_lab9_unknown.ipynb") is None


def test_a_pattern_without_the_named_groups_is_refused():
    with pytest.raises(ValueError, match="named groups"):
        compile_pattern(r"(?P<who>\w+)\.ipynb", LABS)


def test_collect_from_a_folder(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "nested").mkdir(parents=True)
    (inbox / "jdoe_lab1_instruction_tuning.ipynb").write_text("{1}")
    (inbox / "nested" / "ann_lab2_reward_modeling.ipynb").write_text("{2}")
    (inbox / "notes.pdf").write_text("x")
    (inbox / ".DS_Store").write_text("x")
    found = collect(inbox, LABS, tmp_path / "out")
    ann, jdoe = (tmp_path / "out" / name / lab / f"{lab}.ipynb" for name, lab in [("ann", LABS[1]), ("jdoe", LABS[0])])
    assert found.submissions == [
        Submission("ann", LABS[1], ann, f"nested/ann_{LABS[1]}.ipynb"),
        Submission("jdoe", LABS[0], jdoe, f"jdoe_{LABS[0]}.ipynb"),
    ]
    assert ann.read_text() == "{2}"  # in nbgrader's layout: submitted/<student>/<lab>/<lab>.ipynb
    assert found.unknown == ["notes.pdf"]
    assert found.duplicates == {}


def test_collect_from_an_lms_zip_reports_unknown_and_duplicate_files(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("submissions/jdoe_111_lab1_instruction_tuning.ipynb", "{a}")
        zipped.writestr("submissions/jdoe_222_lab1_instruction_tuning (1).ipynb", "{b}")
        zipped.writestr("submissions/ann_lab1_instruction_tuning.ipynb", "{c}")
        zipped.writestr("submissions/Untitled.ipynb", "{d}")
        zipped.writestr("__MACOSX/submissions/._ann_lab1_instruction_tuning.ipynb", "junk")
    found = collect(archive, LABS, tmp_path / "out")
    assert [(s.student, s.lab) for s in found.submissions] == [("ann", "lab1_instruction_tuning")]
    assert found.unknown == ["submissions/Untitled.ipynb"]
    assert found.duplicates == {
        ("jdoe", "lab1_instruction_tuning"): [
            "submissions/jdoe_111_lab1_instruction_tuning.ipynb",
            "submissions/jdoe_222_lab1_instruction_tuning (1).ipynb",
        ]
    }
    assert not (tmp_path / "out" / "jdoe").exists()  # neither duplicate is graded


def test_collect_with_a_custom_pattern(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "lab2_reward_modeling-s42.ipynb").write_text("{}")
    found = collect(tmp_path / "in", LABS, tmp_path / "out", pattern=r"^(?P<lab>{labs})-(?P<student>s\d+)\.ipynb$")
    assert [(s.student, s.lab) for s in found.submissions] == [("s42", "lab2_reward_modeling")]


def test_a_student_id_that_would_escape_its_folder_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    for student in ("..", ".hidden", "ok"):
        (tmp_path / "in" / f"lab1_instruction_tuning~{student}.ipynb").write_text("{}")
    found = collect(tmp_path / "in", LABS, tmp_path / "out", pattern=r"^(?P<lab>{labs})~(?P<student>.+)\.ipynb$")
    assert [s.student for s in found.submissions] == ["ok"]
    assert found.unknown == ["lab1_instruction_tuning~...ipynb", "lab1_instruction_tuning~.hidden.ipynb"]


def test_collect_from_nothing_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a folder nor a zip"):
        collect(tmp_path / "missing", LABS, tmp_path / "out")


def test_symbolic_links_are_refused_never_followed(tmp_path):
    # a link to the course's solution notebook, in a folder and in a zip (its mode bits say it is a link)
    (tmp_path / "solution.ipynb").write_text("{the solution}")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ann_lab1_instruction_tuning.ipynb").symlink_to(tmp_path / "solution.ipynb")
    (tmp_path / "in" / "bob_lab1_instruction_tuning.ipynb").write_text("{bob's}")
    found = collect(tmp_path / "in", LABS, tmp_path / "out")
    assert [s.student for s in found.submissions] == ["bob"]
    assert found.refused == {"ann_lab1_instruction_tuning.ipynb": "a symbolic link"}
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        link = zipfile.ZipInfo("ann_lab1_instruction_tuning.ipynb")
        link.external_attr = 0o120777 << 16  # S_IFLNK | rwxrwxrwx
        zipped.writestr(link, str(tmp_path / "solution.ipynb"))
    found = collect(archive, LABS, tmp_path / "out-zip")
    assert (found.submissions, found.refused) == ([], {"ann_lab1_instruction_tuning.ipynb": "a symbolic link"})
