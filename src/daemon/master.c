/*
 * The master: see master.h.
 *
 * The master is deliberately not an event loop: it blocks every signal it
 * handles and takes them one at a time with sigtimedwait(), so children
 * forked at any moment inherit no handlers and no loop state.  It does
 * not parse mail or talk to clients; it only holds the listening sockets
 * (so a restarted smtpd gets them back) and the children's PIDs.
 *
 * A child that dies unexpectedly is restarted after RESTART_DELAY seconds
 * (doubling while it keeps dying within a minute, capped).  On SIGTERM or
 * SIGINT every child gets SIGTERM; after STOP_SECONDS, SIGKILL.
 *
 * Before any port is open it checks what would stop the daemon later,
 * with check-config's functions and FILE:LINE messages: the user
 * account, the TLS files (tls_config_load, which reads them only where
 * that account cannot change them) and the folders it hands to that
 * user (config_system.c, which walks them without following links).
 * SIGHUP re-reads the keys and queues them on the control channel
 * (channel.c); the loop finishes writing them between signal waits, so
 * a slow smtpd never blocks the master and never gets half a frame.
 */
#include "daemon/master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/safedir.h"
#include "common/xmalloc.h"
#include "daemon/channel.h"
#include "daemon/privsep.h"
#include "queue/qmgr.h"
#include "smtpd/control_frame.h"
#include "smtpd/smtpd.h"
#include "tls/tls.h"

#define LISTEN_BACKLOG	1024
#define STOP_SECONDS	60
#define RESTART_DELAY	1
#define RESTART_MAX	60
/* While a key frame is going out: how long to wait for the socket
 * before looking at signals again. */
#define CHANNEL_WAIT_MS	50

enum child_role { CHILD_SMTPD, CHILD_QMGR, CHILD_COUNT };

struct child {
	const char *name;	/* process name, as ps and /proc/PID/comm show it */
	pid_t pid;		/* 0 when not running */
	time_t started;
	time_t restart_at;	/* 0: no restart scheduled */
	unsigned delay;
};

struct master {
	const struct config *cfg;
	bool foreground;
	struct safedir_owner owner;	/* the account the folders are for */
	struct privsep_user user;
	int *fds;		/* one listening socket per cfg->listen[] */
	int notify[2];		/* [0] smtpd sends, [1] qmgr receives */
	struct channel chan;	/* keys to the running smtpd */
	int smtpd_control;	/* the smtpd's end, between open and fork */
	struct tls_keypair *keys;	/* read as root; smtpd builds contexts */
	size_t n_keys;
	struct child children[CHILD_COUNT];
	sigset_t handled, saved_mask;
	pid_t pid;
	bool stopping;
	time_t stop_deadline;
};

static int
open_listener(const struct listen_conf *lc)
{
	int fd, one = 1;

	fd = socket(lc->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("listen %s: socket: %s", lc->address, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "[::]:25" means IPv6 only; "0.0.0.0:25" is listed separately. */
	if (lc->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&lc->addr, lc->addrlen) < 0)
		fatal("listen %s: bind: %s", lc->address, strerror(errno));
	if (listen(fd, LISTEN_BACKLOG) < 0)
		fatal("listen %s: %s", lc->address, strerror(errno));
	return fd;
}

/* In a fresh child: undo the master's signal set-up, bind our fate to
 * the master's, name ourselves, drop root. */
static void
child_setup(struct master *m, const char *name)
{
	signal(SIGHUP, SIG_IGN);	/* reloads go through the master */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &m->saved_mask, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != m->pid)
		_exit(1);
	prctl(PR_SET_NAME, name);
	log_set_role(name + strlen("decorum-"));
	privsep_drop(&m->user);
}

