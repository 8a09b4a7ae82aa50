"""The grader's checks inside a student's kernel: is it still the stock interpreter, and is the work the student's own?

The worker never imports this module into the kernel: with every request it sends the source, to be executed afresh
in a namespace of its own, and a call of ``main(request, state, user)``, through an IPython *user expression* (which
skips input transformers, AST transformers and IPython's events). Nothing the kernel keeps between requests decides
a verdict: the worker compares the snapshots, out of the kernel's reach. Only the standard library is imported here.

Three requests, from ``worker.py``:

- ``baseline``, before the first cell, while the kernel is stock: a snapshot of the execution machinery (the shell, the
  kernel, its session and display hook, every method of their classes, the builtins) for later comparison;
- ``before`` each test cell: the snapshot again (the worker compares it, out of the kernel's reach), plus findings
  about what the test is about to use; then each reference implementation of the lab is swapped for a function that
  raises, so that a submission delegating to it fails that test;
- ``after`` the test cell: the references back, the snapshot and findings again (a test may have run code that
  tampers), and what a test's values may have been made of (a class of the notebook that overrides ``==``).

Every finding is one short sentence, reported as tampering or delegation (scoring prefixes the reason with either).
Each check runs under ``checked()``, so that a check broken by the notebook is itself a finding and the others still
run.
"""

import ast
import builtins
import gc
import importlib
import linecache
import os
import sys
import threading
import types

# What a test typically leans on: a function of these modules that runs notebook code is tampering.
WATCHED_MODULES = (
    "math", "cmath", "operator", "functools", "random", "warnings", "re", "json", "copy", "inspect",
    "numpy", "numpy.testing", "torch", "torch.nn.functional", "torch.testing", "datasets",
)  # fmt: skip
WATCHED_CLASSES = (
    ("torch", "Tensor"), ("datasets", "Dataset"), ("datasets", "DatasetDict"), ("random", "Random"),
    ("warnings", "catch_warnings"), ("matplotlib.figure", "Figure"), ("matplotlib.axes", "Axes"),
    ("matplotlib.lines", "Line2D"),
)  # fmt: skip
# The methods through which a value can pass a comparison without being the right answer.
LYING_METHODS = frozenset(
    "__eq__ __ne__ __lt__ __le__ __gt__ __ge__ __bool__ __abs__ __sub__ __rsub__ __neg__ __float__ __int__ __index__ "
    "__round__ __instancecheck__ __subclasscheck__ __torch_function__ __torch_dispatch__ __array_function__ "
    "__array_ufunc__".split()
)
GRADER_FILE = "<course grader>"


# -- where code comes from ---------------------------------------------------------------------------------------------


ROOTS = ()  # the folders library code lives in (the interpreter's, the environment's, the course's): set by main()


def in_library(path):
    """Whether a file lies in the interpreter, the environment or the course package (``..`` resolved)."""
    return os.path.normpath(path).startswith(ROOTS) if path else False


def code_of(obj):
    """The code object a callable runs, or None (a C function, a type, data)."""
    for _ in range(4):  # unwrap bound methods, partials, static and class methods, callable instances
        if isinstance(obj, types.CodeType):
            return obj
        if isinstance(obj, (types.FunctionType, types.GeneratorType)):
            return getattr(obj, "__code__", None) or getattr(obj, "gi_code", None)
        if isinstance(obj, (types.MethodType, staticmethod, classmethod)):
            obj = obj.__func__
        elif type(obj).__name__ == "partial" and hasattr(obj, "func"):
            obj = obj.func
        elif not isinstance(obj, type) and isinstance(vars(type(obj)).get("__call__"), types.FunctionType):
            obj = vars(type(obj))["__call__"]  # a callable instance runs its class's __call__
        else:
            return None
    return None


def is_notebook_code(obj):
    """Whether a callable runs code from the notebook (or anything that is not the interpreter's or a library's)."""
    code = code_of(obj)
    if code is None:
        return False
    filename = code.co_filename
    if filename.startswith("<frozen "):
        return False
    if filename.startswith("<"):  # exec'd text (a library's generated method, or the notebook's own exec): by module
        name = getattr(obj, "__module__", None)
        module = sys.modules.get(name or "")
        return name == "__main__" or (module is not None and fake_module(module, name) is not None)
    return not in_library(filename)


