"""What the labs' cells call around the exercises: the test cells' helpers (`checks.py`), generation with any decoding
strategy (`generation.py`), metrics (`metrics.py`), labelled plots (`plots.py`) and a lab's headline result
(`results.py`)."""
