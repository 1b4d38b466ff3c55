import { arch } from 'node:os';

/**
 * The seccomp filter every bwrap sandbox runs under, as a classic BPF program for `bwrap --seccomp FD`.
 *
 * It allows by default and refuses the system calls a server never needs and an escape usually does: tracing other
 * processes, mounting, namespaces, kernel modules, BPF, keyrings, io_uring (a large, often-exploited surface),
 * handle-based opens (they bypass the mount view), reboot and friends. `clone3` gets ENOSYS so libc falls back to
 * `clone`, whose flags this filter can inspect; `clone` with CLONE_NEWUSER is refused. Sockets of families that
 * reach past the network namespace (vsock to the hypervisor and its other guests) or that expose rarely used
 * kernel code (AF_ALG, AF_KEY, packet, Bluetooth, TIPC, RDS, XDP) get EAFNOSUPPORT. Calls from any other ABI
 * (32-bit `int 0x80`, x32) are refused outright, since their numbers differ and would slip past the list.
 */

const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const CLONE_NEWUSER = 0x10000000;
const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;

const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const retErrno = (errno: number): number => 0x00050000 | errno;

// BPF opcodes (linux/bpf_common.h)
const LD_W_ABS = 0x20;
const JMP_JEQ_K = 0x15;
const JMP_JSET_K = 0x45;
const RET_K = 0x06;

// struct seccomp_data offsets
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0_LOW = 16;

/** x86_64 numbers of the refused calls (arch/x86/entry/syscalls/syscall_64.tbl). */
const DENIED_X86_64: Record<string, number> = {
  ptrace: 101,
  syslog: 103,
  uselib: 134,
  vhangup: 153,
  pivot_root: 155,
  acct: 163,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  iopl: 172,
  ioperm: 173,
  init_module: 175,
  delete_module: 176,
  quotactl: 179,
  lookup_dcookie: 212,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  fanotify_init: 300,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  kcmp: 312,
  finit_module: 313,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  quotactl_fd: 443,
};
const CLONE_X86_64 = 56;
const SOCKET_X86_64 = 41;
/** Address families `socket` refuses (linux/socket.h). */
const DENIED_SOCKET_FAMILIES: Record<string, number> = {
  AF_KEY: 15,
  AF_PACKET: 17,
  AF_RDS: 21,
  AF_TIPC: 30,
  AF_BLUETOOTH: 31,
  AF_ALG: 38,
  AF_VSOCK: 40,
  AF_XDP: 44,
};
const CLONE3_X86_64 = 435;

export const DENIED_SYSCALLS: readonly string[] = Object.keys(DENIED_X86_64);

/** Why seccomp filtering cannot run here, or undefined when it can. */
export function seccompUnsupportedReason(): string | undefined {
  return arch() === 'x64' ? undefined : `berth's seccomp filter is written for x86_64 and this machine is ${arch()}`;
}

export function buildSeccompFilter(): Buffer {
  const program: Array<[code: number, jt: number, jf: number, k: number]> = [];
  const emit = (code: number, jt: number, jf: number, k: number): void => {
    program.push([code, jt, jf, k]);
  };

  emit(LD_W_ABS, 0, 0, OFFSET_ARCH);
  emit(JMP_JEQ_K, 1, 0, AUDIT_ARCH_X86_64);
  emit(RET_K, 0, 0, RET_KILL_PROCESS);
  emit(LD_W_ABS, 0, 0, OFFSET_NR);
  emit(JMP_JSET_K, 0, 1, X32_SYSCALL_BIT);
  emit(RET_K, 0, 0, retErrno(EPERM));
  for (const nr of Object.values(DENIED_X86_64)) {
    emit(JMP_JEQ_K, 0, 1, nr);
    emit(RET_K, 0, 0, retErrno(EPERM));
  }
  const families = Object.values(DENIED_SOCKET_FAMILIES);
  emit(JMP_JEQ_K, 0, 2 * families.length + 2, SOCKET_X86_64);
  emit(LD_W_ABS, 0, 0, OFFSET_ARG0_LOW);
  for (const family of families) {
    emit(JMP_JEQ_K, 0, 1, family);
    emit(RET_K, 0, 0, retErrno(EAFNOSUPPORT));
  }
  emit(RET_K, 0, 0, RET_ALLOW);
  emit(JMP_JEQ_K, 0, 1, CLONE3_X86_64);
  emit(RET_K, 0, 0, retErrno(ENOSYS));
  emit(JMP_JEQ_K, 0, 4, CLONE_X86_64);
  emit(LD_W_ABS, 0, 0, OFFSET_ARG0_LOW);
  emit(JMP_JSET_K, 0, 1, CLONE_NEWUSER);
  emit(RET_K, 0, 0, retErrno(EPERM));
  emit(RET_K, 0, 0, RET_ALLOW);
  emit(RET_K, 0, 0, RET_ALLOW);

  const buffer = Buffer.alloc(program.length * 8);
  program.forEach(([code, jt, jf, k], i) => {
    buffer.writeUInt16LE(code, i * 8);
    buffer.writeUInt8(jt, i * 8 + 2);
    buffer.writeUInt8(jf, i * 8 + 3);
    buffer.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return buffer;
}
