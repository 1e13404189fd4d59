/*
 * mcpvisor plugins: shared objects that mcpvisor loads with dlopen(3)
 * to run custom health checks and custom rollback actions.
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
	 * string literal (the child exits right after). Its "metrics", an
	 * object of numbers ({"queue_depth": 7}), are recorded for the
	 * server as custom metrics (the guide's record_performance_metrics):
	 * in the monitor's metrics messages ("custom") and its /metrics
	 * (mcpvisor_server_custom{name="queue_depth"}), as
	 * "mcpvisor monitor record SERVER NAME=VALUE" records them by hand.
	 * A program's custom check says the same in its JSON's "details". */
	char	*details_json;
};

typedef int mcpvisor_check_fn(const char *config_json,
    struct mcpvisor_check_result *result);

/*
 * A custom rollback action (the counterpart of the guide's
 * register_custom_action_handler) is registered by name in the
 * deployment spec and listed by the servers it applies to:
 *
 *	rollback_actions:
 *	  custom_cleanup:
 *	    plugin: /usr/lib/mcpvisor/plugins/cleanup.so
 *	    function: custom_cleanup
 *	    params: { cache_dir: /var/cache/app }
 *	servers:
 *	  - name: app
 *	    rollback_actions: [custom_cleanup]
 *
 * and the plugin exports:
 *
 *	int custom_cleanup(const char *action_json,
 *	    struct mcpvisor_action_result *result);
 *
 * action_json describes the rollback (rollback_id, deployment_id,
 * previous_deployment_id, server, snapshot, strategy, params). It runs
 * once the new version of the server has stopped and before the old one
 * is restored, in a child process forked for the call (a hang is killed
 * at timeout_seconds, a crash fails only the action). Return 0 when done;
 * anything else fails the action, and the rollback is reported failed
 * while it goes on restoring.
 */
struct mcpvisor_action_result {
	char	message[512];		/* NUL-terminated; may stay empty */
};

typedef int mcpvisor_rollback_action_fn(const char *action_json,
    struct mcpvisor_action_result *result);

/* Optional: a plugin may export this to declare the ABI it was built
 * for; a mismatch fails its checks and actions with a clear message. */
typedef int mcpvisor_plugin_abi_fn(void);
#define MCPVISOR_PLUGIN_ABI_SYMBOL	"mcpvisor_plugin_abi"

#ifdef __cplusplus
}
#endif

#endif
