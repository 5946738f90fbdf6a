/*
 * A scanner's address as the scan group writes it (common/config.h,
 * struct scan_endpoint): "inet:HOST:PORT", HOST an IP address ("[...]"
 * for IPv6), or "unix:/absolute/path".  Pure.  Postfix writes milters
 * the same way, so an operator's milter lines carry over.
 */
#include "common/config.h"

#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "common/netaddr.h"

int
scan_endpoint_parse(const char *text, struct scan_endpoint *ep, char *err,
    size_t errlen)
{
	memset(&ep->addr, 0, sizeof(ep->addr));
	if (strncmp(text, "inet:", 5) == 0) {
		if (netaddr_parse_hostport(text + 5, &ep->addr, &ep->addrlen) < 0) {
			snprintf(err, errlen, "\"%.80s\": expected inet:IP:PORT "
			    "(inet:[IPv6]:PORT), such as inet:127.0.0.1:11332", text);
			return -1;
		}
		return 0;
	}
	if (strncmp(text, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ep->addr;
		const char *path = text + 5;
		size_t n = strlen(path);

		if (path[0] != '/' || n >= sizeof(sun->sun_path)) {
			snprintf(err, errlen, "\"%.80s\": expected unix:/PATH, an "
			    "absolute path under %zu octets", text,
			    sizeof(sun->sun_path));
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, n + 1);
		ep->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	snprintf(err, errlen, "\"%.80s\": expected inet:IP:PORT or unix:/PATH",
	    text);
	return -1;
}
