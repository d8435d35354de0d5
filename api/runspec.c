/* runspec.c — the JSON of a training run request: validation with field-level errors, defaults
 * filled in (the normalised request that the run object echoes), and decoding back into a typed
 * runspec for the workers (see runspec_api.h). */
#include "runspec_api.h"

#include "augment_api.h"
#include "loss.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAIL(field_, ...)                                                                          \
    do {                                                                                           \
        snprintf(err->field, sizeof err->field, "%s", field_);                                     \
        rc = mlp_fail(err, MLP_EINVAL, __VA_ARGS__);                                               \
        goto out;                                                                                  \
    } while (0)

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static const char *const top_keys[] = {"dataset_id", "task",       "target",
                                       "features",   "validation", "model_name",
                                       "experiment", "params",     NULL};
static const char *const param_keys[] = {"hidden",        "activation",     "output_activation",
                                         "loss",          "init",           "optimizer",
                                         "learning_rate", "momentum",       "beta1",
                                         "beta2",         "epsilon",        "lr_schedule",
                                         "lr_decay",      "step_epochs",    "bias_lr_multiplier",
                                         "batch_size",    "epochs",         "weight_decay",
                                         "batch_norm",    "dropout",        "standardize",
                                         "noise",         "early_stopping", "seed",
                                         "priority",      "augment",        NULL};

static int known(const char *const *keys, const char *k)
{
    for (int i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0) return 1;
    return 0;
}

/* A finite number, or a 400 naming the field. */
static mlp_err get_num(json_t *o, const char *key, double *v, const char *field, mlp_error *err)
{
    json_t *x = json_object_get(o, key);
    if (!x) return MLP_OK;
    if (!json_is_number(x)) {
        snprintf(err->field, sizeof err->field, "%s", field);
        return mlp_fail(err, MLP_EINVAL, "%s must be a number", field);
    }
    *v = json_number_value(x);
    if (!isfinite(*v)) {
        snprintf(err->field, sizeof err->field, "%s", field);
        return mlp_fail(err, MLP_EINVAL, "%s must be finite", field);
    }
    return MLP_OK;
}

static mlp_err get_int(json_t *o, const char *key, long lo, long hi, int *v, const char *field,
                       mlp_error *err)
{
    json_t *x = json_object_get(o, key);
    if (!x) return MLP_OK;
    if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi) {
        snprintf(err->field, sizeof err->field, "%s", field);
        return mlp_fail(err, MLP_EINVAL, "%s must be a whole number from %ld to %ld", field, lo,
                        hi);
    }
    *v = (int)json_integer_value(x);
    return MLP_OK;
}

static mlp_err get_bool(json_t *o, const char *key, int *v, const char *field, mlp_error *err)
{
    json_t *x = json_object_get(o, key);
    if (!x) return MLP_OK;
    if (!json_is_boolean(x)) {
        snprintf(err->field, sizeof err->field, "%s", field);
        return mlp_fail(err, MLP_EINVAL, "%s must be true or false", field);
    }
    *v = json_is_true(x);
    return MLP_OK;
}

/* An enum given by name; parse is one of the core's *_parse functions. */
#define GET_ENUM(obj, key, parse, out, field, choices)                                             \
    do {                                                                                           \
        json_t *x_ = json_object_get(obj, key);                                                    \
        if (x_ && (!json_is_string(x_) || parse(json_string_value(x_), out) != MLP_OK))            \
            FAIL(field, "%s must be one of: %s", field, choices);                                  \
    } while (0)

/* Resolves a column given by name or 0-based index against cols (when known). */
static mlp_err column_name(json_t *x, const ds_table *cols, const char *field, char **out,
                           mlp_error *err)
{
    if (json_is_string(x)) {
        const char *s = json_string_value(x);
        if (cols && ds_table_find(cols, s) < 0) {
            snprintf(err->field, sizeof err->field, "%s", field);
            return mlp_fail(err, MLP_EINVAL, "%s: the dataset has no column '%s'", field, s);
        }
        *out = xstrdup(s);
    } else if (json_is_integer(x)) {
        json_int_t i = json_integer_value(x);
        if (!cols || i < 0 || i >= cols->cols) {
            snprintf(err->field, sizeof err->field, "%s", field);
            return mlp_fail(err, MLP_EINVAL, "%s: column index %lld is out of range", field,
                            (long long)i);
        }
        *out = xstrdup(cols->columns[i].name);
    } else {
        snprintf(err->field, sizeof err->field, "%s", field);
        return mlp_fail(err, MLP_EINVAL, "%s must be a column name or index", field);
    }
    return *out ? MLP_OK : MLP_ENOMEM;
}

