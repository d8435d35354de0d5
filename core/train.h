/* train.h — mini-batch stochastic-gradient training of a net_spec, with every technique of the
 * lecture: optimisers (sgd, heavy-ball momentum, nesterov, adagrad, rmsprop, adam), bias step
 * multiplier, schedules, the Bottou step-size search, L2 weight decay, batch norm, inverted
 * dropout, standardisation folded into the model, denoising noise, image augmentation
 * (core/augment.h), validation metrics, early stopping, divergence detection, cooperative
 * cancellation, and checkpoint/resume.
 *
 * Owns: its working copy of the parameters, optimiser state, scratch, RNG. Borrows: the
 * train_data matrices (valid until trainer_free).
 * Threading: a trainer belongs to one thread. `cancel` may be set from any thread; it is read
 * between mini-batches. trainer_run may compute on params.threads − 1 helper threads of its own
 * (started when it begins, joined before it returns; see "Threads"); everything else, the
 * callbacks included, runs on the calling thread. No allocation happens inside the epoch loop.
 * Determinism: same data, params (seed) and OpenBLAS thread count give bit-identical weights,
 * whatever params.threads.
 *
 * Threads (DESIGN). Every dense product goes through cblas_sgemm; the core reads OpenBLAS's
 * process-wide thread count before each mini-batch and never sets it.
 *  - OpenBLAS on more than one thread: each product is one call over the whole mini-batch, and
 *    OpenBLAS's threads are the parallelism (params.threads is not used).
 *  - OpenBLAS on one thread: the step is cut into fixed pieces — with params.augment first the
 *    mini-batch's rows in blocks of 16 (transformed, standardised, targets copied), then its
 *    rows in two halves (without noise or augmentation the half's rows gathered, then forward,
 *    loss, and dZ back through every layer; one piece with batch norm, whose statistics span
 *    the batch), then each layer's output units in two blocks (dW = dZᵀ·X over the whole
 *    batch, db, and the optimiser step of that block) — and params.threads
 *    threads claim the pieces. The cut, not the threads, fixes every sum, so 1 or N threads give
 *    the same weights; no gradient is reduced across threads. Single-threaded products on our
 *    own threads avoid OpenBLAS's hand-off between many small products (bench/RESULTS.md,
 *    "Training").
 *  Pieces are claimed one at a time, so a helper the scheduler runs late costs nothing unless it
 *  already holds a piece. A thread waiting for a phase spins a while before it sleeps: longer
 *  while its waits end in the spin (an idle machine), shorter when they do not (load).
 *  Helpers are C11 threads started by trainer_run: they inherit the
 *  calling thread's scheduling policy and nice value (the daemon's compute thread: SCHED_IDLE)
 *  as they are then; a change made to the calling thread later does not reach them. The random
 *  stream (augmentation, noise, dropout masks) is drawn on the calling thread, in the same order
 *  whatever the threads. The daemon sets params.threads from server/cpusched.c's thread count
 *  for the run (server/jobs.c). A different OpenBLAS count may sum differently.
 *
 * Formulas. Epoch e is 0-based in the schedule; lr is learning_rate (or the Bottou choice):
 *   constant  lr_e = lr
 *   step      lr_e = lr · lr_decay^floor(e / step_epochs)
 *   inverse   lr_e = lr / (1 + lr_decay · e)
 *   cosine    lr_e = lr · ½ · (1 + cos(π · e / epochs))      (lr at e = 0, → 0 at the end)
 * Biases (and batch-norm beta) use lr_e · bias_lr_multiplier. With g = ∇f + weight_decay·w for
 * weights (∇f for biases, gamma, beta):
 *   sgd       w ← w − α g
 *   momentum  v ← β v − α g;  w ← w + v              (heavy ball: w − α∇f + β(w − w_prev))
 *   nesterov  v' ← β v − α g;  w ← w − β v + (1 + β) v'   (Sutskever's look-ahead form)
 *   adagrad   s ← s + g²;  w ← w − α g / (√s + ε)
 *   rmsprop   s ← β2 s + (1 − β2) g²;  w ← w − α g / (√s + ε)
 *   adam      m ← β1 m + (1 − β1) g;  s ← β2 s + (1 − β2) g²;
 *             w ← w − α (m / (1 − β1^t)) / (√(s / (1 − β2^t)) + ε)
 * train_loss adds 0.5·weight_decay·‖W‖² (weights only). Batch norm: ẑ = (z − μ_B)/√(σ²_B + 1e-5),
 * y = γ ẑ + β; running mean/variance (unbiased) move by 0.1 per mini-batch and are used for
 * validation and export, where they are folded into W and b. Dropout is inverted (kept units
 * scaled by 1/(1 − p)). Standardisation: x' = (x − mean)/std per column (std 1 for a constant
 * column); targets are standardised too for regression and autoencoders with a linear output
 * (an autoencoder's target is then its standardised input); other outputs get raw targets.
 * Early stopping watches val_loss (train_loss when there are no validation rows).
 * The Bottou search (lr_auto): a fixed sample of max(ceil(5% rows), min(rows, 64)) rows; each
 * candidate rate trains two passes over the sample with the configured optimiser from the same
 * initial weights and random stream; candidates are each decade of [1e-5, 10], then a bisection
 * on the log scale around the best (steps of 0.5, 0.25, 0.125, 0.0625 decades); the lowest
 * finite sample loss wins. */
