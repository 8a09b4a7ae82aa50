"""The instructor's tools: the `course` command (`cli`), releasing the labs (`release`), running them all
(`demo`, `notebooks`) and grading a class (`grading`).

They need the ``instructor`` extra (nbgrader, nbclient, nbformat, Jupyter); nothing outside this package imports
those, so the learner's base install (on Colab) works without them.
"""
