/*
 * A custom-check plugin for test_health: built as a shared object from
 * the installed header alone, as a user's would be.
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
