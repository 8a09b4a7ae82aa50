"""What the labs' cells call around the exercises: the test cells' helpers (`checks.py`), generation with any decoding
strategy (`generation.py`), metrics (`metrics.py`), labelled plots (`plots.py`), a lab's headline result
(`results.py`), and the check before submitting (`submission.py`, matching cells as the grader does: `matching.py`)."""
