"""Generate a small synthetic dataset in the schema of CodeAlpaca-20k.

The Hugging Face dataset ``sahil2801/CodeAlpaca-20k`` holds about 20,000
coding instructions.  Every row is a dict with exactly three string fields:

* ``instruction`` -- what the user asks for,
* ``input``       -- optional extra context ("" for most rows),
* ``output``      -- the answer we want the model to produce.

This script writes a few hundred rows in *exactly that schema*, but the rows
are synthetic: every one of them comes from templates written for this
course.  Nothing is copied from the real dataset.  We do this because

1. the course must run offline, with no download and no licence questions;
2. we fine-tune a *tiny* model (about 1M parameters, a ~2k-token byte-level
   BPE tokenizer) on a CPU in under a minute.  Real CodeAlpaca is far too
   varied for such a model to learn anything measurable in that time.

So the data is organised into ~30 *families* of templated tasks ("write a
function that returns the sum of two numbers", "reverse the given string",
"select all rows from a SQL table", ...).  Within a family, rows differ only
in their slot fillers (names, numbers, words) and in one of a few phrasings
of the instruction.  A held-out row therefore shares its family with many
training rows, and a tiny model can learn the pattern -- which is what lets
us see BLEU on held-out rows go up after instruction tuning.

Run it from anywhere::

    python scripts/make_code_alpaca_sample.py

It writes ``course_utils/assets/datasets/code_alpaca/code_alpaca_sample.jsonl``.  The output
depends only on ``seed``: running it twice gives byte-identical files.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from jsonl import DATASETS, write_jsonl

# (instruction, input, output) -- one candidate row before it becomes a dict.
Candidate = tuple[str, str, str]
# The values that fill the {slots} of an instruction template.
Slots = dict[str, Any]
# A family takes the random generator and returns all the rows it can make.
Family = Callable[[random.Random], list[Candidate]]

OUTPUT_PATH = DATASETS / "code_alpaca" / "code_alpaca_sample.jsonl"

# ---------------------------------------------------------------------------
# Shared vocabulary used as slot fillers.
# ---------------------------------------------------------------------------

WORDS = [
    "apple",
    "banana",
    "cherry",
    "river",
    "mountain",
    "python",
    "window",
    "garden",
    "planet",
    "rocket",
    "silver",
    "orange",
    "guitar",
    "pencil",
    "forest",
    "butter",
    "castle",
    "dragon",
    "island",
    "jacket",
    "kitten",
    "lemon",
    "marble",
    "needle",
    "ocean",
    "pepper",
    "rabbit",
    "saddle",
    "tomato",
    "violet",
    "walnut",
    "yellow",
    "zebra",
    "anchor",
    "bottle",
    "candle",
    "doctor",
    "engine",
    "flower",
    "hammer",
    "letter",
    "monkey",
    "number",
    "office",
    "picture",
    "summer",
    "ticket",
    "winter",
    "coffee",
    "bridge",
]
ADJECTIVES = [
    "quick",
    "happy",
    "quiet",
    "bright",
    "green",
    "small",
    "brave",
    "cold",
    "gentle",
    "lucky",
    "sunny",
    "wild",
]
IDENTIFIER_WORDS = [
    "user",
    "name",
    "total",
    "price",
    "max",
    "value",
    "item",
    "count",
    "first",
    "last",
    "order",
    "date",
    "file",
    "path",
    "page",
    "size",
    "start",
    "time",
    "end",
    "index",
]
PEOPLE = [
    "Alice",
    "Bob",
    "Carol",
    "David",
    "Emma",
    "Frank",
    "Grace",
    "Henry",
    "Irene",
    "Jack",
    "Kate",
    "Liam",
]
FRUITS = [
    "apple",
    "banana",
    "cherry",
    "grape",
    "lemon",
    "mango",
    "orange",
    "pear",
    "plum",
    "kiwi",
]

# SQL tables: name -> (text columns, numeric columns).
SQL_TABLES: dict[str, tuple[list[str], list[str]]] = {
    "employees": (["name", "department"], ["age", "salary"]),
    "products": (["name", "category"], ["price", "stock"]),
    "students": (["name", "major"], ["age", "grade"]),
    "orders": (["customer", "status"], ["amount", "quantity"]),
    "books": (["title", "author"], ["pages", "year"]),
    "cities": (["name", "country"], ["population", "area"]),
    "movies": (["title", "director"], ["year", "rating"]),
    "customers": (["name", "city"], ["age", "balance"]),
    "cars": (["make", "model"], ["year", "price"]),
    "songs": (["title", "artist"], ["length", "plays"]),
}

# ---------------------------------------------------------------------------
# Shared helpers.
# ---------------------------------------------------------------------------


def _build(
    rng: random.Random,
    phrasings: Sequence[str],
    fillers: Sequence[Slots],
    render: Callable[[Slots], tuple[str, str]],
) -> list[Candidate]:
    """Turn slot fillers into candidate rows.

    For each filler, pick one phrasing at random, fill its ``{slots}`` and let
    ``render`` compute the ``(input, output)`` pair from the same filler.
    """
    rows = []
    for slots in fillers:
        instruction = rng.choice(phrasings).format(**slots)
        input_text, output = render(slots)
        rows.append((instruction, input_text, output))
    return rows


def _py_function(name: str, params: str, expression: str) -> str:
    """Source of a one-line Python function: ``def name(params): return ...``."""
    return f"def {name}({params}):\n    return {expression}"


def _article(word: str) -> str:
    """'a' or 'an' for ``word`` (good enough for the words used here)."""
    return "an" if word[0].lower() in "aeiou" else "a"


def _random_int_list(rng: random.Random, low: int = 1, high: int = 99) -> list[int]:
    """Four to six distinct random integers in ``[low, high]``."""
    return rng.sample(range(low, high + 1), rng.randint(4, 6))


def _unique_samples(rng: random.Random, make: Callable[[], Slots], count: int) -> list[Slots]:
    """Call ``make()`` until ``count`` distinct fillers were produced."""
    fillers: list[Slots] = []
    for _ in range(count * 20):  # plenty of tries: the spaces are large
        slots = make()
        if slots not in fillers:
            fillers.append(slots)
        if len(fillers) == count:
            break
    return fillers


def _glossary(
    rng: random.Random,
    phrasings: Sequence[str],
    entries: dict[str, str],
    answer: str,
) -> list[Candidate]:
    """Short English answers: one row per ``term -> description`` entry.

    ``answer`` is a template with ``{term}``, ``{a}`` (the article) and
    ``{description}`` slots.
    """
    fillers = [{"term": term, "a": _article(term), "description": description} for term, description in entries.items()]
    return _build(rng, phrasings, fillers, lambda s: ("", answer.format(**s)))


# ---------------------------------------------------------------------------
# Families: Python functions (no input).
# ---------------------------------------------------------------------------


def arithmetic_function(rng: random.Random) -> list[Candidate]:
    """A function of two numbers: sum, difference, product, ..."""
    operations = [  # (description, function name, operator)
        ("the sum of two numbers", "add", "+"),
        ("the difference of two numbers", "subtract", "-"),
        ("the product of two numbers", "multiply", "*"),
        ("the quotient of two numbers", "divide", "/"),
        ("the remainder of dividing one number by another", "remainder", "%"),
        ("one number raised to the power of another", "power", "**"),
    ]
    params = [("a", "b"), ("x", "y"), ("m", "n"), ("p", "q"), ("first", "second"), ("left", "right")]
    phrasings = [
        "Write a Python function {fn}({a}, {b}) that returns {desc}.",
        "Define a function {fn}({a}, {b}) that returns {desc}.",
        "Implement {fn}({a}, {b}) in Python so that it returns {desc}.",
    ]
    fillers = [{"desc": desc, "fn": fn, "op": op, "a": a, "b": b} for desc, fn, op in operations for a, b in params]
    return _build(
        rng,
        phrasings,
        fillers,
        lambda s: ("", _py_function(s["fn"], f"{s['a']}, {s['b']}", f"{s['a']} {s['op']} {s['b']}")),
    )


def list_aggregate_function(rng: random.Random) -> list[Candidate]:
    """A function that reduces a list: max, min, sum, len, sorted, average."""
    operations = [  # (description, function name, expression using {p})
        ("the largest element", "find_max", "max({p})"),
        ("the smallest element", "find_min", "min({p})"),
        ("the sum of its elements", "total", "sum({p})"),
        ("the number of elements", "count_items", "len({p})"),
        ("a sorted copy of the list", "sort_items", "sorted({p})"),
        ("the average of its elements", "average", "sum({p}) / len({p})"),
    ]
    params = ["items", "nums", "values", "data", "numbers"]
    phrasings = [
        "Write a function that takes a list {p} and returns {desc}.",
        "Write a Python function that returns {desc} of the list {p}.",
        "Given a list called {p}, write a function that returns {desc}.",
    ]
    fillers = [
        {"desc": desc, "fn": fn, "expr": expr.format(p=p), "p": p} for desc, fn, expr in operations for p in params
    ]
    return _build(rng, phrasings, fillers, lambda s: ("", _py_function(s["fn"], s["p"], s["expr"])))


def constant_arith_function(rng: random.Random) -> list[Candidate]:
    """A function that adds, subtracts or multiplies by a constant k."""
    operations = [  # (description, function name prefix, operator)
        ("adds {k} to a number", "add", "+"),
        ("subtracts {k} from a number", "minus", "-"),
        ("multiplies a number by {k}", "times", "*"),
    ]
    phrasings = [
        "Write a Python function that {desc}.",
        "Create a function that {desc}.",
        "Write a function in Python which {desc}.",
    ]
    fillers = [
        {"desc": desc.format(k=k), "fn": f"{prefix}_{k}", "op": op, "k": k}
        for desc, prefix, op in operations
        for k in range(2, 21)
    ]
    return _build(rng, phrasings, fillers, lambda s: ("", _py_function(s["fn"], "x", f"x {s['op']} {s['k']}")))


def divisibility_function(rng: random.Random) -> list[Candidate]:
    """A predicate: is a number divisible by k?"""
    phrasings = [
        "Write a Python function that checks whether a number is divisible by {k}.",
        "Write a function that returns True if a number is a multiple of {k}.",
        "Create a function that tests if an integer is divisible by {k}.",
    ]
    fillers = [{"k": k} for k in range(2, 31)]
    return _build(
        rng, phrasings, fillers, lambda s: ("", _py_function(f"is_divisible_by_{s['k']}", "n", f"n % {s['k']} == 0"))
    )


def string_method_function(rng: random.Random) -> list[Candidate]:
    """A function that applies one string method."""
    operations = [  # (description, function name, method call)
        ("converts a string to uppercase", "to_upper", "upper()"),
        ("converts a string to lowercase", "to_lower", "lower()"),
        ("capitalizes the first letter of every word", "to_title", "title()"),
        ("removes leading and trailing whitespace", "strip_spaces", "strip()"),
        ("swaps the case of every letter", "swap_case", "swapcase()"),
        ("replaces every space with an underscore", "underscore_spaces", "replace(' ', '_')"),
    ]
    params = ["text", "s", "word", "value"]
    phrasings = [
        "Write a Python function with a parameter {p} that {desc}.",
        "Write a function that takes a string {p} and {desc}.",
        "Define a function of one string argument {p} that {desc}.",
    ]
    fillers = [{"desc": desc, "fn": fn, "call": call, "p": p} for desc, fn, call in operations for p in params]
    return _build(rng, phrasings, fillers, lambda s: ("", _py_function(s["fn"], s["p"], f"{s['p']}.{s['call']}")))


def count_letter_function(rng: random.Random) -> list[Candidate]:
    """A function that counts one letter in a string."""
    phrasings = [
        "Write a Python function that counts how many times the letter '{c}' appears in a string.",
        "Write a function that returns the number of '{c}' characters in a text.",
        "Create a function that counts the occurrences of '{c}' in a string.",
    ]
    fillers = [{"c": c} for c in "abcdefghijklmnopqrstuvwxyz"]
    return _build(
        rng, phrasings, fillers, lambda s: ("", _py_function(f"count_{s['c']}", "text", f"text.count('{s['c']}')"))
    )


def _list_comprehension_function(
    rng: random.Random,
    operations: Sequence[tuple[str, str, str]],
    phrasings: Sequence[str],
) -> list[Candidate]:
    """Functions ``f(nums)`` returning one list comprehension, for k in 2..15.

    Each operation is ``(description, function name prefix, comprehension)``
    where the description and comprehension may use ``{k}``.
    """
    fillers = [
        {"desc": desc.format(k=k), "fn": f"{prefix}_{k}", "body": body.format(k=k)}
        for desc, prefix, body in operations
        for k in range(2, 16)
    ]
    return _build(rng, phrasings, fillers, lambda s: ("", _py_function(s["fn"], "nums", s["body"])))


def filter_list_function(rng: random.Random) -> list[Candidate]:
    """A function that keeps the numbers of a list matching a condition."""
    operations = [
        ("greater than {k}", "keep_greater_than", "[n for n in nums if n > {k}]"),
        ("less than {k}", "keep_less_than", "[n for n in nums if n < {k}]"),
        ("divisible by {k}", "keep_multiples_of", "[n for n in nums if n % {k} == 0]"),
    ]
    phrasings = [
        "Write a Python function that returns only the numbers of a list that are {desc}.",
        "Write a function that filters a list, keeping the numbers {desc}.",
        "Create a function that keeps the elements of a list that are {desc}.",
    ]
    return _list_comprehension_function(rng, operations, phrasings)


def map_list_function(rng: random.Random) -> list[Candidate]:
    """A function that transforms every number of a list."""
    operations = [
        ("multiplies every number in a list by {k}", "scale_by", "[n * {k} for n in nums]"),
        ("adds {k} to every number in a list", "shift_by", "[n + {k} for n in nums]"),
        ("subtracts {k} from every number in a list", "reduce_by", "[n - {k} for n in nums]"),
    ]
    phrasings = [
        "Write a Python function that {desc}.",
        "Write a function that {desc} and returns the new list.",
        "Create a function which {desc}.",
    ]
    return _list_comprehension_function(rng, operations, phrasings)


def greeting_function(rng: random.Random) -> list[Candidate]:
    """A function that builds a greeting with an f-string."""
    greetings = ["Hello", "Hi", "Welcome", "Good morning", "Good evening", "Goodbye", "Hey", "Greetings"]
    params = ["name", "person", "user", "friend"]
    phrasings = [
        "Write a Python function that takes an argument {p} and returns the greeting '{greeting}, <{p}>!'.",
        "Write a function with a parameter {p} that says '{greeting}' to it.",
        "Create a function that returns '{greeting}, ' followed by {p} and '!'.",
    ]
    fillers = [{"greeting": g, "p": p} for g in greetings for p in params]

    def render(s: Slots) -> tuple[str, str]:
        fn = "say_" + s["greeting"].lower().replace(" ", "_")
        return "", _py_function(fn, s["p"], f"f'{s['greeting']}, {{{s['p']}}}!'")

    return _build(rng, phrasings, fillers, render)


def python_class(rng: random.Random) -> list[Candidate]:
    """A class with an ``__init__`` storing two attributes."""
    classes = {
        "Car": ["make", "model", "year", "color"],
        "Book": ["title", "author", "pages", "year"],
        "Student": ["name", "age", "grade", "school"],
        "Dog": ["name", "breed", "age", "owner"],
        "Point": ["x", "y", "z", "label"],
        "Account": ["owner", "balance", "number", "bank"],
        "Movie": ["title", "director", "year", "rating"],
        "Product": ["name", "price", "stock", "category"],
    }
    phrasings = [
        "Create a Python class named {cls} with attributes {a1} and {a2}.",
        "Define a class {cls} whose constructor stores {a1} and {a2}.",
        "Write a Python class {cls} that has the attributes {a1} and {a2}.",
    ]
    fillers = [
        {"cls": cls, "a1": attrs[i], "a2": attrs[j]}
        for cls, attrs in classes.items()
        for i in range(len(attrs))
        for j in range(i + 1, len(attrs))
    ]

    def render(s: Slots) -> tuple[str, str]:
        a1, a2 = s["a1"], s["a2"]
        code = (
            f"class {s['cls']}:\n"
            f"    def __init__(self, {a1}, {a2}):\n"
            f"        self.{a1} = {a1}\n"
            f"        self.{a2} = {a2}"
        )
        return "", code

    return _build(rng, phrasings, fillers, render)


# ---------------------------------------------------------------------------
# Families: Python one-liners (no input).
# ---------------------------------------------------------------------------


def range_loop(rng: random.Random) -> list[Candidate]:
    """A for loop over a range, with an optional step."""
    phrasings = [
        "Write a Python loop that prints the numbers from {a} to {b}{step_text}.",
        "Use a for loop to print every number from {a} to {b}{step_text}.",
        "Print the integers from {a} to {b}{step_text} with a Python for loop.",
    ]
    fillers = [
        {"a": a, "b": b, "step": step, "step_text": "" if step == 1 else f" in steps of {step}"}
        for a in range(0, 10)
        for b in (10, 20, 50, 100)
        for step in (1, 2, 5)
    ]

    def render(s: Slots) -> tuple[str, str]:
        step = "" if s["step"] == 1 else f", {s['step']}"
        return "", f"for i in range({s['a']}, {s['b'] + 1}{step}):\n    print(i)"

    return _build(rng, phrasings, fillers, render)


def list_comprehension(rng: random.Random) -> list[Candidate]:
    """A list comprehension over ``range(1, n + 1)``."""
    operations = [  # (what, variable name, expression of x)
        ("squares", "squares", "x ** 2"),
        ("cubes", "cubes", "x ** 3"),
        ("doubles", "doubles", "2 * x"),
    ]
    phrasings = [
        "Write a list comprehension that builds a list of the {what} of the numbers from 1 to {n}.",
        "Create a list of the {what} of 1 to {n} using a list comprehension.",
        "Use a Python list comprehension to compute the {what} of the integers 1 to {n}.",
    ]
    fillers = [{"what": what, "var": var, "expr": expr, "n": n} for what, var, expr in operations for n in range(5, 21)]
    return _build(
        rng, phrasings, fillers, lambda s: ("", f"{s['var']} = [{s['expr']} for x in range(1, {s['n'] + 1})]")
    )


def dict_literal(rng: random.Random) -> list[Candidate]:
    """A dictionary literal mapping names to numbers."""
    themes = [  # (variable name, keys, value range)
        ("ages", PEOPLE, (18, 70)),
        ("scores", PEOPLE, (50, 100)),
        ("prices", FRUITS, (1, 9)),
        ("stock", FRUITS, (0, 50)),
    ]
    phrasings = [
        "Create a Python dictionary named {var} that maps {pairs_text}.",
        "Write a dictionary called {var} mapping {pairs_text}.",
        "Define a dict {var} in Python that maps {pairs_text}.",
    ]

    def make() -> Slots:
        var, keys, (low, high) = rng.choice(themes)
        chosen = rng.sample(keys, rng.randint(2, 3))
        pairs = tuple((key, rng.randint(low, high)) for key in chosen)
        return {"var": var, "pairs": pairs}

    fillers = _unique_samples(rng, make, 40)
    for s in fillers:
        parts = [f"'{key}' to {value}" for key, value in s["pairs"]]
        s["pairs_text"] = ", ".join(parts[:-1]) + " and " + parts[-1]

    def render(s: Slots) -> tuple[str, str]:
        body = ", ".join(f"'{key}': {value}" for key, value in s["pairs"])
        return "", f"{s['var']} = {{{body}}}"

    return _build(rng, phrasings, fillers, render)


# ---------------------------------------------------------------------------
# Families: SQL (no input).
# ---------------------------------------------------------------------------


def sql_select(rng: random.Random) -> list[Candidate]:
    """SELECT * or one column FROM a table."""
    phrasings = [
        "Write a SQL query that selects {what} from the table {table}.",
        "Write an SQL statement to get {what} from the {table} table.",
        "Using SQL, retrieve {what} from {table}.",
    ]
    fillers = []
    for table, (text_cols, num_cols) in SQL_TABLES.items():
        fillers.append({"what": "all rows", "table": table, "cols": "*"})
        for col in text_cols + num_cols:
            fillers.append({"what": f"the {col} column", "table": table, "cols": col})
    return _build(rng, phrasings, fillers, lambda s: ("", f"SELECT {s['cols']} FROM {s['table']};"))


def sql_where(rng: random.Random) -> list[Candidate]:
    """SELECT a column WHERE a numeric column is above or below a value."""
    comparisons = [("greater than", ">"), ("less than", "<")]
    phrasings = [
        "Write a SQL query that selects the {col} of every row in {table} where {num} is {cmp} {k}.",
        "Write an SQL query to find the {col} of all {table} with {num} {cmp} {k}.",
        "Using SQL, list the {col} from {table} whose {num} is {cmp} {k}.",
    ]
    fillers = [
        {"table": table, "col": col, "num": num, "cmp": cmp, "op": op, "k": rng.randint(1, 100)}
        for table, (text_cols, num_cols) in SQL_TABLES.items()
        for col in text_cols
        for num in num_cols
        for cmp, op in comparisons
    ]
    return _build(
        rng,
        phrasings,
        fillers,
        lambda s: ("", f"SELECT {s['col']} FROM {s['table']} WHERE {s['num']} {s['op']} {s['k']};"),
    )


def sql_aggregate(rng: random.Random) -> list[Candidate]:
    """COUNT, AVG, MAX, MIN or SUM over a table."""
    functions = [("average", "AVG"), ("largest", "MAX"), ("smallest", "MIN"), ("total", "SUM")]
    phrasings = [
        "Write a SQL query that returns the {what} in the table {table}.",
        "Write an SQL query to compute the {what} in {table}.",
        "Using SQL, find the {what} in the {table} table.",
    ]
    fillers = []
    for table, (_, num_cols) in SQL_TABLES.items():
        fillers.append({"what": "number of rows", "table": table, "expr": "COUNT(*)"})
        for word, func in functions:
            for num in num_cols:
                fillers.append({"what": f"{word} {num}", "table": table, "expr": f"{func}({num})"})
    return _build(rng, phrasings, fillers, lambda s: ("", f"SELECT {s['expr']} FROM {s['table']};"))


def sql_order_by(rng: random.Random) -> list[Candidate]:
    """SELECT * ... ORDER BY a column, ascending or descending."""
    directions = [("ascending", "ASC"), ("descending", "DESC")]
    phrasings = [
        "Write a SQL query that selects all rows from {table} sorted by {col} in {direction} order.",
        "Write an SQL query to list every row of {table} ordered by {col}, {direction}.",
        "Using SQL, get all {table} sorted by {col} in {direction} order.",
    ]
    fillers = [
        {"table": table, "col": col, "direction": direction, "keyword": keyword}
        for table, (text_cols, num_cols) in SQL_TABLES.items()
        for col in text_cols + num_cols
        for direction, keyword in directions
    ]
    return _build(
        rng, phrasings, fillers, lambda s: ("", f"SELECT * FROM {s['table']} ORDER BY {s['col']} {s['keyword']};")
    )


# ---------------------------------------------------------------------------
# Families: short English answers about programming (no input).
# ---------------------------------------------------------------------------


def explain_term(rng: random.Random) -> list[Candidate]:
    """'What is a list in Python?' -> one-sentence definition."""
    entries = {
        "list": "an ordered, mutable collection of items written in square brackets",
        "tuple": "an ordered, immutable collection of items written in parentheses",
        "dictionary": "a mutable mapping from unique keys to values",
        "set": "an unordered collection of unique items",
        "string": "an immutable sequence of characters",
        "function": "a named block of reusable code defined with the def keyword",
        "class": "a blueprint for creating objects that bundle data and behaviour",
        "module": "a file of Python code that other programs can import",
        "variable": "a name that refers to a value",
        "loop": "a statement that repeats a block of code",
        "generator": "a function that produces values one at a time with yield",
        "lambda": "a small anonymous function written as a single expression",
        "exception": "an error raised at run time that can be caught with try and except",
        "decorator": "a function that takes another function and extends its behaviour",
        "boolean": "a value that is either True or False",
        "integer": "a whole number without a decimal point",
        "float": "a number with a decimal point",
        "package": "a directory of modules that can be imported together",
        "docstring": "a string literal that documents a module, class or function",
        "method": "a function that belongs to an object",
        "iterator": "an object that returns the next item each time next() is called",
    }
    phrasings = [
        "What is {a} {term} in Python?",
        "Explain what {a} {term} is in Python.",
        "Briefly describe {a} {term} in Python.",
    ]
    return _glossary(rng, phrasings, entries, "In Python, {a} {term} is {description}.")


def explain_builtin(rng: random.Random) -> list[Candidate]:
    """'What does len() do?' -> one-sentence description."""
    entries = {
        "len": "returns the number of items in a sequence or collection",
        "max": "returns the largest item of an iterable",
        "min": "returns the smallest item of an iterable",
        "sum": "returns the sum of the numbers in an iterable",
        "sorted": "returns a new sorted list from the items of an iterable",
        "abs": "returns the absolute value of a number",
        "round": "rounds a number to a given number of decimal places",
        "type": "returns the type of an object",
        "str": "converts a value to a string",
        "int": "converts a value to an integer",
        "float": "converts a value to a floating-point number",
        "range": "returns a sequence of numbers, often used in for loops",
        "print": "writes values to the standard output",
        "input": "reads a line of text typed by the user",
        "enumerate": "returns pairs of an index and an item from an iterable",
        "zip": "combines several iterables into tuples of matching items",
        "reversed": "returns an iterator over a sequence in reverse order",
        "any": "returns True if at least one item of an iterable is true",
        "all": "returns True if every item of an iterable is true",
        "open": "opens a file and returns a file object",
        "isinstance": "checks whether an object is an instance of a given class",
    }
    phrasings = [
        "What does the Python function {term}() do?",
        "Explain the built-in function {term}() in Python.",
        "What is the purpose of {term}() in Python?",
    ]
    return _glossary(rng, phrasings, entries, "The {term}() function {description}.")


def explain_operator(rng: random.Random) -> list[Candidate]:
    """'What does the % operator do?' -> one-sentence description."""
    entries = {
        "+": "adds two numbers or joins two sequences",
        "-": "subtracts the right operand from the left operand",
        "*": "multiplies two numbers or repeats a sequence",
        "/": "divides two numbers and always returns a float",
        "//": "divides two numbers and rounds the result down",
        "%": "returns the remainder of a division",
        "**": "raises the left operand to the power of the right operand",
        "==": "checks whether two values are equal",
        "!=": "checks whether two values are not equal",
        "<": "checks whether the left value is less than the right value",
        ">": "checks whether the left value is greater than the right value",
        "<=": "checks whether the left value is less than or equal to the right value",
        ">=": "checks whether the left value is greater than or equal to the right value",
        "and": "returns True only if both conditions are true",
        "or": "returns True if at least one condition is true",
        "not": "inverts a boolean value",
        "in": "checks whether a value is contained in a collection",
        "is": "checks whether two names refer to the same object",
    }
    phrasings = [
        "What does the {term} operator do in Python?",
        "Explain the Python operator {term}.",
        "In Python, what is the {term} operator used for?",
    ]
    return _glossary(rng, phrasings, entries, "In Python, the {term} operator {description}.")


def temperature_conversion(rng: random.Random) -> list[Candidate]:
    """Celsius <-> Fahrenheit with exact whole-number answers."""
    phrasings = [
        "Convert the temperature {value} degrees {source} to {target}.",
        "What is {value} degrees {source} in {target}?",
        "How many degrees {target} is {value} degrees {source}?",
    ]
    fillers = []
    for celsius in range(-40, 101, 5):  # multiples of 5 give whole Fahrenheit values
        fahrenheit = celsius * 9 // 5 + 32
        fillers.append({"value": celsius, "source": "Celsius", "result": fahrenheit, "target": "Fahrenheit"})
        fillers.append({"value": fahrenheit, "source": "Fahrenheit", "result": celsius, "target": "Celsius"})
    return _build(
        rng, phrasings, fillers, lambda s: ("", "{value} degrees {source} is {result} degrees {target}.".format(**s))
    )


# ---------------------------------------------------------------------------
# Families WITH an input: the output is computed from the input.
# ---------------------------------------------------------------------------


def reverse_string(rng: random.Random) -> list[Candidate]:
    """Reverse a word."""
    phrasings = [
        "Reverse the given string.",
        "Write the given word backwards.",
        "Return the characters of the input string in reverse order.",
    ]
    fillers = [{"word": word} for word in WORDS]
    return _build(rng, phrasings, fillers, lambda s: (s["word"], s["word"][::-1]))


def change_case(rng: random.Random) -> list[Candidate]:
    """Upper, lower or title case of a two-word phrase."""
    cases = {  # case name -> (how the input is written, transformation)
        "uppercase": (str.lower, str.upper),
        "lowercase": (str.upper, str.lower),
        "title case": (str.lower, str.title),
    }
    phrasings = [
        "Convert the given text to {case}.",
        "Rewrite the input string in {case}.",
        "Change the given phrase to {case}.",
    ]
    fillers = _unique_samples(
        rng,
        lambda: {
            "case": rng.choice(list(cases)),
            "phrase": f"{rng.choice(ADJECTIVES)} {rng.choice(WORDS)}",
        },
        40,
    )

    def render(s: Slots) -> tuple[str, str]:
        write_input, transform = cases[s["case"]]
        return write_input(s["phrase"]), transform(s["phrase"])

    return _build(rng, phrasings, fillers, render)


def sort_list(rng: random.Random) -> list[Candidate]:
    """Sort a list of numbers, ascending or descending."""
    phrasings = [
        "Sort the given list of numbers in {order} order.",
        "Arrange the numbers of the input list in {order} order.",
        "Return the given list sorted in {order} order.",
    ]
    fillers = [{"order": rng.choice(["ascending", "descending"]), "numbers": _random_int_list(rng)} for _ in range(40)]
    return _build(
        rng,
        phrasings,
        fillers,
        lambda s: (
            str(s["numbers"]),
            str(sorted(s["numbers"], reverse=s["order"] == "descending")),
        ),
    )


def list_statistic(rng: random.Random) -> list[Candidate]:
    """Sum, maximum or minimum of a list of numbers, as a sentence."""
    statistics = {"sum": sum, "maximum": max, "minimum": min}
    phrasings = [
        "Find the {stat} of the numbers in the given list.",
        "What is the {stat} of the numbers in the input list?",
        "Compute the {stat} of the given numbers.",
    ]
    fillers = [{"stat": rng.choice(list(statistics)), "numbers": _random_int_list(rng)} for _ in range(40)]

    def render(s: Slots) -> tuple[str, str]:
        value = statistics[s["stat"]](s["numbers"])
        return str(s["numbers"]), f"The {s['stat']} of the numbers is {value}."

    return _build(rng, phrasings, fillers, render)


def word_stats(rng: random.Random) -> list[Candidate]:
    """Count the letters or the vowels of a word."""
    phrasings = [
        "Count the {unit} in the given word.",
        "How many {unit} does the input word have?",
        "Return the number of {unit} in the given word.",
    ]
    fillers = [{"unit": unit, "word": word} for unit in ("letters", "vowels") for word in WORDS]

    def render(s: Slots) -> tuple[str, str]:
        word = s["word"]
        count = len(word) if s["unit"] == "letters" else sum(c in "aeiou" for c in word)
        return word, f"The word {word} has {count} {s['unit']}."

    return _build(rng, phrasings, fillers, render)


def even_or_odd(rng: random.Random) -> list[Candidate]:
    """Classify a number as even or odd."""
    phrasings = [
        "Is the given number even or odd?",
        "Classify the given number as even or odd.",
        "Tell whether the input number is even or odd.",
    ]
    fillers = [{"n": n} for n in rng.sample(range(1, 1000), 40)]
    return _build(
        rng,
        phrasings,
        fillers,
        lambda s: (str(s["n"]), f"{s['n']} is an {'even' if s['n'] % 2 == 0 else 'odd'} number."),
    )


def to_binary(rng: random.Random) -> list[Candidate]:
    """Write a decimal number in binary."""
    phrasings = [
        "Convert the given decimal number to binary.",
        "Write the input number in base 2.",
        "What is the binary representation of the given number?",
    ]
    fillers = [{"n": n} for n in rng.sample(range(2, 256), 40)]
    return _build(rng, phrasings, fillers, lambda s: (str(s["n"]), f"{s['n']} in binary is {s['n']:b}."))


def join_words(rng: random.Random) -> list[Candidate]:
    """Join a Python list of words with a separator."""
    separators = {"spaces": " ", "commas": ", ", "hyphens": "-"}
    phrasings = [
        "Join the words in the given list into one string separated by {sep}.",
        "Combine the words of the input list into a single string, using {sep}.",
        "Concatenate the given words with {sep} between them.",
    ]
    fillers = [{"sep": rng.choice(list(separators)), "words": rng.sample(WORDS, rng.randint(3, 4))} for _ in range(40)]
    return _build(rng, phrasings, fillers, lambda s: (str(s["words"]), separators[s["sep"]].join(s["words"])))


def identifier_case(rng: random.Random) -> list[Candidate]:
    """Turn a phrase into a snake_case or camelCase identifier."""
    phrasings = [
        "Convert the given phrase to a {style} variable name.",
        "Turn the input words into a Python identifier in {style}.",
        "Write the given phrase in {style}.",
    ]
    fillers = _unique_samples(
        rng,
        lambda: {
            "style": rng.choice(["snake_case", "camelCase"]),
            "words": rng.sample(IDENTIFIER_WORDS, rng.randint(2, 3)),
        },
        40,
    )

    def render(s: Slots) -> tuple[str, str]:
        words = s["words"]
        if s["style"] == "snake_case":
            name = "_".join(words)
        else:
            name = words[0] + "".join(word.capitalize() for word in words[1:])
        return " ".join(words), name

    return _build(rng, phrasings, fillers, render)


# ---------------------------------------------------------------------------
# Putting it together.
# ---------------------------------------------------------------------------

FAMILIES: tuple[Family, ...] = (
    # Python functions
    arithmetic_function,
    list_aggregate_function,
    constant_arith_function,
    divisibility_function,
    string_method_function,
    count_letter_function,
    filter_list_function,
    map_list_function,
    greeting_function,
    python_class,
    # Python one-liners
    range_loop,
    list_comprehension,
    dict_literal,
    # SQL
    sql_select,
    sql_where,
    sql_aggregate,
    sql_order_by,
    # English answers
    explain_term,
    explain_builtin,
    explain_operator,
    temperature_conversion,
    # Rows with an input
    reverse_string,
    change_case,
    sort_list,
    list_statistic,
    word_stats,
    even_or_odd,
    to_binary,
    join_words,
    identifier_case,
)


def family_pools(rng: random.Random) -> dict[str, list[Candidate]]:
    """Every candidate row of every family, keyed by family name.

    Each pool is shuffled, and a row whose ``(instruction, input)`` already
    appeared (in any family) is dropped, so all rows are unique.
    """
    seen: set[tuple[str, str]] = set()  # only used for membership tests
    pools: dict[str, list[Candidate]] = {}
    for family in FAMILIES:
        pool = []
        for instruction, input_text, output in family(rng):
            if (instruction, input_text) not in seen:
                seen.add((instruction, input_text))
                pool.append((instruction, input_text, output))
        rng.shuffle(pool)
        pools[family.__name__] = pool
    return pools


def make_rows(n_rows: int = 400, seed: int = 0) -> list[dict[str, str]]:
    """Build ``n_rows`` synthetic CodeAlpaca-style rows, deterministically.

    Rows are drawn round-robin from the families (visited in a shuffled
    order), so every family gets about the same number of rows, and the
    result is shuffled so that families are mixed.  Only ``random.Random(seed)``
    is used: the same arguments always give the same list.

    Args:
        n_rows: how many rows to return.
        seed: seed of the random generator.

    Returns:
        A list of dicts with exactly the keys ``instruction``, ``input`` and
        ``output`` (all strings; ``input`` is often ``""``).

    Raises:
        ValueError: if ``n_rows`` is negative or larger than the number of
            unique rows the families can produce.
    """
    if n_rows < 0:
        raise ValueError(f"n_rows must be non-negative, got {n_rows}")
    rng = random.Random(seed)
    pools = list(family_pools(rng).values())
    capacity = sum(len(pool) for pool in pools)
    if n_rows > capacity:
        raise ValueError(
            f"asked for {n_rows} rows, but the {len(pools)} families can only produce {capacity} unique rows"
        )
    rng.shuffle(pools)

    chosen: list[Candidate] = []
    depth = 0
    while len(chosen) < n_rows:
        for pool in pools:
            if depth < len(pool) and len(chosen) < n_rows:
                chosen.append(pool[depth])
        depth += 1
    rng.shuffle(chosen)
    return [
        {"instruction": instruction, "input": input_text, "output": output}
        for instruction, input_text, output in chosen
    ]


def main() -> None:
    """Write the default sample to ``course_utils/assets/datasets/code_alpaca/``."""
    write_jsonl(make_rows(), OUTPUT_PATH)


if __name__ == "__main__":
    main()
