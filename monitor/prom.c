/*
 * /metrics in the Prometheus text exposition format (version 0.0.4):
 * per-server state, restarts, CPU and memory, health-check latency
 * histograms and verdicts, deployment and rollback durations, and the
 * monitor's own figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"

static const char *const states[] = { "pending", "starting", "ready",
    "retry_wait", "failed", "stopping", "stopped", NULL };

/* A label value: backslash, double quote and newline escaped. */
static void
label(FILE *fp, const char *name, const char *value)
{
	fprintf(fp, "%s=\"", name);
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			fputc('\\', fp);
		if (*p == '\n')
			fputs("\\n", fp);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

static void
server_labels(FILE *fp, const struct hub_server *s)
{
	fputc('{', fp);
	label(fp, "deployment_id", s->deployment_id);
	fputc(',', fp);
	label(fp, "server", s->name);
}

static void
head(FILE *fp, const char *name, const char *type, const char *help)
{
	fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's series; prefix holds the labels so far ("" or
 * "a=\"b\","). */
static void
histogram(FILE *fp, const char *name, const char *labels,
    const struct hub_histogram *h, const double *bounds, size_t nbounds)
{
	uint64_t	cumulative = 0;

	for (size_t i = 0; i < nbounds; i++) {
		cumulative += h->counts[i];
		fprintf(fp, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels,
		    bounds[i], (unsigned long long)cumulative);
	}
	fprintf(fp, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
	    (unsigned long long)h->count);
	fprintf(fp, "%s_sum%s%.*s%s %.6f\n", name, labels[0] != '\0' ? "{" : "",
	    labels[0] != '\0' ? (int)strlen(labels) - 1 : 0, labels,
	    labels[0] != '\0' ? "}" : "", h->sum);
	fprintf(fp, "%s_count%s%.*s%s %llu\n", name, labels[0] != '\0' ? "{" :
	    "", labels[0] != '\0' ? (int)strlen(labels) - 1 : 0, labels,
	    labels[0] != '\0' ? "}" : "", (unsigned long long)h->count);
}

static char *
check_labels(const struct hub_server *s, const struct hub_check *c)
{
	char	*out = NULL;
	size_t	 len = 0;
	FILE	*fp = open_memstream(&out, &len);

	if (fp == NULL)
		return NULL;
	label(fp, "deployment_id", s->deployment_id);
	fputc(',', fp);
	label(fp, "server", s->name);
	fputc(',', fp);
	label(fp, "check", c->name);
	fputc(',', fp);
	fclose(fp);
	return out;
}

/* The servers: state, restarts, usage. */
static void
servers_text(FILE *fp, const struct hub *h)
{
	head(fp, "mcpvisor_server_state", "gauge", "1 for the state each "
	    "server is in.");
	for (size_t i = 0; i < h->nservers; i++)
		for (size_t k = 0; states[k] != NULL; k++) {
			fputs("mcpvisor_server_state", fp);
			server_labels(fp, &h->servers[i]);
			fputc(',', fp);
			label(fp, "state", states[k]);
			fprintf(fp, "} %d\n",
			    strcmp(h->servers[i].state, states[k]) == 0);
		}
	head(fp, "mcpvisor_server_restarts_total", "counter", "Restarts of "
	    "each server since its deployment started it.");
	for (size_t i = 0; i < h->nservers; i++) {
		fputs("mcpvisor_server_restarts_total", fp);
		server_labels(fp, &h->servers[i]);
		fprintf(fp, "} %u\n", h->servers[i].restarts);
	}
	head(fp, "mcpvisor_server_cpu_percent", "gauge", "CPU use of the "
	    "server's process tree over the last sample, in percent of one "
	    "CPU.");
	for (size_t i = 0; i < h->nservers; i++)
		if (h->servers[i].sampled) {
			fputs("mcpvisor_server_cpu_percent", fp);
			server_labels(fp, &h->servers[i]);
			fprintf(fp, "} %g\n", h->servers[i].cpu_percent);
		}
	head(fp, "mcpvisor_server_response_time_ms", "gauge", "The latest "
	    "health check's response time.");
	for (size_t i = 0; i < h->nservers; i++)
		if (h->servers[i].response_ms >= 0) {
			fputs("mcpvisor_server_response_time_ms", fp);
			server_labels(fp, &h->servers[i]);
			fprintf(fp, "} %g\n", h->servers[i].response_ms);
		}
	head(fp, "mcpvisor_server_custom", "gauge", "Metrics recorded for the "
	    "server (mcpvisor monitor record, or a custom check's details), "
	    "the latest value of each name.");
	for (size_t i = 0; i < h->nservers; i++)
		for (size_t k = 0; k < h->servers[i].ncustom; k++) {
			fputs("mcpvisor_server_custom", fp);
			server_labels(fp, &h->servers[i]);
			fprintf(fp, ",name=\"%s\"} %g\n",
			    h->servers[i].custom[k].name,
			    h->servers[i].custom[k].value);
		}
	head(fp, "mcpvisor_server_resident_memory_bytes", "gauge", "Resident "
	    "memory of the server's process tree.");
	for (size_t i = 0; i < h->nservers; i++)
		if (h->servers[i].sampled) {
			fputs("mcpvisor_server_resident_memory_bytes", fp);
			server_labels(fp, &h->servers[i]);
			fprintf(fp, "} %.0f\n", h->servers[i].rss_bytes);
		}
}

/* The health checks: response times and verdicts. */
static void
checks_text(FILE *fp, const struct hub *h)
{
	static const char *const results[] = { "passed", "failed", "warning" };

	head(fp, "mcpvisor_health_check_duration_seconds", "histogram",
	    "Response times of health checks.");
	for (size_t i = 0; i < h->nservers; i++)
		for (size_t k = 0; k < h->servers[i].nchecks; k++) {
			char	*l = check_labels(&h->servers[i],
				    &h->servers[i].checks[k]);

			if (l != NULL)
				histogram(fp,
				    "mcpvisor_health_check_duration_seconds", l,
				    &h->servers[i].checks[k].seconds,
				    hub_latency_bounds, HUB_LATENCY_BUCKETS);
			free(l);
		}
	head(fp, "mcpvisor_health_checks_total", "counter", "Health-check "
	    "results by verdict.");
	for (size_t i = 0; i < h->nservers; i++)
		for (size_t k = 0; k < h->servers[i].nchecks; k++) {
			const struct hub_check	*c = &h->servers[i].checks[k];
			const uint64_t		 n[] = { c->passed, c->failed,
						    c->warned };
			char			*l = check_labels(
						    &h->servers[i], c);

			for (size_t r = 0; l != NULL && r < 3; r++)
				fprintf(fp, "mcpvisor_health_checks_total{%s"
				    "result=\"%s\"} %llu\n", l, results[r],
				    (unsigned long long)n[r]);
			free(l);
		}
}

static void
counter(FILE *fp, const char *name, const char *help, uint64_t v)
{
	head(fp, name, "counter", help);
	fprintf(fp, "%s %llu\n", name, (unsigned long long)v);
}

/* Deployments, rollbacks, and the monitor itself. */
static void
totals_text(FILE *fp, const struct hub *h)
{
	head(fp, "mcpvisor_deployments_total", "counter", "Deployments by "
	    "the outcome they reached.");
	for (size_t i = 0; i < 6; i++)
		fprintf(fp, "mcpvisor_deployments_total{outcome=\"%s\"} "
		    "%llu\n", hub_outcomes[i],
		    (unsigned long long)h->deployments_by_outcome[i]);
	head(fp, "mcpvisor_deployment_duration_seconds", "histogram", "From a "
	    "deployment's start to every server ready.");
	histogram(fp, "mcpvisor_deployment_duration_seconds", "",
	    &h->deploy_seconds, hub_duration_bounds, HUB_DURATION_BUCKETS);
	head(fp, "mcpvisor_rollback_duration_seconds", "histogram", "From a "
	    "rollback's start to its end.");
	histogram(fp, "mcpvisor_rollback_duration_seconds", "",
	    &h->rollback_seconds, hub_duration_bounds, HUB_DURATION_BUCKETS);
	head(fp, "mcpvisor_rollbacks_total", "counter", "Rollbacks by "
	    "result.");
	fprintf(fp, "mcpvisor_rollbacks_total{result=\"succeeded\"} %llu\n",
	    (unsigned long long)h->rollbacks_succeeded);
	fprintf(fp, "mcpvisor_rollbacks_total{result=\"failed\"} %llu\n",
	    (unsigned long long)h->rollbacks_failed);
	counter(fp, "mcpvisor_server_failures_total", "Servers given up on "
	    "and workers that crashed.", h->server_failures);
	counter(fp, "mcpvisor_events_total", "Events mcpvisord reported to "
	    "the monitor.", h->events);
	counter(fp, "mcpvisor_monitor_messages_total", "Messages the monitor "
	    "published.", h->next_seq - 1);
	head(fp, "mcpvisor_monitor_clients", "gauge", "WebSocket clients "
	    "connected.");
	fprintf(fp, "mcpvisor_monitor_clients %u\n", h->clients);
	counter(fp, "mcpvisor_monitor_gaps_total", "Gaps told to clients too "
	    "slow to keep up.", h->gaps);
}

char *
hub_prometheus(const struct hub *h, size_t *len)
{
	char	*out = NULL;
	FILE	*fp = open_memstream(&out, len);

	if (fp == NULL)
		return NULL;
	servers_text(fp, h);
	checks_text(fp, h);
	totals_text(fp, h);
	fclose(fp);
	return out;
}
