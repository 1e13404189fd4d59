/*
 * libFuzzer target for the run spec: the first byte picks the side. Even:
 * the rest is a `run:` section in YAML, as mcpvisord and `mcpvisor health
 * run` read it; odd: the rest is the "run" object of a FRAME_CONFIG, as a
 * worker reads it. Whatever is accepted must survive the crossing: packed,
 * unpacked and packed again, it is the same text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "diag.h"
#include "errbuf.h"
#include "runspec.h"
#include "ynode.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct runspec *
from_yaml(const char *text, size_t len)
{
	struct diag_list	 dl = { 0 };
	struct ynode		*root = NULL;
	struct runspec		*rs = NULL;
	struct errbuf		 err;

	if (ynode_load_buffer("fuzz.yaml", text, len, &root, &dl) == 0 &&
	    root != NULL)
		(void)runspec_from_yaml(root, "/etc/mcpvisor/config", &rs, &err);
	ynode_free(root);
	diag_list_free(&dl);
	return rs;
}

static struct runspec *
from_json(const char *text, size_t len)
{
	cJSON		*run = cJSON_ParseWithLength(text, len);
	struct runspec	*rs = NULL;
	struct errbuf	 err;

	if (run != NULL)
		(void)runspec_unpack(run, &rs, &err);
	cJSON_Delete(run);
	return rs;
}

static char *
packed_text(const struct runspec *rs)
{
	cJSON	*run = runspec_pack(rs);
	char	*text;

	if (run == NULL)
		abort();
	text = cJSON_PrintUnformatted(run);
	cJSON_Delete(run);
	if (text == NULL)
		abort();
	return text;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct runspec	*rs, *again = NULL;
	struct errbuf	 err;
	char		*first, *second;
	cJSON		*run;

	if (size < 1 || size > 65536)
		return 0;
	rs = data[0] % 2 == 0 ? from_yaml((const char *)data + 1, size - 1) :
	    from_json((const char *)data + 1, size - 1);
	if (rs == NULL)
		return 0;
	first = packed_text(rs);
	if ((run = cJSON_Parse(first)) == NULL ||
	    runspec_unpack(run, &again, &err) != 0)
		abort();	/* what we packed, we must read back */
	second = packed_text(again);
	if (strcmp(first, second) != 0)
		abort();
	cJSON_Delete(run);
	free(first);
	free(second);
	runspec_free(rs);
	runspec_free(again);
	return 0;
}
