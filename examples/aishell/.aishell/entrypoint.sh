#!/bin/bash
# A small stand-in for aishell's entrypoint: it starts as root (the image has no USER),
# maps the baked-in `developer` user to the host's uid/gid when LOCAL_UID/LOCAL_GID are
# given, and runs the command as that user. The harness tools are already on PATH
# (/tools/npm/bin and /tools/bin come first), so nothing is mounted at run time.
set -euo pipefail
if [[ $(id -u) == 0 && -n ${LOCAL_UID:-} ]]; then
    gid=${LOCAL_GID:-$LOCAL_UID}
    [[ $(id -g developer) == "$gid" ]] || groupmod -o -g "$gid" developer
    [[ $(id -u developer) == "$LOCAL_UID" ]] || usermod -o -u "$LOCAL_UID" developer
    exec setpriv --reuid "$LOCAL_UID" --regid "$gid" --init-groups -- "$@"
fi
exec "$@"
