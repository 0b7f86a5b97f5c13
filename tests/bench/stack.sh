# tests/bench/stack.sh -- sourced by the desk benchmarks (run-timeline,
# run-wallboard): a throwaway PostgreSQL and Redis under $WORK, the built
# daemon configured and migrated, started, and the floors they print.
# Before sourcing, set WORK, BUILD, FLOOR_SECS and the array CMAKE_ARGS
# (BENCH_BIN, when set, is the daemon to run instead of building one);
# after bench_stack_up: bin, conf, http_port, pg_port, redis_port.
# shellcheck shell=bash
# shellcheck source=contrib/lib.sh
. "$SB_ROOT/contrib/lib.sh"
unset SWITCHBOARD_PG_URL SWITCHBOARD_PG_URL_FILE \
	SWITCHBOARD_REDIS_PASSWORD SWITCHBOARD_REDIS_PASSWORD_FILE
PG_BASE=
DAEMON_PID=

bench_cleanup()
{
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	sb_redis_stop "$WORK/redis"
	if [ -n "$PG_BASE" ]; then
		sb_pg_stop "$PG_BASE"
		rm -rf "$PG_BASE"
	fi
	rm -f "$WORK/pg.location"
	exit "$rc"
}

# Usage: bench_stack_up LOG_LEVEL
bench_stack_up()
{
	local level=$1 conninfo
	sb_ensure_packages "${SB_PACKAGES[@]}"
	if [ -n "${BENCH_BIN:-}" ]; then
		bin=$BENCH_BIN # a daemon built already (e.g. build-san/switchboard)
	else
		sb_build "$BUILD" RelWithDebInfo "${CMAKE_ARGS[@]}"
		bin=$SB_ROOT/$BUILD/switchboard
	fi
	[ -x "$bin" ] || sb_die "build did not produce $bin"
	mkdir -p "$WORK"
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mapfile -t ports < <(sb_free_ports 3)
	http_port=${ports[0]}
	pg_port=${ports[1]}
	redis_port=${ports[2]}
	conninfo="hostaddr=127.0.0.1 port=$pg_port dbname=switchboard user=switchboard"
	PG_BASE=$(sb_pg_locate "$WORK/pg")
	if [ -e "$PG_BASE/data" ]; then
		sb_pg_stop "$PG_BASE"
		rm -rf "$PG_BASE/data"
	fi
	sb_pg_init "$PG_BASE" || true
	sb_pg_start "$PG_BASE" "$pg_port"
	sb_pg_createdb "$pg_port" switchboard
	sb_redis_start "$WORK/redis" "$redis_port"
	conf=$WORK/switchboard.conf
	sb_write_config "$conf" "$http_port" "$conninfo" "$redis_port"
	sed -i -e "s|^log_level = .*|log_level = \"$level\"|" "$conf"
	grep -q "^log_level = \"$level\"\$" "$conf" ||
		sb_die "config/switchboard.conf.example changed shape; update tests/bench/stack.sh"
	"$bin" -t -c "$conf" >/dev/null
	sb_say "applying migrations"
	"$bin" -c "$conf" migrate >/dev/null
}

bench_daemon_start()
{
	"$bin" -c "$conf" >"$WORK/switchboard.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 1 300); do
		curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break
		kill -0 "$DAEMON_PID" 2>/dev/null || sb_die "switchboard exited at start"
		sleep 0.1
	done
	curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null ||
		sb_die "switchboard did not become ready"
}

# pgbench of one script, 1 client, FLOOR_SECS: prints "LATENCY_MS TPS".
bench_pg_latency()
{
	local script=$1 out
	out=$("$(sb_pg_bindir)/pgbench" -n -f "$script" -T "$FLOOR_SECS" -c 1 -j 1 \
		-h 127.0.0.1 -p "$pg_port" -U switchboard switchboard 2>&1) || {
		printf '%s\n' "$out" >&2
		sb_die "pgbench failed"
	}
	printf '%s %s\n' \
		"$(printf '%s\n' "$out" | sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p')" \
		"$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')"
}

# The PostgreSQL round-trip and commit floors: sets sel_ms sel_tps
# com_ms com_tps; and the Redis PING floor: redis_rps.
bench_floors()
{
	echo "SELECT 1;" >"$WORK/select1.sql"
	echo "INSERT INTO audit_log (actor, action) VALUES ('bench', 'bench.floor');" \
		>"$WORK/commit.sql"
	sb_say "PostgreSQL floors (pgbench, 1 client, $FLOOR_SECS s each)"
	read -r sel_ms sel_tps < <(bench_pg_latency "$WORK/select1.sql")
	read -r com_ms com_tps < <(bench_pg_latency "$WORK/commit.sql")
	sb_say "Redis floor (PING, 1 client)"
	redis_rps=$(redis-benchmark -h 127.0.0.1 -p "$redis_port" -c 1 -n 20000 -q \
		-t ping_mbulk 2>&1 | tr '\r' '\n' | grep 'requests per second' |
		tail -n 1 | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p')
}
