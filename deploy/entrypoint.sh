#!/bin/sh
# Entry point of the Resonanz image: runs the process the container command names, as PID 1 (exec),
# so SIGTERM from Kubernetes reaches the service and it drains gracefully.
#   resonanz-publishing | resonanz-listening | resonanz-scoring | resonanz-embedded   (a role)
#   resonanz ...                                                                      (the CLI)
# Anything else (python, sh) runs as given, for debugging.
set -eu
ROLES="resonanz-publishing resonanz-listening resonanz-scoring resonanz-embedded"
if [ "$#" -eq 0 ]; then
    echo "resonanz-entrypoint: name a role: $ROLES" >&2
    exit 64
fi
case "$1" in
    resonanz | resonanz-publishing | resonanz-listening | resonanz-scoring | resonanz-embedded)
        exec "$@"
        ;;
    resonanz-*)
        echo "resonanz-entrypoint: unknown role '$1'; the roles are: $ROLES" >&2
        exit 64
        ;;
    *)
        exec "$@"
        ;;
esac
