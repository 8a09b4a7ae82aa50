"""The scripts that grade a class on a cluster call `course` as one machine's shards and merge need: run here with a
`course` that only says how it was called. (scripts/check_slurm.sh runs the Slurm ones on a real cluster in CI.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from course_utils.cli import build_parser

CLUSTER = ROOT / "scripts" / "cluster"


@pytest.fixture
def said(tmp_path):
    """A PATH whose `course` writes its arguments, one per line, to a file; returns a reader of the calls made."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    (bin_dir / "course").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{log}"\n')
    (bin_dir / "course").chmod(0o755)

    def run(command: list[str], **env: str) -> list[str]:
        path = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        subprocess.run(command, check=True, env={**os.environ, **path, **env}, cwd=tmp_path)
        arguments = log.read_text().splitlines()
        build_parser().parse_args(arguments)  # a command line `course` accepts
        return arguments

    return run


def test_a_slurm_array_task_grades_its_shard(said):
    arguments = said(
        ["bash", str(CLUSTER / "grade.sbatch")],
        SUBMISSIONS="/class/in.zip",
        GRADING="/class/grading",
        SLURM_ARRAY_TASK_ID="3",
        SLURM_ARRAY_TASK_COUNT="8",
        SLURM_CPUS_PER_TASK="16",
        SLURM_SUBMIT_DIR="/course",
        COURSE_GRADE_OPTIONS="--lms canvas",
    )
    assert arguments == [
        "--root", "/course", "grade", "/class/in.zip", "--lms", "canvas",
        "--shard", "3/8", "--course-dir", "/class/grading/shard-3", "--workers", "18", "--no-progress",
    ]  # fmt: skip


def test_the_slurm_merge_reads_every_shard(said):
    arguments = said(["bash", str(CLUSTER / "merge.sbatch")], GRADING="/g", SHARDS="3", SLURM_SUBMIT_DIR="/course")
    assert arguments == [
        "--root",
        "/course",
        "merge",
        "/g/shard-1",
        "/g/shard-2",
        "/g/shard-3",
        "--course-dir",
        "/g/class",
    ]


def kubernetes_jobs() -> dict[str, dict]:
    return {job["metadata"]["name"]: job for job in yaml.safe_load_all((CLUSTER / "grade-job.yaml").read_text())}


def container(job: dict) -> dict:
    [only] = job["spec"]["template"]["spec"]["containers"]
    return only


def test_a_kubernetes_pod_grades_the_shard_of_its_index(said):
    job = kubernetes_jobs()["course-grade"]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"  # backoffLimitPerIndex needs it
    shards = job["spec"]["completions"]
    grade = container(job)
    arguments = said([*grade["command"], *grade["args"]], JOB_COMPLETION_INDEX=str(shards - 1))
    assert arguments == [
        "grade", "/class/submissions.zip", "--no-progress",
        "--shard", f"{shards}/{shards}", "--course-dir", f"/class/grading/shard-{shards}",
    ]  # fmt: skip


def test_the_kubernetes_merge_reads_as_many_shards_as_were_graded(said):
    jobs = kubernetes_jobs()
    merge = container(jobs["course-merge"])
    arguments = said([*merge["command"], *merge["args"]])
    shards = jobs["course-grade"]["spec"]["completions"]
    folders = [f"/class/grading/shard-{index}" for index in range(1, shards + 1)]
    assert arguments == ["merge", *folders, "--course-dir", "/class/grading/class"]


def test_the_submit_script_shows_how_to_call_it_when_called_wrong():
    ran = subprocess.run(["bash", str(CLUSTER / "grade_on_slurm.sh")], capture_output=True, text=True)
    assert ran.returncode == 2
    assert "grade_on_slurm.sh SUBMISSIONS GRADING SHARDS" in ran.stderr
    assert Path(CLUSTER / "grade_on_slurm.sh").stat().st_mode & 0o111
