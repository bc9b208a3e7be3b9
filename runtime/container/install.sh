#!/bin/sh
# The image's install recipe, in layers: `deps` (the locked dependencies, hashes checked, nothing
# resolved), `providers` (the supported Airflow provider packages: their own dependencies from the
# hash-checked providers lock, then the providers with --no-deps, since each requires apache-airflow,
# which Windsock replaces; docs/providers.md) and `project DIR` (Windsock itself, no dependency
# touched, then `pip check`). The Dockerfile runs it; tests/container/test_image_recipe.py runs the
# same script in a venv.
set -eu
recipe=$(dirname "$0")
case "${1:-}" in
    deps)
        python -m pip install --no-deps --require-hashes -r "$recipe/requirements.lock"
        ;;
    providers)
        python -m pip install --no-deps --require-hashes -r "$recipe/providers-deps.lock"
        python -m pip install --no-deps -r "$recipe/providers.in"
        ;;
    project)
        python -m pip install --no-deps --no-build-isolation "${2:-.}"
        # Provider packages name apache-airflow (replaced by Windsock) and mysqlclient (a C build;
        # the mysql provider's other client is installed): those two complaints are expected.
        found=$(python -m pip check 2>&1) || true
        broken=$(printf '%s\n' "$found" | grep -v -e "requires apache-airflow, which is not installed" \
            -e "requires mysqlclient, which is not installed" -e "^No broken requirements found" -e '^$' || true)
        if [ -n "$broken" ]; then
            printf '%s\n' "$broken" >&2
            exit 1
        fi
        ;;
    *)
        echo "usage: install.sh deps | providers | project DIR" >&2
        exit 2
        ;;
esac
