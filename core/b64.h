/* b64.h — strict base64 (RFC 4648 §4, padded) and base64url (§5, unpadded,
 * as JOSE uses it). Decoders refuse whitespace, wrong padding, characters of
 * the other alphabet and non-zero trailing bits. */
#ifndef SD_B64_H
#define SD_B64_H

#include <stddef.h>

/* Bytes needed to encode n bytes, including the NUL. */
#define B64_ENC_LEN(n) ((((n) + 2) / 3) * 4 + 1)
/* Upper bound of decoded bytes for n characters. */
#define B64_DEC_MAX(n) (((n) / 4) * 3 + 3)

/* Encode; out has room for B64_ENC_LEN(len). Returns the length written. */
size_t b64_encode(const unsigned char *in, size_t len, char *out);
size_t b64url_encode(const unsigned char *in, size_t len, char *out);

/* Decode len characters of in into out (room for B64_DEC_MAX(len)); sets
 * *out_len. Returns 0, or -1 when the input is not strict base64(url). */
int b64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len);
int b64url_decode(const char *in, size_t len, unsigned char *out, size_t *out_len);

#endif
