/*
 * libFuzzer target for the template engine: any bytes as a template,
 * with names resolving in a small fixed tree and env() in a fixed list.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "errbuf.h"
#include "template.h"
#include "ynode.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char context[] =
    "config:\n  port: 8000\n  name: api\n  api: {rate: 5}\n  list: [1]\n"
    "  hosts: [a, b, c]\n  pairs: [[x, 1], [y, 2]]\n  ratio: 1.5\n"
    "  map: {k: v, n: {deep: [1, 2]}}\n"
    "env:\n  key: secret\n  empty: \"\"\n";

static int
lookup(void *arg, const char *const *parts, size_t nparts,
    const struct ynode **out, struct errbuf *err)
{
	const struct ynode	*n = arg;

	(void)err;
	for (size_t i = 0; i < nparts && n != NULL; i++)
		n = ynode_map_get(n, parts[i]);
	if (n == NULL)
		return -ENOENT;
	*out = n;
	return 0;
}

static const char *
fixed_getenv(void *arg, const char *name)
{
	(void)arg;
	return strcmp(name, "HOME") == 0 ? "/root" : NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ynode	*root;
	struct template_scope	 scope;
	struct template_output	 out;
	struct errbuf		 err;
	char			*src;

	if (root == NULL) {
		struct diag_list dl = { 0 };

		if (ynode_load_buffer("ctx", context, strlen(context), &root,
		    &dl) != 0)
			abort();
		diag_list_free(&dl);
	}
	if ((src = malloc(size + 1)) == NULL)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';
	scope.lookup = lookup;
	scope.getenv = fixed_getenv;
	scope.arg = root;
	if (template_render(src, &scope, &out, &err) == 0) {
		if (out.len > TEMPLATE_OUTPUT_MAX || strlen(out.text) > out.len)
			abort();
		free(out.text);
	}
	free(src);
	return 0;
}
