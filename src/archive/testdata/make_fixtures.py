#!/usr/bin/env python3
"""Writes the archive test fixtures in this folder (see README.md). Run it from anywhere;
it needs bzip2, tar and zip on PATH. The output is deterministic for a given tool version,
so rerunning it should leave `git status` clean."""

import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes", file=sys.stderr)


def bzip2(data, level=9):
    return subprocess.run(["bzip2", f"-{level}", "-c"], input=data, check=True,
                          stdout=subprocess.PIPE).stdout


def sample(size, seed):
    """Compressible yet varied: a random 2 KiB pattern repeated (BWT turns it into long
    runs, so megabytes compress to a few KiB), interleaved with byte runs (RLE1) and
    pseudo-random words (MTF indexes beyond 16)."""
    rng = random.Random(seed)
    pattern = bytes(rng.randrange(256) for _ in range(2048))
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(2, 9)))
             for _ in range(40)]
    text = b" ".join(rng.choice(words) for _ in range(600))
    out = bytearray()
    while len(out) < size:
        out += pattern
        out += bytes([rng.randrange(256)]) * rng.randrange(4, 600)
        out += text
    return bytes(out[:size])


# --- bzip2 bit-level writer, for blocks no real compressor would write ----------------

class Bits:
    def __init__(self):
        self.bits = []

    def put(self, n, value):
        for i in range(n - 1, -1, -1):
            self.bits.append((value >> i) & 1)

    def bytes(self):
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def hostile_block(symbols, *, groups=2, selectors=None, code_length=5, first_length=None,
                  orig_ptr=0, crc=0):
    """One bzip2 stream (level 1) holding one block that uses bytes 'a' and 'b' (so the
    alphabet is RUNA=0, RUNB=1, MTF index 1 = 2 and end-of-block = 3), every Huffman code
    `code_length` bits long (symbol s is coded as s), and the given symbol stream."""
    b = Bits()
    b.put(8, 0x42), b.put(8, 0x5A), b.put(8, 0x68), b.put(8, 0x31)
    b.put(24, 0x314159), b.put(24, 0x265359), b.put(32, crc)
    b.put(1, 0)                       # not randomised
    b.put(24, orig_ptr)
    b.put(16, 0x8000 >> 6)            # range 0x60-0x6f in use
    b.put(16, (0x8000 >> 1) | (0x8000 >> 2))  # bytes 0x61 'a' and 0x62 'b'
    alpha = 4                         # inUse (2) + 2
    b.put(3, groups)
    if selectors is None:
        selectors = max(1, (len(symbols) + 49) // 50)
    b.put(15, selectors)
    for _ in range(selectors):
        b.put(1, 0)                   # selector MTF index 0: group 0
    for _ in range(groups):
        b.put(5, code_length if first_length is None else first_length)
        for _ in range(alpha):
            b.put(1, 0)               # no delta: same length for every symbol
    for s in symbols:
        b.put(code_length, s)
    b.put(24, 0x177245), b.put(24, 0x385090), b.put(32, crc)
    return b.bytes()


def flip_bit(data, bit):
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def end_marker_bit(data):
    """Bit offset of the (last) end-of-stream magic."""
    bits = "".join(f"{byte:08b}" for byte in data)
    return bits.rindex(f"{0x177245385090:048b}")


def fixed_dos_time(data):
    """A member read from stdin gets the current time; pin it so reruns are identical."""
    out = bytearray(data)
    dos = (((2023 - 1980) << 9 | 11 << 5 | 14) << 16) | 22 << 11 | 13 << 5  # date, time
    for signature, offset in ((b"PK\x03\x04", 10), (b"PK\x01\x02", 12)):
        at = out.find(signature)
        while at >= 0:
            out[at + offset:at + offset + 4] = dos.to_bytes(4, "little")
            at = out.find(signature, at + 4)
    return bytes(out)


def main():
    random.seed(0)
    # Valid streams, from the real bzip2.
    multi = sample(250_000, 1)
    write("multi_block.bz2", bzip2(multi, 1))
    write("level9.bz2", bzip2(sample(2_000_000, 6), 9))
    write("empty.bz2", bzip2(b""))
    write("runs.bz2", bzip2(b"\x07" * 3_000_000))
    write("concatenated.bz2", bzip2(sample(5000, 3)) + bzip2(sample(7000, 4)))
    # 50 MB of zeros in under 100 bytes: the "bomb" (decoded without keeping the output).
    write("bomb.bz2", bzip2(b"\0" * 50_000_000))

    # Hostile streams derived from a valid one: one small block, so offsets are fixed:
    # 4 header bytes, 6 block magic bytes, 4 block CRC bytes, then the randomised bit.
    valid = bzip2(sample(20_000, 5))
    write("small.bz2", valid)
    write("truncated.bz2", valid[:len(valid) * 2 // 3])
    write("bad_block_crc.bz2", flip_bit(valid, 10 * 8 + 31))
    write("bad_stream_crc.bz2", flip_bit(valid, end_marker_bit(valid) + 48 + 31))
    write("bad_stream_magic.bz2", b"BZx" + valid[3:])
    write("bad_block_magic.bz2", flip_bit(valid, 4 * 8 + 3))
    write("randomised.bz2", flip_bit(valid, 14 * 8))

    # Hand-written blocks: Huffman table garbage and run lengths beyond any block.
    write("bad_code_length.bz2", hostile_block([3], first_length=21))
    write("bad_group_count.bz2", hostile_block([3], groups=7))
    write("too_few_selectors.bz2", hostile_block([2] * 60 + [3], selectors=1))
    write("run_overflow.bz2", hostile_block([0] * 22 + [3]))
    # RUNB x 17 spells a run of 262,142 bytes: more than a level-1 block (100 kB) holds.
    write("block_overflow.bz2", hostile_block([1] * 17 + [3]))
    write("bad_origin.bz2", hostile_block([0, 3], orig_ptr=5))

    # Real tar and zip archives for the property tests to damage.
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "tree")
        os.makedirs(os.path.join(tree, "bin"))
        os.makedirs(os.path.join(tree, "share", "doc"))
        with open(os.path.join(tree, "bin", "tool"), "wb") as f:
            f.write(b"#!/bin/sh\necho tool\n")
        os.chmod(os.path.join(tree, "bin", "tool"), 0o755)
        with open(os.path.join(tree, "share", "doc", "README"), "wb") as f:
            f.write(sample(3000, 7))
        long_dir = os.path.join(tree, "share", "x" * 60)
        os.makedirs(long_dir)
        with open(os.path.join(long_dir, "y" * 60), "wb") as f:
            f.write(b"long name\n")
        os.symlink("bin/tool", os.path.join(tree, "tool"))
        for path in [tree] + [os.path.join(d, n) for d, ds, fs in os.walk(tree) for n in ds + fs]:
            os.utime(path, (1700000000, 1700000000), follow_symlinks=False)
        common = ["--sort=name", "--owner=0", "--group=0", "--numeric-owner",
                  "--mtime=@1700000000", "-C", tree, "."]
        gnu = subprocess.run(["tar", "--format=gnu", "-cf", "-", *common], check=True,
                             stdout=subprocess.PIPE).stdout
        write("tree_gnu.tar", gnu)
        pax = subprocess.run(["tar", "--format=pax", "--pax-option=delete=atime,delete=ctime",
                              "-cf", "-", *common], check=True, stdout=subprocess.PIPE).stdout
        write("tree_pax.tar.bz2", bzip2(pax))
        env = dict(os.environ, TZ="UTC")
        zip_path = os.path.join(tmp, "tree.zip")
        subprocess.run(["zip", "-q", "-X", "-r", "-y", zip_path, "."], cwd=tree, check=True, env=env)
        with open(zip_path, "rb") as f:
            write("tree.zip", f.read())
        # Forced zip64: zip64 end record and locator, saturated offsets, zip64 extra fields.
        zip64_path = os.path.join(tmp, "zip64.zip")
        subprocess.run(["zip", "-q", "-X", "-r", "-y", "-fz", zip64_path, "bin", "tool"], cwd=tree,
                       check=True, env=env)
        with open(zip64_path, "rb") as f:
            write("zip64.zip", f.read())
        # Traditional PKWARE encryption (flag bit 0): refused, never half-extracted.
        encrypted = subprocess.run(["zip", "-q", "-X", "-P", "secret", "-", "bin/tool"], cwd=tree,
                                   check=True, stdout=subprocess.PIPE, env=env).stdout
        write("encrypted.zip", encrypted)
        # Streamed from a pipe: zip64 local headers and data descriptors, as `zip -` writes.
        streamed = subprocess.run(["zip", "-q", "-X", "-", "-"], input=sample(4000, 8),
                                  check=True, stdout=subprocess.PIPE, env=env).stdout
        write("streamed.zip", fixed_dos_time(streamed))


if __name__ == "__main__":
    main()
