from course_utils.instructor.demo import LabRun, format_table
from course_utils.instructor.tables import text_table


def test_text_table_pads_columns_and_rules_the_header():
    table = text_table(["lab", "score"], [["lab1", "11 / 11"], ["lab10", "0 / 2"]])
    assert table.splitlines() == ["lab   | score", "------+--------", "lab1  | 11 / 11", "lab10 | 0 / 2"]


def test_the_demo_table_says_which_labs_ran_without_being_graded():
    runs = [
        LabRun("lab1", 12.34, "BLEU 0.00 -> 51.36", 11.0, 11.0),
        LabRun("lab2", 5.0, "(no result reported)", None, None),
    ]
    assert format_table(runs).splitlines() == [
        "lab  | wall time | learning metric before -> after | score / max",
        "-----+-----------+---------------------------------+------------",
        "lab1 | 12.3 s    | BLEU 0.00 -> 51.36              | 11 / 11",
        "lab2 | 5.0 s     | (no result reported)            | not graded",
    ]


def test_course_demo_runs_the_labs_in_the_profile_asked_for(monkeypatch, tmp_path):
    from course_utils import cli
    from course_utils.instructor import demo

    seen = []

    def fake_run_demo(root, build, jobs, graded, profile):
        seen.append((jobs, tuple(graded), profile))
        return [LabRun("lab1", 1.0, "BLEU 0.00 -> 1.00", 1.0, 1.0)]

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    assert cli.main(["--root", str(tmp_path), "demo", "--jobs", "2", "--grade", "lab1", "--profile", "grade"]) == 0
    assert cli.main(["--root", str(tmp_path), "demo"]) == 0
    assert seen == [(2, ("lab1",), "grade"), (1, (), "tiny")]
