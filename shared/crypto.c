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
#include <string.h>
#include <sys/random.h>

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

/* --- AES-256-GCM --- */

typedef void *evp_ctx_new_fn(void);
typedef void evp_ctx_free_fn(void *);
typedef const void *evp_cipher_fn(void);
typedef int evp_init_fn(void *, const void *, void *, const unsigned char *,
    const unsigned char *);
typedef int evp_update_fn(void *, unsigned char *, int *,
    const unsigned char *, int);
typedef int evp_final_fn(void *, unsigned char *, int *);
typedef int evp_ctrl_fn(void *, int, int, void *);

#define GCM_GET_TAG	0x10	/* EVP_CTRL_GCM_GET_TAG */
#define GCM_SET_TAG	0x11	/* EVP_CTRL_GCM_SET_TAG */
#define GCM_NONCE	12
#define GCM_TAG		16
#define SEAL_MAX	(1u << 30)

struct gcm {
	void		*lib;
	evp_ctx_new_fn	*ctx_new;
	evp_ctx_free_fn	*ctx_free;
	evp_cipher_fn	*aes_256_gcm;
	evp_init_fn	*init;
	evp_update_fn	*update;
	evp_final_fn	*final;
	evp_ctrl_fn	*ctrl;
};

static int
gcm_open(struct gcm *g, bool sealing, struct errbuf *err)
{
	if ((g->lib = crypto_open(err)) == NULL)
		return -ENOSYS;
	*(void **)&g->ctx_new = dlsym(g->lib, "EVP_CIPHER_CTX_new");
	*(void **)&g->ctx_free = dlsym(g->lib, "EVP_CIPHER_CTX_free");
	*(void **)&g->aes_256_gcm = dlsym(g->lib, "EVP_aes_256_gcm");
	*(void **)&g->init = dlsym(g->lib, sealing ? "EVP_EncryptInit_ex" :
	    "EVP_DecryptInit_ex");
	*(void **)&g->update = dlsym(g->lib, sealing ? "EVP_EncryptUpdate" :
	    "EVP_DecryptUpdate");
	*(void **)&g->final = dlsym(g->lib, sealing ? "EVP_EncryptFinal_ex" :
	    "EVP_DecryptFinal_ex");
	*(void **)&g->ctrl = dlsym(g->lib, "EVP_CIPHER_CTX_ctrl");
	if (g->ctx_new == NULL || g->ctx_free == NULL ||
	    g->aes_256_gcm == NULL || g->init == NULL || g->update == NULL ||
	    g->final == NULL || g->ctrl == NULL) {
		errbuf_set(err, "%s lacks AES-256-GCM", MCPVISOR_LIBCRYPTO_SONAME);
		dlclose(g->lib);
		return -ENOSYS;
	}
	return 0;
}

int
crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], const void *in,
    size_t len, unsigned char **out, size_t *outlen, struct errbuf *err)
{
	struct gcm	 g;
	unsigned char	*buf, *nonce, *body;
	void		*ctx = NULL;
	int		 n = 0, fin = 0, r;

	if (len > SEAL_MAX)
		return -EFBIG;
	if ((buf = malloc(len + CRYPTO_SEAL_OVERHEAD)) == NULL)
		return -ENOMEM;
	if ((r = gcm_open(&g, true, err)) < 0) {
		free(buf);
		return r;
	}
	memcpy(buf, CRYPTO_SEAL_MAGIC, 4);
	nonce = buf + 4;
	body = nonce + GCM_NONCE;
	r = -EIO;
	/* the magic is authenticated as additional data */
	if (getrandom(nonce, GCM_NONCE, 0) == GCM_NONCE &&
	    (ctx = g.ctx_new()) != NULL &&
	    g.init(ctx, g.aes_256_gcm(), NULL, key, nonce) == 1 &&
	    g.update(ctx, NULL, &n, buf, 4) == 1 &&
	    g.update(ctx, body, &n, in, (int)len) == 1 &&
	    g.final(ctx, body + n, &fin) == 1 &&
	    g.ctrl(ctx, GCM_GET_TAG, GCM_TAG, body + n + fin) == 1)
		r = 0;
	if (ctx != NULL)
		g.ctx_free(ctx);
	dlclose(g.lib);
	if (r < 0) {
		errbuf_set(err, "AES-256-GCM sealing failed");
		free(buf);
		return r;
	}
	*out = buf;
	*outlen = 4 + GCM_NONCE + (size_t)n + (size_t)fin + GCM_TAG;
	return 0;
}

int
crypto_unseal(const unsigned char key[CRYPTO_KEY_LEN], const void *in,
    size_t len, unsigned char **out, size_t *outlen, struct errbuf *err)
{
	const unsigned char	*p = in;
	struct gcm		 g;
	unsigned char		*buf, tag[GCM_TAG];
	size_t			 body;
	void			*ctx = NULL;
	int			 n = 0, fin = 0, r;

	if (len < CRYPTO_SEAL_OVERHEAD || memcmp(p, CRYPTO_SEAL_MAGIC, 4) !=
	    0) {
		errbuf_set(err, "not sealed by mcpvisor");
		return -EBADMSG;
	}
	if (len > SEAL_MAX + CRYPTO_SEAL_OVERHEAD)
		return -EFBIG;
	body = len - CRYPTO_SEAL_OVERHEAD;
	if ((buf = malloc(body + 1)) == NULL)
		return -ENOMEM;
	if ((r = gcm_open(&g, false, err)) < 0) {
		free(buf);
		return r;
	}
	memcpy(tag, p + len - GCM_TAG, GCM_TAG);
	r = -EBADMSG;
	if ((ctx = g.ctx_new()) != NULL &&
	    g.init(ctx, g.aes_256_gcm(), NULL, key, p + 4) == 1 &&
	    g.update(ctx, NULL, &n, p, 4) == 1 &&
	    g.update(ctx, buf, &n, p + 4 + GCM_NONCE, (int)body) == 1 &&
	    g.ctrl(ctx, GCM_SET_TAG, GCM_TAG, tag) == 1 &&
	    g.final(ctx, buf + n, &fin) == 1)
		r = 0;
	if (ctx != NULL)
		g.ctx_free(ctx);
	dlclose(g.lib);
	if (r < 0) {
		explicit_bzero(buf, body);
		free(buf);
		errbuf_set(err, "it does not decrypt: altered, or sealed under "
		    "another key");
		return r;
	}
	*out = buf;
	*outlen = (size_t)n + (size_t)fin;
	buf[*outlen] = '\0';
	return 0;
}
