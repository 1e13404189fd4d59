/*
 * OpenSSL's libcrypto, loaded only while a caller needs it. Relocating
 * libcrypto costs a process about 1.4 MiB of private memory; mcpvisord
 * supervises for weeks and needs base64 only while rendering templates,
 * so it maps the library for the call and unmaps it after.
 */
#ifndef MCPVISOR_CRYPTO_H
#define MCPVISOR_CRYPTO_H

#include <stddef.h>

struct errbuf;

/* Base64 of len bytes at in, NUL-terminated in *out (malloc'd; the
 * caller frees). Returns 0, -ENOMEM, or -ENOSYS when libcrypto cannot be
 * loaded (err says why). */
int	crypto_base64(const void *in, size_t len, char **out,
	    struct errbuf *err);

/* SHA-256 of len bytes at in, as 64 lowercase hex digits and a NUL in
 * hex. Returns 0, or -ENOSYS when libcrypto cannot be loaded. */
int	crypto_sha256_hex(const void *in, size_t len, char hex[65],
	    struct errbuf *err);

#endif
