"""The syscall filter of every sandbox process: its profile, compiled with libseccomp.

The profile follows Docker's and Flatpak's default ones: everything is allowed but the calls
below, which either need privileges a sandbox must not have (and so only widen the kernel's
attack surface), or reach across the sandbox's walls (other processes' memory, the kernel's
keyrings, new namespaces, the file system tree). A denied call fails with EPERM, as it would for
an unprivileged user, so programs that probe for a feature fall back; ``clone3`` fails with
ENOSYS, which makes glibc fall back to ``clone``, whose namespace flags can be checked (clone3
passes its flags in memory, out of the filter's reach). Calls of another architecture's ABI
(32-bit x86 on x86_64) kill the process: libseccomp's default for a foreign architecture.

The compiled program goes to ``bwrap --seccomp`` for a sandbox's init and everything it forks,
and to :data:`LOADER` for each command entering the sandbox with nsenter (a process that does
not descend from the init, and which needs ``setns`` itself before the filter may apply).
"""

from __future__ import annotations

import errno
import tempfile
from collections.abc import Mapping

# A ctypes binding that loads the system's libseccomp2 when imported (on Debian, apt itself
# depends on that library). Where it is missing, QAI still starts: only sandboxes under
# bubblewrap with the filter on need it, and they say so (:func:`unavailable`).
try:
    import pyseccomp as seccomp
except (ImportError, OSError, RuntimeError) as _error:
    _MISSING: str | None = f"libseccomp could not be loaded ({_error})"
else:
    _MISSING = None


def unavailable() -> str | None:
    """Why the filter cannot be built on this machine, with the fix; None when it can."""
    if _MISSING is None:
        return None
    return f"{_MISSING}: apt-get install libseccomp2, or set QAI_SANDBOX_SECCOMP=false"


# Each denied call, and why (docs/sandbox.md lists them).
DENIED: Mapping[str, str] = {
    # Interfaces with a history of kernel exploits that a web app does not need.
    "io_uring_setup": "io_uring: a large attack surface; libuv falls back to its thread pool",
    "io_uring_enter": "io_uring",
    "io_uring_register": "io_uring",
    "bpf": "loading BPF programs into the kernel",
    "perf_event_open": "kernel performance counters (side channels)",
    "userfaultfd": "page-fault handling in user space (widens kernel race windows)",
    # The kernel's keyrings are not namespaced.
    "keyctl": "the kernel keyrings",
    "add_key": "the kernel keyrings",
    "request_key": "the kernel keyrings",
    # Other processes.
    "ptrace": "tracing another process",
    "process_vm_readv": "reading another process's memory",
    "process_vm_writev": "writing another process's memory",
    "kcmp": "comparing other processes' kernel objects",
    "pidfd_getfd": "taking another process's file descriptors",
    # New namespaces and the file system tree (clone with CLONE_NEW* flags: see below).
    "unshare": "new namespaces",
    "setns": "entering other namespaces",
    "mount": "mounting",
    "umount": "unmounting",
    "umount2": "unmounting",
    "mount_setattr": "changing mounts",
    "move_mount": "moving mounts",
    "open_tree": "cloning mounts",
    "fsopen": "the new mount API",
    "fsconfig": "the new mount API",
    "fsmount": "the new mount API",
    "fspick": "the new mount API",
    "pivot_root": "changing the root",
    "chroot": "changing the root",
    "open_by_handle_at": "opening files by handle, past the mount's root (a known escape)",
    "name_to_handle_at": "file handles",
    # The machine itself.
    "kexec_load": "loading another kernel",
    "kexec_file_load": "loading another kernel",
    "init_module": "loading kernel modules",
    "finit_module": "loading kernel modules",
    "delete_module": "unloading kernel modules",
    "create_module": "kernel modules",
    "reboot": "rebooting",
    "swapon": "swap",
    "swapoff": "swap",
    "acct": "process accounting",
    "quotactl": "disk quotas",
    "quotactl_fd": "disk quotas",
    "lookup_dcookie": "kernel profiling",
    "syslog": "the kernel log",
    "settimeofday": "the system clock",
    "clock_settime": "the system clock",
    "clock_adjtime": "the system clock",
    "adjtimex": "the system clock",
    "stime": "the system clock",
    "iopl": "I/O port access",
    "ioperm": "I/O port access",
    "uselib": "an obsolete loader call",
    "ustat": "an obsolete file system call",
    "sysfs": "an obsolete file system call",
    "_sysctl": "an obsolete kernel settings call",
    "nfsservctl": "the kernel NFS server",
    "vm86": "virtual 8086 mode",
    "vm86old": "virtual 8086 mode",
    # NUMA placement: other processes' pages, and the machine's memory layout.
    "mbind": "NUMA memory placement",
    "set_mempolicy": "NUMA memory placement",
    "move_pages": "moving (other processes') pages between NUMA nodes",
    "migrate_pages": "moving another process's pages between NUMA nodes",
}

# clone() with any of these flags makes a new namespace: denied (EPERM).
CLONE_NAMESPACE_FLAGS: Mapping[str, int] = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

# personality() is allowed only to set the default PER_LINUX (as Docker allows): the other
# personalities change the address-space layout and what system calls mean.
PER_LINUX = 0

# Denied with ENOSYS, not EPERM: a caller takes it as "not implemented here" and falls back.
NOT_IMPLEMENTED = ("clone3",)


def build_filter() -> seccomp.SyscallFilter:
    """The profile as a libseccomp filter: allow all but what this module lists."""
    profile = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED:
        profile.add_rule(seccomp.ERRNO(errno.EPERM), name)
    for name in NOT_IMPLEMENTED:
        profile.add_rule(seccomp.ERRNO(errno.ENOSYS), name)
    for flag in CLONE_NAMESPACE_FLAGS.values():
        # Rules for one call are alternatives: any one flag set denies it.
        profile.add_rule(
            seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag)
        )
    profile.add_rule(
        seccomp.ERRNO(errno.EPERM), "personality", seccomp.Arg(0, seccomp.NE, PER_LINUX)
    )
    return profile


def compile_bpf() -> bytes:
    """The profile as the classic BPF program ``bwrap --seccomp`` and :data:`LOADER` load."""
    with tempfile.TemporaryFile() as file:
        build_filter().export_bpf(file)
        file.seek(0)
        return file.read()


# Run by the system's python3 inside the sandbox, after nsenter, as the sandbox user:
# ``python3 -I -S -c LOADER <program> <argv...>`` installs the compiled program (what bwrap's
# --seccomp does for the init) and execs argv with the signal dispositions it was given. A
# command never runs unfiltered: any failure exits before the exec.
LOADER = """\
import ctypes, os, signal, sys
program = open(sys.argv[1], "rb").read()
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
prog = Prog(len(program) // 8, program)
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
ul = ctypes.c_ulong
if libc.prctl(PR_SET_NO_NEW_PRIVS, ul(1), ul(0), ul(0), ul(0)) != 0 or libc.prctl(
    PR_SET_SECCOMP, ul(SECCOMP_MODE_FILTER), ctypes.byref(prog), ul(0), ul(0)
) != 0:
    sys.exit("qai: the seccomp filter could not be installed: " + os.strerror(ctypes.get_errno()))
# Python ignores these at start, and an ignored signal stays ignored across exec.
for number in (signal.SIGPIPE, signal.SIGXFSZ):
    signal.signal(number, signal.SIG_DFL)
os.execv(sys.argv[2], sys.argv[2:])
"""