static mlp_err column_list(json_t *x, const ds_table *cols, const char *field, int *n, char ***out,
                           mlp_error *err)
{
    int one = !json_is_array(x);
    size_t len = one ? 1 : json_array_size(x);
    if (len == 0) {
        snprintf(err->field, sizeof err->field, "%s", field);
        return mlp_fail(err, MLP_EINVAL, "%s must not be empty", field);
    }
    if (len > DS_MAX_COLS) {
        snprintf(err->field, sizeof err->field, "%s", field);
        return mlp_fail(err, MLP_EINVAL, "%s lists too many columns", field);
    }
    *out = calloc(len, sizeof **out);
    if (!*out) return MLP_ENOMEM;
    *n = (int)len;
    for (size_t i = 0; i < len; i++) {
        char f[120];
        if (one)
            snprintf(f, sizeof f, "%s", field);
        else
            snprintf(f, sizeof f, "%s[%zu]", field, i);
        mlp_err rc = column_name(one ? x : json_array_get(x, i), cols, f, &(*out)[i], err);
        if (rc) return rc;
        for (size_t k = 0; k < i; k++)
            if (strcmp((*out)[k], (*out)[i]) == 0) {
                snprintf(err->field, sizeof err->field, "%s", f);
                return mlp_fail(err, MLP_EINVAL, "%s: column '%s' is listed twice", f, (*out)[i]);
            }
    }
    return MLP_OK;
}

static int default_lr_is_small(opt_kind o)
{
    return o == OPT_ADAM || o == OPT_RMSPROP;
}

/* rs->net with n_in and n_out as far as the columns tell before the data is read: a numeric
 * classification target counts as two classes. */
static net_spec spec_shape(const runspec *rs, const ds_table *cols)
{
    net_spec tmp = rs->net;
    int d = rs->n_features;
    if (!d) d = cols->cols - rs->n_targets;
    tmp.n_in = d;
    int k = rs->task == TASK_AUTOENCODER ? d : rs->n_targets;
    if (rs->task == TASK_CLASSIFICATION && rs->n_targets == 1) {
        const ds_column *c = &cols->columns[ds_table_find(cols, rs->targets[0])];
        k = c->type == COL_CATEGORICAL ? c->n_levels : 2;
    }
    tmp.n_out = k;
    return tmp;
}

/* params.augment: the options, and the image shape from the dataset (cols), or from the
 * stored request's echo when decoding (cols NULL). The run's inputs must be that image. */
static mlp_err runspec_augment(json_t *x, const ds_table *cols, runspec *rs, mlp_error *err)
{
    aug_spec *a = &rs->tp.augment;
    mlp_err rc = augapi_parse_json(x, a, err);
    if (rc || !cols) return rc;
    const int *img = cols->image;
    if (!img[0]) {
        augapi_no_image(err, "params.augment", rs->dataset_id);
        return MLP_EINVAL;
    }
    if (a->height && (a->height != img[0] || a->width != img[1] || a->channels != img[2])) {
        snprintf(err->field, sizeof err->field, "params.augment.image");
        return mlp_fail(err, MLP_EINVAL,
                        "params.augment.image: the dataset's image is %d x %d x %d; leave it out",
                        img[0], img[1], img[2]);
    }
    a->height = img[0];
    a->width = img[1];
    a->channels = img[2];
    int n_in = spec_shape(rs, cols).n_in;
    if ((long)n_in != aug_row_len(a)) {
        snprintf(err->field, sizeof err->field, "params.augment");
        return mlp_fail(err, MLP_EINVAL,
                        "params.augment: the run has %d input columns, but the dataset's image is "
                        "%d x %d x %d = %ld values; train on the image's columns (features)",
                        n_in, img[0], img[1], img[2], aug_row_len(a));
    }
    return MLP_OK;
}

