#!/usr/bin/env bash
# The labs on Colab's preinstalled stack (scripts/colab_stack.txt), installed the way a learner installs them.
#
#   bash scripts/check_colab_stack.sh 3.13     # or 3.12
#
# Builds build/colab-<python> with Colab's packages, then (scripts/check_colab_stack.py) runs, in kernels that
# believe they are on Colab: the labs' install cell after `import datasets` (it must ask for a restart), a learner's
# path through Lab 1's student notebook, and every lab's solution. No GPU here, so the labs choose the tiny profile.
# Not in CI: torch for Python 3.12/3.13 is a CUDA build of several GB. The install cell's git URL (course.toml's
# package) is redirected (git's url.insteadOf) to a clone of this repository whose pinned tag is its last commit, so
# what is installed is this checkout's last commit.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-3.13}
VENV=build/colab-$PY
export PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
if command -v pyenv >/dev/null; then  # pyenv's shims run python3.X only for a version it was told to use
    PYENV_VERSION=$(pyenv versions --bare | grep -E "^$PY(\.|$)" | tail -n 1) && export PYENV_VERSION
fi
rm -rf "$VENV"
"python$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip 2> >(grep -v "^WARNING: Location" >&2)
"$VENV/bin/python" -m pip install --quiet -r scripts/colab_stack.txt 2> >(grep -v "^WARNING: Location" >&2)
echo "Colab's stack on Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())'):"
"$VENV/bin/python" -m pip list --format=freeze 2>/dev/null | grep -iE "^(torch|transformers|accelerate|datasets|peft|numpy|trl)=="
package=$("$VENV/bin/python" -c 'import tomllib; print(tomllib.load(open("course.toml", "rb"))["release"]["package"])')
if [[ $package != *" @ git+"*"@"* ]]; then
    echo "course.toml's package is not a pinned git URL ($package): there is nothing to redirect to this checkout." >&2
    exit 1
fi
url=${package#* @ git+}
ref=${url##*@}
url=${url%@*}
git_config=$(mktemp)
clone=$(mktemp -d)
trap 'rm -rf "$git_config" "$clone"' EXIT
git clone --quiet "$PWD" "$clone"
git -C "$clone" tag --force "$ref" HEAD >/dev/null
git config --file "$git_config" url."file://$clone".insteadOf "$url"
GIT_CONFIG_GLOBAL=$git_config "$VENV/bin/python" scripts/check_colab_stack.py "$VENV"
