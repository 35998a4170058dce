#!/usr/bin/env bash
# Load benchmark: caapolicy against stock CoreDNS plugins, measured with Debian's dnsperf on
# loopback in interleaved rounds, in one run on one machine.
#
#   bench/dnsperf.sh [-l SECONDS] [-r ROUNDS] [-Q RATE] [-s all|cache] [-b LABEL=BINARY]...
#
# (defaults: 3 s per measurement, 5 rounds, peak rate, every row). With -Q, dnsperf sends RATE
# queries per second to every server and the script reads each server's CPU time from /proc: the
# qps column is then queries per CPU-second (1 / CPU time per query), steadier than the peak rate
# on a noisy machine, and every ratio is one of CPU cost per query.
#
# The servers run the CoreDNS binary built from this tree (cmd/coredns), each on its own 127.0.0.1
# port. -b adds another binary, such as one built from an earlier commit, under LABEL: it serves
# the three rows that compare builds (merged over file, non-CAA behind cache, CAA behind cache)
# beside this tree's, in the same rounds, and with -s all also the non-CAA row without cache and
# the policy row with the query log on (their references are this tree's: the stock non-CAA row
# and the log-off row, whose path does not reach the watcher). -s cache keeps only the three
# rows and their stock references; -s all (the default) adds every other row.
#
# Where two cores exist, servers are pinned to core 0 and dnsperf to core 1. Each round measures
# every server once, in a new random order, so that neither drift nor position favours one. Each
# row has a reference row (stock CoreDNS, or the same Corefile without the feature measured); the
# table shows the median queries per second, the median over rounds of each round's ratio to the
# reference, the mean latency and the servers' RSS, then the ratios that matter with their range
# over the rounds, and each target of issue #26 with its threshold, met or not (by the median). An
# A/A control (a stock server twice) shows the noise of the run. It stops every process it
# started.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=3
rounds=5
rate=
set_=all
extra=()
usage() { echo "usage: $0 [-l SECONDS] [-r ROUNDS] [-Q RATE] [-s all|cache] [-b LABEL=BINARY]..." >&2; exit 2; }
while getopts "l:r:Q:s:b:" opt; do
    case $opt in
        l) seconds=$OPTARG ;;
        r) rounds=$OPTARG ;;
        Q) rate=$OPTARG ;;
        s) set_=$OPTARG; [ "$set_" = all ] || [ "$set_" = cache ] || usage ;;
        b) [[ $OPTARG == *=* ]] || usage; extra+=("$OPTARG") ;;
        *) usage ;;
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
# builds: label -> binary; "this tree" first.
builds=("this tree=$work/coredns" "${extra[@]}")
for b in "${extra[@]}"; do
    [ -x "${b#*=}" ] || { echo "${b#*=}: not an executable" >&2; exit 2; }
done

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

# server LABEL QTYPE REF [BINARY]: start a CoreDNS whose server block holds the plugins read from
# stdin, on its own loopback port, measured with QTYPE (caa, a or flood) queries; REF is the label
# of the row it is compared with ("" for none).
port=$((20000 + RANDOM % 20000))
names=() ports=() queries=() spids=() refs=()
declare -A idx
server() {
    port=$((port + 1))
    local conf="$work/server$port.conf"
    { printf 'example.org:%d {\n    bind 127.0.0.1\n' "$port"; cat; printf '}\n'; } >"$conf"
    "${server_cpu[@]}" "${4:-$work/coredns}" -conf "$conf" -quiet >"$conf.log" 2>&1 &
    idx[$1]=${#names[@]}
    pids+=($!) spids+=($!) names+=("$1") ports+=("$port") queries+=("$work/$2.q") refs+=("$3")
}

# The caapolicy blocks of the rows: two properties that merge with the zone file's (or stand
# alone where it has none), with the query log and check events off or on (the default), and the
# policy rows' three properties without zone data.
merge_quiet='    caapolicy {
        issuewild none
        iodef mailto:security@example.org
        log none
        checks off
    }'
merge_logged='    caapolicy {
        issuewild none
        iodef mailto:security@example.org
    }'
