/*
 * OpenSSL's libcrypto, loaded only while a caller needs it. Relocating
 * libcrypto costs a process about 1.4 MiB of private memory; mcpvisord
 * supervises for weeks and needs base64 only while rendering templates,
 * so it maps the library for the call and unmaps it after.
 */
#ifndef MCPVISOR_CRYPTO_H
#define MCPVISOR_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

struct errbuf;

#define CRYPTO_KEY_LEN		32	/* AES-256 */
#define CRYPTO_SEAL_MAGIC	"MVE1"
/* what sealing adds: the magic, a 12-byte nonce and a 16-byte tag */
#define CRYPTO_SEAL_OVERHEAD	(4 + 12 + 16)

/* Base64 of len bytes at in, NUL-terminated in *out (malloc'd; the
 * caller frees). Returns 0, -ENOMEM, or -ENOSYS when libcrypto cannot be
 * loaded (err says why). */
int	crypto_base64(const void *in, size_t len, char **out,
	    struct errbuf *err);

/* SHA-256 of len bytes at in, as 64 lowercase hex digits and a NUL in
 * hex. Returns 0, or -ENOSYS when libcrypto cannot be loaded. */
int	crypto_sha256_hex(const void *in, size_t len, char hex[65],
	    struct errbuf *err);

/* AES-256-GCM of len bytes at in under key, with a fresh random nonce:
 * "MVE1", the nonce, the ciphertext and the tag, in *out (malloc'd,
 * *outlen bytes). 0, -ENOMEM, -EFBIG (over 1 GiB), -EIO, or -ENOSYS
 * (no libcrypto; err says why). */
int	crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], const void *in,
	    size_t len, unsigned char **out, size_t *outlen,
	    struct errbuf *err);
/* The reverse: -EBADMSG when in is not sealed, was altered, or was
 * sealed under another key. */
int	crypto_unseal(const unsigned char key[CRYPTO_KEY_LEN], const void *in,
	    size_t len, unsigned char **out, size_t *outlen,
	    struct errbuf *err);

#endif
