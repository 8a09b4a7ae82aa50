"""Running a submission in the sandbox: what student code can break, and what it cannot reach.

Every case below runs once, two sandboxes at a time (each starts a kernel: seconds apiece).
"""

import dataclasses
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

import course_utils
from course_utils.instructor.grading import sandbox
from course_utils.instructor.grading.forkserver import ForkServer, exit_code
from course_utils.instructor.grading.isolation import SYSTEM, mount_points, runtime_paths
from course_utils.instructor.grading.limits import Limits
from course_utils.instructor.grading.sandbox import Run, namespaces_available, run_sandboxed
from course_utils.instructor.grading.worker import TRUNCATED, OutputBudget

KERNEL_DIED = "the kernel died (os._exit, a crash or the memory limit)"
LIMITS = Limits(wall_seconds=60, cell_seconds=4, memory_mb=3072, output_bytes=2000)
CASES = {
    "clean": ["x = 2", "import sys; print(x); print('warning', file=sys.stderr)"],
    "looping": ["while True: pass", "print('next')"],
    "dying": ["print('before')", "import os; os._exit(1)", "print('never')"],
    "hoarding": ["hoard = bytearray(20 * 2**30)", "print('still here')"],
    "flooding": ["for i in range(10_000): print(i)"],  # 48,890 characters
    # 40 images of 100 kB each, then text: the images count against the cell's output limit like printed text
    "drawing": [
        "from IPython.display import display\nfor _ in range(40):\n    display({'image/png': 'A' * 100_000}, raw=True)",
        "print('next cell')",
    ],
    # 100 MB written in 10 MB pieces, in a home of 64 MB
    "filling": [
        "written = 0\ntry:\n    with open('big', 'wb') as big:\n        for _ in range(10):\n"
        "            big.write(bytes(10 * 2**20))\n            big.flush()\n            written += 10\n"
        "except OSError as error:\n    print(written, error.errno)",
    ],
    "sleeping": ["import time; time.sleep(120)"],  # past the wall time below
    # Signal every process it may (in its PID namespace: none but itself), then its process group (its own launcher,
    # which takes the kernel down with it): the worker, outside both, records how the run ended.
    "signalling": [
        "import os, signal\nfor target in (-1, 0):\n    try:\n        os.kill(target, signal.SIGKILL)\n"
        "    except OSError as error:\n        print(target, type(error).__name__)",
        "print('after')",
    ],
}


def hostile_cells(place: Path) -> list[str]:
    """Reach for the solutions, the gradebook, a file outside the working folder, and the network; unmount what
    covers the machine, in this namespace and in a nested one; replace the kernel's own sockets."""
    return [
        f"open({str(place / 'solutions' / 'answers.txt')!r}).read()",
        f"open({str(place / 'gradebook.db')!r}).read()",
        f"open({str(place / 'planted.txt')!r}, 'w').write('x')",
        "import socket; socket.create_connection(('1.1.1.1', 80), timeout=3)",
        "open('mine.txt', 'w').write('fine'); print('own folder is writable')",
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "status = [line.split() for line in open('/proc/self/status') if line.startswith('Cap')]\n"
        "print(libc.umount2(b'/usr', 2), ctypes.get_errno(), sorted({value for _, value in status}))",
        "import subprocess\nprint(subprocess.run(['unshare', '-Urm', 'umount', '-l', '/usr']).returncode)",
        "import json, os\nfrom ipykernel import get_connection_file\n"
        "sockets = os.path.dirname(json.load(open(get_connection_file()))['ip'])\n"
        "open(os.path.join(sockets, 'planted'), 'w')",
    ]


