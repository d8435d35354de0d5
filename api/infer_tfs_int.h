/* infer_tfs_int.h — private to api/infer_tfs.c and api/infer_tfs_read.c: a signature's method,
 * the signature_name check and the request reader they share (see infer_tfs.c for the forms).
 *
 * Threading: as infer_tfs.h. */
#ifndef INFER_TFS_INT_H
#define INFER_TFS_INT_H

#include "http.h"
#include "registry.h"

#include <jansson.h>

/* The method of a signature, which is also the kind of body a verb reads: :predict (and the
 * mlpd verbs) take rows; :classify and :regress take rows or TF Serving's Example list. */
typedef enum { SIG_PREDICT = 0, SIG_CLASSIFY, SIG_REGRESS } sig_method;

/* The "signature_name" of the request body (borrowed) checked as TF Serving checks it for a verb
 * of method want. 0, or -1 after answering 400 with TF Serving's text. */
int tfs_signature_check(http_req *req, http_resp *resp, const reg_model *m, json_t *body,
                        sig_method want);
/* The rows of a request into *X (borrowed: this thread's buffer, valid until the thread's next
 * request), n x d, and whether it was columnar; -1 after answering 400 naming the instance. */
int tfs_read_rows(http_req *req, http_resp *resp, const reg_model *m, sig_method form, float **X,
                  int *n, int *columnar);

#endif
