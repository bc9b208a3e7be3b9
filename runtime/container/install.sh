#!/bin/sh
# The image's install recipe, in two layers: `deps` (the locked dependencies, hashes checked,
# nothing resolved) and `project DIR` (Windsock itself, no dependency touched, then `pip check`).
# The Dockerfile runs it; tests/container/test_image_recipe.py runs the same script in a venv.
set -eu
recipe=$(dirname "$0")
case "${1:-}" in
    deps)
        python -m pip install --no-deps --require-hashes -r "$recipe/requirements.lock"
        ;;
    project)
        python -m pip install --no-deps --no-build-isolation "${2:-.}"
        python -m pip check
        ;;
    *)
        echo "usage: install.sh deps | project DIR" >&2
        exit 2
        ;;
esac
