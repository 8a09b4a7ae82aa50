#!/usr/bin/env bash
# Grading on Slurm, for real: a single-node cluster from Debian's packages (scripts/slurm_cluster.sh), a small class
# of Lab 1 graded by scripts/cluster/grade_on_slurm.sh in two shards and merged, then the same class graded on this
# machine alone; the two must be equal file by file (`shards.differences`).
#
#   bash scripts/check_slurm.sh install   # the packages (root; .ci/run does it while the tests run)
#   bash scripts/check_slurm.sh run       # the check, in .venv; stops the cluster it started, whatever happens
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
install) exec bash scripts/slurm_cluster.sh install ;;
run) ;;
*) sed -n '2,7p' "$0" >&2; exit 2 ;;
esac
state=$PWD/build/slurm
work=$(mktemp -d /tmp/course-slurm-XXXXXX)
trap 'bash scripts/slurm_cluster.sh stop "$state" || true; rm -rf "$work"' EXIT
export PATH=$PWD/.venv/bin:$PATH HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

# Four students, two in each shard: solved, untouched, its metadata stripped, one exercise left undone.
python - "$work/inbox" <<'PY'
import sys
from pathlib import Path

import nbformat

from course_utils.instructor.grading import simulate
from course_utils.instructor.grading.cells import grading_info, is_answer
from course_utils.instructor.grading.shards import Shard

lab, inbox = "lab1_instruction_tuning", Path(sys.argv[1])
release = nbformat.read(f"labs/{lab}/{lab}.ipynb", as_version=4)
solved = simulate.solved(release, nbformat.read(f"solutions/{lab}/{lab}.ipynb", as_version=4))
first = next(cell for cell in release.cells if is_answer(cell))
notebooks = {
    "ann": solved,
    "bob": release,
    "dee": simulate.stripped(solved),
    "eve": simulate.with_source(solved, grading_info(first)["grade_id"], first.source),
}
assert sorted(Shard(1, 2).holds(student) for student in notebooks) == [False, False, True, True]
inbox.mkdir()
for student, notebook in notebooks.items():
    nbformat.write(notebook, inbox / f"{student}_{lab}.ipynb")
PY

eval "$(bash scripts/slurm_cluster.sh start "$state")"
began=$SECONDS
# --wait: each sbatch returns when its job ends, with its exit status (the array's: its worst task's).
bash scripts/cluster/grade_on_slurm.sh "$work/inbox" "$work/slurm" 2 --wait --cpus-per-task=1 --mem=3G \
    --time=00:20:00 --output="$work/%x-%A-%a.log" || { tail -n 40 "$work"/*.log; exit 1; }
echo "check_slurm: two shards graded and merged on Slurm in $((SECONDS - began)) s"
began=$SECONDS
course grade "$work/inbox" --course-dir "$work/one" --no-progress > "$work/one.log" || { cat "$work/one.log"; exit 1; }
echo "check_slurm: the same class graded on one machine in $((SECONDS - began)) s"
python - "$work/slurm/class" "$work/one" <<'PY'
import sys
from pathlib import Path

from course_utils.instructor.grading.shards import differences

merged, one = map(Path, sys.argv[1:])
different = differences(merged, one)
assert not different, f"the merged class differs from one machine's run in: {', '.join(different)}"
graded = sorted(path.parent.parent.name for path in (merged / "autograded").glob("*/*/results.json"))
assert graded == ["ann", "bob", "dee", "eve"], graded
print(f"check_slurm: the merged class equals one machine's run ({len(graded)} notebooks, every file compared)")
PY
