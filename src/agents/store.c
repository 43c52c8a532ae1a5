/* What the agent store's two backends share (see store.h): the JSON each
 * returns for events and roles, so that a client cannot tell them apart. */
#include "agents/store.h"

json_t *lmx_astore_event(long long id, const char *type, const char *data, double created) {
    json_t *d = json_loads(data, 0, NULL);
    return json_pack("{s:I,s:s,s:o,s:f}", "id", (json_int_t)id, "type", type, "data",
                     d ? d : json_object(), "created", created);
}

void lmx_astore_add_role(json_t *roles, const char *name, const char *def) {
    json_t *d = json_loads(def, 0, NULL);
    if (d) json_object_set_new(roles, name, d);
}
