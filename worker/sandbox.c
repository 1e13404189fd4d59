/*
 * Sandboxing with prctl(2), setrlimit(2), unshare(2) and libcap. Each
 * step is checked after it is taken where the kernel lets us (the
 * identity is read back), since a sandbox that silently did less than
 * asked is worse than none.
 */
#include "sandbox.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <net/if.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "util.h"

static const struct sandbox_rlimit rlimit_names[] = {
	{ RLIMIT_AS, "as", 0, false },
	{ RLIMIT_CORE, "core", 0, false },
	{ RLIMIT_CPU, "cpu", 0, false },
	{ RLIMIT_DATA, "data", 0, false },
	{ RLIMIT_FSIZE, "fsize", 0, false },
	{ RLIMIT_MEMLOCK, "memlock", 0, false },
	{ RLIMIT_NOFILE, "nofile", 0, false },
	{ RLIMIT_NPROC, "nproc", 0, false },
	{ RLIMIT_STACK, "stack", 0, false },
};

/* Numbers arrive as JSON numbers or, when rendered from templates, as
 * strings of digits. */
static bool
json_uint(const cJSON *j, unsigned long long *out)
{
	char		*end;
	long long	 v;

	if (cJSON_IsNumber(j)) {
		v = json_int_within(j, 0, LLONG_MAX, -1);
		*out = (unsigned long long)v;
		return v >= 0;
	}
	if (cJSON_IsString(j) && j->valuestring[0] != '\0') {
		errno = 0;
		*out = strtoull(j->valuestring, &end, 10);
		return *end == '\0' && errno == 0;
	}
	return false;
}

/* Lowers the limit of name to value (an environment's limit and a
 * server's combine to the smaller). */
static void
limit_to(struct sandbox_spec *sp, const char *name, rlim_t value)
{
	for (size_t i = 0; i < 9; i++)
		if (strcmp(sp->rlimits[i].name, name) == 0 &&
		    (!sp->rlimits[i].set || value < sp->rlimits[i].value)) {
			sp->rlimits[i].value = value;
			sp->rlimits[i].set = true;
		}
}

/* An id written as digits only. */
static bool
numeric_id(const char *text, unsigned *out)
{
	char			*end;
	unsigned long		 v;

	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (*end != '\0' || errno != 0 || v > 0x7fffffffUL)
		return false;
	*out = (unsigned)v;
	return true;
}

static int
parse_identity(const cJSON *run, struct sandbox_spec *sp, struct errbuf *err)
{
	const char		*user = cJSON_GetStringValue(
				    cJSON_GetObjectItem(run, "user"));
	const char		*group = cJSON_GetStringValue(
				    cJSON_GetObjectItem(run, "group"));
	const cJSON		*extra = cJSON_GetObjectItem(run,
				    "supplementary_groups"), *g;
	const struct passwd	*pw;
	const struct group	*gr;

	if (user == NULL && group == NULL)
		return 0;
	sp->change_identity = true;
	sp->uid = getuid();
	sp->gid = getgid();
	if (user != NULL) {
		/* a name, or a number (a file's owner may have no name) */
		if ((pw = getpwnam(user)) == NULL && !numeric_id(user, &sp->uid)) {
			errbuf_set(err, "no user '%s'", user);
			return -EINVAL;
		}
		if (pw == NULL)
			pw = getpwuid(sp->uid);
		if (pw != NULL) {
			sp->uid = pw->pw_uid;
			sp->gid = pw->pw_gid;
			snprintf(sp->home, sizeof(sp->home), "%s", pw->pw_dir);
		}
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) != NULL)
			sp->gid = gr->gr_gid;
		else if (!numeric_id(group, &sp->gid)) {
			errbuf_set(err, "no group '%s'", group);
			return -EINVAL;
		}
	}
	sp->groups[sp->ngroups++] = sp->gid;
	cJSON_ArrayForEach(g, extra) {
		if (!cJSON_IsString(g) || (gr = getgrnam(g->valuestring)) ==
		    NULL) {
			errbuf_set(err, "no group '%s'",
			    cJSON_IsString(g) ? g->valuestring : "?");
			return -EINVAL;
		}
		if (sp->ngroups == SANDBOX_GROUPS_MAX) {
			errbuf_set(err, "more than %d groups",
			    SANDBOX_GROUPS_MAX);
			return -EINVAL;
		}
		sp->groups[sp->ngroups++] = gr->gr_gid;
	}
	return 0;
}

