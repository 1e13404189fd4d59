/*
 * mcpvisor history STACK: the revisions mcpvisord keeps of a stack (see
 * supervisor/revision.h), read from the state directory as deploy list
 * reads records: when, who, what changed, and whether it can be gone
 * back to (rollback start STACK --to-revision N).
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "state.h"
#include "util.h"

static const char usage_history[] =
"usage: mcpvisor history STACK [--json]\n"
"\n"
"Lists the revisions kept of STACK (a spec's metadata.name): each\n"
"successful deployment of it, numbered, with when it succeeded, who asked\n"
"for it, its environment, and what it changed (servers changed, added,\n"
"removed); the newest deployment_settings.revision_history are kept.\n"
"mcpvisor rollback start STACK --to-revision N puts one back.\n"
"\n"
"Exit status: 0, 1 when no revision of STACK is kept, 2 usage.\n";

/* The revisions kept in dir (STATE/stacks/STACK/revisions), oldest
 * first: their revision.json, those that can be read. */
static size_t
read_revisions(const char *dir, cJSON ***out)
{
	unsigned	 *nums;
	size_t		  total = util_numbered_entries(dir, &nums), n = 0;
	cJSON		**v = total > 0 ? calloc(total, sizeof(*v)) : NULL;
	char		  path[PATH_MAX + 32];

	for (size_t i = 0; v != NULL && i < total; i++) {
		int	len = snprintf(path, sizeof(path), "%s/%u/revision.json",
			    dir, nums[i]);

		if (len > 0 && (size_t)len < sizeof(path) &&
		    state_read_json(path, &v[n]) == 0)
			n++;
	}
	free(nums);
	*out = v;
	return v != NULL ? n : 0;
}

static const char *
str(const cJSON *o, const char *key)
{
	const char	*v = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return v != NULL ? v : "";
}

/* Appends a, b and c to buf, as long as they fit. */
static void
append(char *buf, size_t size, size_t *used, const char *a, const char *b,
    const char *c)
{
	int	n;

	if (*used >= size)
		return;
	n = snprintf(buf + *used, size - *used, "%s%s%s", a, b, c);
	*used += n > 0 ? (size_t)n : 0;
}

/* "a, b changed; c added; d removed": what it did to what ran. */
static void
changes_text(const cJSON *rev, char *buf, size_t size)
{
	static const char *const kinds[] = { "changed", "follows_dependency",
	    "recreated", "added", NULL };
	size_t		 used = 0;
	const cJSON	*s;

	buf[0] = '\0';
	for (int k = 0; kinds[k] != NULL; k++) {
		bool	any = false;

		cJSON_ArrayForEach(s, cJSON_GetObjectItem(rev, "servers"))
			if (strcmp(str(s, "change"), kinds[k]) == 0) {
				append(buf, size, &used, any ? ", " :
				    used > 0 ? "; " : "", str(s, "name"), "");
				any = true;
			}
		if (any)
			append(buf, size, &used, " ", kinds[k], "");
	}
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(rev, "removed"))
		append(buf, size, &used, used > 0 ? "; " : "",
		    cJSON_GetStringValue(s) != NULL ? cJSON_GetStringValue(s) :
		    "", " removed");
	if (buf[0] == '\0')
		snprintf(buf, size, "nothing");
}

static const char *
who(const cJSON *rev, char *buf, size_t size)
{
	double		 uid = cJSON_GetNumberValue(cJSON_GetObjectItem(rev,
			    "requester_uid"));
	struct passwd	*pw;

	if (uid < 0)
		return "mcpvisord";
	if ((pw = getpwuid((uid_t)uid)) != NULL)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "uid %.0f", uid);
	return buf;
}

int
cli_history(struct cli *cli, int argc, char **argv)
{
	char		  dir[PATH_MAX + 128], name[64], changes[512], from[32];
	cJSON		**revs, *arr;
	size_t		  n;
	int		  first, status;

	if ((first = cli_parse_simple(cli, argc, argv, usage_history,
	    &status)) < 0)
		return status;
	if (argc - first != 1 || strchr(argv[first], '/') != NULL ||
	    argv[first][0] == '.') {
		fputs(usage_history, stderr);
		return CLI_EXIT_USAGE;
	}
	snprintf(dir, sizeof(dir), "%s/stacks/%s/revisions", cli->state_dir,
	    argv[first]);
	if ((n = read_revisions(dir, &revs)) == 0 && !cli->json) {
		fprintf(stderr, "mcpvisor history: no revision of stack '%s' "
		    "is kept (in %s)\n", argv[first], cli->state_dir);
		return CLI_EXIT_FAILED;
	}
	if (cli->json) {
		arr = cJSON_CreateArray();
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, revs[i]);
		cli_print_json(arr);
		cJSON_Delete(arr);
		free(revs);
		return n > 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
	}
	printf("%-8s %-24s %-12s %-12s %-34s %s\n", "REVISION", "SUCCEEDED",
	    "BY", "ENVIRONMENT", "DEPLOYMENT", "CHANGED");
	for (size_t i = 0; i < n; i++) {
		const cJSON	*r = revs[i];
		double		 fr = cJSON_GetNumberValue(cJSON_GetObjectItem(r,
				    "from_revision"));

		changes_text(r, changes, sizeof(changes));
		from[0] = '\0';
		if (fr > 0)
			snprintf(from, sizeof(from), " (revision %.0f again)", fr);
		printf("%-8.0f %-24.24s %-12.12s %-12.12s %-34.34s %s%s%s\n",
		    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "revision")),
		    str(r, "succeeded_at"), who(r, name, sizeof(name)),
		    str(r, "environment"), str(r, "deployment_id"), changes, from,
		    cJSON_IsTrue(cJSON_GetObjectItem(r, "files_kept")) ? "" :
		    " (files not kept)");
		cJSON_Delete(revs[i]);
	}
	free(revs);
	return CLI_EXIT_OK;
}
