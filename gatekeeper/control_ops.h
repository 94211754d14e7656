/* control_ops: the operators' control commands (metrics, log), run by
 * control_dispatch. Each writes its whole reply into `reply`. */
#ifndef GK_CONTROL_OPS_H
#define GK_CONTROL_OPS_H

struct gk_daemon;
struct proto_buf;

void control_cmd_metrics(struct gk_daemon *d, struct proto_buf *reply);
/* arg: the query, "key=value" words (see control_ops.c). */
void control_cmd_log(struct gk_daemon *d, const char *arg, struct proto_buf *reply);

#endif
