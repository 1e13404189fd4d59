/*
 * Dynamic users, as systemd's DynamicUser= makes them: a server whose
 * file names no run.user runs as a uid of its own from 61184-65518,
 * which no passwd or group entry holds, in the group 65519 that every
 * such server shares (for writable paths they share). The uid is
 * chosen once per server name and kept in STATE_DIR/dynamic-users.json,
 * so that a restarted server, a restarted mcpvisord and a rollback find
 * the files it owns; ids are never given back, since files may still
 * carry them.
 *
 * Deployments are loaded one at a time (deployment.c), in a child:
 * the file, not this process's memory, is where an allocation lives;
 * it is read once and written once (when it gained ids) per load.
 */
#include "dynuser.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "runspec.h"
#include "state.h"
#include "util.h"

#define DYNUSER_FILE	"dynamic-users.json"
/* uids: the range but its last id, the group */
#define DYNUSER_COUNT	(RUNSPEC_DYNAMIC_GID - RUNSPEC_DYNAMIC_ID_FIRST)

bool
dynuser_possible(void)
{
	pid_t	pid;
	int	status;

	if (geteuid() != 0)
		return false;
	/* a user namespace may map root and little else (a container) */
	if ((pid = fork()) == -1)
		return false;
	if (pid == 0)
		_exit(setresgid(RUNSPEC_DYNAMIC_GID, RUNSPEC_DYNAMIC_GID,
		    RUNSPEC_DYNAMIC_GID) == 0 &&
		    setresuid(RUNSPEC_DYNAMIC_ID_FIRST, RUNSPEC_DYNAMIC_ID_FIRST,
		    RUNSPEC_DYNAMIC_ID_FIRST) == 0 ? 0 : 1);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* FNV-1a: a name lands on the same first candidate on every host. */
static unsigned
first_candidate(const char *name)
{
	uint32_t	h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % DYNUSER_COUNT;
}

static bool
taken(const cJSON *map, unsigned id)
{
	const cJSON	*e;

	cJSON_ArrayForEach(e, map)
		if (json_int_within(e, 0, UINT32_MAX, -1) == (long long)id)
			return true;
	return getpwuid((uid_t)id) != NULL || getgrgid((gid_t)id) != NULL;
}

int
dynuser_load(struct dynuser_map *m, const char *state_dir,
    struct errbuf *err)
{
	int	r;

	memset(m, 0, sizeof(*m));
	m->state_dir = state_dir;
	snprintf(m->path, sizeof(m->path), "%s/%s", state_dir, DYNUSER_FILE);
	if ((r = state_read_json(m->path, &m->ids)) == -ENOENT)
		m->ids = cJSON_CreateObject();
	else if (r < 0 || !cJSON_IsObject(m->ids)) {
		errbuf_set(err, "%s: %s", m->path, r < 0 ? strerror(-r) :
		    "not a JSON object");
		cJSON_Delete(m->ids);
		m->ids = NULL;
		return r < 0 ? r : -EBADMSG;
	}
	return m->ids == NULL ? -ENOMEM : 0;
}

int
dynuser_for(struct dynuser_map *m, const char *server, uid_t *out,
    struct errbuf *err)
{
	const cJSON	*mine;
	unsigned	 start, id;

	if ((mine = cJSON_GetObjectItem(m->ids, server)) != NULL) {
		long long v = json_int_within(mine, RUNSPEC_DYNAMIC_ID_FIRST,
		    RUNSPEC_DYNAMIC_GID - 1, -1);

		if (v == -1) {
			errbuf_set(err, "%s: the id of '%s' is not in %u-%u",
			    m->path, server, RUNSPEC_DYNAMIC_ID_FIRST,
			    RUNSPEC_DYNAMIC_GID - 1);
			return -EBADMSG;
		}
		*out = (uid_t)v;
		return 0;
	}
	start = first_candidate(server);
	for (unsigned k = 0; k < DYNUSER_COUNT; k++) {
		id = RUNSPEC_DYNAMIC_ID_FIRST + (start + k) % DYNUSER_COUNT;
		if (taken(m->ids, id))
			continue;
		if (cJSON_AddNumberToObject(m->ids, server, id) == NULL)
			return -ENOMEM;
		m->changed = true;
		*out = (uid_t)id;
		return 0;
	}
	errbuf_set(err, "every dynamic id (%u-%u) is taken: give the server "
	    "a run.user", RUNSPEC_DYNAMIC_ID_FIRST, RUNSPEC_DYNAMIC_GID - 1);
	return -ENOSPC;
}

int
dynuser_save(struct dynuser_map *m, struct errbuf *err)
{
	int	r = 0;

	if (m->ids != NULL && m->changed && (r = state_write_json(m->state_dir,
	    DYNUSER_FILE, m->ids)) < 0)
		errbuf_set(err, "%s: %s", m->path, strerror(-r));
	dynuser_drop(m);
	return r;
}

void
dynuser_drop(struct dynuser_map *m)
{
	cJSON_Delete(m->ids);
	m->ids = NULL;
}
