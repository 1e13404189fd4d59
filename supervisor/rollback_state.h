/*
 * A rollback: its state (a table of its own), its plan of actions with
 * the outcome of each, its record (STATE_DIR/rollbacks/ID.json) and its
 * log (STATE_DIR/logs/ID.log). Two kinds share it: the rollback of a
 * failed upgrade (rollback.c) and a rollback by hand (rollback_hand.c);
 * each says what executing and finishing mean for it.
 */
#ifndef MCPVISOR_ROLLBACK_STATE_H
#define MCPVISOR_ROLLBACK_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct cJSON;
struct event_origin;
struct rollback;
struct snapjob;
struct supervisor;

enum rb_state {
	RB_PLANNED,
	RB_AWAITING_APPROVAL,	/* manual: until mcpvisor rollback approve */
	RB_RUNNING,
	RB_SUCCEEDED,
	RB_FAILED,
	RB_CANCELLED,		/* its deployment stopped before it began */
	RB_N
};

enum rb_event {
	RBE_GO,			/* planned: carry it out now */
	RBE_HOLD,		/* planned: wait for an approval */
	RBE_APPROVE,
	RBE_FINISHED,		/* every action ran (a failure is recorded) */
	RBE_ABANDONED,		/* what carried it out stopped (why) */
	RBE_N
};

/* What a kind of rollback does when it is carried out, held, and over.
 * Each may be NULL. */
struct rb_kind {
	void	(*execute)(struct rollback *);
	void	(*hold)(struct rollback *);
	void	(*finished)(struct rollback *);
};

struct rollback {
	struct supervisor	*sv;
	const struct rb_kind	*kind;
	void			*owner;		/* the kind's: its deployment */
	char			 id[80];
	enum rollback_strategy	 strategy;
	enum rb_state		 state;
	struct cJSON		*actions;	/* [{"action", "server", ...}] */
	size_t			 pending;	/* servers still being restored */
	int			 next_step;	/* custom actions run so far */
	bool			 by_hand;	/* mcpvisor rollback start */
	char			 target[64];	/* the deployment undone */
	char			 back_to[64];	/* the one put back */
	char			 carrier[64];	/* by hand: what carries it */
	char			 reason[512];
	char			 failure[1100];
	char			 started_at[40];
	char			 finished_at[40];
	uint64_t		 started_ms;
	int			 logfd;
	/* snapshots being put back for it, off the loop, and what its kind
	 * keeps for them (freed with the rollback) */
	struct snapjob		*job;
	void			*job_ctx;
	void			(*job_ctx_free)(void *);
};

/* NULL on ENOMEM. Its log is opened (a failure to is not one). */
struct rollback	*rb_new(struct supervisor *, const struct rb_kind *,
		    void *owner, const char *id, enum rollback_strategy,
		    const char *target, const char *back_to,
		    const char *reason);
void		 rb_free(struct rollback *);	/* accepts NULL */
/* The one entry point of its state table. -EALREADY when the event does
 * not apply to the state it is in (a second approval, say). */
int		 rb_event(struct rollback *, enum rb_event, const char *why);
const char	*rb_state_name(enum rb_state);
const char	*rb_action_name(enum rb_state, enum rb_event);
bool		 rb_waiting(const struct rollback *);	/* for approval */
bool		 rb_running(const struct rollback *);

/* Adds a planned action: server's step (snapshot may be NULL). */
void		 rb_plan(struct rollback *, const char *action,
		    const char *server, const char *snapshot, bool custom);
/* Sets the outcome of each planned action of that name and server. */
void		 rb_action(struct rollback *, const char *action,
		    const char *server, const char *status,
		    const char *message);
/* One step failed: said as an event, recorded, and the first such
 * failure is the rollback's. */
void		 rb_step_failed(struct rollback *, const struct event_origin *,
		    const char *step, const char *server, const char *why);
void		 rb_log(struct rollback *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* Its record, a new tree; and the part a deployment's record shows. */
struct cJSON	*rb_json(const struct rollback *);
struct cJSON	*rb_summary(const struct rollback *);
void		 rb_write(const struct rollback *);
/* Milliseconds since it began running (0 if it did not). */
uint64_t	 rb_elapsed_ms(const struct rollback *);

#endif
