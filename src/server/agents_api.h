/* What `lmx serve` needs of the agent runs API besides its routes: the step
 * runner that sends an agent's model steps through the chat generation path. */
#ifndef LMX_SRV_AGENTS_API_H
#define LMX_SRV_AGENTS_API_H

#include "agents/runtime.h"
#include "server/app.h"

lmx_amodel lmx_agents_step_runner(lmx_app *app);

#endif
