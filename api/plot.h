/* plot.h — the SVG learning-curve renderer of plot.c for handlers other than runs_plot: an
 * overlay of several runs' validation curves (a sweep's plot.svg).
 *
 * Threading: reentrant; everything is per request. */
#ifndef PLOT_H
#define PLOT_H

#include "http.h"
#include "store.h"

#define PLOT_MAX_RUNS 12 /* lines in one plot */

/* Answers 200 with an SVG overlaying the validation loss of runs[0..n) (train loss, said in
 * the legend, for a run without validation rows), run i labelled labels[i] (borrowed, unescaped)
 * in the legend, with a title and a caption line; or the store's error. n <= PLOT_MAX_RUNS. */
void plot_overlay(http_req *req, http_resp *resp, const store_run *runs, char *const *labels, int n,
                  const char *title, const char *caption);

#endif
