/*
 * The run spec from a rendered `run:` section (runspec.h). Apart from
 * runspec.c so that the worker, which only unpacks, links no YAML.
 */
#include "runspec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "errbuf.h"
#include "schema.h"
#include "ynode.h"

/* The tree with every scalar as the text it was written as. */
static cJSON *
yaml_as_text(const struct ynode *n)
{
	cJSON	*j, *child;

	if (n == NULL || n->kind == YNODE_NULL)
		return cJSON_CreateNull();
	if (ynode_is_scalar(n))
		return cJSON_CreateString(n->text != NULL ? n->text : "");
	if ((j = n->kind == YNODE_MAP ? cJSON_CreateObject() :
	    cJSON_CreateArray()) == NULL)
		return NULL;
	for (size_t i = 0; i < n->count; i++) {
		if ((child = yaml_as_text(n->items[i])) == NULL) {
			cJSON_Delete(j);
			return NULL;
		}
		if (n->kind == YNODE_MAP)
			cJSON_AddItemToObject(j, n->keys[i]->text, child);
		else
			cJSON_AddItemToArray(j, child);
	}
	return j;
}

/* A relative path with a '/' is the project's: "mcp-servers/x" with
 * config_dir /srv/deploy/config is /srv/deploy/mcp-servers/x. A bare
 * name is left for PATH. */
static int
resolve(char **path, const char *config_dir)
{
	char	*base, *abs;

	if (*path == NULL || (*path)[0] == '/' || strchr(*path, '/') == NULL ||
	    config_dir == NULL)
		return 0;
	if ((base = config_sibling_dir(config_dir, "")) == NULL)
		return -ENOMEM;
	/* the server starts elsewhere (its working directory): a path
	 * relative to ours would not hold there */
	if (base[0] != '/') {
		char	cwd[PATH_MAX], *rel = base;

		if (getcwd(cwd, sizeof(cwd)) == NULL)
			cwd[0] = '\0';
		if (asprintf(&base, "%s/%s", cwd, rel) == -1)
			base = NULL;
		free(rel);
		if (base == NULL)
			return -ENOMEM;
	}
	if (asprintf(&abs, "%s%s", base, *path) == -1) {
		free(base);
		return -ENOMEM;
	}
	free(base);
	free(*path);
	*path = abs;
	return 0;
}

int
runspec_from_yaml(const struct ynode *run, const char *config_dir,
    struct runspec **out, struct errbuf *err)
{
	cJSON	*text;
	int	 r;

	*out = NULL;
	if (run == NULL) {
		errbuf_set(err, "no run section: mcpvisor does not know how to "
		    "start it");
		return -EINVAL;
	}
	if ((text = yaml_as_text(run)) == NULL)
		return -ENOMEM;
	r = runspec_unpack(text, out, err);
	cJSON_Delete(text);
	if (r < 0)
		return r;
	if (resolve(&(*out)->command, config_dir) < 0 ||
	    resolve(&(*out)->cwd, config_dir) < 0) {
		runspec_free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	free((*out)->argv[0]);
	if (((*out)->argv[0] = strdup((*out)->command)) == NULL) {
		runspec_free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

const char *
runspec_yaml_str(const struct ynode *run, const char *key)
{
	return schema_str(run, key, schema_default(&config_run_schema, key));
}