static _Noreturn void
child_run(struct master *m, enum child_role role)
{
	int status;

	child_setup(m, m->children[role].name);
	/* The master's end of the channel is the master's alone, and the
	 * copies of key frames queued there are wiped, not kept. */
	channel_close(&m->chan);
	if (role == CHILD_SMTPD) {
		struct smtpd_args a = {
			.cfg = m->cfg, .fds = m->fds, .n_fds = m->cfg->n_listen,
			.notify_fd = m->notify[0], .control_fd = m->smtpd_control,
			.keys = m->keys, .n_keys = m->n_keys,
		};

		close(m->notify[1]);
		status = smtpd_main(&a);
	} else {
		for (size_t i = 0; i < m->cfg->n_listen; i++)
			close(m->fds[i]);
		close(m->notify[0]);
		/* The qmgr never needs key material. */
		tls_keypairs_free(m->keys, m->n_keys);
		m->keys = NULL;
		m->n_keys = 0;
		status = qmgr_main(m->cfg, m->notify[1]);
	}
	exit(status);
}

static void
child_start(struct master *m, enum child_role role)
{
	struct child *c = &m->children[role];
	pid_t pid;

	/* A fresh channel per smtpd: nothing its predecessor left half
	 * read can reach it.  Without one it runs on the keys it inherits. */
	m->smtpd_control = -1;
	if (role == CHILD_SMTPD && (m->smtpd_control = channel_open(&m->chan)) < 0)
		log_error("event=control-error reason=\"socketpair: %s\" "
		    "effect=\"no reload until the next restart\"", strerror(errno));
	pid = fork();
	if (pid == 0)
		child_run(m, role);
	if (m->smtpd_control >= 0)
		close(m->smtpd_control);
	if (pid < 0) {
		log_error("event=fork-failed child=%s reason=\"%s\"", c->name, strerror(errno));
		if (role == CHILD_SMTPD)
			channel_close(&m->chan);
		c->restart_at = time(NULL) + RESTART_DELAY;
		return;
	}
	c->pid = pid;
	c->started = time(NULL);
	c->restart_at = 0;
	log_info("event=child-started child=%s pid=%ld", c->name, (long)pid);
}

static void
child_exited(struct master *m, pid_t pid, int status)
{
	for (int i = 0; i < CHILD_COUNT; i++) {
		struct child *c = &m->children[i];
		time_t now = time(NULL);

		if (c->pid != pid)
			continue;
		c->pid = 0;
		/* Whatever was on its way to it is dropped (and wiped); the
		 * next smtpd inherits the current keys. */
		if (i == CHILD_SMTPD)
			channel_close(&m->chan);
		if (m->stopping) {
			log_info("event=child-stopped child=%s pid=%ld status=%d",
			    c->name, (long)pid, status);
			return;
		}
		/* Crashing again soon after a start: back off. */
		c->delay = (now - c->started < 60 && c->delay > 0) ?
		    (c->delay * 2 > RESTART_MAX ? RESTART_MAX : c->delay * 2) : RESTART_DELAY;
		c->restart_at = now + c->delay;
		log_error("event=child-died child=%s pid=%ld status=%d%s restart_in=%u",
		    c->name, (long)pid, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
		    WIFSIGNALED(status) ? " signaled=yes" : "", c->delay);
		return;
	}
}

_Static_assert(TLS_KEYPAIRS_WIRE_MAX <= CONTROL_FRAME_MAX,
    "a key set tls_config_load accepts must fit in one control frame");

/* The wire form of kps in payload (initialised here): 0, or -1 when it
 * is over what one frame carries. */
static int
keys_encode(const struct tls_keypair *kps, size_t n, struct buf *payload)
{
	buf_init(payload, CONTROL_FRAME_MAX);
	return tls_keypairs_encode(kps, n, payload);
}

/* SIGHUP: new certificates for new connections, sessions undisturbed.
 * Keys that do not load or do not match keep the old ones in place. */
