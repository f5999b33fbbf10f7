#!/usr/bin/env bash
# Test the dependency floors of pyproject.toml: a fresh virtual environment per
# case, the oldest declared versions (or, on the newest Python, the oldest that
# install there), then the test suite. Slow (minutes per case); not part of CI.
#
#   tools/check_floors.sh                      # every case below
#   tools/check_floors.sh floors-py3.10        # one case
#
# Each case: name, Python interpreter, pinned packages. PYENV_ROOT or PATH must
# provide the interpreters (python3.10 ...). Results: one line per case at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

CASES=(
  # The floors of pyproject.toml on the oldest supported Python.
  "floors-py3.10|python3.10|numpy==1.24.0 numba==0.59.0 scipy==1.10.0 threadpoolctl==3.5.0 scikit-learn==1.7.0"
  # The newest Python installed here, with the oldest releases that have wheels for it.
  "oldest-on-py3.13|python3.13|numpy==2.1.0 numba==0.61.0 scipy==1.14.1 threadpoolctl==3.5.0 scikit-learn==1.7.0"
  # The newest Python with the newest releases.
  "newest-py3.13|python3.13|numpy numba scipy threadpoolctl scikit-learn"
)

find_python() {  # a pyenv-installed interpreter first (its shims may point elsewhere), then PATH
  local root="${PYENV_ROOT:-$HOME/.pyenv}" v="${1#python}" found
  found=$(ls -d "$root"/versions/"$v".*/bin/python 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$found" ] && "$1" --version > /dev/null 2>&1; then found=$(command -v "$1"); fi
  echo "$found"
}

results=()
for case in "${CASES[@]}"; do
  IFS='|' read -r name py pins <<< "$case"
  [ $# -gt 0 ] && [[ " $* " != *" $name "* ]] && continue
  interp=$(find_python "$py")
  if [ -z "$interp" ]; then results+=("$name: SKIPPED ($py not found)"); continue; fi
  venv=$(mktemp -d)/venv
  log="${FLOORS_LOGS:-${TMPDIR:-/tmp}}/floors-$name.log"
  echo "== $name: $("$interp" --version) with $pins (log: $log)"
  {
    "$interp" -m venv "$venv" &&
    "$venv/bin/pip" install -q --upgrade pip &&
    "$venv/bin/pip" install -q $pins -e ".[dev]" &&
    "$venv/bin/pip" list 2>/dev/null | grep -iE "^(numpy|numba|llvmlite|scipy|threadpoolctl|scikit-learn) " &&
    (cd tests && NUMBA_CACHE_DIR=$(mktemp -d) "$venv/bin/python" -m pytest -q -p no:cacheprovider -x ..)
  } > "$log" 2>&1
  status=$?
  summary=$(grep -E "passed|failed|error" "$log" | tail -n 1)
  versions=$(grep -iE "^(numpy|numba|scipy|threadpoolctl|scikit-learn) " "$log" | awk '{printf "%s %s, ", $1, $2}')
  results+=("$name ($("$interp" --version 2>&1); ${versions%, }): exit $status: $summary")
  rm -rf "$(dirname "$venv")"
done
printf '%s\n' "${results[@]}"
