/* assets.c — lookup of embedded static files (see assets.h). */
#include "assets.h"

#include <string.h>

const asset *asset_find(const char *path)
{
    for (int i = 0; i < mlpd_assets_count; i++)
        if (strcmp(mlpd_assets[i].path, path) == 0) return &mlpd_assets[i];
    return NULL;
}