static void
keys_reload(struct master *m)
{
	struct tls_keypair *kps;
	struct config_error err;
	struct buf payload;
	size_t n;
	char file[300], why[300];

	if (m->cfg->tls_cert == NULL) {
		log_error("event=tls-reload-failed reason=\"no tls configured\"");
		return;
	}
	if (tls_config_load(m->cfg, &m->owner, &kps, &n, &err) < 0) {
		log_error("event=tls-reload-failed file=\"%s\" line=%d "
		    "reason=\"%s\" effect=\"old certificates kept\"",
		    log_safe(err.file, file, sizeof(file)), err.line,
		    log_safe(err.message, why, sizeof(why)));
		return;
	}
	/* Too big for one frame: refuse now rather than hold keys a
	 * restarted smtpd would get but the running one never could. */
	if (keys_encode(kps, n, &payload) < 0) {
		log_error("event=tls-reload-failed reason=\"key material over "
		    "the control channel's %d octets\" effect=\"old "
		    "certificates kept\"", CONTROL_FRAME_MAX);
		buf_wipe(&payload);
		tls_keypairs_free(kps, n);
		return;
	}
	tls_keypairs_free(m->keys, m->n_keys);
	m->keys = kps;
	m->n_keys = n;
	if (channel_send_keys(&m->chan, payload.data, payload.len) < 0)
		log_warn("event=tls-reload-deferred reason=\"smtpd not running\" "
		    "effect=\"applied when smtpd restarts\"");
	else
		log_info("event=tls-reload seq=%u certificates=%zu", m->chan.seq, n);
	buf_wipe(&payload);
}

/* Between signals: push the pending frame on, and answer the smtpd's
 * requests (it asks again when it saw bytes that were not a frame). */
static void
channel_tend(struct master *m)
{
	struct buf payload;

	if (channel_service(&m->chan) <= 0 || m->n_keys == 0)
		return;
	if (keys_encode(m->keys, m->n_keys, &payload) == 0 &&
	    channel_send_keys(&m->chan, payload.data, payload.len) == 0)
		log_warn("event=tls-resend seq=%u reason=\"smtpd asked\"",
		    m->chan.seq);
	else
		log_error("event=tls-resend-failed reason=\"smtpd asked, but "
		    "the keys could not be framed (%zu octets)\" "
		    "effect=\"smtpd keeps the certificates it has\"",
		    tls_keypairs_encoded_size(m->keys, m->n_keys));
	buf_wipe(&payload);
}

static void
signal_children(struct master *m, int sig)
{
	for (int i = 0; i < CHILD_COUNT; i++)
		if (m->children[i].pid > 0)
			kill(m->children[i].pid, sig);
}

static bool
children_running(const struct master *m)
{
	for (int i = 0; i < CHILD_COUNT; i++)
		if (m->children[i].pid > 0)
			return true;
	return false;
}

static void
master_handle(struct master *m, int sig)
{
	pid_t pid;
	int status;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (m->stopping)
			break;
		log_info("event=stopping signal=%d", sig);
		m->stopping = true;
		m->stop_deadline = time(NULL) + STOP_SECONDS;
		signal_children(m, SIGTERM);
		break;
	case SIGHUP:
		keys_reload(m);
		break;
	default:
		break;
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		child_exited(m, pid, status);
}

static void
master_loop(struct master *m)
{
	for (;;) {
		struct timespec tick = { 1, 0 };
		int sig;
		time_t now;

		/* A frame is on its way: wake when the socket takes more,
		 * and still see signals within CHANNEL_WAIT_MS. */
		if (channel_busy(&m->chan)) {
			channel_wait(&m->chan, CHANNEL_WAIT_MS);
			tick.tv_sec = 0;
		}
		sig = sigtimedwait(&m->handled, NULL, &tick);
		master_handle(m, sig);
		channel_tend(m);
		if (m->stopping && !children_running(m))
			return;
		now = time(NULL);
		if (m->stopping && now >= m->stop_deadline) {
			log_warn("event=stop-timeout action=kill");
			signal_children(m, SIGKILL);
			m->stop_deadline = now + STOP_SECONDS;
		}
		for (int i = 0; i < CHILD_COUNT && !m->stopping; i++)
			if (m->children[i].pid == 0 && m->children[i].restart_at != 0 &&
			    now >= m->children[i].restart_at)
				child_start(m, (enum child_role)i);
	}
}