/* cpu_cores, memory_gb and pids_max of a mapping, over what l holds. */
static void
parse_limits(const cJSON *m, struct cgroup_limits *l)
{
	const cJSON	*v;

	if (cJSON_IsNumber(v = cJSON_GetObjectItem(m, "cpu_cores")) &&
	    v->valuedouble > 0)
		l->cpu_cores = cgroup_at_most(v->valuedouble,
		    CGROUP_CPU_CORES_MAX);
	if (cJSON_IsNumber(v = cJSON_GetObjectItem(m, "memory_gb")) &&
	    v->valuedouble > 0)
		l->memory_bytes = (uint64_t)(cgroup_at_most(v->valuedouble,
		    CGROUP_MEMORY_GB_MAX) * (1u << 30));
	if (cJSON_IsNumber(v = cJSON_GetObjectItem(m, "pids_max")) &&
	    v->valuedouble >= 1)
		l->pids_max = (long)cgroup_at_most(v->valuedouble,
		    CGROUP_PIDS_MAX);
}

int
sandbox_parse(const cJSON *config, struct sandbox_spec *sp, struct errbuf *err)
{
	const cJSON		*sandbox = cJSON_GetObjectItem(config, "sandbox");
	const cJSON		*limits = cJSON_GetObjectItem(config,
				    "resource_limits");
	const cJSON		*caps, *rl, *item;
	unsigned long long	 v;

	memset(sp, 0, sizeof(*sp));
	memcpy(sp->rlimits, rlimit_names, sizeof(sp->rlimits));
	if (json_uint(cJSON_GetObjectItem(limits, "max_open_files"), &v))
		limit_to(sp, "nofile", (rlim_t)v);
	if (json_uint(cJSON_GetObjectItem(limits, "max_processes"), &v))
		limit_to(sp, "nproc", (rlim_t)v);
	if (json_uint(cJSON_GetObjectItem(limits, "max_file_size_mb"), &v))
		limit_to(sp, "fsize", (rlim_t)v << 20);
	if (cJSON_IsFalse(cJSON_GetObjectItem(limits, "core_dumps")))
		limit_to(sp, "core", 0);
	rl = cJSON_GetObjectItem(sandbox, "rlimits");
	cJSON_ArrayForEach(item, rl) {
		if (!json_uint(item, &v)) {
			errbuf_set(err, "sandbox.rlimits.%s is not a number",
			    item->string);
			return -EINVAL;
		}
		limit_to(sp, item->string, (rlim_t)v);
	}
	parse_limits(limits, &sp->limits);
	parse_limits(cJSON_GetObjectItem(sandbox, "limits"), &sp->limits);
	sp->limits_required = !cJSON_IsFalse(cJSON_GetObjectItem(sandbox,
	    "limits_required")) && !cJSON_IsTrue(cJSON_GetObjectItem(config,
	    "limits_optional"));
	item = cJSON_GetObjectItem(sandbox, "seccomp");
	sp->seccomp = !cJSON_IsString(item) ? SECCOMP_ERRNO :
	    strcmp(item->valuestring, "kill") == 0 ? SECCOMP_KILL :
	    strcmp(item->valuestring, "none") == 0 ? SECCOMP_NONE :
	    SECCOMP_ERRNO;
	if (sandbox_seccomp_build(sp, cJSON_GetObjectItem(sandbox, "syscalls"),
	    err) < 0)
		return -EINVAL;
	item = cJSON_GetObjectItem(sandbox, "network");
	sp->network_none = cJSON_IsString(item) &&
	    strcmp(item->valuestring, "none") == 0;
	if (sandbox_parse_filesystem(sandbox, sp, err) < 0)
		return -EINVAL;
	caps = cJSON_GetObjectItem(sandbox, "capabilities");
	cJSON_ArrayForEach(item, caps) {
		char	lower[64];
		size_t	i;

		if (!cJSON_IsString(item))
			continue;
		for (i = 0; i + 1 < sizeof(lower) && item->valuestring[i]; i++)
			lower[i] = (char)tolower(
			    (unsigned char)item->valuestring[i]);
		lower[i] = '\0';
		if (sp->nkeep == SANDBOX_CAPS_MAX ||
		    cap_from_name(lower, &sp->keep[sp->nkeep]) != 0) {
			errbuf_set(err, "unknown capability '%s'",
			    item->valuestring);
			return -EINVAL;
		}
		sp->nkeep++;
	}
	sp->dynamic_identity = cJSON_IsTrue(cJSON_GetObjectItem(config,
	    "dynamic_user"));
	return parse_identity(cJSON_GetObjectItem(config, "run"), sp, err);
}

