/* b64.c — strict base64 and base64url. */
#include "b64.h"

#include <stdint.h>

static const char std_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t encode(const unsigned char *in, size_t len, char *out, const char *a, int pad)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = a[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

size_t b64_encode(const unsigned char *in, size_t len, char *out)
{
	return encode(in, len, out, std_alpha, 1);
}

size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
	return encode(in, len, out, url_alpha, 0);
}

static int val(char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decode len characters that contain no padding. */
static int decode(const char *in, size_t len, unsigned char *out, size_t *out_len, int url)
{
	size_t o = 0, i = 0;
	uint32_t v;
	int d[4];

	if (len % 4 == 1)
		return -1;
	for (; i + 4 <= len; i += 4) {
		for (int k = 0; k < 4; k++)
			if ((d[k] = val(in[i + k], url)) < 0)
				return -1;
		v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 | (uint32_t)d[3];
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	if (len - i == 2) {
		if ((d[0] = val(in[i], url)) < 0 || (d[1] = val(in[i + 1], url)) < 0 || (d[1] & 15))
			return -1;
		out[o++] = (unsigned char)(d[0] << 2 | d[1] >> 4);
	} else if (len - i == 3) {
		if ((d[0] = val(in[i], url)) < 0 || (d[1] = val(in[i + 1], url)) < 0 ||
		    (d[2] = val(in[i + 2], url)) < 0 || (d[2] & 3))
			return -1;
		out[o++] = (unsigned char)(d[0] << 2 | d[1] >> 4);
		out[o++] = (unsigned char)((d[1] & 15) << 4 | d[2] >> 2);
	}
	*out_len = o;
	return 0;
}

int b64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len)
{
	size_t pad = 0;

	if (len % 4 != 0)
		return -1;
	if (len >= 1 && in[len - 1] == '=')
		pad++;
	if (len >= 2 && in[len - 2] == '=')
		pad++;
	return decode(in, len - pad, out, out_len, 0);
}

int b64url_decode(const char *in, size_t len, unsigned char *out, size_t *out_len)
{
	return decode(in, len, out, out_len, 1);
}
