/* runspec.c — freeing a runspec (see runspec.h). */
#include "runspec.h"

#include <stdlib.h>
#include <string.h>

void runspec_clear(runspec *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_targets; i++) free(r->targets[i]);
    for (int i = 0; i < r->n_features; i++) free(r->features[i]);
    free(r->targets);
    free(r->features);
    r->targets = r->features = NULL;
    r->n_targets = r->n_features = 0;
}
