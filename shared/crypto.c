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
typedef const void *evp_md_fn(void);
typedef int evp_digest_fn(const void *, size_t, unsigned char *,
    unsigned int *, const void *, void *);

static void *
crypto_open(struct errbuf *err)
{
	void	*lib;

	if ((lib = dlopen(MCPVISOR_LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL)) ==
	    NULL)
		errbuf_set(err, "cannot load %s: %s", MCPVISOR_LIBCRYPTO_SONAME,
		    dlerror());
	return lib;
}

int
crypto_sha256_hex(const void *in, size_t len, char hex[65],
    struct errbuf *err)
{
	static const char	 digits[] = "0123456789abcdef";
	evp_md_fn		*sha256;
	evp_digest_fn		*digest;
	unsigned char		 md[32];
	unsigned int		 mdlen = 0;
	void			*lib;

	if ((lib = crypto_open(err)) == NULL)
		return -ENOSYS;
	*(void **)&sha256 = dlsym(lib, "EVP_sha256");
	*(void **)&digest = dlsym(lib, "EVP_Digest");
	if (sha256 == NULL || digest == NULL ||
	    digest(in, len, md, &mdlen, sha256(), NULL) != 1 || mdlen != 32) {
		errbuf_set(err, "%s: SHA-256 failed", MCPVISOR_LIBCRYPTO_SONAME);
		dlclose(lib);
		return -ENOSYS;
	}
	dlclose(lib);
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	return 0;
}

int
crypto_base64(const void *in, size_t len, char **out, struct errbuf *err)
{
	evp_encode_block_fn	*encode;
	void			*lib;
	size_t			 outlen = 4 * ((len + 2) / 3);

	if (len > INT_MAX / 2)
		return -ENOMEM;
	if ((lib = crypto_open(err)) == NULL)
		return -ENOSYS;
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