mlp_err runspec_parse(json_t *body, const ds_table *cols, size_t max_params, runspec *rs,
                      json_t **normalized, mlp_error *err)
{
    mlp_err rc = MLP_OK;
    json_t *norm = NULL, *p = NULL;
    mlp_error local; /* err may be NULL (mlp.h); the validators below write err->field */
    if (!err) err = &local;
    mlp_error_clear(err);
    memset(rs, 0, sizeof *rs);
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        if (!known(top_keys, key)) FAIL(key, "%s: unknown field", key);
    }
    /* dataset, task */
    json_t *x = json_object_get(body, "dataset_id");
    if (!x || !json_is_string(x)) FAIL("dataset_id", "dataset_id is required (a dataset id)");
    if (strlen(json_string_value(x)) >= sizeof rs->dataset_id)
        FAIL("dataset_id", "dataset_id is not a dataset id");
    snprintf(rs->dataset_id, sizeof rs->dataset_id, "%s", json_string_value(x));
    x = json_object_get(body, "task");
    if (!x) FAIL("task", "task is required: classification, regression or autoencoder");
    if (!json_is_string(x) || task_parse(json_string_value(x), &rs->task))
        FAIL("task", "task must be one of: classification, regression, autoencoder");

    /* target, features */
    x = json_object_get(body, "target");
    if (rs->task == TASK_AUTOENCODER) {
        if (x && !json_is_null(x))
            FAIL("target", "target is not used by an autoencoder (its input is its target)");
    } else {
        if (!x) FAIL("target", "target is required for %s", task_name(rs->task));
        if ((rc = column_list(x, cols, "target", &rs->n_targets, &rs->targets, err))) goto out;
    }
    x = json_object_get(body, "features");
    if (x && !json_is_null(x)) {
        if (!json_is_array(x)) FAIL("features", "features must be a list of columns");
        if ((rc = column_list(x, cols, "features", &rs->n_features, &rs->features, err))) goto out;
        for (int i = 0; i < rs->n_features; i++)
            for (int k = 0; k < rs->n_targets; k++)
                if (strcmp(rs->features[i], rs->targets[k]) == 0)
                    FAIL("features", "features: column '%s' is also the target", rs->features[i]);
    }
    if (cols) { /* numeric-ness of features and regression targets */
        for (int i = 0; i < rs->n_features; i++) {
            const ds_column *c = &cols->columns[ds_table_find(cols, rs->features[i])];
            if (c->type == COL_CATEGORICAL)
                FAIL("features", "feature column '%s' is categorical: row %ld is not a number",
                     c->name, c->first_text_row);
        }
        if (rs->n_features == 0) {
            int left = 0;
            for (int c = 0; c < cols->cols; c++) {
                int is_t = 0;
                for (int k = 0; k < rs->n_targets; k++)
                    is_t |= strcmp(cols->columns[c].name, rs->targets[k]) == 0;
                if (is_t) continue;
                /* an autoencoder's default input is every numeric column */
                if (cols->columns[c].type == COL_CATEGORICAL && rs->task == TASK_AUTOENCODER)
                    continue;
                if (cols->columns[c].type == COL_CATEGORICAL)
                    FAIL("features",
                         "feature column '%s' is categorical: row %ld is not a number (list the "
                         "numeric columns in \"features\")",
                         cols->columns[c].name, cols->columns[c].first_text_row);
                left++;
            }
            if (!left) FAIL("features", "the dataset has no feature columns besides the target");
        }
        if (rs->task == TASK_REGRESSION)
            for (int k = 0; k < rs->n_targets; k++) {
                const ds_column *c = &cols->columns[ds_table_find(cols, rs->targets[k])];
                if (c->type == COL_CATEGORICAL)
                    FAIL("target", "regression target '%s' is categorical: row %ld is not a number",
                         c->name, c->first_text_row);
            }
    }
    /* validation */
    rs->val_fraction = 0.1;
    x = json_object_get(body, "validation");
    if (x && !json_is_null(x)) {
        if (!json_is_object(x)) FAIL("validation", "validation must be an object");
        json_object_foreach(x, key, val)
        {
            if (strcmp(key, "fraction") && strcmp(key, "dataset_id"))
                FAIL("validation", "validation.%s: unknown field (fraction or dataset_id)", key);
        }
        json_t *ds = json_object_get(x, "dataset_id"), *fr = json_object_get(x, "fraction");
        if (ds && fr) FAIL("validation", "validation takes fraction or dataset_id, not both");
        if (ds) {
            if (!json_is_string(ds) || strlen(json_string_value(ds)) >= sizeof rs->val_dataset_id)
                FAIL("validation.dataset_id", "validation.dataset_id must be a dataset id");
            snprintf(rs->val_dataset_id, sizeof rs->val_dataset_id, "%s", json_string_value(ds));
            rs->val_fraction = 0;
        } else if (fr) {
            if ((rc = get_num(x, "fraction", &rs->val_fraction, "validation.fraction", err)))
                goto out;
            if (rs->val_fraction < 0 || rs->val_fraction >= 1)
                FAIL("validation.fraction", "validation.fraction must be in [0, 1)");
        }
    }

    /* model name, experiment */
    x = json_object_get(body, "model_name");
    if (x && !json_is_null(x)) {
        if (!json_is_string(x) || !api_name_ok(json_string_value(x)))
            FAIL("model_name", "model_name must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
        snprintf(rs->model_name, sizeof rs->model_name, "%s", json_string_value(x));
    }
    const char *experiment = NULL;
    x = json_object_get(body, "experiment");
    if (x && !json_is_null(x)) {
        if (!json_is_string(x) || strlen(json_string_value(x)) > 64 || !*json_string_value(x))
            FAIL("experiment", "experiment must be a string of 1 to 64 characters");
        experiment = json_string_value(x);
    }

    /* params */
    p = json_object_get(body, "params");
    if (p && !json_is_object(p)) FAIL("params", "params must be an object");
    json_t *empty = NULL;
    if (!p) p = empty = json_object();
    json_object_foreach(p, key, val)
    {
        if (!known(param_keys, key)) {
            char f[120];
            snprintf(f, sizeof f, "params.%s", key);
            json_decref(empty);
            FAIL(f, "%s: unknown parameter", f);
        }
    }
    net_spec *ns = &rs->net;
    ns->task = rs->task;
    ns->act = ACT_RELU;
    GET_ENUM(p, "activation", act_parse, &ns->act, "params.activation",
             "sigmoid tanh relu leaky_relu elu softplus swish mish softsign linear");
    if (ns->act == ACT_SOFTMAX)
        FAIL("params.activation", "params.activation: softmax is for the output layer only");
    /* hidden */
    x = json_object_get(p, "hidden");
    if (x) {
        if (!json_is_array(x) || json_array_size(x) > NET_MAX_HIDDEN)
            FAIL("params.hidden", "params.hidden must be a list of at most %d widths",
                 NET_MAX_HIDDEN);
        ns->n_hidden = (int)json_array_size(x);
        for (int i = 0; i < ns->n_hidden; i++) {
            json_t *w = json_array_get(x, (size_t)i);
            if (!json_is_integer(w) || json_integer_value(w) < 1 || json_integer_value(w) > 65536) {
                char f[64];
                snprintf(f, sizeof f, "params.hidden[%d]", i);
                FAIL(f, "%s must be a whole number from 1 to 65536", f);
            }
            ns->hidden[i] = (int)json_integer_value(w);
        }
    } else if (rs->task == TASK_AUTOENCODER) {
        ns->n_hidden = 3;
        ns->hidden[0] = 128, ns->hidden[1] = 32, ns->hidden[2] = 128;
    } else {
        ns->n_hidden = 1;
        ns->hidden[0] = 100;
    }
    if (rs->task == TASK_AUTOENCODER && ns->n_hidden == 0)
        FAIL("params.hidden", "an autoencoder needs at least one hidden layer (its code)");
    /* output activation and loss, defaulted from each other and the task */
    int have_out = json_object_get(p, "output_activation") != NULL;
    int have_loss = json_object_get(p, "loss") != NULL;
    ns->out_act = rs->task == TASK_CLASSIFICATION ? ACT_SOFTMAX : ACT_LINEAR;
    ns->loss = rs->task == TASK_CLASSIFICATION ? LOSS_CROSS_ENTROPY : LOSS_SQUARED;
    GET_ENUM(p, "output_activation", act_parse, &ns->out_act, "params.output_activation",
             "softmax sigmoid linear (or a hidden activation)");
    GET_ENUM(p, "loss", loss_parse, &ns->loss, "params.loss", "cross_entropy logistic squared");
    if (rs->task == TASK_CLASSIFICATION && rs->n_targets > 1) { /* multi-label */
        if (!have_loss) ns->loss = LOSS_LOGISTIC;
        if (!have_out) ns->out_act = ACT_SIGMOID;
    }
    if (have_out && !have_loss && ns->out_act == ACT_SIGMOID && rs->task == TASK_CLASSIFICATION)
        ns->loss = LOSS_LOGISTIC;
    if (have_loss && !have_out) {
        if (ns->loss == LOSS_LOGISTIC) ns->out_act = ACT_SIGMOID;
        if (ns->loss == LOSS_CROSS_ENTROPY) ns->out_act = ACT_SOFTMAX;
        if (ns->loss == LOSS_SQUARED && ns->out_act == ACT_SOFTMAX) ns->out_act = ACT_LINEAR;
    }
    if (rs->task != TASK_CLASSIFICATION && ns->loss != LOSS_SQUARED)
        FAIL("params.loss", "params.loss: %s needs the squared loss", task_name(rs->task));
    if (rs->task == TASK_CLASSIFICATION && ns->loss == LOSS_SQUARED)
        FAIL("params.loss", "params.loss: classification takes cross_entropy or logistic");
    if (rs->task == TASK_CLASSIFICATION && rs->n_targets > 1 && ns->loss != LOSS_LOGISTIC)
        FAIL("params.loss", "params.loss: several target columns (multi-label) need logistic");
    if (!loss_pair_ok(ns->loss, ns->out_act))
        FAIL(have_loss ? "params.loss" : "params.output_activation",
             "params: loss %s does not go with output_activation %s (cross_entropy needs softmax, "
             "logistic needs sigmoid)",
             loss_name(ns->loss), act_name(ns->out_act));
    if ((rc = get_bool(p, "batch_norm", &ns->batch_norm, "params.batch_norm", err))) goto out;

    /* training parameters */
    train_params *tp = &rs->tp;
    train_params_default(tp, rs->task, ns->act);
    GET_ENUM(p, "init", init_parse, &tp->init, "params.init", "he xavier small");
    GET_ENUM(p, "optimizer", opt_parse, &tp->optimizer, "params.optimizer",
             "sgd momentum nesterov adagrad rmsprop adam");
    GET_ENUM(p, "lr_schedule", sched_parse, &tp->lr_schedule, "params.lr_schedule",
             "constant step inverse cosine");
    tp->learning_rate = default_lr_is_small(tp->optimizer) ? 0.001 : 0.01;
    x = json_object_get(p, "learning_rate");
    if (x && json_is_string(x)) {
        if (strcmp(json_string_value(x), "auto") != 0)
            FAIL("params.learning_rate", "params.learning_rate must be a number > 0 or \"auto\"");
        tp->lr_auto = 1;
    } else if ((rc =
                    get_num(p, "learning_rate", &tp->learning_rate, "params.learning_rate", err))) {
        goto out;
    }
    if ((rc = get_num(p, "momentum", &tp->momentum, "params.momentum", err)) ||
        (rc = get_num(p, "beta1", &tp->beta1, "params.beta1", err)) ||
        (rc = get_num(p, "beta2", &tp->beta2, "params.beta2", err)) ||
        (rc = get_num(p, "epsilon", &tp->epsilon, "params.epsilon", err)) ||
        (rc = get_num(p, "lr_decay", &tp->lr_decay, "params.lr_decay", err)) ||
        (rc = get_int(p, "step_epochs", 1, 100000, &tp->step_epochs, "params.step_epochs", err)) ||
        (rc = get_num(p, "bias_lr_multiplier", &tp->bias_lr_multiplier, "params.bias_lr_multiplier",
                      err)) ||
        (rc = get_int(p, "batch_size", 1, 1000000000, &tp->batch_size, "params.batch_size", err)) ||
        (rc = get_int(p, "epochs", 1, 100000, &tp->epochs, "params.epochs", err)) ||
        (rc = get_num(p, "weight_decay", &tp->weight_decay, "params.weight_decay", err)) ||
        (rc = get_num(p, "dropout", &tp->dropout, "params.dropout", err)) ||
        (rc = get_bool(p, "standardize", &tp->standardize, "params.standardize", err)))
        goto out;
    x = json_object_get(p, "seed");
    if (x) {
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            FAIL("params.seed", "params.seed must be a whole number >= 0");
        tp->seed = (uint64_t)json_integer_value(x);
    }
    x = json_object_get(p, "priority");
    if (x) {
        const char *pv = json_string_value(x);
        if (!pv || (strcmp(pv, "normal") && strcmp(pv, "high")))
            FAIL("params.priority", "params.priority must be \"normal\" or \"high\"");
        rs->priority_high = strcmp(pv, "high") == 0;
    }
    x = json_object_get(p, "noise");
    if (x && !json_is_null(x)) {
        if (!json_is_object(x)) FAIL("params.noise", "params.noise must be an object");
        GET_ENUM(x, "type", noise_parse, &tp->noise, "params.noise.type", "none gaussian mask");
        if (!json_object_get(x, "type"))
            FAIL("params.noise.type", "params.noise.type is required: gaussian or mask");
        json_object_foreach(x, key, val)
        {
            if (strcmp(key, "type") && strcmp(key, "std") && strcmp(key, "p"))
                FAIL("params.noise", "params.noise.%s: unknown field (type, std, p)", key);
        }
        if (tp->noise == NOISE_GAUSSIAN) {
            tp->noise_std = 0.1;
            if ((rc = get_num(x, "std", &tp->noise_std, "params.noise.std", err))) goto out;
        } else if (tp->noise == NOISE_MASK) {
            tp->noise_p = 0.25;
            if ((rc = get_num(x, "p", &tp->noise_p, "params.noise.p", err))) goto out;
        }
    }
    x = json_object_get(p, "early_stopping");
    if (x && !json_is_null(x)) {
        if (!json_is_object(x))
            FAIL("params.early_stopping", "params.early_stopping must be an object");
        json_object_foreach(x, key, val)
        {
            if (strcmp(key, "patience"))
                FAIL("params.early_stopping", "params.early_stopping.%s: unknown field (patience)",
                     key);
        }
        tp->patience = 5;
        if ((rc = get_int(x, "patience", 1, 100000, &tp->patience, "params.early_stopping.patience",
                          err)))
            goto out;
    }
    json_t *augment = json_object_get(p, "augment");
    if (augment && json_is_null(augment)) augment = NULL;
    if (augment && (rc = runspec_augment(augment, cols, rs, err))) goto out;
    json_decref(empty);
    empty = NULL;
    if (tp->patience && rs->val_fraction == 0 && !rs->val_dataset_id[0])
        FAIL("params.early_stopping",
             "params.early_stopping needs validation rows (validation.fraction > 0 or "
             "validation.dataset_id)");
    if ((rc = train_params_check(tp, err))) goto out;

    /* the size bound, with what is known before the data is read */
    if (cols) {
        net_spec tmp = spec_shape(rs, cols);
        size_t np = net_spec_param_count(&tmp);
        if (np > max_params)
            FAIL("params.hidden",
                 "params.hidden: the network would have %zu parameters, more than --max-params "
                 "%zu",
                 np, max_params);
    }

    if (normalized) {
        json_t *hid = json_array();
        for (int i = 0; i < ns->n_hidden; i++)
            json_array_append_new(hid, json_integer(ns->hidden[i]));
        json_t *noise = json_pack("{s:s}", "type", noise_name(tp->noise));
        if (tp->noise == NOISE_GAUSSIAN)
            json_object_set_new(noise, "std", json_real(tp->noise_std));
        if (tp->noise == NOISE_MASK) json_object_set_new(noise, "p", json_real(tp->noise_p));
        json_t *params = json_pack(
            "{s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:f, s:f, s:f, s:f, s:s, s:f, s:i, s:f, s:i, "
            "s:i, s:f, s:b, s:f, s:b, s:o, s:o, s:I}",
            "hidden", hid, "activation", act_name(ns->act), "output_activation",
            act_name(ns->out_act), "loss", loss_name(ns->loss), "init", init_name(tp->init),
            "optimizer", opt_name(tp->optimizer), "learning_rate",
            tp->lr_auto ? json_string("auto") : json_real(tp->learning_rate), "momentum",
            tp->momentum, "beta1", tp->beta1, "beta2", tp->beta2, "epsilon", tp->epsilon,
            "lr_schedule", sched_name(tp->lr_schedule), "lr_decay", tp->lr_decay, "step_epochs",
            tp->step_epochs, "bias_lr_multiplier", tp->bias_lr_multiplier, "batch_size",
            tp->batch_size, "epochs", tp->epochs, "weight_decay", tp->weight_decay, "batch_norm",
            ns->batch_norm, "dropout", tp->dropout, "standardize", tp->standardize, "noise", noise,
            "early_stopping",
            tp->patience ? json_pack("{s:i}", "patience", tp->patience) : json_null(), "seed",
            (json_int_t)tp->seed);
        if (json_object_set_new(params, "augment",
                                augment ? augapi_json(&tp->augment) : json_null()) != 0) {
            json_decref(params);
            params = NULL;
        }
        if (params && rs->priority_high) /* server/fairq.h; absent means normal */
            json_object_set_new(params, "priority", json_string("high"));
        json_t *validation = rs->val_dataset_id[0]
                                 ? json_pack("{s:s}", "dataset_id", rs->val_dataset_id)
                                 : json_pack("{s:f}", "fraction", rs->val_fraction);
        json_t *target = json_null();
        if (rs->n_targets == 1)
            target = json_string(rs->targets[0]);
        else if (rs->n_targets > 1) {
            target = json_array();
            for (int i = 0; i < rs->n_targets; i++)
                json_array_append_new(target, json_string(rs->targets[i]));
        }
        json_t *features = json_null();
        if (rs->n_features) {
            features = json_array();
            for (int i = 0; i < rs->n_features; i++)
                json_array_append_new(features, json_string(rs->features[i]));
        }
        norm = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "dataset_id", rs->dataset_id,
                         "task", task_name(rs->task), "target", target, "features", features,
                         "validation", validation, "experiment",
                         experiment ? json_string(experiment) : json_null(), "params", params);
        /* No model_name given: the key is left out (the store names the model "run-{N}"), so
         * the stored request decodes again; "" would fail the name check. */
        if (norm && rs->model_name[0] &&
            json_object_set_new(norm, "model_name", json_string(rs->model_name)) != 0) {
            json_decref(norm);
            norm = NULL;
        }
        if (!norm) {
            rc = MLP_ENOMEM;
            goto out;
        }
        *normalized = norm;
        norm = NULL;
    }
