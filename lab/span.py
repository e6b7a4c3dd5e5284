#!/usr/bin/env python3
"""A switch's SPAN port, for the lab: loads a tc classifier (eBPF) that
copies every frame it sees, tagged 802.1Q with VLAN `vid`, to the device
`ifindex` (a veth into the span bridge), and pins it at `pin` for
`tc filter add … bpf object-pinned PIN direct-action`.

The program, twelve instructions written out here so the lab needs no
compiler:

    bpf_skb_vlan_push(skb, 0x8100, vid)   # the tag, as the switch adds it
    bpf_clone_redirect(skb, ifindex, 0)   # a copy out of the span veth
    bpf_skb_vlan_pop(skb)                 # the original goes on untagged
    return TC_ACT_OK

The kernel has no 8021q module or tc vlan action here; this is what both
would do. VID 0 means no tag (a mirror of an access port, as the client
leg of a one-direction SPAN is): the program is then only the clone and
the return. Usage (root, in the namespace of `ifindex`): span.py PIN
IFINDEX VID
"""
import ctypes
import socket
import struct
import sys

SYS_BPF = 321  # x86_64
BPF_PROG_LOAD, BPF_OBJ_PIN = 5, 6
BPF_PROG_TYPE_SCHED_CLS = 3
FUNC_CLONE_REDIRECT, FUNC_SKB_VLAN_PUSH, FUNC_SKB_VLAN_POP = 13, 18, 19


def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def mov_reg(dst, src):  # BPF_ALU64 | BPF_MOV | BPF_X
    return insn(0xBF, dst, src)


def mov_imm(dst, imm):  # BPF_ALU64 | BPF_MOV | BPF_K
    return insn(0xB7, dst, imm=imm)


def call(func):  # BPF_JMP | BPF_CALL
    return insn(0x85, imm=func)


def program(ifindex, vid):
    push = [
        mov_imm(2, socket.htons(0x8100)),  # __be16 ETH_P_8021Q
        mov_imm(3, vid),
        call(FUNC_SKB_VLAN_PUSH),  # r1 is still skb
        mov_reg(1, 6),
    ]
    pop = [mov_reg(1, 6), call(FUNC_SKB_VLAN_POP)]
    return b"".join(
        [mov_reg(6, 1)]  # r6 = skb
        + (push if vid else [])
        + [
            mov_imm(2, ifindex),
            mov_imm(3, 0),  # egress of ifindex
            call(FUNC_CLONE_REDIRECT),
        ]
        + (pop if vid else [])
        + [
            mov_imm(0, 0),  # TC_ACT_OK
            insn(0x95),  # exit
        ]
    )


def bpf(cmd, attr):
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(SYS_BPF, cmd, buf, 128)
    if r < 0:
        raise OSError(ctypes.get_errno(), "bpf(%d)" % cmd)
    return r


def main(pin, ifindex, vid):
    code = program(ifindex, vid)
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    attr = struct.pack(
        "<IIQQIIQII16s",
        BPF_PROG_TYPE_SCHED_CLS,
        len(code) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(lic),
        1,
        len(log),
        ctypes.addressof(log),
        0,
        0,
        b"pm_span",
    )
    try:
        fd = bpf(BPF_PROG_LOAD, attr)
    except OSError:
        sys.stderr.write(log.value.decode(errors="replace"))
        raise
    path = ctypes.create_string_buffer(pin.encode())
    bpf(BPF_OBJ_PIN, struct.pack("<QII", ctypes.addressof(path), fd, 0))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
