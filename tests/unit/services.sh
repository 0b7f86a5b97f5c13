#!/usr/bin/env bash
# Starts and stops throwaway PostgreSQL and Redis servers for the unit
# tests, on loopback ports, under a folder the caller owns, with the shared
# functions of contrib/lib.sh.
#   services.sh pg-init DIR          initdb into DIR/data (trust, user switchboard)
#   services.sh pg-start DIR PORT    start on 127.0.0.1:PORT, create db switchboard
#   services.sh pg-stop DIR [MODE]   stop (fast | immediate)
#   services.sh redis-start DIR PORT
#   services.sh redis-stop DIR
#   services.sh dovecot-start DIR PORT USER PASSWORD [INTROSPECT_URL]
#                                    (IMAP over TLS; XOAUTH2 with the URL)
#   services.sh dovecot-stop DIR
#   services.sh test-ca DIR          a test CA and a localhost certificate
#   services.sh dovecot-deliver DIR USER FILE
set -euo pipefail
# shellcheck source=../../contrib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../contrib/lib.sh"
sb_say() { :; } # keep test output to the tests' own lines

cmd=$1
dir=$2
case "$cmd" in
pg-init)
	mkdir -p "$dir"
	sb_is_root && chown postgres "$dir"
	sb_pg_init "$dir" || true
	;;
pg-start)
	sb_pg_start "$dir" "$3"
	sb_pg_createdb "$3" switchboard
	;;
pg-stop)
	sb_as_pg "$(sb_pg_bindir)/pg_ctl" -D "$dir/data" -m "${3:-fast}" -w \
		stop >/dev/null 2>&1 || true
	;;
redis-start)
	sb_redis_start "$dir" "$3"
	;;
redis-stop)
	sb_redis_stop "$dir"
	;;
dovecot-start)
	sb_dovecot_start "$dir" "$3" "$4" "$5" "${6:-}"
	;;
dovecot-stop)
	sb_dovecot_stop "$dir"
	;;
test-ca)
	sb_test_ca "$dir"
	;;
dovecot-deliver)
	sb_dovecot_deliver "$dir" "$3" <"$4"
	;;
*)
	echo "services.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
