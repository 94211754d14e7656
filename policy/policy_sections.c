/* policy: the fixed-shape sections `scanners:` (which engines exist),
 * `audit:` (what the audit log keeps) and `metrics:` (a node_exporter
 * textfile the daemon keeps up to date). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/policy_internal.h"

enum scanners_key { SCANNERS_HASHLIST, SCANNERS_CLAMAV, SCANNERS_KEY_COUNT };
static const char *const scanners_keys[] = {"hashlist", "clamav"};
enum hashlist_key { HASHLIST_FILES, HASHLIST_KEY_COUNT };
static const char *const hashlist_keys[] = {"files"};
enum clamav_key { CLAMAV_ENABLED, CLAMAV_DATABASE, CLAMAV_KEY_COUNT };
static const char *const clamav_keys[] = {"enabled", "database"};
static const char *const switch_names[] = {"auto", "true", "false"};
static const enum gk_engine_switch switch_values[] = {GK_ENGINE_AUTO, GK_ENGINE_ON,
						      GK_ENGINE_OFF};
enum audit_key { AUDIT_LOG_ALLOWS, AUDIT_RETAIN_DAYS, AUDIT_MAX_ROWS, AUDIT_KEY_COUNT };
static const char *const audit_keys[] = {"log_allows", "retain_days", "max_rows"};

enum metrics_key { METRICS_TEXTFILE, METRICS_INTERVAL, METRICS_KEY_COUNT };
static const char *const metrics_keys[] = {"textfile", "interval_s"};

#define SCANNERS_EXAMPLE "{clamav: {enabled: auto}}"
#define HASHLIST_EXAMPLE "{files: [/etc/gatekeeper/deny.sha256]}"
#define CLAMAV_EXAMPLE "{enabled: auto, database: /var/lib/clamav}"
#define AUDIT_EXAMPLE "{log_allows: true, retain_days: 30}"
#define METRICS_EXAMPLE "{textfile: /var/lib/prometheus/node-exporter/gatekeeper.prom, interval_s: 15}"

static int hashlist_value(struct policy_parser *pp, void *ctx, int key,
			  const yaml_event_t *key_ev, const yaml_event_t *value)
{
	static const struct path_list_spec spec = {
		.label = "'scanners.hashlist.files'", .expected = "absolute file paths",
		.one = "file", .entry = "hashlist file", .path = "hashlist file",
		.plural = "hashlist files",
	};
	struct gk_scanners *s = &pp->policy->scanners;
	struct path_list list = {&s->hashlist_files, &s->n_hashlist_files};

	(void)ctx;
	(void)key;
	(void)key_ev;
	return policy_parse_path_list(pp, value, &spec, &list);
}

static int parse_hashlist(struct policy_parser *pp, const yaml_event_t *value)
{
	struct policy_map map = {.where = "scanners.hashlist: ", .keys = hashlist_keys,
				 .n_keys = HASHLIST_KEY_COUNT};
	int is_map = policy_expect_map(pp, "'scanners.hashlist'", value, false, HASHLIST_EXAMPLE);

	pp->hashlist_seen = true;
	if (is_map <= 0)
		return is_map;
	if (policy_walk_map(pp, &map, hashlist_value, NULL))
		return -1;
	if (!map.seen_line[HASHLIST_FILES])
		policy_error_at(pp, &value->start_mark,
				"scanners.hashlist: missing required key 'files' (like " HASHLIST_EXAMPLE ")");
	return 0;
}

static int parse_database(struct policy_parser *pp, const yaml_event_t *value)
{
	struct gk_scanners *s = &pp->policy->scanners;
	char *path;
	int rc;

	if (!policy_scalar(pp, "'scanners.clamav.database'", value, "an absolute directory", &rc))
		return rc;
	path = policy_path_value(pp, value, "clamav database");
	if (path) {
		free(s->clamav_database);
		s->clamav_database = path;
	}
	return 0;
}

static int clamav_value(struct policy_parser *pp, void *ctx, int key, const yaml_event_t *key_ev,
			const yaml_event_t *value)
{
	struct gk_scanners *s = &pp->policy->scanners;
	int choice = -1, rc;

	(void)ctx;
	(void)key_ev;
	if (key == CLAMAV_DATABASE)
		return parse_database(pp, value);
	rc = policy_parse_choice(pp, "'scanners.clamav.enabled'", value, switch_names, 3, &choice);
	if (choice >= 0)
		s->clamav_enabled = switch_values[choice];
	return rc;
}

static bool is_directory(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int parse_clamav(struct policy_parser *pp, const yaml_event_t *value)
{
	struct gk_scanners *s = &pp->policy->scanners;
	struct policy_map map = {.where = "scanners.clamav: ", .keys = clamav_keys,
				 .n_keys = CLAMAV_KEY_COUNT};
	int is_map = policy_expect_map(pp, "'scanners.clamav'", value, true, CLAMAV_EXAMPLE);

	pp->clamav_seen = true;
	s->clamav_enabled = GK_ENGINE_AUTO; /* `clamav:` alone means auto */
	if (is_map < 0 || (is_map == 1 && policy_walk_map(pp, &map, clamav_value, NULL)))
		return -1;
	/* auto is settled here, once per load: a later freshclam install is
	 * picked up by the next reload (SIGHUP, policy apply). */
	s->clamav_active = s->clamav_enabled == GK_ENGINE_ON ||
			   (s->clamav_enabled == GK_ENGINE_AUTO && is_directory(s->clamav_database));
	return 0;
}

