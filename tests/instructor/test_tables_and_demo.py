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
