#!/usr/bin/env bash
# make bench: the daemon under load, on a bus that behaves as ovos-messagebus
# (Nagle's algorithm on), beside the bus's own echo floor.
#
# Each run starts a fresh daemon as its own process: a new data directory,
# the ovos_utils mirror on in a scratch HOME (XDG_CACHE_HOME), no config file
# or mycroft.conf of this machine, its own TMPDIR, the callback on 127.0.0.1 (the bench's
# OAuth provider sends its login there). ovos-oauth-bench hosts the bus,
# starts the daemon, waits for its oauth.ping, prints the table and stops it.
#
# BENCH_N requests per kind and concurrency (1000), BENCH_C the
# concurrencies (1,8), BENCH_PRELOAD the apps registered before the
# registration run (10000; 0 skips that run), BENCH_STARTS the restarts
# timed exec -> oauth.ping (5), BENCH_FLAGS more flags (e.g. -json).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

n="${BENCH_N:-1000}"
c="${BENCH_C:-1,8}"
preload="${BENCH_PRELOAD:-10000}"
starts="${BENCH_STARTS:-5}"
daemon="${DAEMON:-bin/ovos-oauth}"
bench="${BENCH:-bin/ovos-oauth-bench}"
read -r -a extra <<<"${BENCH_FLAGS:-}"

# The daemon reads OVOS_OAUTH_* from the environment: none of this shell's.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^OVOS_OAUTH_' || true)

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM # and so through the EXIT trap

run() { # name, bench flags...
	local dir="$scratch/$1"
	shift
	mkdir -p "$dir/home" "$dir/etc" "$dir/xdg" "$dir/tmp"
	# TMPDIR: the mirror's json_database locks live there (/tmp by
	# default, shared with every other ovos_utils user of this machine).
	TMPDIR="$dir/tmp" HOME="$dir/home" XDG_CACHE_HOME="$dir/home/.cache" XDG_CONFIG_HOME="$dir/home/.config" \
		XDG_DATA_HOME="$dir/home/.local/share" XDG_CONFIG_DIRS="$dir/xdg" \
		OVOS_OAUTH_SYSTEM_CONFIG_DIR="$dir/etc" MYCROFT_SYSTEM_CONFIG=/nonexistent \
		"$bench" -host-bus 127.0.0.1:0 "$@" "${extra[@]}" -- \
		"$daemon" serve --bus-url '{bus}' --data-dir "$dir/data" --listen 127.0.0.1:0 \
		--public-host 127.0.0.1 --mirror-ovos-utils=true --log-level error
}

# Both runs, whatever the first one found; a run that lost replies (or got
# error replies) fails make bench at the end, after its table.
status=0
echo "== every request kind at c=$c, $n requests each; exec -> oauth.ping with an empty store ($starts starts)"
run requests -c "$c" -n "$n" -starts "$starts" || status=$?

if [ "$preload" -gt 0 ]; then
	echo
	echo "== registrations of new apps at c=8, $n of them, after $preload registered first; exec -> oauth.ping with them ($starts starts)"
	run preload -c 8 -n "$n" -kinds echo,register -preload "$preload" -starts "$starts" || status=$?
fi
exit "$status"
