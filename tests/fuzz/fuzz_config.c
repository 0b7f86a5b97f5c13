/*
 * fuzz_config.c: libFuzzer harness for the configuration loader. Each
 * input is written to one scratch file (libconfuse reads files) and given
 * to gw_config_load; a refusal must say why, an acceptance must be
 * usable. Single-threaded: config.c keeps a file-static pointer while it
 * parses.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channels.h"
#include "config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[4096];
static int fd = -1;

static void
remove_scratch(void)
{
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	/* The channels' sections, as the daemon parses them. */
	gw_config_set_sections(channels_config_sections);
	/* Secrets from the environment would make runs differ. */
	unsetenv("SWITCHBOARD_PG_URL");
	unsetenv("SWITCHBOARD_PG_URL_FILE");
	unsetenv("SWITCHBOARD_REDIS_PASSWORD");
	unsetenv("SWITCHBOARD_REDIS_PASSWORD_FILE");
	snprintf(path, sizeof(path), "%s/sb-fuzz-config-XXXXXX",
	         dir != NULL && *dir != '\0' ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		abort();
	}
	atexit(remove_scratch);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_config *c;
	char err[1024];
	size_t off = 0;

	if (ftruncate(fd, 0) != 0)
		abort();
	while (off < size) {
		ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	c = gw_config_load(path, err, sizeof(err));
	if (c == NULL) {
		/* Every refusal names the file and a reason. */
		if (err[0] == '\0' || strlen(err) >= sizeof(err))
			abort();
		return 0;
	}
	/* An accepted config always has an origin it allows. */
	if (c->n_allowed_origins == 0 ||
	    !gw_config_origin_allowed(c, c->allowed_origins[0]) ||
	    c->listen_port < 1 || c->listen_port > 65535)
		abort();
	gw_config_free(c);
	return 0;
}
