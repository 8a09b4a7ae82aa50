#!/usr/bin/env bash
# Grade a class on a Slurm cluster: an array of SHARDS grading tasks, then the merge once all of them succeeded.
#
#   bash scripts/cluster/grade_on_slurm.sh SUBMISSIONS GRADING SHARDS [sbatch options for both jobs ...]
#
# Run it from the course repository (the jobs run `course` there, in the environment it is called from). The merged
# class lands in GRADING/class; each shard's log in course-grade-<job>-<task>.log. The options after SHARDS go to
# both jobs (e.g. --partition=..., --account=...); COURSE_GRADE_OPTIONS passes options to `course grade` (e.g.
# "--lms canvas --labs lab1_instruction_tuning"). Prints the two job ids.
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,9p' "$0" >&2; exit 2; }
submissions=$(realpath "$1") grading=$(realpath -m "$2") shards=$3
shift 3
here=$(dirname "$(realpath "$0")")
export SUBMISSIONS=$submissions GRADING=$grading SHARDS=$shards COURSE_ROOT=${COURSE_ROOT:-$PWD}
mkdir -p "$grading"
array=$(sbatch --parsable --array=1-"$shards" --export=ALL "$@" "$here/grade.sbatch")
merge=$(sbatch --parsable --dependency=afterok:"${array%%;*}" --kill-on-invalid-dep=yes --export=ALL "$@" \
    "$here/merge.sbatch")
echo "grading: job ${array%%;*} (${shards} tasks), merge: job ${merge%%;*} -> $grading/class"
