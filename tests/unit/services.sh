#!/usr/bin/env bash
# Starts and stops throwaway PostgreSQL and Redis servers for the unit
# tests, on loopback ports, under a folder the caller owns.
#   services.sh pg-init DIR          initdb into DIR/data (trust, user switchboard)
#   services.sh pg-start DIR PORT    start on 127.0.0.1:PORT, wait, create db switchboard
#   services.sh pg-stop DIR [MODE]   stop (fast | immediate)
#   services.sh redis-start DIR PORT
#   services.sh redis-stop DIR
# As root, PostgreSQL runs as the postgres user (it refuses root).
set -euo pipefail

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] || { echo "services.sh: PostgreSQL server binaries not found" >&2; exit 1; }

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

cmd=$1
dir=$2
case "$cmd" in
pg-init)
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown postgres "$dir"
	as_pg "$pgbin/initdb" -A trust -U switchboard -E UTF8 --no-sync -D "$dir/data" >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	;;
pg-start)
	port=$3
	as_pg "$pgbin/pg_ctl" -D "$dir/data" -w -t 30 -l "$dir/pg.log" \
		-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on" \
		start >/dev/null || { tail -20 "$dir/pg.log" >&2; exit 1; }
	if ! "$pgbin/psql" -h 127.0.0.1 -p "$port" -U switchboard -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'switchboard'" | grep -q 1; then
		"$pgbin/createdb" -h 127.0.0.1 -p "$port" -U switchboard switchboard
	fi
	;;
pg-stop)
	mode=${3:-fast}
	as_pg "$pgbin/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null 2>&1 || true
	;;
redis-start)
	port=$3
	mkdir -p "$dir"
	redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
		--dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
		--logfile "$dir/redis.log"
	for _ in $(seq 1 100); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && exit 0
		sleep 0.05
	done
	echo "services.sh: redis did not start" >&2
	exit 1
	;;
redis-stop)
	if [ -f "$dir/redis.pid" ]; then
		pid=$(cat "$dir/redis.pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		rm -f "$dir/redis.pid"
	fi
	;;
*)
	echo "services.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
