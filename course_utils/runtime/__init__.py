"""What every lab runs on: the profile (`profiles.py`: full, tiny or grade, and `setup()`), the versions the course
admits (`versions.py`), where each model and dataset comes from (`sources.py`, with the real architectures in
`architectures.py`), their loaders by role (`loaders.py`), and training the same way in every lab (`training.py`)."""