#ifndef TRAIN_H
#define TRAIN_H

#include "augment.h"
#include "diag.h"
#include "mlp.h"
#include "net.h"

#include <stdatomic.h>
#include <stdint.h>

typedef enum {
    OPT_SGD = 0,
    OPT_MOMENTUM,
    OPT_NESTEROV,
    OPT_ADAGRAD,
    OPT_RMSPROP,
    OPT_ADAM,
    OPT_COUNT
} opt_kind;
typedef enum {
    SCHED_CONSTANT = 0,
    SCHED_STEP,
    SCHED_INVERSE,
    SCHED_COSINE,
    SCHED_COUNT
} sched_kind;
typedef enum { INIT_HE = 0, INIT_XAVIER, INIT_SMALL, INIT_COUNT } init_kind;
typedef enum { NOISE_NONE = 0, NOISE_GAUSSIAN, NOISE_MASK, NOISE_COUNT } noise_kind;

typedef struct {
    init_kind init;         /* default: he for relu/leaky_relu/elu, xavier otherwise */
    opt_kind optimizer;     /* default adam */
    double learning_rate;   /* > 0; ignored when lr_auto */
    int lr_auto;            /* 1: Bottou search on ~5% of the rows before epoch 1 */
    double momentum;        /* heavy-ball / nesterov beta, default 0.9 */
    double beta1, beta2;    /* adam (0.9, 0.999); rmsprop uses beta2 as its decay */
    double epsilon;         /* adam / adagrad / rmsprop, default 1e-8 */
    sched_kind lr_schedule; /* default constant */
    double lr_decay; /* step: factor per step_epochs (default 0.5); inverse: lr/(1+decay*t) */
    int step_epochs; /* step schedule period, default 10 */
    double bias_lr_multiplier; /* biases use learning_rate * this, default 1 */
    int batch_size;            /* >= 1; larger than rows means full batch; default 128 */
    int epochs;                /* 1..100000, default 10 */
    double weight_decay; /* L2: adds weight_decay * w to the gradient of weights (not biases) */
    double dropout;      /* inverted dropout probability on hidden activations, [0, 1) */
    int standardize;     /* 1: fit mean/std of X (and y for regression) on training rows */
    noise_kind noise;    /* denoising: corrupt the inputs of each mini-batch, clean targets */
    double noise_std;    /* gaussian std (in standardised units when standardize) */
    double noise_p;      /* mask probability */
    int patience;        /* early stopping on val_loss; 0 = off */
    uint64_t seed;
    aug_spec augment; /* image augmentation of the training rows (see trainer_new); off */
    int diagnostics;  /* 1 (default): per-layer diagnostics each epoch (diag.h); no effect on the
                       * weights. The daemon always sets it; 0 is for measuring their cost. */
    int threads;      /* 1..64, default 1: threads trainer_run may compute on (see "Threads"
                       * above); no effect on the weights. The daemon sets it per run. */
    double parallel_min_macs; /* default 1e6: a step of fewer multiply-adds (mini-batch rows x
                               * trained parameters) runs on the calling thread alone, since
                               * handing out its pieces costs more than they take; no effect on
                               * the weights. Tests set 0 to exercise the helpers on small nets. */
} train_params;

