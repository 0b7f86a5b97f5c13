/*
 * test_migrate.c: the embedded migrations against a real PostgreSQL:
 * applied once, idempotent, a failing file rolls back alone, and several
 * instances migrating at once serialise on the advisory lock.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migrate.h"
#include "support.h"

static struct sb_pg pg;

static int
group_setup(void **st)
{
	(void)st;
	return sb_pg_setup(&pg);
}

static int
group_teardown(void **st)
{
	(void)st;
	sb_pg_teardown(&pg);
	return 0;
}

/* A fresh database and its conninfo. */
static void
fresh_db(const char *name, char *conninfo, size_t len)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
	assert_int_equal(sb_pg_exec(&pg, sql), 0);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	assert_int_equal(sb_pg_exec(&pg, sql), 0);
	snprintf(conninfo, len,
	         "hostaddr=127.0.0.1 port=%d dbname=%s user=switchboard",
	         pg.port, name);
}

static long
value_in(const char *conninfo, const char *sql)
{
	struct sb_pg other = pg;

	snprintf(other.conninfo, sizeof(other.conninfo), "%s", conninfo);
	return sb_pg_value(&other, sql);
}

static void
test_embedded_apply_once(void **st)
{
	char conninfo[256], err[512];
	unsigned i;
	int latest = 0;

	(void)st;
	assert_true(db_migrations_count >= 1);
	for (i = 0; i < db_migrations_count; i++) {
		assert_non_null(db_migrations[i].sql);
		if (i > 0)
			assert_true(db_migrations[i].version >
			            db_migrations[i - 1].version);
		if (db_migrations[i].version > latest)
			latest = db_migrations[i].version;
	}
	assert_int_equal(db_migrate_latest(), latest);
	fresh_db("m_once", conninfo, sizeof(conninfo));
	assert_int_equal(db_migrate_run(conninfo, err, sizeof(err)),
	                 (int)db_migrations_count);
	assert_int_equal(db_migrate_run(conninfo, err, sizeof(err)), 0);
	assert_int_equal(
	        value_in(conninfo, "SELECT count(*) FROM schema_migrations"),
	        (long)db_migrations_count);
	assert_int_equal(value_in(conninfo, "SELECT max(version) FROM "
	                                    "schema_migrations"),
	                 latest);
	/* The core tables exist. */
	assert_int_equal(
	        value_in(conninfo,
	                 "SELECT count(*) FROM information_schema.tables "
	                 "WHERE table_name IN ('customers', "
	                 "'customer_identities', 'conversations', "
	                 "'messages', 'attachments', 'staff_users', "
	                 "'queues', 'outbox', 'audit_log')"),
	        9);
}

static void
test_failing_file_rolls_back(void **st)
{
	const struct db_migration bad[] = {
	        {1, "0001_a", "CREATE TABLE a (id int)"},
	        {2, "0002_b", "CREATE TABLE b (id int); SELECT 1/0"},
	};
	const struct db_migration good[] = {
	        {1, "0001_a", "CREATE TABLE a (id int)"},
	        {2, "0002_b", "CREATE TABLE b (id int)"},
	};
	char conninfo[256], err[512];

	(void)st;
	fresh_db("m_fail", conninfo, sizeof(conninfo));
	assert_int_equal(db_migrate_apply(conninfo, bad, 2, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "0002_b"));
	assert_non_null(strstr(err, "division by zero"));
	/* 0001 stays applied, 0002 left no trace. */
	assert_int_equal(value_in(conninfo, "SELECT count(*) FROM "
	                                    "schema_migrations"),
	                 1);
	assert_int_equal(
	        value_in(conninfo,
	                 "SELECT count(*) FROM information_schema.tables "
	                 "WHERE table_name = 'b'"),
	        0);
	assert_int_equal(db_migrate_apply(conninfo, good, 2, err, sizeof(err)),
	                 1);
	assert_int_equal(value_in(conninfo, "SELECT count(*) FROM "
	                                    "schema_migrations"),
	                 2);
}

static void
test_unreachable(void **st)
{
	char conninfo[128], err[512];

	(void)st;
	snprintf(conninfo, sizeof(conninfo),
	         "hostaddr=127.0.0.1 port=%d dbname=x user=x connect_timeout=2",
	         sb_free_port());
	assert_int_equal(db_migrate_run(conninfo, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "connect"));
}

struct racer {
	const char *conninfo;
	int rc;
	char err[512];
};

static void *
race(void *arg)
{
	struct racer *r = arg;

	r->rc = db_migrate_run(r->conninfo, r->err, sizeof(r->err));
	return NULL;
}

static void
test_concurrent_instances(void **st)
{
	struct racer r[4];
	pthread_t t[4];
	char conninfo[256];
	int i, total = 0;

	(void)st;
	fresh_db("m_race", conninfo, sizeof(conninfo));
	for (i = 0; i < 4; i++) {
		r[i].conninfo = conninfo;
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (r[i].rc < 0)
			print_message("racer %d: %s\n", i, r[i].err);
		assert_true(r[i].rc >= 0);
		total += r[i].rc;
	}
	/* Each migration applied exactly once across all instances. */
	assert_int_equal(total, (int)db_migrations_count);
	assert_int_equal(value_in(conninfo, "SELECT count(*) FROM "
	                                    "schema_migrations"),
	                 (long)db_migrations_count);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_embedded_apply_once),
	        cmocka_unit_test(test_failing_file_rolls_back),
	        cmocka_unit_test(test_unreachable),
	        cmocka_unit_test(test_concurrent_instances),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
