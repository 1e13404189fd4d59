/*
 * The secret strings of a rendered tree, and the base64 form of each:
 * apart from secrets.c, so that a worker, which only scrubs, links
 * neither the tree nor libcrypto.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "errbuf.h"
#include "secrets.h"
#include "ynode.h"

int
secrets_collect(struct secret_set *s, const struct ynode *n)
{
	struct errbuf	 err;
	char		*b64;
	int		 r = 0;

	if (n == NULL)
		return 0;
	if (n->kind == YNODE_MAP || n->kind == YNODE_SEQ) {
		for (size_t i = 0; i < n->count; i++)
			if (secrets_collect(s, n->items[i]) < 0)
				return -ENOMEM;
		return 0;
	}
	if (!(n->flags & YNODE_SECRET) || n->text == NULL ||
	    n->len < SECRET_MIN)
		return 0;
	if (secrets_add(s, n->text) < 0)
		return -ENOMEM;
	/* base64_encode() of it, as a template may have made, and as a
	 * program may print it */
	if (crypto_base64(n->text, n->len, &b64, &err) == 0) {
		r = secrets_add(s, b64);
		explicit_bzero(b64, strlen(b64));
		free(b64);
	}
	return r;
}
