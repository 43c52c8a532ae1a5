/* The threads that run request handlers off the HTTP event loop.
 *
 * libmicrohttpd's event-loop threads only parse and write; a handler that may
 * block (a generation, a model load, a grammar build, SQLite) runs here while
 * its connection is suspended. A task never waits for a thread to be free
 * of another kind: threads are started on demand up to `max` for general
 * tasks, and `reserve` more run only reserved tasks (the admin API), so a
 * server busy with `max` long generations still answers its operator.
 * Threads idle for 30 s exit.
 *
 * Thread-safe. */
#ifndef LMX_SRV_HTTP_WORKERS_H
#define LMX_SRV_HTTP_WORKERS_H

#include <stdbool.h>

typedef struct lmx_workers lmx_workers;
typedef void (*lmx_work_fn)(void *arg);

lmx_workers *lmx_workers_create(int max, int reserve);
/* Queues fn(arg); runs it as soon as a thread of its kind is free. false:
 * out of memory (nothing queued). */
bool lmx_workers_submit(lmx_workers *w, lmx_work_fn fn, void *arg, bool reserved);
/* Tasks queued or running. */
int lmx_workers_pending(lmx_workers *w);
/* Waits for every queued and running task to end, then frees the pool. */
void lmx_workers_destroy(lmx_workers *w);

#endif