policy_quiet='    caapolicy {
        issue letsencrypt.org
        issuewild none
        iodef mailto:security@example.org
        zonedata ignore
        log none
        checks off
    }'
policy_logged='    caapolicy {
        issue letsencrypt.org
        issuewild none
        iodef mailto:security@example.org
        zonedata ignore
    }'

# Stock references, and the A/A control: the same stock server twice.
server "file" caa "" <<CONF
    file $work/example.org.zone
CONF
server "non-CAA, cache, stock" a "" <<CONF
    cache
    file $work/example.org.zone
CONF
server "non-CAA, cache, stock (control)" a "non-CAA, cache, stock" <<CONF
    cache
    file $work/example.org.zone
CONF
server "CAA from cache, stock" caa "" <<CONF
    cache
    file $work/example.org.zone
CONF

# The rows that compare builds: the policy merged with the zone file's record (no cache), A
# queries answered by cache in front of caapolicy, CAA queries with cache in front.
for b in "${builds[@]}"; do
    label=${b%%=*} bin=${b#*=}
    server "merged over file, $label" caa "file" "$bin" <<CONF
$merge_quiet
    file $work/merge.zone
CONF
    server "non-CAA, cache, $label" a "non-CAA, cache, stock" "$bin" <<CONF
    cache
$merge_logged
    file $work/example.org.zone
CONF
    server "CAA, cache, $label" caa "CAA from cache, stock" "$bin" <<CONF
    cache
$merge_logged
    file $work/merge.zone
CONF
done

# The same Corefile as "CAA, cache, this tree" with the query log and check events off: what the
# answer costs without the log's share.
server "CAA, cache, log off, this tree" caa "CAA from cache, stock" <<CONF
    cache
$merge_quiet
    file $work/merge.zone
CONF

# The metadata route's floor: the metadata plugin in front, calling caapolicy's Metadata on every
# query (cache hits included), beside the stock Corefile without it.
server "non-CAA, metadata, cache, this tree" a "non-CAA, cache, stock" <<CONF
    metadata
    cache
$merge_logged
    file $work/example.org.zone
CONF

if [ "$set_" = all ]; then
    server "caapolicy, policy (ignore)" caa "file" <<CONF
$policy_quiet
    file $work/example.org.zone
CONF
    server "template" caa "file" <<'CONF'
    template IN CAA example.org {
        answer "{{ .Name }} 300 IN CAA 0 issue \"letsencrypt.org\""
        answer "{{ .Name }} 300 IN CAA 0 issuewild \";\""
        answer "{{ .Name }} 300 IN CAA 0 iodef \"mailto:security@example.org\""
    }
CONF
    server "whoami" caa "file" <<CONF
    whoami
CONF
    server "non-CAA, without caapolicy" a "" <<CONF
    file $work/example.org.zone
CONF
    server "non-CAA, with caapolicy" a "non-CAA, without caapolicy" <<CONF
$merge_quiet
    file $work/example.org.zone
CONF
    # The same for each other build, against this tree's reference row.
    for b in "${extra[@]}"; do
        label=${b%%=*} bin=${b#*=}
        server "non-CAA, with caapolicy, $label" a "non-CAA, without caapolicy" "$bin" <<CONF
$merge_quiet
    file $work/example.org.zone
CONF
    done
    # The policy row with the query log (text lines, to the server's log file) and check events on.
    server "caapolicy, policy, log on" caa "caapolicy, policy (ignore)" <<CONF
$policy_logged
    file $work/example.org.zone
CONF
    # The same for each other build, against this tree's log-off row.
    for b in "${extra[@]}"; do
        label=${b%%=*} bin=${b#*=}
        server "caapolicy, policy, log on, $label" caa "caapolicy, policy (ignore)" "$bin" <<CONF
$policy_logged
    file $work/example.org.zone
CONF
    done
    # One client sending 50,000 distinct names, query log on, check events on and off.
    server "flood, checks off" flood "" <<CONF
    caapolicy {
        issue letsencrypt.org
        zonedata ignore
        checks off
    }
    file $work/example.org.zone
CONF
    server "flood, checks on" flood "flood, checks off" <<CONF
    caapolicy {
        issue letsencrypt.org
        zonedata ignore
    }
    file $work/example.org.zone
CONF
fi

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
# summary A B: the median per-round ratio of the rows labelled A and B, and its range.
summary() {
    local rs; rs=$(ratios "${idx[$1]}" "${idx[$2]}")
    printf '%.2f (rounds %.2f to %.2f)' "$(median <<<"$rs")" \
        "$(tr ' ' '\n' <<<"$rs" | grep -v '^$' | sort -g | head -1)" "$(tr ' ' '\n' <<<"$rs" | grep -v '^$' | sort -g | tail -1)"
}
# quotient A B C D: the median over rounds of (A/B) / (C/D), the ratio of two ratios in one round.
quotient() {
    local a=${idx[$1]} b=${idx[$2]} c=${idx[$3]} d=${idx[$4]} rs=""
    for r in $(seq 1 "$rounds"); do
        rs+=$(awk -v a="${qps[$a,$r]}" -v b="${qps[$b,$r]}" -v c="${qps[$c,$r]}" -v d="${qps[$d,$r]}" 'BEGIN {printf "%.4f ", (a/b)/(c/d)}')
    done
    printf '%.2f' "$(median <<<"$rs")"
}
declare -a med mlat
for i in "${!ports[@]}"; do
    med[$i]=$(for r in $(seq 1 "$rounds"); do printf '%s ' "${qps[$i,$r]}"; done | median)
    mlat[$i]=$(for r in $(seq 1 "$rounds"); do printf '%s ' "${lat[$i,$r]}"; done | median)
done

echo
if [ -z "$rate" ]; then
    echo "dnsperf on loopback, $rounds interleaved rounds of ${seconds}s, median; $(nproc) cores, $(go version | awk '{print $3}'), CoreDNS v1.15.0"
else
    echo "dnsperf on loopback at a fixed $rate queries/s, $rounds interleaved rounds of ${seconds}s, median; qps is queries per CPU-second of the server;"
    echo "$(nproc) cores, $(go version | awk '{print $3}'), CoreDNS v1.15.0"
fi
printf '| %-38s | %9s | %6s | %-32s | %12s | %8s |\n' "server" "qps" "x ref" "reference" "latency (us)" "RSS (MB)"
printf '|%s|%s|%s|%s|%s|%s|\n' "----------------------------------------" "-----------" "--------" "----------------------------------" "--------------" "----------"
for i in "${!ports[@]}"; do
    rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/${spids[$i]}/status" 2>/dev/null || echo "?")
    x=$(printf '%6s' "")
    [ -n "${refs[$i]}" ] && x=$(printf '%6.2f' "$(ratios "$i" "${idx[${refs[$i]}]}" | median)")
    printf '| %-38s | %9.0f | %s | %-32s | %12.1f | %8s |\n' "${names[$i]}" "${med[$i]}" "$x" "${refs[$i]}" \
        "$(awk -v l="${mlat[$i]}" 'BEGIN {print l*1e6}')" "$rss"
done
echo
echo "Ratios, as the median of the per-round ratios (range over the rounds):"
echo "  A/A control (noise: ideally 1.00)           $(summary "non-CAA, cache, stock (control)" "non-CAA, cache, stock")"
for b in "${builds[@]}"; do
    label=${b%%=*}
    echo "  $label:"
    echo "    merged over file / file                   $(summary "merged over file, $label" "file")"
    echo "    non-CAA behind cache / stock              $(summary "non-CAA, cache, $label" "non-CAA, cache, stock")"
    echo "    CAA behind cache / CAA from stock cache   $(summary "CAA, cache, $label" "CAA from cache, stock")"
done
for b in "${extra[@]}"; do
    label=${b%%=*}
    echo "  this tree's ratio over $label's, same rounds (1.00: no change):"
    echo "    merged $(quotient "merged over file, this tree" "file" "merged over file, $label" "file")," \
        "non-CAA behind cache $(quotient "non-CAA, cache, this tree" "non-CAA, cache, stock" "non-CAA, cache, $label" "non-CAA, cache, stock")," \
        "CAA behind cache $(quotient "CAA, cache, this tree" "CAA from cache, stock" "CAA, cache, $label" "CAA from cache, stock")"
done
echo "  CAA behind cache, log off / stock cache   $(summary "CAA, cache, log off, this tree" "CAA from cache, stock")"
if [ "$set_" = all ]; then
    echo "  policy / whoami                             $(summary "caapolicy, policy (ignore)" whoami)"
    echo "  policy / file                               $(summary "caapolicy, policy (ignore)" file)"
    echo "  non-CAA with / without caapolicy           $(summary "non-CAA, with caapolicy" "non-CAA, without caapolicy")"
    for b in "${extra[@]}"; do
        label=${b%%=*}
        printf '    %-42s%s\n' "$label: non-CAA with / without" "$(summary "non-CAA, with caapolicy, $label" "non-CAA, without caapolicy")"
        echo "    this tree's non-CAA over $label's, same rounds: $(quotient "non-CAA, with caapolicy" "non-CAA, without caapolicy" "non-CAA, with caapolicy, $label" "non-CAA, without caapolicy")"
    done
    echo "  log on / log off                            $(summary "caapolicy, policy, log on" "caapolicy, policy (ignore)")"
    for b in "${extra[@]}"; do
        label=${b%%=*}
        printf '    %-42s%s\n' "$label: log on / log off" "$(summary "caapolicy, policy, log on, $label" "caapolicy, policy (ignore)")"
        echo "    this tree's log on over $label's, same rounds: $(quotient "caapolicy, policy, log on" "caapolicy, policy (ignore)" "caapolicy, policy, log on, $label" "caapolicy, policy (ignore)")"
    done
    echo "  flood: checks on / off                      $(summary "flood, checks on" "flood, checks off")"
    f=${idx["flood, checks on"]} l=${idx["caapolicy, policy, log on"]}
    flines=$(grep -c 'plugin/caapolicy: .* udp "r[0-9]*.example.org."' "$work/server${ports[$f]}.conf.log" || true)
    echo "  ($flines flood query lines logged with checks on, ${done_q[$f]} queries answered)"
    lines=$(grep -c 'plugin/caapolicy: .* udp "example.org."' "$work/server${ports[$l]}.conf.log" || true)
    echo "  ($lines query lines logged by the log-on server, ${done_q[$l]} queries it answered)"
fi
# target LABEL A B MIN: a target of issue #26, the ratio of row A to row B, met when the median
# over the rounds is at least MIN (skipped when a row is not in this run).
target() {
    [ -n "${idx[$2]:-}" ] && [ -n "${idx[$3]:-}" ] || return 0
    local rs m verdict
    rs=$(ratios "${idx[$2]}" "${idx[$3]}")
    m=$(median <<<"$rs")
    verdict=$(awk -v m="$m" -v t="$4" 'BEGIN {print (m >= t ? "met" : "NOT MET")}')
    printf '  %-42s >= %-4s %.3f (rounds %.2f to %.2f)  %s\n' "$1" "$4" "$m" \
        "$(tr ' ' '\n' <<<"$rs" | grep -v '^$' | sort -g | head -1)" "$(tr ' ' '\n' <<<"$rs" | grep -v '^$' | sort -g | tail -1)" "$verdict"
}
echo
echo "Targets (issue #26), this tree:"
target "non-CAA with / without caapolicy" "non-CAA, with caapolicy" "non-CAA, without caapolicy" 0.99
target "non-CAA behind cache / stock cache" "non-CAA, cache, this tree" "non-CAA, cache, stock" 0.99
target "merged over file / file" "merged over file, this tree" "file" 1.10
target "CAA behind cache / CAA from stock cache" "CAA, cache, this tree" "CAA from cache, stock" 1.0
target "policy, log on / whoami" "caapolicy, policy, log on" "whoami" 0.95
target "policy, log on / file" "caapolicy, policy, log on" "file" 1.3
target "log on / log off" "caapolicy, policy, log on" "caapolicy, policy (ignore)" 0.95
echo
c=${idx["CAA, cache, this tree"]}
lines=$(grep -c 'plugin/caapolicy: .* udp "example.org."' "$work/server${ports[$c]}.conf.log" || true)
echo "  ($lines query lines logged by \"CAA, cache, this tree\", ${done_q[$c]} queries it answered)"
