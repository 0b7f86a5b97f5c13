/*
 * main.c: command line. `switchboard [-c FILE]` runs the daemon;
 * `-t` checks the configuration; `migrate` applies migrations;
 * `user add|passwd|disable|enable|list` manage staff accounts; `-h` or
 * `--help` anywhere (also after a command) prints the usage and needs no
 * configuration file. Main thread.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "channels.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "server.h"
#include "staff.h"

#define DEFAULT_CONFIG "/etc/switchboard/switchboard.conf"

static void
usage(FILE *f)
{
	fputs("usage: switchboard [-c FILE]            run the daemon\n"
	      "       switchboard -t [-c FILE]         check the "
	      "configuration\n"
	      "       switchboard [-c FILE] migrate    apply database "
	      "migrations\n"
	      "       switchboard [-c FILE] user add --role ROLE "
	      "[--name NAME] LOGIN\n"
	      "                                        create a staff user; "
	      "prints password=...\n"
	      "       switchboard [-c FILE] user passwd [--stdin] LOGIN\n"
	      "                                        set a new password "
	      "(printed as\n"
	      "                                        password=..., or one "
	      "line read from\n"
	      "                                        stdin); signs the user "
	      "out everywhere\n"
	      "       switchboard [-c FILE] user disable LOGIN\n"
	      "                                        refuse sign-in; signs "
	      "the user out\n"
	      "                                        everywhere\n"
	      "       switchboard [-c FILE] user enable LOGIN\n"
	      "                                        allow sign-in again\n"
	      "       switchboard [-c FILE] user list  list staff users\n"
	      "       switchboard -V                   print the version\n"
	      "       switchboard -h | --help          print this help\n",
	      f);
}

/*
 * -h or --help anywhere before "--": help, before any configuration is
 * read (`switchboard user --help` on a machine without one).
 */
static int
wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

static int
cmd_migrate(struct gw_config *cfg)
{
	char err[512];
	int n = db_migrate_run(cfg->pg_conninfo, err, sizeof(err));

	if (n < 0) {
		fprintf(stderr, "switchboard: migrate: %s\n", err);
		return 1;
	}
	printf("migrations: %d applied, schema version %d\n", n,
	       db_migrate_latest());
	return 0;
}

/* One line of stdin, without its line end, into buf; -1 if too long. */
static int
read_password(char *buf, size_t len)
{
	size_t n;

	if (fgets(buf, (int)len, stdin) == NULL)
		return -1;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(stdin))
		return -1; /* longer than the buffer: refused, not cut */
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

static int
cmd_passwd(struct gw_config *cfg, int argc, char **argv)
{
	static char password[GW_PASSWORD_MAX + 2];
	const char *login = NULL;
	char err[512];
	long long revoked = 0;
	int from_stdin = 0, rc = 2;

	if (argc == 3 && strcmp(argv[1], "--stdin") == 0) {
		from_stdin = 1;
		login = argv[2];
	} else if (argc == 2 && argv[1][0] != '-') {
		login = argv[1];
	} else {
		usage(stderr);
		goto out;
	}
	rc = 1;
	if (from_stdin) {
		if (read_password(password, sizeof(password)) != 0) {
			fprintf(stderr,
			        "switchboard: user passwd: no password on "
			        "stdin, or over %d bytes\n",
			        GW_PASSWORD_MAX);
			goto out;
		}
	} else {
		gw_staff_random_password(password, 32);
	}
	if (gw_staff_passwd(cfg->pg_conninfo, login, password, &revoked, err,
	                    sizeof(err)) != 0) {
		fprintf(stderr, "switchboard: user passwd: %s\n", err);
		goto out;
	}
	if (!from_stdin)
		printf("password=%s\n", password);
	printf("sessions_revoked=%lld\n", revoked);
	rc = 0;
out:
	sodium_memzero(password, sizeof(password));
	return rc;
}

static int
cmd_disable(struct gw_config *cfg, int argc, char **argv, int disabled)
{
	char err[512];
	long long revoked = 0;

	if (argc != 2 || argv[1][0] == '-') {
		usage(stderr);
		return 2;
	}
	if (gw_staff_set_disabled(cfg->pg_conninfo, argv[1], disabled, &revoked,
	                          err, sizeof(err)) != 0) {
		fprintf(stderr, "switchboard: user %s: %s\n", argv[0], err);
		return 1;
	}
	if (disabled)
		printf("sessions_revoked=%lld\n", revoked);
	return 0;
}

static int
cmd_user(struct gw_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"role", required_argument, NULL, 'r'},
	        {"name", required_argument, NULL, 'n'},
	        {NULL, 0, NULL, 0},
	};
	const char *role = NULL, *name = NULL, *login;
	char password[32], err[512];
	int ch;

	if (argc >= 2 && strcmp(argv[1], "passwd") == 0)
		return cmd_passwd(cfg, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "disable") == 0)
		return cmd_disable(cfg, argc - 1, argv + 1, 1);
	if (argc >= 2 && strcmp(argv[1], "enable") == 0)
		return cmd_disable(cfg, argc - 1, argv + 1, 0);
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		if (gw_staff_list(cfg->pg_conninfo, stdout, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "switchboard: user list: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "add") != 0) {
		usage(stderr);
		return 2;
	}
	optind = 1;
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "r:n:", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			role = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (role == NULL || optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	login = argv[optind];
	gw_staff_random_password(password, sizeof(password));
	if (gw_staff_add(cfg->pg_conninfo, login, name ? name : login, role,
	                 password, err, sizeof(err)) != 0) {
		fprintf(stderr, "switchboard: user add: %s\n", err);
		return 1;
	}
	printf("password=%s\n", password);
	sodium_memzero(password, sizeof(password));
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	struct gw_config *cfg;
	struct gw_server *srv;
	char err[512];
	int ch, test = 0, rc;

	if (wants_help(argc, argv)) {
		usage(stdout);
		return 0;
	}
	while ((ch = getopt(argc, argv, "+c:thV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("switchboard %s\n", SWITCHBOARD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/*
	 * Opening hours are in the council's local time; UK councils by
	 * default. Set before any thread starts (localtime_r reads it).
	 */
	if (getenv("TZ") == NULL)
		setenv("TZ", "Europe/London", 1);
	tzset();
	if (sodium_init() < 0) {
		fputs("switchboard: libsodium failed to initialise\n", stderr);
		return 1;
	}
	/* The channels' sections of the file, checked by -t too. */
	gw_config_set_sections(channels_config_sections);
	cfg = gw_config_load(path, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (test) {
		printf("%s: configuration ok\n", path);
		gw_config_free(cfg);
		return 0;
	}
	argc -= optind;
	argv += optind;
	if (argc > 0 && strcmp(argv[0], "migrate") == 0) {
		rc = cmd_migrate(cfg);
		gw_config_free(cfg);
		return rc;
	}
	if (argc > 0 && strcmp(argv[0], "user") == 0) {
		rc = cmd_user(cfg, argc, argv);
		gw_config_free(cfg);
		return rc;
	}
	if (argc > 0) {
		fprintf(stderr, "switchboard: unknown command \"%s\"\n",
		        argv[0]);
		usage(stderr);
		gw_config_free(cfg);
		return 2;
	}
	srv = gw_server_new(cfg, err, sizeof(err));
	if (srv == NULL) {
		gw_error("server.start_failed", "reason=\"%s\"", err);
		return 1;
	}
	rc = gw_server_run(srv);
	gw_server_free(srv);
	return rc;
}
