/* mkseeds.c — writes the binary seeds of the fuzz corpora that cannot be typed: a training
 * checkpoint of tiny.h's trainer (corpus/fuzz_checkpoint), its published net as net_save and
 * bundle_encode buffers (corpus/fuzz_model, with the selector byte in front).
 * Run once by hand: build/fuzz/fuzz/mkseeds tests/fuzz/corpus (`make fuzz` builds it).
 * Owns: nothing. Threading: single-threaded. */
#include "bundle.h"
#include "tiny.h"

#include <stdio.h>
#include <stdlib.h>

static int put(const char *dir, const char *name, int sel, const void *buf, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    if (sel >= 0) fputc(sel, f);
    fwrite(buf, 1, len, f);
    return fclose(f);
}

static mlp_err stop_after_one(void *ctx, const train_metrics *m, trainer *t)
{
    (void)m;
    (void)t;
    int *calls = ctx;
    return ++*calls >= 1 ? MLP_ECANCELLED : MLP_OK;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds CORPUS_DIR\n");
        return 2;
    }
    trainer *t = tiny_trainer();
    if (!t) return 1;
    int calls = 0;
    (void)trainer_run(t, stop_after_one, &calls, NULL, NULL);
    void *ck = NULL, *nb = NULL, *bb = NULL;
    size_t ckl = 0, nbl = 0, bbl = 0;
    net *n = NULL;
    char *feat[] = {"a", "b", "c"}, *lab[] = {"x", "y", "z"};
    int rc = 1;
    if (trainer_checkpoint(t, &ck, &ckl) || trainer_export(t, &n) || net_save(n, &nb, &nbl) ||
        bundle_encode(n, 3, feat, 3, lab, &bb, &bbl))
        goto out;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/fuzz_checkpoint", argv[1]);
    if (put(dir, "tiny-epoch1", -1, ck, ckl)) goto out;
    snprintf(dir, sizeof dir, "%s/fuzz_model", argv[1]);
    if (put(dir, "net", 0, nb, nbl) || put(dir, "bundle", 1, bb, bbl)) goto out;
    rc = 0;
out:
    free(ck);
    free(nb);
    free(bb);
    net_free(n);
    trainer_free(t);
    return rc;
}