static bool
keeps(const struct sandbox_spec *sp, cap_value_t c)
{
	for (size_t i = 0; i < sp->nkeep; i++)
		if (sp->keep[i] == c)
			return true;
	return false;
}

static bool
have_effective(cap_value_t c)
{
	cap_t			caps = cap_get_proc();
	cap_flag_value_t	v = CAP_CLEAR;

	if (caps != NULL) {
		cap_get_flag(caps, c, CAP_EFFECTIVE, &v);
		cap_free(caps);
	}
	return v == CAP_SET;
}

static int
loopback_up(struct errbuf *err)
{
	struct ifreq	ifr;
	int		s, r = 0;

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		errbuf_set(err, "socket: %s", strerror(errno));
		return -errno;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1 ||
	    (ifr.ifr_flags |= IFF_UP | IFF_RUNNING,
	    ioctl(s, SIOCSIFFLAGS, &ifr) == -1)) {
		r = -errno;
		errbuf_set(err, "bringing up lo: %s", strerror(errno));
	}
	close(s);
	return r;
}

static int
step_rlimits(const struct sandbox_spec *sp, cJSON *report, struct errbuf *err)
{
	cJSON	*set = cJSON_AddObjectToObject(report, "rlimits");

	for (size_t i = 0; i < 9; i++) {
		const struct sandbox_rlimit	*l = &sp->rlimits[i];
		struct rlimit			 rl;

		if (!l->set)
			continue;
		if (getrlimit(l->resource, &rl) == -1) {
			errbuf_set(err, "getrlimit %s: %s", l->name,
			    strerror(errno));
			return -errno;
		}
		/* never raise a limit: lower soft and hard alike */
		if (rl.rlim_max == RLIM_INFINITY || l->value < rl.rlim_max)
			rl.rlim_max = l->value;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(l->resource, &rl) == -1) {
			errbuf_set(err, "setrlimit %s=%llu: %s", l->name,
			    (unsigned long long)l->value, strerror(errno));
			return -errno;
		}
		cJSON_AddNumberToObject(set, l->name, (double)rl.rlim_cur);
	}
	return 0;
}

static int
step_bounding_set(const struct sandbox_spec *sp, cJSON *report,
    struct errbuf *err)
{
	int	dropped = 0;

	if (!have_effective(CAP_SETPCAP)) {
		/* unprivileged: the sets are already empty, and no_new_privs
		 * means no exec can fill them */
		if (sp->nkeep > 0) {
			errbuf_set(err, "keeping capabilities needs "
			    "CAP_SETPCAP, which this worker lacks");
			return -EPERM;
		}
		cJSON_AddStringToObject(report, "bounding_set",
		    "unchanged (unprivileged; no_new_privs)");
		return 0;
	}
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		if (keeps(sp, c) || !CAP_IS_SUPPORTED(c))
			continue;
		if (cap_drop_bound(c) == -1) {
			char	*name = cap_to_name(c);

			errbuf_set(err, "dropping %s from the bounding set: %s",
			    name != NULL ? name : "?", strerror(errno));
			cap_free(name);
			return -errno;
		}
		dropped++;
	}
	cJSON_AddNumberToObject(report, "bounding_set_dropped", dropped);
	return 0;
}

