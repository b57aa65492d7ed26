#!/usr/bin/env bash
# The project's whole check on a fresh machine: install into .venv, then
# lint, type-check, and run the tests with branch coverage gated at 95%
# (in all and for each package).
EXTRAS=test,bench
. "$(dirname "$0")/_venv.sh"
bash tools/peers.sh
ruff check openai_sansio openai_trio tests examples benchmarks tools
mypy
# The conformance tests call a Prism mock server of the spec: prism.sh
# starts one for the run (PRISM_URL) and stops it when pytest is done.
bash tools/prism.sh python -bb -X dev -m coverage run -m pytest -q "$@"
coverage report --fail-under=95
# Each package on its own too: the total must not hide a weak one.
for gate in openai_sansio:95 openai_trio:95; do
    package=${gate%%:*}
    coverage report --include="$package/*" --fail-under="${gate##*:}" --format=total --precision=1 \
        | sed "s|^|$package branch coverage: |; s|\$|%|"
done