/* Fills the documented defaults for `task` and hidden activation `act`. */
void train_params_default(train_params *p, net_task task, act_kind act);
/* Checks ranges; on failure err->field names the parameter ("params.dropout"). */
mlp_err train_params_check(const train_params *p, mlp_error *err);

const char *opt_name(opt_kind o);
const char *sched_name(sched_kind s);
const char *init_name(init_kind i);
const char *noise_name(noise_kind n);
mlp_err opt_parse(const char *s, opt_kind *out);
mlp_err sched_parse(const char *s, sched_kind *out);
mlp_err init_parse(const char *s, init_kind *out);
mlp_err noise_parse(const char *s, noise_kind *out);

/* Rows to train on. Targets, by task and loss:
 *  - softmax + cross_entropy: labels[i] in [0, n_out), Y = NULL;
 *  - logistic: labels with n_out == 1 (y = label) or n_out > 1 (one-vs-rest), or Y (multi-label);
 *  - squared (regression): Y, rows × n_out;
 *  - autoencoder: Y = NULL and labels = NULL: the target is X itself (clean, before noise). */
typedef struct {
    const float *X; /* rows × cols, row-major, borrowed */
    int rows;
    int cols;          /* == spec.n_in */
    const float *Y;    /* rows × spec.n_out, or NULL */
    const int *labels; /* rows, or NULL */
} train_data;

typedef struct {
    int epoch;            /* 1-based number of the epoch just finished */
    int epochs;           /* planned epochs */
    double train_loss;    /* mean training loss over the epoch's mini-batches (incl. L2 term) */
    double val_loss;      /* on the validation rows (no dropout, no noise, running BN stats) */
    double val_accuracy;  /* classification only */
    double val_r2;        /* regression only: 1 - SSE/SST summed over targets, raw units */
    double learning_rate; /* rate used in this epoch (after schedule; the chosen one if auto) */
    double epoch_seconds; /* wall time of the epoch's training loop */
    int has_val;          /* validation rows exist */
    int has_accuracy;     /* val_accuracy is meaningful */
    int has_r2;           /* val_r2 is meaningful */
    int is_best;        /* this epoch has the lowest val_loss so far (or train_loss without val) */
    int stopping_early; /* early stopping triggers after this epoch */
    diag_layers diag;   /* per-layer diagnostics (diag.layers == 0 without params.diagnostics) */
} train_metrics;

typedef struct trainer trainer;

/* Called after every epoch. Returning non-OK stops training; trainer_run returns that code.
 * The callback may call trainer_checkpoint / trainer_export on `t`. */
typedef mlp_err (*train_epoch_fn)(void *ctx, const train_metrics *m, trainer *t);

/* Validates spec, params and data (err->field / row / col name the fault), initialises weights
 * from params.seed, fits standardisation on `train`. val may be NULL or have 0 rows.
 * With params.augment on (its image being the n_in inputs), every training row of every
 * mini-batch is transformed by a fresh draw from the run's random stream before it is
 * standardised; validation rows never are. Standardisation statistics are then those of one
 * augmented copy of each training row (drawn from a stream of their own), because the network
 * sees augmented rows: a border pixel that is blank in the data has ink once shifted. Noise
 * comes after augmentation.
 * *out is new: trainer_free it. */
mlp_err trainer_new(const net_spec *spec, const train_params *params, const train_data *train,
                    const train_data *val, trainer **out, mlp_error *err);
void trainer_free(trainer *t);