/* A problem found before any port is open: FILE:LINE: message on stderr
 * (where the operator starting us looks, and the log in -f mode), and in
 * syslog too when we were going to detach. */
static _Noreturn void
prepare_fail(const struct master *m, const struct config_error *err)
{
	char file[300], why[300];

	config_error_print(err);
	if (!m->foreground)
		log_error("event=config-error file=\"%s\" line=%d reason=\"%s\"",
		    log_safe(err->file, file, sizeof(file)), err->line,
		    log_safe(err->message, why, sizeof(why)));
	exit(1);
}

static void
folder_fixed(void *arg, const struct config_where *w, const char *what,
    const char *path, const char *change)
{
	char safe[300];

	(void)arg;
	(void)w;
	log_warn("event=folder-fixed key=%s path=\"%s\" change=\"%s\"", what,
	    log_safe(path, safe, sizeof(safe)), change);
}

static void
master_prepare(struct master *m)
{
	const struct config *cfg = m->cfg;
	struct config_error err;
	char file[300], why[300];

	/* Everything that would stop us later is checked before any port
	 * is open, as check-config checks it: a certificate that cannot
	 * serve must stop the start, not loop the smtpd. */
	if (config_user_lookup(cfg, &m->owner, &err) < 0 ||
	    tls_config_load(cfg, &m->owner, &m->keys, &m->n_keys, &err) < 0 ||
	    config_folders_prepare(cfg, &m->owner, true, folder_fixed, NULL,
	    &err) < 0 || config_domains_check(cfg, &m->owner, &err) < 0)
		prepare_fail(m, &err);
	for (size_t i = 0; i < cfg->n_warnings; i++)
		log_warn("event=config-warning file=\"%s\" line=%d reason=\"%s\"",
		    log_safe(cfg->warnings[i].file, file, sizeof(file)),
		    cfg->warnings[i].line,
		    log_safe(cfg->warnings[i].message, why, sizeof(why)));
	privsep_setup(cfg, &m->owner, &m->user);
	m->fds = xcalloc(cfg->n_listen, sizeof(*m->fds));
	for (size_t i = 0; i < cfg->n_listen; i++)
		m->fds[i] = open_listener(&cfg->listen[i]);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, m->notify) < 0)
		fatal("socketpair: %s", strerror(errno));
}

int
master_run(const struct config *cfg, bool foreground)
{
	static struct master m;	/* static: forked children may still see it */
	char safe[LOG_SAFE_SIZE(256)];

	memset(&m, 0, sizeof(m));
	m.cfg = cfg;
	m.foreground = foreground;
	channel_init(&m.chan);
	m.children[CHILD_SMTPD].name = "decorum-smtpd";
	m.children[CHILD_QMGR].name = "decorum-qmgr";
	/* Signals wait for the loop from the start: a SIGHUP that comes as
	 * soon as the ports accept must not kill us by default action. */
	sigemptyset(&m.handled);
	sigaddset(&m.handled, SIGTERM);
	sigaddset(&m.handled, SIGINT);
	sigaddset(&m.handled, SIGHUP);
	sigaddset(&m.handled, SIGCHLD);
	sigprocmask(SIG_BLOCK, &m.handled, &m.saved_mask);
	signal(SIGPIPE, SIG_IGN);
	master_prepare(&m);
	if (!foreground && daemon(0, 0) < 0)
		fatal("daemon: %s", strerror(errno));
	m.pid = getpid();
	child_start(&m, CHILD_QMGR);
	child_start(&m, CHILD_SMTPD);
	log_info("event=started version=%s config=\"%s\" listeners=%zu",
	    DECORUM_VERSION, log_safe(cfg->path, safe, sizeof(safe)),
	    cfg->n_listen);
	master_loop(&m);
	for (size_t i = 0; i < cfg->n_listen; i++)
		close(m.fds[i]);
	free(m.fds);
	close(m.notify[0]);
	close(m.notify[1]);
	channel_close(&m.chan);
	tls_keypairs_free(m.keys, m.n_keys);
	log_info("event=stopped");
	return 0;
}
