"""The instructor's tools: their `course` commands (`cli`), releasing the labs (`release`), running them all
(`demo`, `notebooks`) and grading a class (`grading`).

They need the ``instructor`` extra (nbgrader, nbclient, nbformat, Jupyter); nothing outside this package imports
those, so the learner's base install (on Colab) works without them.
"""

import sys

# nbformat validates notebooks with jsonschema, whose "iri" format checker comes from rfc3987-syntax (installed with
# every Jupyter: jsonschema[format-nongpl]), which compiles about 35 Earley grammars when it is imported: 2.2 CPU-s in
# every process that imports nbformat, that is each graded submission's worker and every nbgrader run. No notebook or
# nbgrader schema uses that format, and jsonschema leaves out a checker whose library cannot be imported: so the
# instructor's processes go without it (python-jsonschema/jsonschema#1428). A process that imported it already keeps it.
sys.modules.setdefault("rfc3987_syntax", None)
