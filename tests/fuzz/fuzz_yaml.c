/*
 * libFuzzer target for the YAML loaders: the first byte picks the file
 * kind (environment, server, health checks, deployment spec), the rest
 * is the file. The loaders read from a path, so the input goes through a
 * memfd, exactly as a file would.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "ynode.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list	 dl = { 0 };
	char			 path[64];
	int			 fd;

	if (size < 1)
		return 0;
	if ((fd = memfd_create("fuzz", MFD_CLOEXEC)) == -1)
		abort();
	if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	switch (data[0] % 5) {
	case 0: {
		struct env_config *env = NULL;

		if (env_load(path, &env, &dl) == 0)
			env_free(env);
		break;
	}
	case 1: {
		struct server_config *srv = NULL;

		if (server_load(path, &srv, &dl) == 0)
			server_free(srv);
		break;
	}
	case 2: {
		struct check_file *cf = NULL;

		if (check_file_load(path, &cf, &dl) == 0)
			check_file_free(cf);
		break;
	}
	case 3: {
		struct deploy_spec *spec = NULL;

		if (spec_load(path, &spec, &dl) == 0)
			spec_free(spec);
		break;
	}
	default: {
		struct ynode *root = NULL;

		if (ynode_load_buffer("fuzz", (const char *)data + 1, size - 1,
		    &root, &dl) == 0)
			ynode_free(root);
		break;
	}
	}
	close(fd);
	diag_list_free(&dl);
	return 0;
}
