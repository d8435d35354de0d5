/* test_fastjson_portable.c — test_fastjson's cases against the reader built without SIMD
 * (FJ_PORTABLE: the SWAR digit scan that hosts without SSE2 use), so that both ways of finding a
 * digit run are held to jansson. The reader's source is compiled into this test, in place of the
 * library's object. */
#define FJ_PORTABLE 1
#include "../../api/fastjson.c"

#include "test_fastjson.c"
