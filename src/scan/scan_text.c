/*
 * Text from scanners (scan_text.h): header names by RFC 5322, values
 * with their folds normalised and nothing that ends the field, and text
 * for logs and replies with nothing but printable ASCII.
 */
#include "scan/scan_text.h"

bool
scan_header_name_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 33 || ch > 126 || ch == ':')
			return false;
	}
	return true;
}

bool
scan_header_value_fix(char *s, size_t *len, size_t max)
{
	size_t in = 0, out = 0, n = *len;

	if (n > max)
		return false;
	while (in < n) {
		unsigned char ch = (unsigned char)s[in];

		if (ch == '\r' || ch == '\n') {
			if (ch == '\r') {
				if (in + 1 >= n || s[in + 1] != '\n')
					return false;
				in++;
			}
			in++;
			if (in >= n || (s[in] != ' ' && s[in] != '\t'))
				return false;
			s[out++] = '\n';
			continue;
		}
		if ((ch < 32 && ch != '\t') || ch == 127)
			return false;
		s[out++] = s[in++];
	}
	s[out] = '\0';
	*len = out;
	return true;
}

void
scan_copy_printable(char *out, size_t outlen, const char *s, size_t len)
{
	if (len > outlen - 1)
		len = outlen - 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[i] = ch >= 32 && ch < 127 ? (char)ch : '?';
	}
	out[len] = '\0';
}
