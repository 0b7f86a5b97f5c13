# contrib/lib.sh -- shell functions shared by contrib/dev and
# tests/bench/run-group-commit. Sourced, never executed; defines functions and
# a few SB_* variables and runs nothing else.
#
# Throwaway servers started here listen on 127.0.0.1 only, on ports chosen at
# run time, and PostgreSQL keeps its defaults (fsync=on, synchronous_commit=on)
# apart from where it listens.
#
# PostgreSQL refuses to run as root. When we are root, initdb, pg_ctl and the
# postmaster run as the `postgres` system user (runuser) and the cluster
# directory belongs to that user. If `postgres` cannot reach the directory we
# would like (a work tree under /root, say), the cluster goes to a directory
# under /tmp instead and its location is written to "<wanted>.location".

SB_ROOT=${SB_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# Debian 12 packages needed to build, test and run Switchboard. pgbench comes
# with postgresql-15, which the postgresql package depends on.
# shellcheck disable=SC2034 # used by the scripts that source this file
SB_PACKAGES=(
	build-essential cmake pkg-config git curl ca-certificates python3
	libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libhiredis-dev
	libpq-dev libetpan-dev libesmtp-dev libjansson-dev libsodium-dev
	libssl-dev libcmocka-dev libconfuse-dev zlib1g-dev
	postgresql postgresql-contrib redis-server clang-format cppcheck
	clang libclang-rt-14-dev openssl dovecot-imapd python3-aiosmtpd
	# libetpan-dev needs curl's GnuTLS flavour: the OpenSSL one would
	# remove it
	libcurl4-gnutls-dev

)

sb_say()
{
	printf '==> %s\n' "$*" >&2
}

sb_die()
{
	printf 'error: %s\n' "$*" >&2
	exit 1
}

sb_is_root()
{
	[ "$(id -u)" -eq 0 ]
}

# Prints, one a line, those of the named packages that are not installed.
sb_missing_packages()
{
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		if [ "$st" != "install ok installed" ]; then
			printf '%s\n' "$p"
		fi
	done
}

# Installs whichever of the named packages are missing: as root directly,
# otherwise through sudo if there is one; otherwise prints the command to run
# and exits 1.
sb_ensure_packages()
{
	local missing
	command -v dpkg-query >/dev/null 2>&1 ||
		sb_die "dpkg-query not found: Switchboard's scripts expect Debian 12"
	mapfile -t missing < <(sb_missing_packages "$@")
	[ "${#missing[@]}" -eq 0 ] && return 0

	sb_say "installing ${missing[*]}"
	local install=(apt-get install -y --no-install-recommends "${missing[@]}")
	if sb_is_root; then
		DEBIAN_FRONTEND=noninteractive apt-get update &&
			DEBIAN_FRONTEND=noninteractive "${install[@]}" ||
			sb_die "package installation failed"
	elif command -v sudo >/dev/null 2>&1; then
		sudo env DEBIAN_FRONTEND=noninteractive apt-get update &&
			sudo env DEBIAN_FRONTEND=noninteractive "${install[@]}" ||
			sb_die "package installation failed"
	else
		printf 'Missing packages. As root, run:\n  apt-get update && %s\n' \
			"${install[*]}" >&2
		exit 1
	fi
	mapfile -t missing < <(sb_missing_packages "$@")
	[ "${#missing[@]}" -eq 0 ] ||
		sb_die "still not installed after apt-get: ${missing[*]}"
}

# Prints N distinct free TCP ports on 127.0.0.1. With PREFERRED (non-empty,
# non-zero) the first port printed is PREFERRED if it is free.
# Usage: sb_free_ports N [PREFERRED]
sb_free_ports()
{
	python3 - "$@" <<'EOF'
import socket, sys
n = int(sys.argv[1])
pref = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else 0
held, out = [], []
def grab(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    held.append(s)
    return s.getsockname()[1]
if pref:
    p = grab(pref)
    if p:
        out.append(p)
while len(out) < n:
    out.append(grab(0))
print("\n".join(str(p) for p in out))
EOF
}

# True if something accepts TCP connections on 127.0.0.1:PORT or the port
# cannot be bound there.
sb_port_busy()
{
	python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}

# ---------------------------------------------------------------- build

# Usage: sb_build BUILD_DIR BUILD_TYPE [extra cmake -D options...]
sb_build()
{
	local dir=$1 type=$2
	shift 2
	sb_say "building $dir ($type)"
	cmake -S "$SB_ROOT" -B "$SB_ROOT/$dir" -DCMAKE_BUILD_TYPE="$type" "$@" &&
		cmake --build "$SB_ROOT/$dir" -j2
}

# ---------------------------------------------------------------- PostgreSQL

sb_pg_bindir()
{
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -x "$d/postgres" ] ||
		sb_die "no PostgreSQL server under /usr/lib/postgresql (package postgresql)"
	printf '%s\n' "$d"
}

# Runs a command as the owner of PostgreSQL clusters: the `postgres` user when
# we are root, ourselves otherwise. The working directory is / so that the
# postgres user never starts in a directory it cannot read.
sb_as_pg()
{
	if sb_is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Decides where a cluster wanted at WANTED lives, creates that directory with
# the right owner and mode, and prints its absolute path.
# Usage: sb_pg_locate WANTED
sb_pg_locate()
{
	local wanted=$1 parent loc=
	parent=$(dirname "$wanted")
	mkdir -p "$parent"
	parent=$(cd "$parent" && pwd)
	wanted=$parent/$(basename "$wanted")
	if ! sb_is_root; then
		mkdir -p "$wanted"
		chmod 700 "$wanted"
		printf '%s\n' "$wanted"
		return 0
	fi
	getent passwd postgres >/dev/null ||
		sb_die "no postgres user (is the postgresql package installed?)"
	if [ -f "$wanted.location" ]; then
		loc=$(cat "$wanted.location")
		# Reuse the recorded directory only if it is still ours.
		if [ -L "$loc" ] || [ ! -d "$loc" ] ||
			[ "$(stat -c %U "$loc")" != postgres ]; then
			loc=
		fi
	elif sb_as_pg test -x "$parent"; then
		loc=$wanted
		mkdir -p "$loc"
	fi
	if [ -z "$loc" ]; then
		# postgres cannot reach WANTED (e.g. a work tree under /root):
		# keep the cluster in a fresh directory under /tmp.
		loc=$(mktemp -d /tmp/switchboard-pg.XXXXXXXX)
		printf '%s\n' "$loc" >"$wanted.location"
		sb_say "the postgres user cannot reach $parent; cluster kept in $loc"
	fi
	chown postgres:postgres "$loc"
	chmod 700 "$loc"
	sb_as_pg test -w "$loc" ||
		sb_die "the postgres user cannot write to $loc"
	printf '%s\n' "$loc"
}

# Creates a cluster in BASE/data unless one is there. Returns 0 if it created
# one, 1 if it reused one.
# Usage: sb_pg_init BASE
sb_pg_init()
{
	local base=$1 bindir
	bindir=$(sb_pg_bindir)
	if [ -f "$base/data/PG_VERSION" ]; then
		return 1
	fi
	sb_say "creating a PostgreSQL cluster in $base/data"
	sb_as_pg "$bindir/initdb" -A trust -U switchboard -E UTF8 \
		--locale=C.UTF-8 -D "$base/data" >"$base/initdb.log" 2>&1 || {
		cat "$base/initdb.log" >&2
		sb_die "initdb failed"
	}
	sb_as_pg tee -a "$base/data/postgresql.conf" >/dev/null <<'EOF'

# Added by Switchboard's contrib/lib.sh: TCP on loopback only, no Unix socket
# (the port is given on the command line), and durability left on.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = on
synchronous_commit = on
EOF
	return 0
}

# Starts the cluster in BASE/data on 127.0.0.1:PORT, stopping it first if a
# previous run left it running.
# Usage: sb_pg_start BASE PORT
sb_pg_start()
{
	local base=$1 port=$2 bindir
	bindir=$(sb_pg_bindir)
	if sb_as_pg "$bindir/pg_ctl" -D "$base/data" status >/dev/null 2>&1; then
		sb_say "stopping a PostgreSQL left running by an earlier run"
		sb_as_pg "$bindir/pg_ctl" -D "$base/data" -m fast -w stop >/dev/null
	fi
	sb_say "starting PostgreSQL on 127.0.0.1:$port"
	sb_as_pg "$bindir/pg_ctl" -D "$base/data" -l "$base/postgres.log" \
		-w -t 60 -o "-p $port" start >/dev/null || {
		tail -n 30 "$base/postgres.log" >&2
		sb_die "PostgreSQL did not start"
	}
}

# Usage: sb_pg_stop BASE
sb_pg_stop()
{
	local base=$1 bindir
	bindir=$(sb_pg_bindir)
	[ -f "$base/data/postmaster.pid" ] || return 0
	sb_as_pg "$bindir/pg_ctl" -D "$base/data" -m fast -w -t 60 stop \
		>/dev/null 2>&1 || true
}

# Runs psql against 127.0.0.1:PORT as the switchboard superuser.
# Usage: sb_psql PORT DBNAME [psql arguments...]
sb_psql()
{
	local port=$1 db=$2
	shift 2
	"$(sb_pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
		-p "$port" -U switchboard -d "$db" "$@"
}

# Benchmarks' diagnosis (BENCH_PG_STATEMENTS=1): time spent per statement.
# Usage: sb_pg_statements_load PG_BASE (after sb_pg_init, before the start)
# SB_PG_STATEMENTS_TRACK=all also counts the statements run inside
# functions (sb_ingest_set's own, for example); the default counts only
# what clients sent.
sb_pg_statements_load()
{
	printf "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = %s\n" \
		"${SB_PG_STATEMENTS_TRACK:-top}" |
		sb_as_pg tee -a "$1/data/postgresql.conf" >/dev/null
}

# Usage: sb_pg_statements_create PORT DBNAME; sb_pg_statements_print PORT DBNAME
sb_pg_statements_create()
{
	sb_psql "$1" "$2" -c 'CREATE EXTENSION pg_stat_statements' >/dev/null
}

sb_pg_statements_print()
{
	sb_psql "$1" "$2" -c "SELECT calls, round(total_exec_time) AS total_ms,
		round(mean_exec_time::numeric, 3) AS mean_ms, rows,
		round(total_plan_time) AS plan_ms, left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
		FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC
		LIMIT ${SB_PG_STATEMENTS_ROWS:-15}"
}

# Usage: sb_pg_createdb PORT DBNAME
sb_pg_createdb()
{
	local port=$1 db=$2 have
	have=$(sb_psql "$port" postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = '$db'")
	if [ "$have" != 1 ]; then
		sb_psql "$port" postgres -c "CREATE DATABASE \"$db\""
	fi
}

# ---------------------------------------------------------------- Redis

# Starts a throwaway redis-server on 127.0.0.1:PORT with its files in DIR,
# daemonised, pid in DIR/redis.pid, no persistence.
# Usage: sb_redis_start DIR PORT
sb_redis_start()
{
	local dir=$1 port=$2
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	sb_redis_stop "$dir"
	sb_say "starting Redis on 127.0.0.1:$port"
	redis-server --bind 127.0.0.1 --port "$port" --save "" \
		--appendonly no --dir "$dir" --daemonize yes \
		--pidfile "$dir/redis.pid" --logfile "$dir/redis.log" ||
		sb_die "redis-server did not start"
	for _ in $(seq 1 100); do
		if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$dir/redis.log" >&2
	sb_die "Redis did not answer on port $port"
}

# Stops the redis-server whose pid is in DIR/redis.pid, if it runs.
# Usage: sb_redis_stop DIR
sb_redis_stop()
{
	local dir=$1 pid
	[ -f "$dir/redis.pid" ] || return 0
	pid=$(cat "$dir/redis.pid")
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
		grep -q redis "/proc/$pid/cmdline" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$dir/redis.pid"
}

# ---------------------------------------------------------------- Dovecot

# A test CA in DIR (ca.pem) and a certificate it signed for localhost and
# 127.0.0.1 (server.pem, server.key), made once.
# Usage: sb_test_ca DIR
sb_test_ca()
{
	local dir=$1
	[ -f "$dir/server.pem" ] && return 0
	mkdir -p "$dir"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" \
		-out "$dir/ca.pem" -days 30 -subj "/CN=Switchboard test CA" \
		>/dev/null 2>&1 || sb_die "openssl: no test CA"
	openssl req -newkey rsa:2048 -nodes -keyout "$dir/server.key" \
		-out "$dir/server.csr" -subj "/CN=localhost" >/dev/null 2>&1 ||
		sb_die "openssl: no server key"
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/ext.cnf"
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" \
		-CAkey "$dir/ca.key" -CAcreateserial -out "$dir/server.pem" \
		-days 30 -extfile "$dir/ext.cnf" >/dev/null 2>&1 ||
		sb_die "openssl: no server certificate"
}

# Starts a throwaway Dovecot serving IMAP over implicit TLS on
# 127.0.0.1:PORT, with everything in DIR: a test CA (DIR/ca.pem) and a
# certificate it signed for localhost and 127.0.0.1, one mailbox user
# (USER, PASSWORD; maildir under DIR/mail), its log in DIR/dovecot.log.
# Mail is stored as an unprivileged user (nobody when run as root: Dovecot
# will not store mail as root). Deliver with sb_dovecot_deliver.
# With INTROSPECT_URL, USER may also sign in with SASL XOAUTH2 or
# OAUTHBEARER: Dovecot's oauth2 passdb asks that URL (RFC 7662, POST) whether
# the token is active and whose it is.
# Usage: sb_dovecot_start DIR PORT USER PASSWORD [INTROSPECT_URL] [STARTTLS_PORT]
# (STARTTLS_PORT: also plain IMAP there, TLS by STARTTLS before any sign-in)
sb_dovecot_start()
{
	local dir=$1 port=$2 user=$3 password=$4 introspect=${5:-} plain_port=${6:-0}
	local muser mgroup hash
	local mechs=plain oauth_passdb=
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	sb_dovecot_stop "$dir"
	sb_test_ca "$dir"
	if sb_is_root; then
		muser=nobody
		mgroup=$(id -gn nobody)
	else
		muser=$(id -un)
		mgroup=$(id -gn)
	fi
	mkdir -p "$dir/run" "$dir/state" "$dir/mail"
	chmod 755 "$dir" "$dir/run"
	sb_is_root && chown -R "$muser:$mgroup" "$dir/mail"
	hash=$(doveadm pw -s SHA512-CRYPT -p "$password") ||
		sb_die "doveadm pw failed"
	printf '%s:%s::::::\n' "$user" "$hash" >"$dir/users"
	if [ -n "$introspect" ]; then
		mechs="plain xoauth2 oauthbearer"
		cat >"$dir/oauth2.conf.ext" <<EOC
introspection_mode = post
introspection_url = $introspect
username_attribute = username
active_attribute = active
active_value = true
EOC
		oauth_passdb="passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $dir/oauth2.conf.ext
}"
	fi
	cat >"$dir/dovecot.conf" <<EOC
base_dir = $dir/run
state_dir = $dir/state
listen = 127.0.0.1, 127.0.0.2
protocols = imap
ssl = required
ssl_cert = <$dir/server.pem
ssl_key = <$dir/server.key
log_path = $dir/dovecot.log
first_valid_uid = $(id -u "$muser")
mail_uid = $muser
mail_gid = $mgroup
mail_location = maildir:$dir/mail/%u
auth_mechanisms = $mechs
disable_plaintext_auth = yes
passdb {
  driver = passwd-file
  mechanisms = plain
  args = scheme=SHA512-CRYPT $dir/users
}
$oauth_passdb
userdb {
  driver = static
  args = uid=$muser gid=$mgroup home=$dir/mail/%u allow_all_users=yes
}
service imap-login {
  chroot =
  inet_listener imap {
    port = $plain_port
  }
  inet_listener imaps {
    port = $port
    ssl = yes
  }
}
service anvil {
  chroot =
}
EOC
	sb_say "starting Dovecot on 127.0.0.1:$port"
	/usr/sbin/dovecot -c "$dir/dovecot.conf" || sb_die "dovecot did not start"
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$dir/dovecot.log" >&2
	sb_die "Dovecot did not listen on port $port"
}

# Stops the Dovecot started in DIR, if it runs.
# Usage: sb_dovecot_stop DIR
sb_dovecot_stop()
{
	local dir=$1 pid
	[ -f "$dir/run/master.pid" ] || return 0
	pid=$(cat "$dir/run/master.pid")
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
		grep -q dovecot "/proc/$pid/cmdline" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$dir/run/master.pid"
}

# Delivers the message on standard input to USER's INBOX through
# Dovecot's own delivery agent, as a mail server would.
# Usage: sb_dovecot_deliver DIR USER [ENVELOPE_FROM] <message
sb_dovecot_deliver()
{
	/usr/lib/dovecot/dovecot-lda -c "$1/dovecot.conf" -d "$2" \
		${3:+-f "$3"}
}

# ---------------------------------------------------------------- config

# Writes a configuration file derived from config/switchboard.conf.example.
# Usage: sb_write_config OUT HTTP_PORT PG_CONNINFO REDIS_PORT
sb_write_config()
{
	local out=$1 port=$2 conninfo=$3 redis_port=$4
	local url="http://127.0.0.1:$port" example="$SB_ROOT/config/switchboard.conf.example"
	local v
	for v in "$SB_ROOT" "$conninfo"; do
		case $v in
		*'"'* | *'|'* | *'\'*) sb_die "cannot put $v in a config file" ;;
		esac
	done
	sed -e "s|^listen_port = .*|listen_port = $port|" \
		-e "s|^public_url = .*|public_url = \"$url\"|" \
		-e "s|^widget_dir = .*|widget_dir = \"$SB_ROOT/web-chat-widget\"|" \
		-e "s|^desk_dir = .*|desk_dir = \"$SB_ROOT/advisor-desk\"|" \
		-e "s|^allowed_origins = .*|allowed_origins = {\"$url\", \"http://localhost:$port\"}|" \
		-e "s|^\([[:space:]]*\)conninfo = .*|\1conninfo = \"$conninfo\"|" \
		-e "/^redis {/,/^}/ s|^\([[:space:]]*\)port = .*|\1port = $redis_port|" \
		"$example" >"$out.tmp"
	# Fail loudly if the example changed shape and a line was not found.
	grep -q "^listen_port = $port\$" "$out.tmp" &&
		grep -q "^public_url = \"$url\"\$" "$out.tmp" &&
		grep -q "^widget_dir = \"$SB_ROOT/" "$out.tmp" &&
		grep -q "^desk_dir = \"$SB_ROOT/" "$out.tmp" &&
		grep -q "^allowed_origins = {\"$url\"" "$out.tmp" &&
		grep -q "conninfo = \"$conninfo\"" "$out.tmp" &&
		grep -q "^[[:space:]]*port = $redis_port\$" "$out.tmp" || {
		rm -f "$out.tmp"
		sb_die "config/switchboard.conf.example changed shape; update sb_write_config in contrib/lib.sh"
	}
	mv "$out.tmp" "$out"
}
