# shellcheck shell=bash
# Helpers shared by the scripts in scripts/. Source it, do not run it.
#
# Nothing here names a package mirror: the Debian mirror is read at run time from the
# system's own apt sources (or AISHELL_DEBIAN_MIRROR), and the system's apt configuration
# is never modified — Debian packages of other suites are fetched with a *private* apt
# state (own sources list, lists and cache folders) and unpacked with `dpkg -x`.

# shellcheck disable=SC2034 # used by the scripts that source this file
AISHELL_REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
AISHELL_ENGINE_HOME=${AISHELL_ENGINE_HOME:-$HOME/.cache/aishell-engine}
: "${LOG_TAG:=aishell}"

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
warn() { printf '[%s] warning: %s\n' "$LOG_TAG" "$*" >&2; }
die() {
    printf '[%s] error: %s\n' "$LOG_TAG" "$*" >&2
    exit 1
}

# Seconds since the epoch with a fraction, for "took 1.2 s" messages.
now() { date +%s.%N; }
elapsed_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Quote a string for a POSIX shell (single quotes), for lines meant for `eval`.
shell_quote() {
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "$1 must run as root (it starts dockerd / runs dpkg and apt-get)"
}

# The host's Debian codename (bookworm on the project's machines).
host_codename() {
    local c=""
    if [[ -r /etc/os-release ]]; then
        c=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
    fi
    [[ -n $c ]] || die "cannot tell the Debian codename from /etc/os-release"
    printf '%s\n' "$c"
}