def visible_files(allowed: list[str]) -> str:
    """A cell that prints every file the kernel can see but the ``allowed`` ones (and what lies under them)."""
    return f"""import os
allowed = {allowed!r}
inside = lambda path: any(path == place or path.startswith(place + "/") for place in allowed + ["/proc", "/dev"])
seen = []
for folder, folders, files in os.walk("/"):
    folders[:] = [name for name in folders if not inside(os.path.join(folder, name))]
    seen += [path for path in (os.path.join(folder, name) for name in files) if not inside(path)]
print(seen)"""


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a secret and a gradebook, both hidden from the hostile notebook."""
    folder = tmp_path_factory.mktemp("grader")
    (folder / "solutions").mkdir()
    (folder / "solutions" / "answers.txt").write_text("42")
    (folder / "gradebook.db").write_text("grades")
    return folder


@pytest.fixture(scope="module")
def runs(place: Path) -> dict[str, Run]:
    def run(name: str) -> Run:
        sources = hostile_cells(place) if name == "hostile" else CASES.get(name, [])
        if name == "looking":  # everything but the runtime, the package, its home and its sockets
            home, sockets = place / "work" / name / sandbox.HOME_DIR, place / "work" / name / "record" / "sockets"
            package = Path(course_utils.__file__).parent
            generated = ["/etc/passwd", "/etc/group"]  # who uid 0 is
            sources = [visible_files([*SYSTEM, *generated, *map(str, runtime_paths(package)), str(home), str(sockets)])]
        limits = {"sleeping": Limits(wall_seconds=8, cell_seconds=60), "filling": Limits(disk_mb=64)}.get(name, LIMITS)
        notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
        return run_sandboxed(notebook, place / "work" / name, limits, {})

    names = [*CASES, "hostile", "looking"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(names, pool.map(run, names), strict=True))


def outputs(result: Run) -> list[list[str]]:
    """Per cell: the error name, or the printed text."""
    return [
        [output.get("ename") or output.get("text", "") for output in cell.get("outputs", [])]
        for cell in result.notebook.cells
    ]


def test_a_clean_run_keeps_stdout_and_stderr(runs):
    assert (runs["clean"].status, runs["clean"].isolated) == ("ok", True)
    assert outputs(runs["clean"]) == [[], ["2\n", "warning\n"]]


def test_an_infinite_loop_costs_only_its_cell(runs):
    assert runs["looping"].status == "ok"
    assert outputs(runs["looping"]) == [["KeyboardInterrupt"], ["next\n"]]


def test_a_dead_kernel_is_recorded_and_earlier_cells_kept(runs):
    assert runs["dying"].status == "kernel died"
    assert outputs(runs["dying"])[0] == ["before\n"]


def test_the_kernel_cannot_signal_the_worker_that_records_it(runs):
    assert (runs["signalling"].status, runs["signalling"].detail) == ("kernel died", KERNEL_DIED)
    # The kernel is PID 1 of its namespace, which ignores its own SIGKILL: it dies a moment later, with its launcher
    # (the parent-death signal), so the first cell's reply may or may not get out first. The second never runs.
    assert 1 not in runs["signalling"].cells
    assert "after\n" not in sum(outputs(runs["signalling"]), [])


def test_a_memory_bomb_fails_in_its_cell(runs):
    assert outputs(runs["hoarding"]) == [["MemoryError"], ["still here\n"]]


def test_a_flood_of_output_is_capped(runs):
    (texts,) = outputs(runs["flooding"])
    assert sum(len(text) for text in texts) <= LIMITS.output_bytes + len(TRUNCATED)
    assert texts[-1].endswith(TRUNCATED)


def test_a_run_past_the_wall_time_is_killed(runs):
    assert runs["sleeping"].status == "timeout"


def test_images_count_against_the_output_limit(runs):
    images, after = runs["drawing"].notebook.cells[0].outputs, outputs(runs["drawing"])[1]
    assert [output.output_type for output in images] == ["stream"] and images[0].text == TRUNCATED
    assert after == ["next cell\n"]  # the next cell has a budget of its own


def test_the_home_folder_holds_what_the_disk_limit_allows(runs, place):
    assert outputs(runs["filling"]) == [["60 28\n"]]  # 64 MB: the seventh 10 MB piece fails, No space left (28)
    assert not list((place / "work" / "filling").rglob("big"))  # nothing reached this machine's disk


def test_the_kernel_sees_the_runtime_the_package_and_its_home_and_nothing_else(runs):
    assert namespaces_available(), "this machine cannot create user namespaces: isolation cannot be checked here"
    assert outputs(runs["looking"]) == [["[]\n"]]


def test_hostile_code_reaches_nothing_outside_its_folder(runs, place):
    assert namespaces_available(), "this machine cannot create user namespaces: isolation cannot be checked here"
    assert outputs(runs["hostile"]) == [
        ["FileNotFoundError"],
        ["FileNotFoundError"],
        ["OSError"],  # the folder is there (its work folder is below it), read-only and empty
        ["OSError"],
        ["own folder is writable\n"],
        ["-1 1 ['0000000000000000']\n"],  # umount: EPERM (1); no capability left, none to gain (CapBnd)
        ["1\n"],  # nor in a user namespace of its own
        ["OSError"],  # its sockets' folder is read-only once they are made
    ]
    assert not (place / "planted.txt").exists()
    assert (place / "solutions" / "answers.txt").read_text() == "42"
    assert (place / "gradebook.db").read_text() == "grades"


def test_the_output_budget_cuts_each_cell_once_and_the_notebook_in_all():
    budget = OutputBudget(cell_bytes=40, notebook_bytes=100)
    text = lambda: new_output("stream", name="stdout", text="a" * 30)  # noqa: E731
    image = new_output("display_data", data={"image/png": "b" * 18})  # 20 characters, as JSON
    # cell 0: 30 kept, then 10 of the next 30 and the mark, then nothing
    kept = [budget.admit(text(), 0) for _ in range(3)]
    assert [output.text if output else None for output in kept] == ["a" * 30, "a" * 10 + TRUNCATED, None]
    # cell 1: the image (20), then 20 of 30; cell 2: 20 left of the notebook's 100 (40 + 40 spent), the image fits
    assert budget.admit(image, 1) is image and budget.admit(text(), 1).text == "a" * 20 + TRUNCATED
    assert budget.admit(new_output("display_data", data={"image/png": "c" * 18}), 2) is not None
    assert budget.admit(new_output("display_data", data={"image/png": "d"}), 2).text == TRUNCATED  # nothing left


def test_without_namespaces_the_kernel_still_runs_and_the_worker_still_records(tmp_path, monkeypatch):
    """Some containers refuse user namespaces: the notebook then runs unisolated, and the run says so."""
    monkeypatch.setattr(sandbox, "namespaces_available", lambda: False)
    test = new_code_cell("y = x + 1\n### CHECK\nassert y == 3")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    notebook = new_notebook(cells=[new_code_cell("x = 2\nprint(x)"), test])
    # Without the fork server the checker starts cold on the first check, importing PyTorch within the cell's time
    # limit: more than LIMITS' 4 s on a loaded machine. (`course grade`'s default is 300 s.)
    limits = dataclasses.replace(LIMITS, cell_seconds=60)
    result = run_sandboxed(notebook, tmp_path / "work", limits, {})
    assert (result.status, result.isolated) == ("ok", False)
    assert outputs(result) == [["2\n"], []]
    assert [(record.reply, record.check) for record in result.cells.values()] == [("ok", None), ("ok", "")]


@pytest.fixture(scope="module")
def forked(place: Path) -> tuple[ForkServer, dict[str, Run]]:
    """Two notebooks at once, each forked by one server that imported the ``wave`` module first."""
    home = place / "shared-home"
    home.mkdir()
    with ForkServer({}, home, preload=("wave",)) as server:

        def run(name: str) -> Run:
            notebook = new_notebook(
                cells=[
                    new_code_cell("import sys; print('wave' in sys.modules)"),
                    new_code_cell(
                        f"import os\nwith open(os.path.join(os.environ['HOME'], {name!r}), 'w') as mine:\n"
                        "    mine.write('1')\nprint(sorted(os.listdir(os.environ['HOME'])))"
                    ),
                    new_code_cell(
                        "import socket\nclient = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
                        f"client.connect({str(server.address)!r})"
                    ),
                ]
            )
            return run_sandboxed(notebook, place / "forked" / name, LIMITS, {}, server=server)

        with ThreadPoolExecutor(max_workers=2) as pool:
            return server, dict(zip(["ann", "bob"], pool.map(run, ["ann", "bob"]), strict=True))


def test_a_forked_kernel_starts_with_the_servers_imports_and_its_own_home(forked, place):
    server, runs = forked
    for name, run in runs.items():
        printed, listed, reached = outputs(run)
        # the kernel's home, the same path for every kernel, was its own: each saw its own file there only
        assert run.status == "ok" and printed == ["True\n"] and listed == [f"['.ipython', {name!r}]\n"]
        assert reached == ["FileNotFoundError"]  # the server's socket is out of the kernels' sight
    assert not list((place / "shared-home").iterdir())  # nothing landed in the server's own home
    assert not server.folder.exists()  # the server is gone, and its folder with it


def test_a_server_imports_in_the_background_and_a_kernel_waits_for_it(tmp_path):
    # a module that takes 3 s to import: entering returns at once (the grader registers the labs meanwhile)
    modules, home = tmp_path / "modules", tmp_path / "home"  # not the server's folder: it drops that from its path
    modules.mkdir(), home.mkdir()
    (modules / "slow_to_import.py").write_text("import time\n\ntime.sleep(3)\n")
    began = time.perf_counter()
    with ForkServer({"PYTHONPATH": str(modules)}, home, preload=("slow_to_import",)) as server:
        entered = time.perf_counter() - began
        assert server.ready() == server.address
        assert entered < 2 and time.perf_counter() - began >= 3


def test_a_server_that_cannot_start_says_why_when_a_kernel_is_asked_for(tmp_path):
    with ForkServer({}, tmp_path, preload=("no_such_module_for_the_course",)) as server:
        with pytest.raises(RuntimeError, match=r"(?s)did not start: .*No module named 'no_such_module_for_the_course'"):
            server.ready()


def test_exit_codes_read_as_a_shell_reports_them():
    # a child that exits with 3 reports 3; one killed by SIGKILL (9) reports 128 + 9
    exited = os.fork()
    if exited == 0:
        os._exit(3)
    killed = os.fork()
    if killed == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    assert exit_code(os.waitpid(exited, 0)[1]) == 3
    assert exit_code(os.waitpid(killed, 0)[1]) == 137


def test_mount_points_are_read_with_their_options():
    points = dict(mount_points())
    assert "/" in points and ({"ro", "rw"} & points["/"])
