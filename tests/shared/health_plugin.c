/*
 * A plugin for the tests: custom checks for test_health and a custom
 * rollback action for the runtime test, built as a shared object from the
 * installed header alone, as a user's would be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mcpvisor/plugin.h>

int	mcpvisor_plugin_abi(void);
int	database_check(const char *, struct mcpvisor_check_result *);
int	crashing_check(const char *, struct mcpvisor_check_result *);
int	hanging_check(const char *, struct mcpvisor_check_result *);
int	note_rollback(const char *, struct mcpvisor_action_result *);

int
mcpvisor_plugin_abi(void)
{
	return MCPVISOR_PLUGIN_ABI;
}

int
database_check(const char *config, struct mcpvisor_check_result *r)
{
	const char	*p = strstr(config, "\"connections\":");

	if (p == NULL) {
		snprintf(r->message, sizeof(r->message), "no connections in %s",
		    config);
		return 1;
	}
	r->status = MCPVISOR_HEALTHY;
	snprintf(r->message, sizeof(r->message), "%d connections",
	    atoi(p + 14));
	r->details_json = "{\"pool\": \"primary\"}";
	return 0;
}

int
crashing_check(const char *config, struct mcpvisor_check_result *r)
{
	(void)config;
	(void)r;
	abort();
}

int
hanging_check(const char *config, struct mcpvisor_check_result *r)
{
	(void)config;
	(void)r;
	for (;;)
		pause();
}

/* Writes the action's document to params.file. */
int
note_rollback(const char *action, struct mcpvisor_action_result *r)
{
	const char	*key = strstr(action, "\"file\":");
	char		 path[400];
	FILE		*fp;
	size_t		 n = 0;

	if (key == NULL || (key = strchr(key + 7, '"')) == NULL) {
		snprintf(r->message, sizeof(r->message), "no params.file");
		return 1;
	}
	for (key++; *key != '\0' && *key != '"' && n < sizeof(path) - 1; key++)
		path[n++] = *key;
	path[n] = '\0';
	if ((fp = fopen(path, "w")) == NULL) {
		snprintf(r->message, sizeof(r->message), "%.400s: cannot write",
		    path);
		return 1;
	}
	fprintf(fp, "%s\n", action);
	fclose(fp);
	snprintf(r->message, sizeof(r->message), "noted in %.400s", path);
	return 0;
}
