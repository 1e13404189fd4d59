/*
 * The server's system call filter, built with libseccomp by the worker
 * and loaded by the server's own process last before its exec (spawn.c),
 * so that the worker, which keeps its own work to do, is not under it.
 *
 * The default denies what a service has no business calling, the groups
 * systemd's @system-service leaves out: mounting and namespaces, tracing
 * other processes, loading kernels and modules, rebooting and swap, the
 * kernel keyring, BPF and perf, setting the clock, raw port I/O, and the
 * obsolete calls. Denied calls fail with EPERM (sandbox.seccomp: errno,
 * the default) or kill the process (kill); clone3 fails with ENOSYS, so
 * that the C library falls back to clone, whose namespace flags can be
 * told apart. sandbox.syscalls.deny adds names, .allow takes them out.
 */
#include "sandbox.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <seccomp.h>

#include "errbuf.h"

static const char *const denied_by_default[] = {
	/* mounts and namespaces */
	"mount", "umount", "umount2", "pivot_root", "move_mount",
	"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "unshare", "setns", "chroot",
	/* other processes' memory */
	"ptrace", "process_vm_readv", "process_vm_writev",
	"kcmp", "pidfd_getfd",
	/* kernels, modules, the machine */
	"kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "reboot", "swapon", "swapoff", "acct",
	"quotactl", "quotactl_fd", "syslog", "vhangup",
	/* the keyring, BPF, perf */
	"keyctl", "add_key", "request_key", "bpf", "perf_event_open",
	"fanotify_init", "userfaultfd",
	/* the clock */
	"clock_settime", "clock_adjtime", "settimeofday", "adjtimex",
	/* raw I/O */
	"iopl", "ioperm", "pciconfig_read", "pciconfig_write",
	"pciconfig_iobase",
	/* file handles: a way around the mount namespace */
	"open_by_handle_at", "name_to_handle_at",
	/* obsolete */
	"_sysctl", "uselib", "ustat", "sysfs", "create_module",
	"get_kernel_syms", "query_module", "nfsservctl", "afs_syscall",
	"tuxcall", "security", "lookup_dcookie", "vserver", "bdflush",
	"vm86", "vm86old",
};

static const char *
action_name(enum sandbox_seccomp mode)
{
	return mode == SECCOMP_KILL ? "kill" : "errno";
}

static bool
listed(const cJSON *list, const char *name)
{
	const cJSON	*n;

	cJSON_ArrayForEach(n, list)
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return true;
	return false;
}

/* Adds the rule denying name, unless it is allowed or unknown to this
 * kernel's architecture (an old call a new ABI never had). */
static int
deny(scmp_filter_ctx ctx, uint32_t action, const char *name,
    const cJSON *allow, unsigned *n, struct errbuf *err)
{
	int	nr = seccomp_syscall_resolve_name(name), r;

	if (listed(allow, name) || nr == __NR_SCMP_ERROR)
		return 0;
	if ((r = seccomp_rule_add(ctx, action, nr, 0)) < 0 && r != -EEXIST) {
		errbuf_set(err, "seccomp: denying %s: %s", name, strerror(-r));
		return r;
	}
	(*n)++;
	return 0;
}

/* The filter as the kernel takes it, from libseccomp's export. */
static int
export(scmp_filter_ctx ctx, struct sock_fprog *prog, struct errbuf *err)
{
	struct stat	st;
	int		fd, r;

	if ((fd = memfd_create("seccomp", MFD_CLOEXEC)) == -1) {
		errbuf_set(err, "seccomp: memfd_create: %s", strerror(errno));
		return -errno;
	}
	if ((r = seccomp_export_bpf(ctx, fd)) < 0 || fstat(fd, &st) == -1 ||
	    st.st_size == 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
	    (prog->filter = malloc((size_t)st.st_size)) == NULL ||
	    pread(fd, prog->filter, (size_t)st.st_size, 0) != st.st_size) {
		errbuf_set(err, "seccomp: exporting the filter failed");
		free(prog->filter);
		prog->filter = NULL;
		close(fd);
		return r < 0 ? r : -EIO;
	}
	close(fd);
	prog->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	return 0;
}

