/* fuzz_checkpoint.c — libFuzzer target: trainer_restore (core/train.c) on arbitrary bytes, into
 * a fresh trainer of the shape the seed checkpoints were written from (tiny.h). A restore that
 * succeeds must leave a trainer that checkpoints again and trains one more epoch.
 * Owns: nothing beyond one input. Threading: libFuzzer's one thread. */
#include "tiny.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mlp_err one_epoch(void *ctx, const train_metrics *m, trainer *t)
{
    (void)ctx;
    (void)m;
    (void)t;
    return MLP_ECANCELLED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trainer *t = tiny_trainer();
    if (!t) abort();
    mlp_error err;
    mlp_error_clear(&err);
    if (trainer_restore(t, data, size, &err) == MLP_OK) {
        void *buf = NULL;
        size_t len = 0;
        if (trainer_checkpoint(t, &buf, &len) != MLP_OK) abort();
        free(buf);
        (void)trainer_run(t, one_epoch, NULL, NULL, NULL);
    }
    trainer_free(t);
    return 0;
}
