"""`course grade`: robust, parallel, isolated autograding of a class's submitted notebooks, on top of nbgrader."""
