/* crc32.h — CRC-32 (IEEE, as zlib's crc32()) over byte buffers, for the checksums of saved nets
 * and training checkpoints. Named crc32_* so that it never collides with zlib's `crc32` symbol
 * when the daemon links both.
 *
 * Threading: pure functions, reentrant. */
#ifndef CRC32_H
#define CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: crc32_update(crc32_update(0, a, n), b, m) == crc32_of(a ‖ b). Start with 0. */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t len);
/* CRC-32 of one buffer; crc32_of("123456789", 9) == 0xCBF43926. */
uint32_t crc32_of(const void *buf, size_t len);

#endif