/* Trains from the current epoch to params.epochs (or until early stopping). Returns MLP_OK,
 * MLP_ECANCELLED (cancel observed before an epoch or between mini-batches; the partial epoch is
 * not counted),
 * MLP_EDIVERGED (err->msg: "loss became NaN at epoch 3; try a smaller learning_rate"), or the
 * callback's code. May be called again after a cancel to continue: the cancelled epoch is not
 * counted and starts over, but the updates of the mini-batches that ran before the cancel stay in
 * the weights; for an exact continuation restore the last checkpoint into a fresh trainer. */
mlp_err trainer_run(trainer *t, train_epoch_fn cb, void *ctx, const atomic_int *cancel,
                    mlp_error *err);

/* Called between mini-batches, after the cancel check, when set (NULL clears it); it may block,
 * e.g. while latency-sensitive work beside training needs the CPU. The pause counts in the
 * epoch's wall time (epoch_seconds); results do not change. */
typedef void (*train_yield_fn)(void *ctx);
void trainer_set_yield(trainer *t, train_yield_fn fn, void *ctx);

/* Number of completed epochs. */
int trainer_epoch(const trainer *t);
/* CPU-seconds the helper threads of trainer_run (params.threads > 1) have used since
 * trainer_new, their spin included, updated after each phase of a step; with the calling
 * thread's own CPU time, what training cost. Any thread may call it, also during trainer_run. */
double trainer_helper_cpu_s(const trainer *t);
/* The learning rate in use (the Bottou choice once made). */
double trainer_learning_rate(const trainer *t);
/* 1 once early stopping fired or all epochs ran. */
int trainer_done(const trainer *t);

/* Whole training state (weights, best weights, optimiser state, BN running stats, RNG, epoch,
 * best-so-far, chosen rate), versioned and checksummed. *buf is new (free()). */
mlp_err trainer_checkpoint(const trainer *t, void **buf, size_t *len);
/* Restores a checkpoint into a trainer made by trainer_new with the same spec, params and
 * data. A resumed run ends with the same weights as one that never stopped. */
mlp_err trainer_restore(trainer *t, const void *buf, size_t len, mlp_error *err);

/* The model to publish: the weights of the epoch with the lowest val_loss when there are
 * validation rows or early stopping (train_metrics.is_best), else those of the last epoch;
 * batch norm folded; standardisation attached. *out is new. */
mlp_err trainer_export(const trainer *t, net **out);
/* The 1-based epoch whose weights trainer_export publishes (0 before the first epoch), so that
 * the caller can describe the model by that epoch's metrics. */
int trainer_export_epoch(const trainer *t);

/* Peak memory of one training run, in bytes, by what holds it: every buffer trainer_new
 * allocates and the run touches, the train_data it borrows, one checkpoint (or the exported
 * model) alive during the epoch callback, and OpenBLAS's work buffers. Allocator and process
 * overhead (code, libraries, thread stacks) are not included. */
typedef struct {
    size_t data;        /* train and validation rows as train_data: X, and Y or labels */
    size_t params;      /* current and best parameters, batch-norm running statistics */
    size_t optimizer;   /* gradient, momentum / squared-gradient / adam state, diagnostics */
    size_t activations; /* the mini-batch: inputs, targets, pre-activations, activations, dZ */
    size_t dropout;     /* dropout masks and masked activations */
    size_t batch_norm;  /* normalised pre-activations */
    size_t rows;        /* the shuffle permutation and the Bottou sample */
    size_t checkpoint;  /* one checkpoint, or the exported model and its encoded copy */
    size_t blas;        /* OpenBLAS's packing buffers (the caller's and each BLAS thread's) */
    size_t total;       /* the sum */
} train_mem;

/* The estimate for spec (n_in, n_out set) and params on `rows` training and `val_rows`
 * validation rows; target_matrix: the targets are a rows × n_out matrix Y (regression,
 * multi-label) rather than labels (ignored for an autoencoder). blas_threads >= 1: OpenBLAS's
 * thread count. A pure function of the shapes: no allocation. */
mlp_err trainer_mem_estimate(const net_spec *spec, const train_params *params, long rows,
                             long val_rows, int target_matrix, int blas_threads, train_mem *out,
                             mlp_error *err);

#endif
