#!/usr/bin/env bash
# Install into .venv and stream a chat completion from the built-in fake
# server through the real client.  No API key needed.
EXTRAS=test
. "$(dirname "$0")/_venv.sh"
python -m openai_trio demo "$@"