out:
    if (rc) runspec_clear(rs);
    json_decref(norm);
    return rc;
}

size_t runspec_mem_limit(size_t configured, int workers)
{
    if (configured) return configured;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0 || workers < 1) return 0;
    return (size_t)pages * (size_t)page / 2 / (size_t)workers;
}

static void human_bytes(char *out, size_t n, double b)
{
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(out, n, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else
        snprintf(out, n, "%.1f MiB", b / (1024.0 * 1024));
}

mlp_err runspec_mem_estimate(const runspec *rs, const ds_table *cols, long val_rows, int val_cols,
                             size_t limit, int blas_threads, runspec_mem *out, mlp_error *err)
{
    mlp_error local;
    if (!err) err = &local;
    memset(out, 0, sizeof *out);
    net_spec spec = spec_shape(rs, cols);
    long n = cols->rows, split = 0, nv = val_rows;
    if (!rs->val_dataset_id[0]) { /* a fraction of the rows, split off as jobs.c does */
        nv = 0;
        if (rs->val_fraction > 0) split = nv = lround((double)n * rs->val_fraction);
        if (rs->val_fraction > 0 && nv == 0) split = nv = 1;
    }
    if (n - split < 1) {
        snprintf(err->field, sizeof err->field, "%s", split ? "validation.fraction" : "dataset_id");
        return mlp_fail(err, MLP_EINVAL, "the dataset has %ld rows: none would be left to train on",
                        n);
    }
    int target_matrix =
        rs->task == TASK_REGRESSION || (rs->task == TASK_CLASSIFICATION && rs->n_targets > 1);
    mlp_err rc = trainer_mem_estimate(&spec, &rs->tp, n - split, nv, target_matrix, blas_threads,
                                      &out->t, err);
    if (rc) return rc;
    /* SQLite builds the row it inserts in memory, blob included (the record), so the checkpoint
     * that each epoch's transaction writes (store_run_epoch) and the model bundle written when
     * the run succeeds are held twice while they are recorded: once by the trainer's caller and
     * once as that record. The daemon's checkpoint part counts both. */
    out->t.total += out->t.checkpoint;
    out->t.checkpoint *= 2;
    /* Preparing the data (jobs.c) holds the whole dataset tables, a row index and a column of
     * sort scratch beside the train/validation copies; training then holds those copies and
     * the trainer. The peak is the larger of the two phases. */
    out->tables = (size_t)n * (size_t)cols->cols * sizeof(float) + (size_t)n * 2 * sizeof(int);
    if (rs->val_dataset_id[0])
        out->tables += (size_t)nv * (size_t)val_cols * sizeof(float) + (size_t)nv * sizeof(int);
    size_t train_rest = out->t.total - out->t.data;
    out->total = out->t.data + (out->tables > train_rest ? out->tables : train_rest);
    out->limit = limit;
    if (!limit || out->total <= limit) return MLP_OK;

    size_t batch = out->t.activations + out->t.dropout + out->t.batch_norm;
    size_t weights = out->t.params + out->t.optimizer + out->t.checkpoint;
    char tot[32], lim[32], b[32], w[32], dt[32];
    human_bytes(tot, sizeof tot, (double)out->total);
    human_bytes(lim, sizeof lim, (double)limit);
    human_bytes(b, sizeof b, (double)batch);
    human_bytes(w, sizeof w, (double)weights);
    human_bytes(dt, sizeof dt, (double)(out->t.data + out->tables));
    snprintf(err->field, sizeof err->field, "%s",
             batch >= weights ? "params.batch_size" : "params.hidden");
    return mlp_fail(err, MLP_EINVAL,
                    "params.hidden, params.batch_size: training would need about %s (%zu bytes: "
                    "mini-batch activations %s from params.batch_size %d and params.hidden, "
                    "weights and optimiser state %s from params.hidden, data %s), more than "
                    "--max-train-memory %s (%zu bytes); lower params.batch_size or params.hidden",
                    tot, out->total, b, rs->tp.batch_size, w, dt, lim, limit);
}

json_t *runspec_mem_json(const runspec_mem *m)
{
    const train_mem *t = &m->t;
    return json_pack("{s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
                     "estimate_bytes", (json_int_t)m->total, "limit_bytes", (json_int_t)m->limit,
                     "parts", "dataset", (json_int_t)m->tables, "data", (json_int_t)t->data,
                     "params", (json_int_t)t->params, "optimizer", (json_int_t)t->optimizer,
                     "activations", (json_int_t)t->activations, "dropout", (json_int_t)t->dropout,
                     "batch_norm", (json_int_t)t->batch_norm, "rows", (json_int_t)t->rows,
                     "checkpoint", (json_int_t)t->checkpoint, "blas", (json_int_t)t->blas);
}

mlp_err runspec_decode(const char *request_json, runspec *out, mlp_error *err)
{
    json_error_t je;
    json_t *o = json_loads(request_json, 0, &je);
    if (!o) return mlp_fail(err, MLP_ECORRUPT, "stored run request is not JSON: %s", je.text);
    mlp_err rc = runspec_parse(o, NULL, (size_t)-1, out, NULL, err);
    json_decref(o);
    return rc;
}

char *runspec_describe(const char *request_json, const run_metrics *final, int epoch,
                       int n_features, char *const *features, int n_labels, char *const *labels)
{
    json_t *req = json_loads(request_json, 0, NULL);
    json_t *f = json_array(), *l = json_array(), *m = json_object();
    for (int i = 0; i < n_features; i++) json_array_append_new(f, json_string(features[i]));
    for (int i = 0; i < n_labels; i++) json_array_append_new(l, json_string(labels[i]));
    for (int k = 0; k < MET_COUNT; k++)
        if (final->present & (1u << k))
            json_object_set_new(m, metric_name((metric_id)k), json_real(final->v[k]));
    json_object_set_new(m, "epoch", json_integer(epoch));
    json_t *params = req ? json_incref(json_object_get(req, "params")) : json_null();
    json_t *o = json_pack("{s:o, s:o, s:o, s:o}", "feature_names", f, "labels", l, "metrics", m,
                          "params", params ? params : json_null());
    json_decref(req);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(o);
    return s;
}
