#!/usr/bin/env bash
# Runs the container the Dockerfile describes and asks it for example.org CAA, as CI does after
# release/build.sh.
#
# With podman (Debian's package) the image is built; where podman can also run it, it runs, and
# where it cannot (no cgroups or rlimits for it, as on CI's machines) the image's own file system
# is exported and run as below. Without podman, the file tree the Dockerfile's COPY lines
# describe is assembled instead. A tree runs as a runtime would run it: as root directory, from
# the image's WORKDIR, as its USER, with its ENTRYPOINT and CMD, in a network namespace of its
# own where unprivileged users may bind port 53 (Docker and Podman set that sysctl too).
#
#   release/run-image.sh          # podman if it works here, else the assembled tree
#   release/run-image.sh tree     # the assembled tree, whatever is installed
set -euo pipefail
cd "$(dirname "$0")/.."

arch=$(go env GOARCH)
want='0 issue "letsencrypt.org"'
image=localhost/caapolicy:ci
[ -x "dist/coredns-linux-$arch" ] || { echo "run-image: no dist/coredns-linux-$arch: run release/build.sh first"; exit 1; }
tree=$(mktemp -d)
chmod 755 "$tree" # as a container's root is: its USER must reach the binary
log=$(mktemp)
cleanup=(rm -rf "$tree" "$log")
trap '"${cleanup[@]}"' EXIT

# ask ADDR PORT: dig until the policy answer comes (10 s at most), print it, fail without it.
ask() {
    local answer=""
    for _ in $(seq 1 50); do
        answer=$(dig @"$1" -p "$2" example.org CAA +short +tries=1 +time=1 2>&1 || true)
        grep -qx "$want" <<<"$answer" && break
        sleep 0.2
    done
    echo "$answer"
    grep -qx "$want" <<<"$answer"
}

# freeport: a TCP and UDP port that nothing listens on.
freeport() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        [ -z "$(ss -Hlntu "sport = :$p")" ] && { echo "$p"; return; }
    done
}

# jsonarray '["a","b"]': a and b, one a line.
jsonarray() { sed -e 's/^\[//' -e 's/\]$//' -e 's/", *"/\n/g' -e 's/"//g' <<<"$1"; }

workdir=/ user=0 port="" entry=() cmd=()
if [ "${1:-}" != tree ] && command -v podman >/dev/null && podman info >/dev/null 2>&1; then
    echo "run-image: podman build --build-arg TARGETARCH=$arch -t $image ."
    podman build --build-arg "TARGETARCH=$arch" -t "$image" . >"$log" 2>&1 || { cat "$log"; exit 1; }
    port=$(freeport)
    echo "run-image: podman run -p 127.0.0.1:$port:53/udp -p 127.0.0.1:$port:53/tcp $image"
    if id=$(podman run -d --rm -p "127.0.0.1:$port:53/udp" -p "127.0.0.1:$port:53/tcp" "$image" 2>"$log"); then
        cleanup=(sh -c 'podman rm -f "$0" >/dev/null; rm -rf "$1" "$2"' "$id" "$tree" "$log")
        echo "run-image: dig @127.0.0.1 -p $port example.org CAA"
        ask 127.0.0.1 "$port" || { echo "run-image: the container did not answer its policy"; podman logs "$id"; exit 1; }
        echo "run-image: the image answers"
        exit 0
    fi
    echo "run-image: podman cannot run containers here ($(sed -n 1p "$log")): running the image's file system instead"
    ctr=$(podman create "$image")
    podman export "$ctr" | tar -x -C "$tree"
    podman rm "$ctr" >/dev/null
    IFS=' ' read -r user workdir <<<"$(podman image inspect --format '{{.Config.User}} {{.Config.WorkingDir}}' "$image")"
    mapfile -t entry < <(jsonarray "$(podman image inspect --format '{{json .Config.Entrypoint}}' "$image")")
    mapfile -t cmd < <(jsonarray "$(podman image inspect --format '{{json .Config.Cmd}}' "$image")")
    port=$(podman image inspect --format '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' "$image" | grep -o '^[0-9]*')
else
    echo "run-image: assembling the Dockerfile's file tree"
    while read -r instr args; do
        case "$instr" in
        FROM) [ "$args" = scratch ] || { echo "run-image: FROM $args: only FROM scratch is assembled here"; exit 1; } ;;
        ARG) ;; # TARGETARCH is this machine's
        COPY)
            read -r src dst <<<"${args//'${TARGETARCH}'/$arch}"
            echo "run-image: COPY $src $dst"
            mkdir -p "$tree$(dirname "$dst")"
            cp "$src" "$tree$dst"
            ;;
        WORKDIR) workdir=$args ;;
        USER) user=$args ;;
        EXPOSE) port=${args%%/*} ;;
        ENTRYPOINT) mapfile -t entry < <(jsonarray "$args") ;;
        CMD) mapfile -t cmd < <(jsonarray "$args") ;;
        *) echo "run-image: the Dockerfile's $instr is not assembled here"; exit 1 ;;
        esac
    done < <(grep -E '^[A-Z]+ ' Dockerfile)
fi

[ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] || { echo "run-image: the image runs as root"; exit 1; }
[ -n "$port" ] || { echo "run-image: the image exposes no port"; exit 1; }
export want
export -f ask
echo "run-image: in a network namespace of its own, as user $user from $workdir: ${entry[*]} ${cmd[*]}"
echo "run-image: dig @127.0.0.1 -p $port example.org CAA"
unshare --net --fork bash -euo pipefail -c '
    tree=$1 workdir=$2 user=$3 port=$4 log=$5
    shift 5
    ip link set lo up
    sysctl -qw net.ipv4.ip_unprivileged_port_start=0
    unshare --root="$tree" --wd="$workdir" --setuid "${user%%:*}" --setgid "${user##*:}" "$@" >"$log" 2>&1 &
    server=$!
    ok=0
    ask 127.0.0.1 "$port" || ok=$?
    kill "$server"
    wait "$server" || true
    exit "$ok"
' run-image "$tree" "$workdir" "$user" "$port" "$log" "${entry[@]}" "${cmd[@]}" || { echo "run-image: the image's file system did not answer its policy"; cat "$log"; exit 1; }
echo "run-image: the image's file system answers"