static int scanners_value(struct policy_parser *pp, void *ctx, int key,
			  const yaml_event_t *key_ev, const yaml_event_t *value)
{
	(void)ctx;
	(void)key_ev;
	if (key == SCANNERS_HASHLIST)
		return parse_hashlist(pp, value);
	return parse_clamav(pp, value);
}

int policy_parse_scanners(struct policy_parser *pp, const yaml_event_t *value)
{
	struct policy_map map = {.where = "scanners: ", .keys = scanners_keys,
				 .n_keys = SCANNERS_KEY_COUNT};
	int is_map = policy_expect_map(pp, "'scanners'", value, true, SCANNERS_EXAMPLE);

	if (is_map <= 0)
		return is_map; /* "scanners:" with nothing after it: no engines */
	return policy_walk_map(pp, &map, scanners_value, NULL);
}

static int audit_value(struct policy_parser *pp, void *ctx, int key, const yaml_event_t *key_ev,
		       const yaml_event_t *value)
{
	struct gk_audit_config *a = &pp->policy->audit;
	uint64_t n = 0;
	int rc;

	(void)ctx;
	(void)key_ev;
	switch ((enum audit_key)key) {
	case AUDIT_LOG_ALLOWS:
		return policy_parse_bool(pp, "'audit.log_allows'", value, &a->log_allows);
	case AUDIT_RETAIN_DAYS:
		rc = policy_parse_uint(pp, "'audit.retain_days'", value, 1, AUDIT_RETAIN_DAYS_MAX,
				       "days", &n);
		if (n)
			a->retain_days = (unsigned)n;
		return rc;
	case AUDIT_MAX_ROWS:
		return policy_parse_uint(pp, "'audit.max_rows'", value, AUDIT_MAX_ROWS_MIN,
					 AUDIT_MAX_ROWS_MAX, "rows", &a->max_rows);
	case AUDIT_KEY_COUNT:
		break;
	}
	return policy_skip_node(pp, value);
}

int policy_parse_audit(struct policy_parser *pp, const yaml_event_t *value)
{
	struct policy_map map = {.where = "audit: ", .keys = audit_keys, .n_keys = AUDIT_KEY_COUNT};
	int is_map = policy_expect_map(pp, "'audit'", value, true, AUDIT_EXAMPLE);

	if (is_map <= 0)
		return is_map; /* "audit:" with nothing after it: the defaults */
	return policy_walk_map(pp, &map, audit_value, NULL);
}

static int metrics_value(struct policy_parser *pp, void *ctx, int key, const yaml_event_t *key_ev,
			 const yaml_event_t *value)
{
	struct gk_metrics_config *m = &pp->policy->metrics;
	uint64_t n = 0;
	char *path;
	int rc;

	(void)ctx;
	(void)key_ev;
	switch ((enum metrics_key)key) {
	case METRICS_TEXTFILE:
		if (!policy_scalar(pp, "'metrics.textfile'", value, "an absolute file path", &rc))
			return rc;
		path = policy_path_value(pp, value, "metrics textfile");
		if (!path)
			return 0;
		if (strlen(path) < 6 || strcmp(path + strlen(path) - 5, ".prom")) {
			/* node_exporter's textfile collector reads *.prom only */
			policy_error_at(pp, &value->start_mark,
					"metrics textfile '%s' must end in .prom (node_exporter reads only *.prom)",
					path);
			free(path);
			return 0;
		}
		free(m->textfile);
		m->textfile = path;
		return 0;
	case METRICS_INTERVAL:
		rc = policy_parse_uint(pp, "'metrics.interval_s'", value, 1, METRICS_INTERVAL_MAX_S,
				       "seconds", &n);
		if (n)
			m->interval_s = (unsigned)n;
		return rc;
	case METRICS_KEY_COUNT:
		break;
	}
	return policy_skip_node(pp, value);
}

int policy_parse_metrics(struct policy_parser *pp, const yaml_event_t *value)
{
	struct policy_map map = {.where = "metrics: ", .keys = metrics_keys,
				 .n_keys = METRICS_KEY_COUNT};
	int is_map = policy_expect_map(pp, "'metrics'", value, false, METRICS_EXAMPLE);

	if (is_map <= 0)
		return is_map;
	if (policy_walk_map(pp, &map, metrics_value, NULL))
		return -1;
	if (!map.seen_line[METRICS_TEXTFILE])
		policy_error_at(pp, &value->start_mark,
				"metrics: missing required key 'textfile' (like " METRICS_EXAMPLE ")");
	return 0;
}
