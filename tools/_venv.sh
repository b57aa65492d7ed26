# Sourced by tools/*.sh: make (once) and enter the project's virtualenv, with
# the package installed in editable mode and the extras named in $EXTRAS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
. .venv/bin/activate
stamp=".venv/.installed-${EXTRAS:-base}-compat"
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
    python -m pip install -q --disable-pip-version-check --upgrade pip
    # "compat" puts the checkout on sys.path with a .pth file: mypy (ours and
    # a user's) follows that, not setuptools' default import-hook finder.
    python -m pip install -q --disable-pip-version-check -e ".[${EXTRAS:-test}]" \
        --config-settings editable_mode=compat
    touch "$stamp"
fi
