/* models_onnx.h — the ONNX form of POST /api/v1/models/{name}/versions: a body of
 * Content-Type application/onnx (the file itself) or multipart/form-data (the file as part
 * "file") imports an ONNX MLP (server/onnx_import.h: what is accepted) as a new version.
 *
 * The task, feature names and labels come, in this order of precedence, from the query
 * parameters `task` (classification, regression or autoencoder), `features` and `labels` (names
 * separated by commas), from the metadata_props mlpd's exporter writes (server/onnx.h), and from
 * the graph (its head: onnx_import.h). The version is published like a native import
 * (modelsvc_import_as: the route's ownership rule, the quotas, the model cache); api/models.c
 * dispatches on the Content-Type, records the audit entry and answers the 201 itself.
 * Threading: runs on request threads; no state between requests. */
#ifndef MODELS_ONNX_H
#define MODELS_ONNX_H

#include "http.h"

/* 1 when req's body is an ONNX file: Content-Type application/onnx or multipart/form-data. */
int models_onnx_request(http_req *req);

/* Imports req's ONNX body as a new version of `name`: 0 with *version set, or -1 after
 * answering (400 naming the op and node, the parameter or the mismatch; 413 for a network over
 * --max-params; the quota and publish errors of a native import). */
int models_onnx_import(http_req *req, http_resp *resp, const char *name, int *version);

#endif
