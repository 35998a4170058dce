#!/usr/bin/env bash
# Load benchmark: caapolicy against stock CoreDNS plugins, measured with Debian's dnsperf on
# loopback in interleaved rounds, in one run on one machine.
#
#   bench/dnsperf.sh [-l SECONDS] [-r ROUNDS] [-Q RATE]
#
# (defaults: 3 s per measurement, 5 rounds, peak rate). With -Q, dnsperf sends RATE queries per
# second to every server and the script reads each server's CPU time from /proc: the qps column
# is then queries per CPU-second (1 / CPU time per query), steadier than the peak rate on a noisy
# machine, and every ratio is one of CPU cost per query.
#
# Every server is the same CoreDNS binary (cmd/coredns) on its own 127.0.0.1 port. Where two cores
# exist, servers are pinned to core 0 and dnsperf to core 1. Each round measures every server once,
# in a new random order, so that neither drift nor position favours one. It prints the median
# queries per second, the median over rounds of each round's ratio to file and to whoami, the mean
# latency and the servers' RSS, then each target's ratio with its range over the rounds, and stops
# every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=3
rounds=5
rate=
while getopts "l:r:Q:" opt; do
    case $opt in
        l) seconds=$OPTARG ;;
        r) rounds=$OPTARG ;;
        Q) rate=$OPTARG ;;
        *) echo "usage: $0 [-l SECONDS] [-r ROUNDS] [-Q RATE]" >&2; exit 2 ;;
    esac
done

if ! command -v dnsperf >/dev/null || ! command -v dig >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends dnsperf dnsutils >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

server_cpu=() client_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    server_cpu=(taskset -c 0)
    client_cpu=(taskset -c 1)
fi

go build -o "$work/coredns" ./cmd/coredns

# The zone: the same CAA RRset the policy declares, so that every server answers the same bytes.
cat >"$work/example.org.zone" <<'ZONE'
$ORIGIN example.org.
$TTL 300
@    IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600
@    IN NS  ns1.example.org.
ns1  IN A   127.0.0.1
@    IN A   192.0.2.1
@    IN CAA 0 issue "letsencrypt.org"
@    IN CAA 0 issuewild ";"
@    IN CAA 0 iodef "mailto:security@example.org"
ZONE
# For the merge measurement the zone holds one CAA record and the policy the other two.
grep -v 'issuewild\|iodef' "$work/example.org.zone" >"$work/merge.zone"

printf 'example.org CAA\n' >"$work/caa.q"
printf 'example.org A\n' >"$work/a.q"
# A flood of distinct names from one client: 50,000 names, each its own check event.
for i in $(seq 1 50000); do printf 'r%d.example.org CAA\n' "$i"; done >"$work/flood.q"