def token(obj):
    """What identifies a callable's behaviour, comparable between two probes of one kernel."""
    code = code_of(obj)
    if code is not None:
        return f"code {hash(code)} {code.co_filename}:{code.co_firstlineno}"
    return f"{type(obj).__qualname__} {getattr(obj, '__qualname__', '')} {id(obj)}"  # C functions live as long


def fake_module(module, name):
    """Why ``module`` (found as ``name``) is not an installed module, or None when it is one."""
    if not isinstance(module, types.ModuleType):
        return f"{name} is not a module"
    spec = getattr(module, "__spec__", None)
    if spec is not None and spec.origin in ("built-in", "frozen"):
        return None
    path = getattr(module, "__file__", None)
    if path is None and spec is not None and spec.submodule_search_locations:  # a namespace package
        path = next(iter(spec.submodule_search_locations), None)
    return None if in_library(path) else f"{name} is not the installed module"


# -- the execution machinery -------------------------------------------------------------------------------------------


def shell_and_kernel():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    return shell, shell.kernel


def snapshot():
    """Every method of the machinery's classes, every instance override, the hooks and the builtins, as tokens."""
    shell, kernel = shell_and_kernel()
    roots = {
        "get_ipython()": shell,
        "the kernel": kernel,
        "the kernel's session": kernel.session,
        "the display hook": shell.displayhook,
        "the display publisher": shell.display_pub,
        "the cell compiler": shell.compile,
        "IPython's events": shell.events,
        "the input transformers": shell.input_transformer_manager,
    }
    tokens = {}
    for label, obj in roots.items():
        tokens[f"{label} (type)"] = type(obj).__module__ + "." + type(obj).__qualname__
        for cls in type(obj).__mro__[:-1]:
            for name, value in vars(cls).items():
                if code_of(value) is not None:
                    tokens[f"{cls.__qualname__}.{name}"] = token(value)
        for name, value in vars(obj).items():  # an instance attribute that hides a method of its class
            if code_of(getattr(type(obj), name, None)) is not None:
                tokens[f"{label}.{name}"] = token(value)
    for name, handler in kernel.shell_handlers.items():
        tokens[f"the kernel's {name} handler"] = token(handler)
    tokens["the exception handlers (set_custom_exc)"] = repr(shell.custom_exceptions)
    for name in ("excepthook", "displayhook", "unraisablehook"):
        tokens[f"sys.{name}"] = token(getattr(sys, name))
    for name, value in vars(builtins).items():
        if callable(value):
            tokens[f"builtins.{name}"] = token(value)
    return tokens


def hooks():
    """Notebook code set to run around every cell, beside it in a thread, or in a process of its own."""
    shell, _ = shell_and_kernel()
    found = []
    for event, callbacks in shell.events.callbacks.items():
        if any(is_notebook_code(callback) for callback in callbacks):
            found.append(f"notebook code runs on IPython's {event} event")
    manager = shell.input_transformer_manager
    transformers = {
        "input transformers": [
            *shell.input_transformers_post,
            *manager.cleanup_transforms,
            *manager.line_transforms,
            *manager.token_transformers,
        ],
        "AST transformers": shell.ast_transformers,
    }
    for kind, chain in transformers.items():
        if any(defined_in_notebook(item) for item in chain):
            found.append(f"notebook code rewrites every cell ({kind})")
    if sys.gettrace() is not None or sys.getprofile() is not None:
        found.append("a trace or profile function is set (sys.settrace, sys.setprofile)")
    me = threading.get_ident()
    for ident, frame in sys._current_frames().items():
        while ident != me and frame is not None:
            if is_notebook_code(frame.f_code):
                found.append("a background thread runs notebook code")
                break
            frame = frame.f_back
    for thread in threading.enumerate():  # what it runs now, or will run (a Timer's function)
        if is_notebook_code(type(thread).run) or any(is_notebook_code(value) for value in vars(thread).values()):
            found.append(f"the thread {thread.name!r} runs notebook code")
    if any(is_notebook_code(callback) for callback in gc.callbacks):
        found.append("notebook code runs on every garbage collection (gc.callbacks)")
    finalizers = getattr(sys.modules.get("weakref"), "finalize", None)
    if any(is_notebook_code(info.func) for info in getattr(finalizers, "_registry", {}).values()):
        found.append("notebook code waits in a weakref.finalize")
    found += [f"a background process is running: {command}" for command in child_processes()]
    return found


