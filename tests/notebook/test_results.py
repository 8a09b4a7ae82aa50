import json

from course_utils.notebook.results import report_result


def test_report_result_returns_and_prints_the_line(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_REPORT_DIR", raising=False)
    line = report_result("lab1", "BLEU", 1, 2.5)
    assert line == "lab1: BLEU 1.00 -> 2.50"
    assert capsys.readouterr().out == "lab1: BLEU 1.00 -> 2.50\n"


def test_report_result_rounds_to_two_decimals(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_REPORT_DIR", raising=False)
    assert report_result("lab2", "accuracy", 0.125, 99.999) == "lab2: accuracy 0.12 -> 100.00"


def test_report_result_writes_json_when_report_dir_is_set(monkeypatch, tmp_path, capsys):
    directory = tmp_path / "reports" / "nested"  # created on demand
    monkeypatch.setenv("COURSE_REPORT_DIR", str(directory))
    report_result("lab1", "BLEU", 1.0, 2.5)
    written = directory / "lab1.json"
    assert sorted(p.name for p in directory.iterdir()) == ["lab1.json"]
    assert json.loads(written.read_text()) == {"lab": "lab1", "metric": "BLEU", "before": 1.0, "after": 2.5}
    # The record keeps full precision, not the rounded figures printed.
    report_result("lab1", "BLEU", 1.234567, 2.5)
    assert json.loads(written.read_text())["before"] == 1.234567


def test_report_result_writes_nothing_without_report_dir(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("COURSE_REPORT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    report_result("lab1", "BLEU", 1.0, 2.5)
    assert list(tmp_path.iterdir()) == []


def test_report_result_empty_report_dir_writes_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_REPORT_DIR", "")
    monkeypatch.chdir(tmp_path)
    assert report_result("lab1", "BLEU", 1.0, 2.5) == "lab1: BLEU 1.00 -> 2.50"
    assert list(tmp_path.iterdir()) == []


def test_report_result_saves_details_without_printing_them(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_REPORT_DIR", str(tmp_path))
    line = report_result("lab3", "reward", 0.5, 2.0, final_kl=6.25)
    assert line == "lab3: reward 0.50 -> 2.00"
    assert "6.25" not in capsys.readouterr().out
    assert json.loads((tmp_path / "lab3.json").read_text())["final_kl"] == 6.25


def test_report_result_with_a_peak_prints_three_figures_and_saves_the_series(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_REPORT_DIR", str(tmp_path))
    line = report_result("lab5", "gold", 0.1, 0.25, peak=1.0, gold_curve=[0.1, 1.0, 0.25])
    assert line == "lab5: gold 0.10 -> 1.00 -> 0.25"
    record = json.loads((tmp_path / "lab5.json").read_text())
    assert (record["peak"], record["gold_curve"]) == (1.0, [0.1, 1.0, 0.25])
