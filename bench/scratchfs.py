"""A file system made for one benchmark run (bench/run --fs journaled).

This machine's root file system, where the benchmark's temporary folder
is by default, is ext4 without a journal.  There ext4 will not reuse an
inode freed in the last 60 seconds (300 while its inode table block is
dirty), and every file creation walks past all such inodes of its block
group: under a mail load that creates and deletes thousands of files a
second, most of an MTA's CPU goes to that walk (docs/benchmarks.md, "Where
the time goes").  A production spool is on a journaled file system (ext4's
default, XFS), where the walk does not exist.  So the benchmark can also
run on a fresh ext4 with mkfs's defaults, journal included, made in a
sparse file and loop-mounted for the run, and removed after it.
"""

import os
import subprocess
import tempfile

# Room for the growth and restart runs' 100,000 queued messages (two
# files each) beside a Maildir of as many.
SIZE = 16 * 1024 ** 3


class ScratchFs:
    """mount() makes, mounts and returns the folder; unmount() undoes
    everything, also after a partial mount()."""

    def __init__(self, parent="/var/tmp"):
        self.parent = parent
        self.image = None
        self.mountpoint = None
        self.mounted = False

    def mount(self):
        fd, self.image = tempfile.mkstemp(prefix="decorum-bench-fs-",
                                          suffix=".img", dir=self.parent)
        os.ftruncate(fd, SIZE)
        os.close(fd)
        # Inode tables and journal written now, not by a kernel thread
        # in the background of the runs.
        subprocess.run(["mkfs.ext4", "-q", "-F", "-E",
                        "lazy_itable_init=0,lazy_journal_init=0",
                        self.image], check=True, stdin=subprocess.DEVNULL,
                       timeout=600)
        self.mountpoint = tempfile.mkdtemp(prefix="decorum-bench-mnt-",
                                           dir=self.parent)
        subprocess.run(["mount", "-o", "loop", self.image, self.mountpoint],
                       check=True, stdin=subprocess.DEVNULL, timeout=60)
        self.mounted = True
        os.chmod(self.mountpoint, 0o755)
        return self.mountpoint

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", self.mountpoint],
                           stdin=subprocess.DEVNULL, timeout=120)
            self.mounted = False
        if self.mountpoint:
            try:
                os.rmdir(self.mountpoint)
            except OSError:
                pass
            self.mountpoint = None
        if self.image:
            try:
                os.unlink(self.image)
            except OSError:
                pass
            self.image = None
