/*
 * Loading libcurl by its SONAME (libcurl.so.4 since 2006) and resolving
 * each function once.
 */
#include "curlfn.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "errbuf.h"

#define CURL_SONAME	"libcurl.so.4"

int
curlfn_load(struct curlfn *fn, struct errbuf *err)
{
	static const struct { const char *name; size_t off; } syms[] = {
#define SYM(field, name) { name, offsetof(struct curlfn, field) }
		SYM(global_init, "curl_global_init"),
		SYM(easy_init, "curl_easy_init"),
		SYM(easy_setopt, "curl_easy_setopt"),
		SYM(easy_getinfo, "curl_easy_getinfo"),
		SYM(easy_cleanup, "curl_easy_cleanup"),
		SYM(easy_strerror, "curl_easy_strerror"),
		SYM(multi_init, "curl_multi_init"),
		SYM(multi_setopt, "curl_multi_setopt"),
		SYM(multi_add_handle, "curl_multi_add_handle"),
		SYM(multi_remove_handle, "curl_multi_remove_handle"),
		SYM(multi_socket_action, "curl_multi_socket_action"),
		SYM(multi_info_read, "curl_multi_info_read"),
		SYM(multi_assign, "curl_multi_assign"),
		SYM(multi_cleanup, "curl_multi_cleanup"),
		SYM(slist_append, "curl_slist_append"),
		SYM(slist_free_all, "curl_slist_free_all"),
#undef SYM
	};

	memset(fn, 0, sizeof(*fn));
	if ((fn->lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		errbuf_set(err, "cannot load %s: %s", CURL_SONAME, dlerror());
		return -ENOSYS;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void	*p = dlsym(fn->lib, syms[i].name);

		if (p == NULL) {
			errbuf_set(err, "%s has no %s", CURL_SONAME,
			    syms[i].name);
			curlfn_unload(fn);
			return -ENOSYS;
		}
		memcpy((char *)fn + syms[i].off, &p, sizeof(p));
	}
	if (fn->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		errbuf_set(err, "curl_global_init failed");
		curlfn_unload(fn);
		return -ENOSYS;
	}
	return 0;
}

void
curlfn_unload(struct curlfn *fn)
{
	/* libcurl is not unloaded: OpenSSL's exit handlers stay registered
	 * with the process and would call into unmapped code */
	memset(fn, 0, sizeof(*fn));
}
