from course_utils.instructor.tables import text_table


def test_text_table_pads_columns_and_rules_the_header():
    table = text_table(["lab", "score"], [["lab1", "11 / 11"], ["lab10", "0 / 2"]])
    assert table.splitlines() == ["lab   | score", "------+--------", "lab1  | 11 / 11", "lab10 | 0 / 2"]
