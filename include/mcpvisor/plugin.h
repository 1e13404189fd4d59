/*
 * mcpvisor plugins: shared objects that mcpvisor loads with dlopen(3)
 * to run custom health checks (and, later, custom rollback actions).
 *
 * A check names its plugin and function:
 *
 *	- name: database_check
 *	  type: custom
 *	  config:
 *	    plugin: /usr/lib/mcpvisor/plugins/db.so
 *	    function: database_check
 *	    params: { dsn: "postgres://..." }
 *
 * and the plugin exports, with C linkage:
 *
 *	int database_check(const char *config_json,
 *	    struct mcpvisor_check_result *result);
 *
 * config_json is the check's rendered config as JSON text ("params"
 * among it). The function fills result and returns 0; any other return
 * is an unhealthy result. It runs in a child process of its own, forked
 * for the call, inside the server's sandbox: it may block (the timeout
 * kills it), crash (the check fails, nothing else does) and needs no
 * cleanup. Build with: cc -shared -fPIC -o db.so db.c
 */
#ifndef MCPVISOR_PLUGIN_H
#define MCPVISOR_PLUGIN_H

#ifdef __cplusplus
extern "C" {
#endif

#define MCPVISOR_PLUGIN_ABI	1

enum mcpvisor_check_status {
	MCPVISOR_UNHEALTHY = 0,
	MCPVISOR_HEALTHY = 1,
};

struct mcpvisor_check_result {
	int	status;			/* enum mcpvisor_check_status */
	char	message[512];		/* NUL-terminated */
	/* a JSON object as text, or NULL: malloc'd by the plugin, or a
	 * string literal (the child exits right after) */
	char	*details_json;
};

typedef int mcpvisor_check_fn(const char *config_json,
    struct mcpvisor_check_result *result);

/* Optional: a plugin may export this to declare the ABI it was built
 * for; a mismatch fails its checks with a clear message. */
typedef int mcpvisor_plugin_abi_fn(void);
#define MCPVISOR_PLUGIN_ABI_SYMBOL	"mcpvisor_plugin_abi"

#ifdef __cplusplus
}
#endif

#endif