def child_processes():
    """The command lines of the kernel's living descendants (zombies left out)."""
    parents, commands = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = " ".join(handle.read().decode(errors="replace").replace("\0", " ").split())
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            parents[int(entry)] = int(parent)
            commands[int(entry)] = command[:100] + (" ..." if len(command) > 100 else "")
    mine = {os.getpid()}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                changed = True
    return sorted(commands[pid] for pid in mine - {os.getpid()} if pid in commands)


# -- what a test is about to use ---------------------------------------------------------------------------------------


def names_in(source):
    """What a test cell reads: (root names it does not assign, attribute chains from them, names its imports bind)."""
    tree = ast.parse(source)
    assigned, roots, chains, imports = set(), set(), set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            chains.add((node.func.id, "()"))  # a call: the function is what the test exercises
        if isinstance(node, ast.Name):
            (roots if isinstance(node.ctx, ast.Load) else assigned).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            assigned.add(node.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                imports[bound] = (alias.name if alias.asname else bound, None)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for alias in node.names:
                imports[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.Attribute):
            chain, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                chain.insert(0, inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name):
                chains.add((inner.id, *chain))
    return roots - assigned - set(imports), chains, imports


def attribute(module, name):
    """``module.name``: its dictionary first, then (for a lazy attribute) the installed module's own lookup."""
    return vars(module)[name] if name in vars(module) else getattr(module, name)


def defined_in_notebook(obj):
    """A callable from the notebook, or an object whose class has a method from the notebook."""
    classes = type(obj).__mro__[:-1] if not isinstance(obj, type) else obj.__mro__[:-1]
    return is_notebook_code(obj) or any(is_notebook_code(value) for cls in classes for value in vars(cls).values())


def class_findings(cls, label):
    """A library class whose methods run notebook code."""
    if fake_module(sys.modules.get(cls.__module__), "") is not None:
        return []
    return [f"{label}.{name} runs notebook code" for name, value in vars(cls).items() if is_notebook_code(value)]


def used_objects(source, user):
    """Findings about what the test cell will use: shadowed builtins, fake modules, patched library functions."""
    roots, chains, imports = names_in(source)
    found = []
    if user.get("__builtins__", builtins) not in (builtins, vars(builtins)):
        found.append("__builtins__ was replaced")
    for name in sorted(roots):
        value = user.get(name)
        if name in vars(builtins) and name in user and callable(value) and value is not vars(builtins)[name]:
            found.append(f"{name} is redefined in the notebook")
    resolved = {}
    for name, (module, attr) in imports.items():
        try:
            resolved[name] = importlib.import_module(module)
            if (problem := fake_module(resolved[name], module)) is not None:
                found.append(problem)
            elif attr is not None:
                resolved[name] = attribute(resolved[name], attr)
        except Exception:
            resolved.pop(name, None)  # the test will fail on this import by itself
    for name in roots:
        if name in user:
            resolved[name] = user[name]
    for chain in sorted(chains | {(name,) for name in resolved}):
        if chain[0] not in resolved or chain[-1] == "()":
            continue
        value = resolved[chain[0]]
        label = value.__name__ if isinstance(value, types.ModuleType) else chain[0]  # np.allclose is numpy.allclose
        for part in chain[1:]:
            if not isinstance(value, types.ModuleType):
                break
            if (problem := fake_module(value, label)) is not None:
                found.append(problem)
                break
            try:
                value = attribute(value, part)
            except Exception:
                break
            label += "." + part
            if not isinstance(value, types.ModuleType) and is_notebook_code(value):
                found.append(f"{label} runs notebook code")
        if isinstance(value, type):
            found += class_findings(value, label)
        elif not isinstance(value, types.ModuleType) and not is_notebook_code(value):
            for cls in type(value).__mro__[:-1]:
                found += class_findings(cls, f"{cls.__module__}.{cls.__qualname__}")
    return sorted(set(found))


def watched():
    """Library functions and classes a test leans on (and every module of the course) that run notebook code."""
    found = []
    names = [name for name in list(sys.modules) if name == "course_utils" or name.startswith("course_utils.")]
    for name in (*WATCHED_MODULES, *names):
        module = sys.modules.get(name)
        if module is None:
            continue
        if (problem := fake_module(module, name)) is not None:
            found.append(problem)
            continue
        patched = [attr for attr, value in list(vars(module).items()) if is_notebook_code(value)]
        found += [f"{name}.{attr} runs notebook code" for attr in patched]
    for module_name, class_name in WATCHED_CLASSES:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(cls, type):
            found += class_findings(cls, f"{module_name}.{class_name}")
    return found


def of_the_notebook(cls):
    """A class defined by the notebook: in ``__main__``, in a module that is not installed, or (a class whose module
    is gone) with a method compiled from a file outside the libraries."""
    if cls.__module__ == "__main__":
        return True
    module = sys.modules.get(cls.__module__)
    if module is not None:
        return fake_module(module, cls.__module__) is not None
    codes = [code_of(value) for value in vars(cls).values()]
    return any(code is not None and not code.co_filename.startswith("<") and not in_library(code.co_filename)
               for code in codes)  # fmt: skip


def lying_classes():
    """Classes of the notebook that override how their values compare, convert or test true."""
    found, seen, stack = [], set(), [object]
    while stack:
        for cls in type.__subclasses__(stack.pop()):
            if id(cls) in seen:
                continue
            seen.add(id(cls))
            stack.append(cls)
            if not of_the_notebook(cls):
                continue
            own = vars(cls)
            generated = "__dataclass_fields__" in own  # a dataclass's generated __eq__ compares its fields
            lying = [name for name in LYING_METHODS & own.keys() if code_of(own[name]) is not None]
            lying = [name for name in lying if not (generated and code_of(own[name]).co_filename.startswith("<"))]
            if lying:
                found.append(f"the notebook's class {cls.__qualname__} overrides {', '.join(sorted(lying))}")
    return found


# -- delegation to the package's reference implementations -------------------------------------------------------------


def references(names):
    """Each reference implementation named, as (dotted name, function, the function it wraps), and findings.

    A reference may be decorated (``@torch.no_grad()``): the decorator's wrapper is what the module holds, the
    innermost function (``__wrapped__``) is the one whose code is the solution.
    """
    found, functions = [], []
    for dotted in names:
        module_name, name = dotted.rsplit(".", 1)
        try:
            module = importlib.import_module(module_name)
        except Exception:
            found.append(f"{module_name} cannot be imported")
            continue
        function = vars(module).get(name) if isinstance(module, types.ModuleType) else None
        inner = function
        for _ in range(8):
            inner = getattr(inner, "__wrapped__", None) or inner
        if (problem := fake_module(module, module_name)) is not None:
            found.append(problem)
        elif not isinstance(inner, types.FunctionType) or is_notebook_code(function) or is_notebook_code(inner):
            found.append(f"the package's {dotted} was replaced")
        else:
            functions.append((dotted, function, inner))
    return functions, found


def fingerprint(code):
    """What a code object does, whatever it is called and wherever it was compiled."""
    consts = tuple(fingerprint(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts)
    return code.co_code, code.co_names, consts


def delegations(source, user, functions):
    """Functions the test calls that are, copy or use a reference: by name, alias, saved function or copied code."""
    by_identity = {id(obj): dotted for dotted, outer, inner in functions for obj in (outer, inner, inner.__code__)}
    by_fingerprint = {fingerprint(inner.__code__): dotted for dotted, _, inner in functions}
    found, seen = [], set()

    def visit(name, function):
        """Look through one function; what it uses is looked through too when it is the notebook's own."""
        if id(function) in seen:
            return
        seen.add(id(function))
        codes = [function.__code__]
        for code in codes:
            codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
            if (dotted := by_fingerprint.get(fingerprint(code))) is not None:
                found.append(f"{name} runs a copy of the package's {dotted}")
        if not is_notebook_code(function):  # a library's function may use the references: that is not the student
            return
        names = {n for code in codes for n in code.co_names}
        cells = [cell.cell_contents for cell in function.__closure__ or () if cell.cell_contents is not None]
        defaults = [*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values()]
        for value in [*cells, *defaults, *(function.__globals__.get(n) for n in names)]:
            if (dotted := by_identity.get(id(value))) is not None:
                found.append(f"{name} calls the package's {dotted}")
            elif isinstance(value, types.ModuleType):
                used = [vars(value).get(n) for n in names]
                found.extend(f"{name} calls the package's {by_identity[id(f)]}" for f in used if id(f) in by_identity)
            elif isinstance(value, types.FunctionType):
                visit(name, value)

    roots, chains, _ = names_in(source)
    called = {chain[0] for chain in chains if chain[-1] == "()"}
    for name in sorted(roots & called):  # what the test exercises, not what it only looks at
        function = user.get(name)
        if (dotted := by_identity.get(id(function))) is not None:
            found.append(f"{name} is the package's {dotted}")
        elif isinstance(function, types.FunctionType):
            visit(name, function)
    return sorted(set(found))


def raising(dotted):
    """A code object for a reference while tests run: calling it raises, naming the reference."""
    message = f"delegation: {dotted} is the package's own solution to an exercise; write yours yourself"
    namespace = {}
    source = f"def stand_in(*args, **kwargs):\n    raise NotImplementedError({message!r})\n"
    exec(compile(source, GRADER_FILE, "exec"), namespace)
    return namespace["stand_in"].__code__


# -- requests ----------------------------------------------------------------------------------------------------------


def checked(found, name, check, *args):
    """Run one check, adding its findings; a check that breaks is a finding too (the notebook broke it)."""
    try:
        found += check(*args)
    except Exception as error:
        found.append(f"the grader could not check {name} ({type(error).__name__}: {error})")


def forget(source):
    """Drop the test cell's text from the kernel's caches, where later cells could read the hidden tests (a cell run
    part by part leaves each part there)."""
    shell, _ = shell_and_kernel()
    for filename, entry in list(linecache.cache.items()):
        if len(entry) > 2 and "".join(entry[2]).strip() and "".join(entry[2]).strip() in source:
            del linecache.cache[filename]
    result = shell.last_execution_result
    if result is not None and getattr(result, "info", None) is not None:
        result.info.raw_cell = ""


def main(request, state, user):
    """Answer a request: its nonce, the machinery snapshot, the findings (tampering and delegation).

    ``state`` is a dictionary the kernel keeps between requests (the swapped references); ``user`` the notebook's
    namespace.
    """
    global ROOTS
    places = (sys.prefix, sys.base_prefix, request["package"])
    ROOTS = tuple({os.path.join(os.path.normpath(p), "") for path in places for p in (path, os.path.realpath(path))})
    kind, source = request["kind"], request.get("source", "")
    tampering, delegation = [], []
    if kind == "after":
        for function, code in state.pop("swapped", []):
            function.__code__ = code
        checked(tampering, "the values the test compared", lying_classes)
        if state.pop("gc", False):
            gc.enable()
        forget(source)
    answer = {"nonce": request["nonce"], "snapshot": snapshot()}
    if kind != "baseline":
        checked(tampering, "the hooks", hooks)
        checked(tampering, "the library functions tests use", watched)
        checked(tampering, "what the test uses", used_objects, source, user)
    if kind == "before":
        functions, found = references(request["references"])
        tampering += found
        checked(delegation, "the functions the test calls", delegations, source, user, functions)
        state["swapped"] = [(inner, inner.__code__) for _, _, inner in functions if not inner.__closure__]
        for dotted, _, inner in functions:
            if not inner.__closure__:
                inner.__code__ = raising(dotted)
        state["gc"] = gc.isenabled()
        gc.disable()  # a class made during the test stays alive until "after" looks for it
    answer["tampering"], answer["delegation"] = sorted(set(tampering)), sorted(set(delegation))
    return answer
