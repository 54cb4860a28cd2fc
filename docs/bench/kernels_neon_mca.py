#!/usr/bin/env python3
"""llvm-mca estimates of the NEON tile kernels' block loops (docs/bench/kernels-neon.md).

For each version (a git revision, or "." for the work tree), kernel set and weight type, compiles
gemm/gemm_neon_mca.c around that version's gemm/gemm_neon.c with aarch64-linux-gnu-gcc -O3 -S (meson's
release build), takes from each mca_<type>_n<n> function its outermost loop (the block loop: one weight
block of R rows against T activation rows), and runs llvm-mca on it. Prints one markdown table per core:
cycles per loop iteration, per weight block against all n rows (iteration * tiles / R), and per int8
multiply-accumulate (per block / (block elements * n)).

Usage: docs/bench/kernels_neon_mca.py [--mca PATH] [REV ...]   (default revisions: 1449199 .)
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SETS = [("neon", 0, "armv8-a"), ("neon-dotprod", 1, "armv8.2-a+dotprod"),
        ("neon-i8mm", 2, "armv8.2-a+dotprod+i8mm")]
TYPES = [("q4_0", 32), ("q8_0", 32), ("q4_k", 256), ("q6_k", 256)]
NS = [1, 2, 4, 8]
# Which sets each core has: cortex-a76 and neoverse-n1 are Armv8.2 with dotprod, neoverse-v1 also has
# i8mm, cortex-a55 (the little core) has dotprod but not i8mm.
CORES = {"cortex-a76": ["neon", "neon-dotprod"], "neoverse-n1": ["neon", "neon-dotprod"],
         "neoverse-v1": ["neon", "neon-dotprod", "neon-i8mm"], "cortex-a55": ["neon", "neon-dotprod"]}
BRANCH = re.compile(r"^\s*(b\.?(?:eq|ne|[lg][te]|hi|hs|lo|ls|mi|pl|cc|cs|vs|vc)|cbn?z|tbn?z)\s.*?(\.L\w+)\s*$")


def sh(cmd):
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(cmd)}\n{run.stderr}")
    return run.stdout


def checkout(rev, tmp):
    if rev == ".":
        return ROOT
    dst = os.path.join(tmp, rev)
    os.makedirs(dst, exist_ok=True)
    tar = subprocess.run(["git", "-C", ROOT, "archive", rev, "gemm", "common", "include"], check=True,
                         capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dst], input=tar, check=True)
    return dst


def compile_asm(src, level, march, tmp, tag):
    """The harness's assembly for one version and set; None where the version lacks the set."""
    kernel = open(os.path.join(src, "gemm", "gemm_neon.c")).read()
    has_levels = "SD_NEON_LEVEL" in kernel
    if not has_levels and level == 2:
        return None  # no i8mm set then: the dotprod set ran on such a core
    packed = re.search(r"\*packed;", open(os.path.join(src, "gemm", "tile_driver.h")).read()) is not None
    out = os.path.join(tmp, f"{tag}-{level}.s")
    sh(["aarch64-linux-gnu-gcc", "-std=c11", "-O3", "-D_GNU_SOURCE", "-ffp-contract=off", f"-march={march}",
        f"-DSD_NEON_LEVEL={level}", f"-DMCA_PACKED={int(packed)}", f'-DMCA_SRC="{src}/gemm/gemm_neon.c"',
        f"-I{src}", f"-I{src}/include", f"-I{src}/gemm", "-w", "-S",
        os.path.join(ROOT, "gemm", "gemm_neon_mca.c"), "-o", out])
    return open(out).read()


def functions(asm):
    """name -> list of lines, for the mca_* functions."""
    out, name = {}, None
    for line in asm.splitlines():
        m = re.match(r"^(mca_\w+):", line)
        if m:
            name = m.group(1)
            out[name] = []
        elif name and line.strip().startswith(".size"):
            name = None
        elif name:
            out[name].append(line)
    return out


def block_loop(lines):
    """The outermost loop's instructions, the shape comment's (R, T, tiles), and whether an inner loop
    hides in it (llvm-mca would then count its body once per outer iteration: flagged in the table)."""
    labels = {}
    for i, line in enumerate(lines):
        m = re.match(r"^(\.L\w+):", line)
        if m:
            labels[m.group(1)] = i
    loops = []
    for i, line in enumerate(lines):
        m = BRANCH.match(line)  # a loop's latch is conditional; an unconditional b returns from cold code
        if m and m.group(2) in labels and labels[m.group(2)] < i:
            loops.append((labels[m.group(2)], i))
    shape = next(re.findall(r"R=#?(\d+) T=#?(\d+) tiles=#?(\d+)", l)[0] for l in lines if "mca-shape" in l)
    start, end = max(loops, key=lambda se: se[1] - se[0])
    inner = any(s > start and e < end for s, e in loops)
    body = [l for l in lines[start:end + 1]
            if l.strip() and not l.strip().startswith((".", "//")) and not re.match(r"^\.L\w+:", l)]
    return body, tuple(int(v) for v in shape), inner


def mca_cycles(mca, cpu, body, tmp):
    path = os.path.join(tmp, "loop.s")
    with open(path, "w") as f:
        f.write("\n".join(body) + "\n")
    iters = 200
    out = sh([mca, "-mtriple=aarch64", f"-mcpu={cpu}", "-mattr=+dotprod,+i8mm", f"-iterations={iters}", path])
    return int(re.search(r"Total Cycles:\s+(\d+)", out).group(1)) / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mca", default="/usr/lib/llvm-19/bin/llvm-mca")
    ap.add_argument("revs", nargs="*", default=["1449199", "."])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        loops = {}  # (rev, set, type, n) -> (body, shape, inner)
        for rev in args.revs:
            src = checkout(rev, tmp)
            for sname, level, march in SETS:
                asm = compile_asm(src, level, march, tmp, rev.replace("/", "_").replace(".", "wt"))
                if asm is None:
                    continue
                fns = functions(asm)
                for tname, _ in TYPES:
                    for n in NS:
                        loops[(rev, sname, tname, n)] = block_loop(fns[f"mca_{tname}_n{n}"])
        for cpu, sets in CORES.items():
            print(f"\n### {cpu}\n")
            head = " | ".join(f"n={n}" for n in NS)
            print(f"| set | type | version | {head} |")
            print("|---|---|---|" + "---|" * len(NS))
            for sname in sets:
                for tname, elems in TYPES:
                    for rev in args.revs:
                        key_set = sname
                        if (rev, sname, tname, 1) not in loops:
                            key_set = "neon-dotprod"  # before the i8mm set: what ran on an i8mm core
                        cells = []
                        for n in NS:
                            body, (R, T, tiles), inner = loops[(rev, key_set, tname, n)]
                            it = mca_cycles(args.mca, cpu, body, tmp)
                            per_block = it * tiles / R
                            cells.append(f"{it:.1f} / {per_block:.1f} / {per_block / (elems * n):.3f}"
                                         + (" (inner loop)" if inner else ""))
                        name = "work tree" if rev == "." else rev
                        print(f"| {sname} | {tname} | {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
