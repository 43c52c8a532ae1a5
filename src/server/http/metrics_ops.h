/* Scrape-time gauges for the operations pack: memory headroom, models by
 * state, load failures, dropped trace spans (metrics_ops.c). */
#ifndef LMX_SRV_METRICS_OPS_H
#define LMX_SRV_METRICS_OPS_H

#include <stdio.h>

#include "manager/manager.h"

void lmx_metrics_ops(lmx_mgr *mgr, FILE *f);

#endif
