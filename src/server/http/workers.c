/* Handler threads: two FIFO queues (general, reserved) served by threads
 * started on demand. See workers.h.
 *
 * Lock: w->mu guards the queues, the counts and the stop flag. */
#include "server/http/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct task {
    lmx_work_fn fn;
    void *arg;
    bool reserved;
    struct task *next;
} task;

typedef struct {
    task *head, *tail;
} fifo;

struct lmx_workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a task or a free general thread, or stop */
    pthread_cond_t gone_cv; /* a thread exited */
    fifo general, reserved;
    int max, reserve;
    int n_threads, n_idle, n_general; /* n_general: general tasks running */
    int n_pending;                    /* queued + running */
    bool stop;
};

static void push(fifo *q, task *t) {
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
}

static task *pop(fifo *q) {
    task *t = q->head;
    if (t) {
        q->head = t->next;
        if (!q->head) q->tail = NULL;
    }
    return t;
}

/* The next task this thread may run: reserved ones always, general ones
 * while fewer than max run. Lock held. */
static task *next_task(lmx_workers *w) {
    if (w->reserved.head) return pop(&w->reserved);
    if (w->general.head && w->n_general < w->max) {
        w->n_general++;
        return pop(&w->general);
    }
    return NULL;
}

static void *thread_main(void *arg) {
    lmx_workers *w = arg;
    pthread_setname_np(pthread_self(), "lmx-handler");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        task *t = next_task(w);
        if (!t) {
            if (w->stop) break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 30;
            w->n_idle++;
            int rc = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            w->n_idle--;
            if (rc == ETIMEDOUT && !w->reserved.head && !w->general.head) break;
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        t->fn(t->arg);
        pthread_mutex_lock(&w->mu);
        if (!t->reserved) {
            w->n_general--;
            pthread_cond_broadcast(&w->cv); /* a queued general task may run now */
        }
        w->n_pending--;
        free(t);
    }
    w->n_threads--;
    pthread_cond_broadcast(&w->gone_cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

lmx_workers *lmx_workers_create(int max, int reserve) {
    lmx_workers *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->max = max > 0 ? max : 1;
    w->reserve = reserve > 0 ? reserve : 0;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->gone_cv, NULL);
    return w;
}

bool lmx_workers_submit(lmx_workers *w, lmx_work_fn fn, void *arg, bool reserved) {
    task *t = calloc(1, sizeof *t);
    if (!t) return false;
    t->fn = fn;
    t->arg = arg;
    t->reserved = reserved;
    pthread_mutex_lock(&w->mu);
    push(reserved ? &w->reserved : &w->general, t);
    w->n_pending++;
    /* a thread for it unless an idle one will take it */
    bool runnable = reserved || w->n_general < w->max;
    if (runnable && w->n_idle == 0 && w->n_threads < w->max + w->reserve) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 8u << 20);
        if (!pthread_create(&th, &at, thread_main, w)) w->n_threads++;
        pthread_attr_destroy(&at);
    }
    pthread_cond_signal(&w->cv);
    /* no thread at all (none could start): the task waits for the next submit
     * or a thread that frees up; with zero threads, start one now or fail */
    bool ok = w->n_threads > 0;
    if (!ok) {
        /* undo: the caller answers the request itself */
        fifo *q = reserved ? &w->reserved : &w->general;
        task *prev = NULL;
        for (task *p = q->head; p; prev = p, p = p->next)
            if (p == t) {
                if (prev)
                    prev->next = p->next;
                else
                    q->head = p->next;
                if (q->tail == p) q->tail = prev;
                break;
            }
        w->n_pending--;
        free(t);
    }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

int lmx_workers_pending(lmx_workers *w) {
    pthread_mutex_lock(&w->mu);
    int n = w->n_pending;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void lmx_workers_destroy(lmx_workers *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    while (w->n_threads > 0) pthread_cond_wait(&w->gone_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->gone_cv);
    free(w);
}