/* The default filter, built once by the fork server for every worker it
 * clones (libseccomp's work and heap, else, in each of them). */
static struct sock_fprog	default_prog;
static unsigned			default_denied;

static int	build(struct sandbox_spec *, const cJSON *, struct errbuf *);

void
sandbox_seccomp_prepare(void)
{
	struct sandbox_spec	sp = { .seccomp = SECCOMP_ERRNO };
	struct errbuf		err;

	if (default_prog.filter == NULL && build(&sp, NULL, &err) == 0) {
		default_prog = sp.seccomp_prog;
		default_denied = sp.seccomp_denied;
	}
}

int
sandbox_seccomp_build(struct sandbox_spec *sp, const cJSON *syscalls,
    struct errbuf *err)
{
	if (sp->seccomp == SECCOMP_ERRNO && default_prog.filter != NULL &&
	    cJSON_GetArraySize(cJSON_GetObjectItem(syscalls, "allow")) == 0 &&
	    cJSON_GetArraySize(cJSON_GetObjectItem(syscalls, "deny")) == 0) {
		sp->seccomp_prog = default_prog;
		sp->seccomp_denied = default_denied;
		sp->seccomp_shared = true;
		return 0;
	}
	return build(sp, syscalls, err);
}

static int
build(struct sandbox_spec *sp, const cJSON *syscalls, struct errbuf *err)
{
	struct sock_fprog	*prog = &sp->seccomp_prog;
	uint32_t	 action = sp->seccomp == SECCOMP_KILL ?
			    SCMP_ACT_KILL_PROCESS : SCMP_ACT_ERRNO(EPERM);
	const cJSON	*deny_also = cJSON_GetObjectItem(syscalls, "deny");
	const cJSON	*allow = cJSON_GetObjectItem(syscalls, "allow");
	const cJSON	*n;
	scmp_filter_ctx	 ctx;
	unsigned	 count = 0;
	int		 r = 0;
	const uint64_t	 namespaces = CLONE_NEWNS | CLONE_NEWCGROUP |
			    CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
			    CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME;

	memset(prog, 0, sizeof(*prog));
	if (sp->seccomp == SECCOMP_NONE)
		return 0;
	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL) {
		errbuf_set(err, "seccomp: cannot make a filter");
		return -ENOMEM;
	}
	/* no_new_privs is the sandbox's own step, already taken */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	for (size_t i = 0; r == 0 && i < sizeof(denied_by_default) /
	    sizeof(denied_by_default[0]); i++)
		r = deny(ctx, action, denied_by_default[i], allow, &count, err);
	cJSON_ArrayForEach(n, deny_also)
		if (r == 0 && cJSON_IsString(n))
			r = deny(ctx, action, n->valuestring, NULL, &count, err);
	/* a new namespace by clone, unless namespaces are allowed: any one
	 * of the flags, a rule each */
	if (r == 0 && !listed(allow, "unshare")) {
		for (uint64_t f = 1; r == 0 && f != 0 && f <= namespaces;
		    f <<= 1)
			if ((namespaces & f) != 0)
				r = seccomp_rule_add(ctx, action,
				    SCMP_SYS(clone), 1, SCMP_A0(
				    SCMP_CMP_MASKED_EQ, f, f));
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
			    SCMP_SYS(clone3), 0);
		if (r < 0)
			errbuf_set(err, "seccomp: clone's namespace flags: %s",
			    strerror(-r));
	}
	if (r == 0)
		r = export(ctx, prog, err);
	seccomp_release(ctx);
	if (r < 0)
		return r;
	sp->seccomp_denied = count;
	return 0;
}

void
sandbox_seccomp_report(const struct sandbox_spec *sp, cJSON *report)
{
	cJSON	*o;

	if (sp->seccomp == SECCOMP_NONE) {
		cJSON_AddStringToObject(report, "seccomp", "none");
		return;
	}
	o = cJSON_AddObjectToObject(report, "seccomp");
	cJSON_AddStringToObject(o, "action", action_name(sp->seccomp));
	cJSON_AddNumberToObject(o, "denied", sp->seccomp_denied);
}
