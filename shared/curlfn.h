/*
 * libcurl, loaded with dlopen(3) by the processes that run HTTP or TCP
 * checks. A worker per server is a memory budget: linking libcurl (and
 * the TLS, HTTP/2 and resolver libraries it pulls in) would cost every
 * worker its relocated pages, used or not. Only the calls mcpvisor makes
 * are looked up; the types and constants come from <curl/curl.h>.
 */
#ifndef MCPVISOR_CURLFN_H
#define MCPVISOR_CURLFN_H

#include <curl/curl.h>

struct errbuf;

struct curlfn {
	void		*lib;
	CURLcode	(*global_init)(long);
	CURL		*(*easy_init)(void);
	CURLcode	(*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode	(*easy_getinfo)(CURL *, CURLINFO, ...);
	void		(*easy_cleanup)(CURL *);
	const char	*(*easy_strerror)(CURLcode);
	CURLM		*(*multi_init)(void);
	CURLMcode	(*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode	(*multi_add_handle)(CURLM *, CURL *);
	CURLMcode	(*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode	(*multi_socket_action)(CURLM *, curl_socket_t, int,
			    int *);
	CURLMsg		*(*multi_info_read)(CURLM *, int *);
	CURLMcode	(*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMcode	(*multi_cleanup)(CURLM *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void		(*slist_free_all)(struct curl_slist *);
};

/* Loads libcurl into *fn (unload with curlfn_unload). Returns 0, or
 * -ENOSYS with the reason in err. */
int	curlfn_load(struct curlfn *fn, struct errbuf *err);
void	curlfn_unload(struct curlfn *fn);

#endif
