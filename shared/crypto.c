/*
 * libcrypto through dlopen(3). The library's name is its SONAME as found
 * at build time (MCPVISOR_LIBCRYPTO_SONAME), so the one we built against
 * is the one we load.
 */
#include "crypto.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "errbuf.h"

#ifndef MCPVISOR_LIBCRYPTO_SONAME
#define MCPVISOR_LIBCRYPTO_SONAME "libcrypto.so.3"
#endif

typedef int evp_encode_block_fn(unsigned char *, const unsigned char *, int);

int
crypto_base64(const void *in, size_t len, char **out, struct errbuf *err)
{
	evp_encode_block_fn	*encode;
	void			*lib;
	size_t			 outlen = 4 * ((len + 2) / 3);

	if (len > INT_MAX / 2)
		return -ENOMEM;
	if ((lib = dlopen(MCPVISOR_LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL)) ==
	    NULL) {
		errbuf_set(err, "cannot load %s: %s", MCPVISOR_LIBCRYPTO_SONAME,
		    dlerror());
		return -ENOSYS;
	}
	*(void **)&encode = dlsym(lib, "EVP_EncodeBlock");
	if (encode == NULL) {
		errbuf_set(err, "%s has no EVP_EncodeBlock",
		    MCPVISOR_LIBCRYPTO_SONAME);
		dlclose(lib);
		return -ENOSYS;
	}
	if ((*out = malloc(outlen + 1)) == NULL) {
		dlclose(lib);
		return -ENOMEM;
	}
	encode((unsigned char *)*out, in, (int)len);
	(*out)[outlen] = '\0';
	dlclose(lib);
	return 0;
}