# server LABEL QTYPE: start a CoreDNS whose server block holds the plugins read from stdin, on its
# own loopback port, measured with QTYPE (caa or a) queries.
port=$((20000 + RANDOM % 20000))
names=() ports=() queries=() spids=()
declare -A idx
server() {
    port=$((port + 1))
    local conf="$work/server$port.conf"
    { printf 'example.org:%d {\n    bind 127.0.0.1\n' "$port"; cat; printf '}\n'; } >"$conf"
    "${server_cpu[@]}" "$work/coredns" -conf "$conf" -quiet >"$conf.log" 2>&1 &
    idx[$1]=${#names[@]}
    pids+=($!) spids+=($!) names+=("$1") ports+=("$port") queries+=("$work/$2.q")
}

server "caapolicy, policy (ignore)" caa <<CONF
    caapolicy {
        issue letsencrypt.org
        issuewild none
        iodef mailto:security@example.org
        zonedata ignore
        log none
        checks off
    }
    file $work/example.org.zone
CONF
server "caapolicy, merged over file" caa <<CONF
    caapolicy {
        issuewild none
        iodef mailto:security@example.org
        log none
        checks off
    }
    file $work/merge.zone
CONF
server "file" caa <<CONF
    file $work/example.org.zone
CONF
server "template" caa <<'CONF'
    template IN CAA example.org {
        answer "{{ .Name }} 300 IN CAA 0 issue \"letsencrypt.org\""
        answer "{{ .Name }} 300 IN CAA 0 issuewild \";\""
        answer "{{ .Name }} 300 IN CAA 0 iodef \"mailto:security@example.org\""
    }
CONF
server "whoami" caa <<CONF
    whoami
CONF
server "non-CAA, with caapolicy" a <<CONF
    caapolicy {
        issuewild none
        iodef mailto:security@example.org
        log none
        checks off
    }
    file $work/example.org.zone
CONF
server "non-CAA, without caapolicy" a <<CONF
    file $work/example.org.zone
CONF
# An A/A control: the same server again. How far it strays from the one above is the noise.
server "non-CAA, without (control)" a <<CONF
    file $work/example.org.zone
CONF
# The first row with the query log (text lines, to the server's log file) and check events on.
server "caapolicy, policy, log on" caa <<CONF
    caapolicy {
        issue letsencrypt.org
        issuewild none
        iodef mailto:security@example.org
        zonedata ignore
    }
    file $work/example.org.zone
CONF

# cache in front: non-CAA queries with and without caapolicy; CAA queries, which caapolicy keeps out
# of the cache and answers itself (logged), against CAA answers from the cache without caapolicy.
server "non-CAA, cache, with" a <<CONF
    cache
    caapolicy {
        issuewild none
        iodef mailto:security@example.org
    }
    file $work/example.org.zone
CONF
server "non-CAA, cache, without" a <<CONF
    cache
    file $work/example.org.zone
CONF
server "CAA, cache in front, with" caa <<CONF
    cache
    caapolicy {
        issuewild none
        iodef mailto:security@example.org
    }
    file $work/merge.zone
CONF
server "CAA from cache, without" caa <<CONF
    cache
    file $work/example.org.zone
CONF
# One client sending 50,000 distinct names, query log on, check events on and off.
server "flood, checks on" flood <<CONF
    caapolicy {
        issue letsencrypt.org
        zonedata ignore
    }
    file $work/example.org.zone
CONF
server "flood, checks off" flood <<CONF
    caapolicy {
        issue letsencrypt.org
        zonedata ignore
        checks off
    }
    file $work/example.org.zone
CONF

for i in "${!ports[@]}"; do
    for _ in $(seq 1 50); do
        dig @127.0.0.1 -p "${ports[$i]}" example.org SOA +short +tries=1 +time=1 >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! grep -q 'status: NOERROR' <<<"$(dig @127.0.0.1 -p "${ports[$i]}" example.org CAA +tries=1 +time=1)"; then
        echo "server ${names[$i]} did not start:" >&2
        cat "$work/server${ports[$i]}.conf" "$work/server${ports[$i]}.conf.log" >&2 || true
        exit 1
    fi
done

# cputicks PID: the user and system CPU time of process PID so far, in clock ticks.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# Interleaved rounds: every configuration once per round, in a shuffled order, so that drift and
# position hit them all alike. Ratios are taken within a round, then their median over rounds.
declare -A qps lat
declare -a done_q # queries each server answered, over all rounds
for r in $(seq 1 "$rounds"); do
    for i in $(shuf -e "${!ports[@]}"); do
        if [ -z "$rate" ]; then
            out=$("${client_cpu[@]}" dnsperf -s 127.0.0.1 -p "${ports[$i]}" -d "${queries[$i]}" -l "$seconds" -c 4 -q 200 2>&1)
            qps[$i,$r]=$(awk '/Queries per second/ {print $4}' <<<"$out")
        else
            t0=$(cputicks "${spids[$i]}")
            out=$("${client_cpu[@]}" dnsperf -s 127.0.0.1 -p "${ports[$i]}" -d "${queries[$i]}" -l "$seconds" -c 4 -q 200 -Q "$rate" 2>&1)
            # Work the queries left behind (check events closing after their window, log lines)
            # is counted to this server, and does not share the core with the next one.
            sleep 2.5
            t1=$(cputicks "${spids[$i]}")
            # Queries per CPU-second: completed queries over the server's CPU time.
            qps[$i,$r]=$(awk -v n="$(awk '/Queries completed/ {print $3}' <<<"$out")" -v t="$((t1 - t0))" -v hz="$hz" \
                'BEGIN {printf "%.0f", (t > 0 ? n * hz / t : 0)}')
        fi
        lat[$i,$r]=$(awk '/Average Latency/ {print $4}' <<<"$out")
        done_q[$i]=$(( ${done_q[$i]:-0} + $(awk '/Queries completed/ {print $3}' <<<"$out") ))
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# ratios A B: the per-round ratios of server A to server B, space-separated.
ratios() { for r in $(seq 1 "$rounds"); do awk -v a="${qps[$1,$r]}" -v b="${qps[$2,$r]}" 'BEGIN {printf "%.4f ", a/b}'; done; }
# summary A B: the median per-round ratio and its range.
summary() {
    local rs; rs=$(ratios "$1" "$2")
    printf '%.2f (rounds %.2f to %.2f)' "$(median <<<"$rs")" \
        "$(tr ' ' '\n' <<<"$rs" | grep -v '^$' | sort -g | head -1)" "$(tr ' ' '\n' <<<"$rs" | grep -v '^$' | sort -g | tail -1)"
}
declare -a med mlat
for i in "${!ports[@]}"; do
    med[$i]=$(for r in $(seq 1 "$rounds"); do printf '%s ' "${qps[$i,$r]}"; done | median)
    mlat[$i]=$(for r in $(seq 1 "$rounds"); do printf '%s ' "${lat[$i,$r]}"; done | median)
done
policy_i=${idx["caapolicy, policy (ignore)"]} merged_i=${idx["caapolicy, merged over file"]} file_i=${idx[file]}
whoami_i=${idx[whoami]} nca_with_i=${idx["non-CAA, with caapolicy"]} nca_without_i=${idx["non-CAA, without caapolicy"]}
control_i=${idx["non-CAA, without (control)"]} logon_i=${idx["caapolicy, policy, log on"]}
cache_with_i=${idx["non-CAA, cache, with"]} cache_without_i=${idx["non-CAA, cache, without"]}
cached_with_i=${idx["CAA, cache in front, with"]} cached_without_i=${idx["CAA from cache, without"]}
flood_on_i=${idx["flood, checks on"]} flood_off_i=${idx["flood, checks off"]}

echo
if [ -z "$rate" ]; then
    echo "dnsperf on loopback, $rounds interleaved rounds of ${seconds}s, median; $(nproc) cores, $(go version | awk '{print $3}'), CoreDNS v1.15.0"
else
    echo "dnsperf on loopback at a fixed $rate queries/s, $rounds interleaved rounds of ${seconds}s, median; qps is queries per CPU-second of the server;"
    echo "$(nproc) cores, $(go version | awk '{print $3}'), CoreDNS v1.15.0"
fi
printf '| %-28s | %10s | %8s | %9s | %12s | %8s |\n' "server" "qps" "x file" "x whoami" "latency (us)" "RSS (MB)"
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------------------" "------------" "----------" "-----------" "--------------" "----------"
for i in "${!ports[@]}"; do
    ref=$file_i
    [ "$i" -ge "$nca_with_i" ] && [ "$i" -le "$control_i" ] && ref=$nca_without_i
    [ "$i" -eq "$cache_with_i" ] && ref=$cache_without_i
    [ "$i" -eq "$cached_with_i" ] && ref=$cached_without_i
    [ "$i" -eq "$flood_on_i" ] && ref=$flood_off_i
    rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/${spids[$i]}/status" 2>/dev/null || echo "?")
    printf '| %-28s | %10.0f | %8.2f | %9.2f | %12.1f | %8s |\n' "${names[$i]}" "${med[$i]}" \
        "$(ratios "$i" "$ref" | median)" "$(ratios "$i" "$whoami_i" | median)" \
        "$(awk -v l="${mlat[$i]}" 'BEGIN {print l*1e6}')" "$rss"
done
echo "(x file for the non-CAA rows is the ratio to \"non-CAA, without caapolicy\"; the control row shows the noise;"
echo " for the cache rows to the same Corefile without caapolicy; for \"flood, checks on\" to checks off.)"
echo
echo "Targets, as the median of the per-round ratios:"
echo "  policy / whoami          $(summary $policy_i $whoami_i)   target 0.95"
echo "  policy / file            $(summary $policy_i $file_i)   target 1.30"
echo "  merged / file            $(summary $merged_i $file_i)   target 0.95"
echo "  non-CAA with / without   $(summary $nca_with_i $nca_without_i)   target 0.98"
echo "  control / without        $(summary $control_i $nca_without_i)   (noise: ideally 1.00)"
echo "  log on / log off         $(summary $logon_i $policy_i)   target 0.90"
echo "  non-CAA with cache        $(summary $cache_with_i $cache_without_i)   target 0.98"
echo "  CAA, cache in front, w/o  $(summary $cached_with_i $cached_without_i)   (answered by caapolicy and logged, against from the cache)"
echo "  flood: checks on / off    $(summary $flood_on_i $flood_off_i)   target 0.90"
flines=$(grep -c 'plugin/caapolicy: .* udp "r[0-9]*.example.org."' "$work/server${ports[$flood_on_i]}.conf.log" || true)
echo "  ($flines flood query lines logged with checks on, ${done_q[$flood_on_i]} queries answered)"
lines=$(grep -c 'plugin/caapolicy: .* udp "example.org."' "$work/server${ports[$logon_i]}.conf.log" || true)
echo "  ($lines query lines logged by the log-on server, ${done_q[$logon_i]} queries it answered)"
