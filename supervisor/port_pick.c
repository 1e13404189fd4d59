#include "port_pick.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "runspec.h"
#include "secrets.h"
#include "util.h"

static bool
is_auto(const cJSON *port)
{
	return cJSON_IsString(port) &&
	    strcmp(port->valuestring, RUNSPEC_PORT_AUTO) == 0;
}

bool
port_pick_auto(const cJSON *config)
{
	return is_auto(cJSON_GetObjectItem(cJSON_GetObjectItem(config, "run"),
	    "port"));
}

/* A port of 127.0.0.1 that nothing holds now: the kernel's choice for a
 * bind to port 0 (never one a running version listens on). The worker
 * checks again that it is free before the server starts. */
static int
free_port(unsigned *port)
{
	struct sockaddr_in	a = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t		len = sizeof(a);
	int			fd, r = 0;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) == -1)
		r = -errno;
	close(fd);
	*port = r == 0 ? ntohs(a.sin_port) : 0;
	return r;
}

/* run.port as runspec_pack writes it (its text), or 0. */
static unsigned
written_port(const cJSON *port)
{
	char		*end;
	unsigned long	 p;

	if (cJSON_IsNumber(port))
		return (unsigned)json_int_within(port, 1, 65535, 0);
	if (!cJSON_IsString(port))
		return 0;
	p = strtoul(port->valuestring, &end, 10);
	return *end == '\0' && p >= 1 && p <= 65535 ? (unsigned)p : 0;
}

static bool
checks_want_port(const cJSON *config)
{
	const cJSON	*c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(config, "health_checks"))
		if (is_auto(cJSON_GetObjectItem(cJSON_GetObjectItem(c,
		    "config"), "port")))
			return true;
	return false;
}

char *
port_pick_config(const char *config_text, unsigned *port, bool *picked)
{
	cJSON		*config = cJSON_Parse(config_text), *run, *env, *c;
	char		 text[8];
	char		*out = NULL;
	int		 r;

	*port = 0;
	*picked = false;
	if (config == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	run = cJSON_GetObjectItem(config, "run");
	*port = written_port(cJSON_GetObjectItem(run, "port"));
	if (!port_pick_auto(config) && (*port == 0 ||
	    !checks_want_port(config))) {
		secrets_wipe_json(config);
		cJSON_Delete(config);
		errno = 0;
		return NULL;
	}
	if (port_pick_auto(config)) {
		if ((r = free_port(port)) < 0) {
			secrets_wipe_json(config);
			cJSON_Delete(config);
			errno = -r;
			return NULL;
		}
		*picked = true;
		snprintf(text, sizeof(text), "%u", *port);
		/* as runspec_pack writes numbers */
		cJSON_ReplaceItemInObject(run, "port", cJSON_CreateString(text));
		if ((env = cJSON_GetObjectItem(run, "environment")) == NULL)
			env = cJSON_AddObjectToObject(run, "environment");
		cJSON_DeleteItemFromObject(env, RUNSPEC_PORT_ENV);
		cJSON_AddStringToObject(env, RUNSPEC_PORT_ENV, text);
	}
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(config, "health_checks")) {
		cJSON	*cc = cJSON_GetObjectItem(c, "config");

		if (is_auto(cJSON_GetObjectItem(cc, "port")))
			cJSON_ReplaceItemInObject(cc, "port",
			    cJSON_CreateNumber(*port));
	}
	out = cJSON_PrintUnformatted(config);
	secrets_wipe_json(config);
	cJSON_Delete(config);
	if (out == NULL) {
		*port = 0;
		*picked = false;
		errno = ENOMEM;
	}
	return out;
}
