#include "gwlink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "frame.h"
#include "log.h"
#include "peer.h"
#include "server.h"
#include "supervisor.h"
#include "workerproc.h"

static void
on_gateway(struct peer *p, const struct frame *f, void *arg)
{
	struct supervisor	*sv = arg;

	(void)f;	/* none is allowed: a frame ends the channel */
	if (peer_error(p) != -EPIPE)
		log_warnx("gateway: its channel: %s", strerror(-peer_error(p)));
	if (sv->gateway == p) {
		peer_free(p);
		sv->gateway = NULL;
	}
}

int
gwlink_serve(void *arg, int fd, pid_t pid)
{
	struct supervisor	*sv = arg;

	(void)pid;
	peer_free(sv->gateway);
	if ((sv->gateway = peer_new(&sv->loop, fd, 0, on_gateway, sv)) ==
	    NULL)
		return -errno;
	workers_connect_gateway(sv);
	return 0;
}

void
gwlink_worker(struct supervisor *sv, struct worker_proc *wp)
{
	const char	*about = worker_gateway(wp);
	int		 pair[2];

	if (sv->gateway == NULL || about == NULL)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
		log_warn("gateway: socketpair");
		return;
	}
	if (worker_attach_gateway(wp, pair[0]) < 0) {
		close(pair[1]);
		return;
	}
	(void)peer_send_fd(sv->gateway, FRAME_GW_ATTACH, about,
	    (uint32_t)strlen(about), pair[1]);
}

bool
gwlink_about(const struct server_run *sr, char *buf, size_t size)
{
	cJSON		*config = cJSON_Parse(sr->config_text), *o;
	const char	*transport = cJSON_GetStringValue(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(config, "run"), "transport"));
	char		*text;
	bool		 ok = false;

	if (transport == NULL || strcmp(transport, "stdio") != 0) {
		cJSON_Delete(config);
		return false;
	}
	cJSON_Delete(config);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "server", sr->name);
	cJSON_AddStringToObject(o, "stack", sr->stack);
	cJSON_AddStringToObject(o, "deployment",
	    sr->owner->origin.deployment_id != NULL ?
	    sr->owner->origin.deployment_id : "");
	cJSON_AddStringToObject(o, "transport", "stdio");
	if ((text = cJSON_PrintUnformatted(o)) != NULL &&
	    strlen(text) < size) {
		memcpy(buf, text, strlen(text) + 1);
		ok = true;
	}
	free(text);
	cJSON_Delete(o);
	return ok;
}

void
gwlink_free(struct supervisor *sv)
{
	peer_free(sv->gateway);
	sv->gateway = NULL;
}