# The Debian mirror URL the system itself uses: AISHELL_DEBIAN_MIRROR if set, else the
# first URI of the deb822 stanza in /etc/apt/sources.list.d/debian.sources whose Suites
# contain the host's codename, else the matching one-line entry of /etc/apt/sources.list.
debian_mirror() {
    if [[ -n ${AISHELL_DEBIAN_MIRROR:-} ]]; then
        printf '%s\n' "${AISHELL_DEBIAN_MIRROR%/}"
        return
    fi
    local codename uri=""
    codename=$(host_codename)
    local f=/etc/apt/sources.list.d/debian.sources
    if [[ -r $f ]]; then
        uri=$(awk -v suite="$codename" '
            function flush() {
                if (types ~ /(^|[ \t])deb([ \t]|$)/ && (" " suites " ") ~ ("[ \t]" suite "[ \t]") && uris != "" && found == "") {
                    split(uris, u, /[ \t]+/); found = u[1]
                }
                types = ""; suites = ""; uris = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                line = $0; key = line; sub(/:.*/, "", key); val = line; sub(/^[^:]*:[ \t]*/, "", val)
                key = tolower(key)
                if (key == "types") types = val
                else if (key == "suites") suites = val
                else if (key == "uris") uris = val
            }
            END { flush(); if (found != "") print found }
        ' "$f")
    fi
    if [[ -z $uri && -r /etc/apt/sources.list ]]; then
        uri=$(awk -v suite="$codename" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }
        ' /etc/apt/sources.list)
    fi
    [[ -n $uri ]] || die "no Debian mirror for '$codename' found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; set AISHELL_DEBIAN_MIRROR"
    printf '%s\n' "${uri%/}"
}

# ---------------------------------------------------------------------------------------
# Private apt state for one Debian suite, under $AISHELL_ENGINE_HOME/<suite>/apt.
# The system's sources, lists, cache and dpkg status are not read or written.

apt_state_dir() { printf '%s/%s/apt\n' "$AISHELL_ENGINE_HOME" "$1"; }

# Prints the apt-get options (one per line) that select the private state of suite $1.
apt_private_opts() {
    local d
    d=$(apt_state_dir "$1")
    printf '%s\n' \
        -o "Dir::Etc::SourceList=$d/sources.list" \
        -o "Dir::Etc::SourceParts=/dev/null" \
        -o "Dir::State::Lists=$d/lists" \
        -o "Dir::State::status=$d/status" \
        -o "Dir::Cache=$d/cache" \
        -o "Dir::Cache::pkgcache=$d/cache/pkgcache.bin" \
        -o "Dir::Cache::srcpkgcache=$d/cache/srcpkgcache.bin" \
        -o "APT::Sandbox::User=root" \
        -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false" \
        -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false" \
        -o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false" \
        -o "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false"
}

# apt_private SUITE apt-get|apt-cache ARGS... — run an apt tool on the private state.
apt_private() {
    local suite=$1 tool=$2
    shift 2
    local -a opts
    mapfile -t opts < <(apt_private_opts "$suite")
    "$tool" "${opts[@]}" "$@"
}

# Creates the private state of suite $1 and runs `apt-get update` on it when it has no
# package lists yet, or when $2 is "force". Output goes to $3 (a log file).
apt_private_update() {
    local suite=$1 mode=${2:-} logf=${3:-/dev/stderr}
    local d mirror
    d=$(apt_state_dir "$suite")
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/debs"
    [[ -e $d/status ]] || : >"$d/status"
    if [[ $mode != force ]] && compgen -G "$d/lists/*_Packages*" >/dev/null; then
        return 0
    fi
    mirror=$(debian_mirror)
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
        "$mirror" "$suite" >"$d/sources.list"
    log "apt-get update (private state for $suite)"
    if ! apt_private "$suite" apt-get -q update >>"$logf" 2>&1; then
        [[ $logf == /dev/stderr ]] || tail -n 20 "$logf" >&2
        die "apt-get update for $suite failed (log: $logf)"
    fi
}

# Prints "<package> <candidate version>" for each package, "(none)" when there is none.
apt_private_candidates() {
    local suite=$1
    shift
    apt_private "$suite" apt-cache policy "$@" 2>/dev/null | awk '
        /^[^ \t].*:$/ { pkg = $0; sub(/:$/, "", pkg) }
        /^  Candidate:/ { print pkg, $2 }
    '
}

# apt_private_fetch SUITE DEST LOG PKG... — downloads the suite's candidate .deb of each
# package (kept in the private state's debs/ folder, reused later) and unpacks it into
# DEST with `dpkg -x`. Retries once after refreshing the lists (a moving suite such as sid
# drops old versions from the mirror).
apt_private_fetch() {
    local suite=$1 dest=$2 logf=$3
    shift 3
    local d attempt pkg ver
    d=$(apt_state_dir "$suite")
    apt_private_update "$suite" "" "$logf"
    local -A cand=()
    for attempt in 1 2; do
        cand=()
        while read -r pkg ver; do
            cand[$pkg]=$ver
        done < <(apt_private_candidates "$suite" "$@")
        local -a missing=()
        for pkg in "$@"; do
            ver=${cand[$pkg]:-}
            # apt-get download names files <pkg>_<version with ':' as %3a>_<arch>.deb
            if [[ -z $ver || $ver == "(none)" ]] || ! compgen -G "$d/debs/${pkg}_${ver//:/%3a}_*.deb" >/dev/null; then
                missing+=("$pkg")
            fi
        done
        ((${#missing[@]})) || break
        log "downloading from $suite: ${missing[*]}"
        if (cd "$d/debs" && apt_private "$suite" apt-get -q download "${missing[@]}") >>"$logf" 2>&1; then
            continue # the next round checks that every .deb is there now
        fi
        if ((attempt == 2)); then
            tail -n 20 "$logf" >&2
            die "apt-get download from $suite failed (log: $logf)"
        fi
        apt_private_update "$suite" force "$logf"
    done
    mkdir -p "$dest"
    for pkg in "$@"; do
        ver=${cand[$pkg]:-}
        local deb=""
        [[ -n $ver ]] && deb=$(compgen -G "$d/debs/${pkg}_${ver//:/%3a}_*.deb" | head -n 1)
        [[ -n $deb ]] || die "no .deb of $pkg (${ver:-no candidate}) in $d/debs (log: $logf)"
        dpkg -x "$deb" "$dest"
        printf '%s %s\n' "$pkg" "$ver" >>"$dest/.packages"
    done
}

# Installs packages of the host's own release with the system apt-get when they are missing
# (running `apt-get update` first when apt knows no candidate for one of them).
host_apt_install() {
    local -a want=()
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            want+=("$pkg")
        fi
    done
    ((${#want[@]})) || return 0
    need_root "installing ${want[*]}"
    mkdir -p "$AISHELL_ENGINE_HOME"
    local logf=$AISHELL_ENGINE_HOME/host-apt.log
    log "installing host packages with the system apt-get: ${want[*]} (log: $logf)"
    local cand
    for pkg in "${want[@]}"; do
        cand=$(apt-cache policy "$pkg" 2>/dev/null | awk '/^  Candidate:/ { print $2 }')
        if [[ -z $cand || $cand == "(none)" ]]; then
            log "apt-get update (system)"
            if ! DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update >>"$logf" 2>&1; then
                tail -n 20 "$logf" >&2
                die "apt-get update failed (log: $logf)"
            fi
            break
        fi
    done
    if ! DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 \
        install --no-install-recommends "${want[@]}" >>"$logf" 2>&1; then
        tail -n 20 "$logf" >&2
        die "apt-get install ${want[*]} failed (log: $logf)"
    fi
}

# ---------------------------------------------------------------------------------------
# The loopback registry of `scripts/engine up --buildkit` (AISHELL_ENGINE_REGISTRY, e.g.
# 127.0.0.1:5000). A standalone buildkitd has no image store: what a build names must be in
# a registry. The engine's buildkitd pulls docker.io and ghcr.io names from this registry
# first (mirrors), so an image pushed under its path there keeps its usual name.

# The name of IMAGE in the engine's registry: the path without the registry host
# (`ghcr.io/org/x:1` -> `<registry>/org/x:1`, `aishell-test/busybox:1` ->
# `<registry>/aishell-test/busybox:1`; Docker Hub's official `rust:1` -> `<registry>/library/rust:1`).
engine_registry_name() {
    local image=$1 first path
    first=${image%%/*}
    if [[ $image != */* ]]; then
        path=library/$image
    elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then
        path=${image#*/}
    else
        path=$image
    fi
    printf '%s/%s\n' "$AISHELL_ENGINE_REGISTRY" "$path"
}

# push_to_engine_registry IMAGE — when AISHELL_ENGINE_REGISTRY is set, tags IMAGE (from the
# engine at DOCKER_HOST) with its name in that registry and pushes it; otherwise does nothing.
push_to_engine_registry() {
    [[ -n ${AISHELL_ENGINE_REGISTRY:-} ]] || return 0
    local image=$1 target t0
    target=$(engine_registry_name "$image")
    t0=$(now)
    if [[ $target != "$image" ]]; then
        docker tag "$image" "$target" || die "docker tag $image $target failed"
    fi
    docker push -q "$target" >/dev/null || die "docker push $target failed"
    log "pushed $target in $(elapsed_since "$t0") s (AISHELL_ENGINE_REGISTRY)"
}
