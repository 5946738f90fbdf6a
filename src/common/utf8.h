/*
 * One UTF-8 decoder for everything that must tell well-formed UTF-8 from
 * bytes that only look like it: the address parser (SMTPUTF8), the log
 * escaping and the delivery reports.  Pure, no I/O, no allocation.
 */
#ifndef DECORUM_COMMON_UTF8_H
#define DECORUM_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length (1 to 4) of the well-formed character at s, of which len > 0
 * octets are readable, with its code point in *cp; 0 when s does not
 * start one.  Well-formed is RFC 3629 section 4: no overlong form, no
 * surrogate, nothing past U+10FFFF, never cut by len.  Overlongs and
 * surrogates are how filters that look for "@", "." or a newline are
 * bypassed, so every caller refuses or escapes what this refuses.
 */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

#endif
