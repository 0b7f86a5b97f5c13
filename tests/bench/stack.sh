# tests/bench/stack.sh -- sourced by the benchmarks that run the daemon
# (run-timeline, run-wallboard, run-webhook, run-sms, ...): a throwaway
# PostgreSQL and Redis under $WORK, the built daemon configured and
# migrated, started, the floors they print, advisors to sign in, and the
# rows of bench_webhook's figures.
# Before sourcing, set WORK, BUILD, FLOOR_SECS and the array CMAKE_ARGS
# (BENCH_BIN, when set, is the daemon to run instead of building one);
# after bench_stack_up: bin, conf, http_port, pg_port, redis_port, PG_BASE.
# BENCH_PG_STATEMENTS=1 loads pg_stat_statements (sb_pg_statements_print
# then tells where PostgreSQL's time went).
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
	rm -f "$WORK/pg.location" "$WORK/users"
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
	if [ "${BENCH_PG_STATEMENTS:-0}" = 1 ]; then
		sb_pg_statements_load "$PG_BASE"
	fi
	sb_pg_start "$PG_BASE" "$pg_port"
	sb_pg_createdb "$pg_port" switchboard
	if [ "${BENCH_PG_STATEMENTS:-0}" = 1 ]; then
		sb_pg_statements_create "$pg_port" switchboard
	fi
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

# pgbench of one script for FLOOR_SECS with CLIENTS clients (more
# pgbench options after): prints "LATENCY_MS TPS".
# Usage: bench_pgbench SCRIPT CLIENTS [OPTION...]
bench_pgbench()
{
	local script=$1 clients=$2 threads=1 out
	shift 2
	[ "$clients" -gt 1 ] && threads=2
	out=$("$(sb_pg_bindir)/pgbench" -n -f "$script" -T "$FLOOR_SECS" \
		-c "$clients" -j "$threads" "$@" \
		-h 127.0.0.1 -p "$pg_port" -U switchboard switchboard 2>&1) || {
		printf '%s\n' "$out" >&2
		sb_die "pgbench failed"
	}
	printf '%s %s\n' \
		"$(printf '%s\n' "$out" | sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p')" \
		"$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')"
}

# pgbench of one script, 1 client, FLOOR_SECS: prints "LATENCY_MS TPS".
bench_pg_latency()
{
	bench_pgbench "$1" 1
}

# A floor by name: bench_floor NAME SCRIPT CLIENTS [OPTION...] runs
# bench_pgbench and keeps floor_ms[NAME] and floor_tps[NAME];
# bench_floor_row LABEL NAME prints it as a row of the figures' table.
declare -A floor_ms floor_tps
bench_floor()
{
	local name=$1 r
	shift
	sb_say "pgbench $name: $2 client(s), $FLOOR_SECS s"
	r=$(bench_pgbench "$@")
	floor_ms[$name]=${r% *}
	floor_tps[$name]=${r#* }
}

bench_floor_row()
{
	printf '%-52s %10.0f  avg %s ms\n' "$1" "${floor_tps[$2]:-0}" "${floor_ms[$2]:-?}"
}

# Advisors adv0..adv<N-1> (one password, hashed once) in queue QUEUE_ID,
# and USERS_FILE of "login password" lines for the load generators.
# Usage: bench_advisors QUEUE_ID N USERS_FILE
bench_advisors()
{
	local queue=$1 n=$2 users=$3 password i
	password=$("$bin" -c "$conf" user add --role advisor --name 'Adv 0' adv0 |
		sed -n 's/^password=//p')
	[ -n "$password" ] || sb_die "switchboard user add printed no password"
	sb_psql "$pg_port" switchboard -q -c \
		"INSERT INTO staff_users (login, display_name, password_hash, role)
		 SELECT 'adv' || g, 'Adv ' || g,
		        (SELECT password_hash FROM staff_users WHERE login = 'adv0'), 'advisor'
		 FROM generate_series(1, $((n - 1))) g;
		 INSERT INTO queue_members (staff_id, queue_id)
		 SELECT id, $queue FROM staff_users WHERE login LIKE 'adv%';"
	(
		umask 077
		for ((i = 0; i < n; i++)); do
			printf 'adv%d %s\n' "$i" "$password"
		done >"$users"
	)
}

# Usage: bench_field LINE KEY: KEY's value in a "key=value ..." line.
bench_field()
{
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# Usage: bench_verdict MEASURED TARGET ge|lt: "met", "NOT met" or "?".
bench_verdict()
{
	awk -v m="$1" -v t="$2" -v op="$3" 'BEGIN {
		if (m == "" || t == "") { print "?"; exit }
		ok = op == "ge" ? m + 0 >= t + 0 : m + 0 < t + 0
		print ok ? "met" : "NOT met" }'
}

# The rows of bench_webhook's webhook_level lines in FILE: 2xx per second
# and latency beside the targets (issue 16: >= 8,000/s, p99 < 20 ms), the
# CPU of each process and of one webhook, the daemon's transactions.
# Usage: bench_webhook_rows FILE
bench_webhook_rows()
{
	local line kind what
	# f KEY: KEY of the line being printed.
	f() { bench_field "$line" "$1"; }
	while IFS= read -r line; do
		kind=$(f kind)
		case $kind in
		form) what="signed submissions" ;;
		twilio-status) what="Twilio status callbacks" ;;
		notify-status) what="Notify delivery receipts" ;;
		twilio-sms) what="Twilio inbound texts" ;;
		notify-sms) what="Notify inbound texts" ;;
		*) what=$kind ;;
		esac
		printf '%-52s %10s  p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms; target >= 8000/s: %s, p99 < 20 ms: %s\n' \
			"$what, $(f concurrency) connections, $(f desks) desks" \
			"$(f per_s)" "$(f p50_ms)" "$(f p99_ms)" "$(f p999_ms)" "$(f max_ms)" \
			"$(bench_verdict "$(f per_s)" 8000 ge)" "$(bench_verdict "$(f p99_ms)" 20 lt)"
		printf '%-52s %s\n' "  CPU, % of one core" \
			"daemon $(f daemon), PG $(f pg) (busiest backend $(f pg_busiest_backend)), Redis $(f redis), bench $(f bench), others $(f others) of $(f capacity)"
		printf '%-52s %s\n' "  CPU a webhook, all processes" \
			"$(awk -v d="$(f daemon)" -v p="$(f pg)" -v r="$(f redis)" \
				-v b="$(f bench)" -v n="$(f per_s)" -v c="$(f capacity)" 'BEGIN {
				if (n <= 0) { print "?"; exit }
				ms = (d + p + r + b) * 10 / n
				printf "%.3f ms (daemon %.3f, PostgreSQL %.3f, Redis %.3f, load generator %.3f): at most %.0f/s with every core busy", ms, d * 10 / n, p * 10 / n, r * 10 / n, b * 10 / n, c * 10 / ms }')"
		printf '%-52s %s\n' "  daemon's PostgreSQL transactions" \
			"$(f commits_per_s)/s, $(f writes_per_commit) writes each; 2xx $(f ok), non-2xx: $(f non_2xx); offers to desks: $(f offers)$([ "$(f exhausted)" = 0 ] || echo "; callbacks past the seeded outbox rows (repeats): $(f exhausted)")"
	done < <(grep '^webhook_level ' "$1" || true)
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