static int
step_identity(const struct sandbox_spec *sp, cJSON *report,
    struct errbuf *err)
{
	if (!sp->change_identity)
		return 0;
	/* capabilities to keep must survive the change of uid */
	if (sp->nkeep > 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1) {
		errbuf_set(err, "PR_SET_KEEPCAPS: %s", strerror(errno));
		return -errno;
	}
	if (setgroups(sp->ngroups, sp->groups) == -1 ||
	    setresgid(sp->gid, sp->gid, sp->gid) == -1 ||
	    setresuid(sp->uid, sp->uid, sp->uid) == -1) {
		errbuf_set(err, "becoming uid %u gid %u: %s", (unsigned)sp->uid,
		    (unsigned)sp->gid, strerror(errno));
		return -errno;
	}
	if (getuid() != sp->uid || geteuid() != sp->uid ||
	    getgid() != sp->gid || getegid() != sp->gid) {
		errbuf_set(err, "uid or gid did not change");
		return -EPERM;
	}
	cJSON_AddNumberToObject(report, "uid", sp->uid);
	cJSON_AddNumberToObject(report, "gid", sp->gid);
	return 0;
}

static int
step_capabilities(const struct sandbox_spec *sp, cJSON *report,
    struct errbuf *err)
{
	cap_t	 caps = cap_init();
	cJSON	*kept = cJSON_AddArrayToObject(report, "capabilities");
	int	 r = 0;

	if (caps == NULL)
		return -ENOMEM;
	if (sp->nkeep > 0 &&
	    (cap_set_flag(caps, CAP_PERMITTED, (int)sp->nkeep, sp->keep,
	    CAP_SET) == -1 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, (int)sp->nkeep, sp->keep,
	    CAP_SET) == -1 ||
	    cap_set_flag(caps, CAP_INHERITABLE, (int)sp->nkeep, sp->keep,
	    CAP_SET) == -1))
		r = -errno;
	if (r == 0 && cap_set_proc(caps) == -1)
		r = -errno;
	cap_free(caps);
	if (r < 0) {
		errbuf_set(err, "setting capabilities: %s", strerror(-r));
		return r;
	}
	/* ambient capabilities carry kept ones across exec for non-root */
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() == -1) {
		errbuf_set(err, "clearing ambient capabilities: %s",
		    strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < sp->nkeep; i++) {
		char	*name = cap_to_name(sp->keep[i]);

		if (cap_set_ambient(sp->keep[i], CAP_SET) == -1) {
			errbuf_set(err, "raising ambient %s: %s",
			    name != NULL ? name : "?", strerror(errno));
			cap_free(name);
			return -errno;
		}
		if (name != NULL)
			cJSON_AddItemToArray(kept, cJSON_CreateString(name));
		cap_free(name);
	}
	return 0;
}

int
sandbox_apply(const struct sandbox_spec *sp, cJSON *report,
    const char **stage, struct errbuf *err)
{
	int	r;

	*stage = "session";
	if (setsid() == -1 && getsid(0) != getpid()) {
		errbuf_set(err, "setsid: %s", strerror(errno));
		return -errno;
	}
	cJSON_AddNumberToObject(report, "session", getsid(0));
	*stage = "rlimits";
	if ((r = step_rlimits(sp, report, err)) < 0)
		return r;
	*stage = "network";
	if (sp->network_none) {
		if (unshare(CLONE_NEWNET) == -1) {
			errbuf_set(err, "unshare(CLONE_NEWNET): %s",
			    strerror(errno));
			return -errno;
		}
		if ((r = loopback_up(err)) < 0)
			return r;
	}
	cJSON_AddStringToObject(report, "network",
	    sp->network_none ? "none (loopback only)" : "host");
	*stage = "filesystem";
	if ((r = sandbox_filesystem(sp, report, err)) < 0)
		return r;
	*stage = "no_new_privs";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		errbuf_set(err, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -errno;
	}
	cJSON_AddBoolToObject(report, "no_new_privs", 1);
	/* the server loads it itself, last before its exec */
	sandbox_seccomp_report(sp, report);
	*stage = "bounding_set";
	if ((r = step_bounding_set(sp, report, err)) < 0)
		return r;
	*stage = "identity";
	if ((r = step_identity(sp, report, err)) < 0)
		return r;
	*stage = "capabilities";
	return step_capabilities(sp, report, err);
}
