#!/usr/bin/env python3
"""Writes an OCI layout holding one image of ONE large layer, streamed: tar -> SHA-256 (diff_id) -> `pigz` (and
`zstd`) -> file, nothing held in memory. For issue 5's large cases (benchmarks/scan/large-cases.sh).

usage: benchmarks/scan/big-layer.py DIR [--tar-bytes N] [--one-file N] [--zstd] [--seed S] [--level L]

Default (a realistic big layer): ~N bytes of tar (default 2e9) of files of mixed sizes under nested directories
(d000/d00/...; ~100 files a directory): mostly 16 B - 256 KiB (log-uniform), 1 % of them 1-32 MiB, a few empty.
Contents are of three kinds, like a real layer's: text (~55 % of files: lines of words drawn with a Zipf law from a
vocabulary, gzip -6 ~4.9x), binaries (~30 %: 4 KiB blocks, 40 % of them random, the others text) and already
compressed data (~15 %: random bytes). The layer compresses ~2-3x with gzip, as real ones do.
--one-file N: instead, a layer of one N-byte regular file (big/blob.bin, semi-compressible: 256 KiB blocks, 40 % of
them random, the others text) and a few small files.

Content is cut from two pools made once from the seed (12 MB of text, 32 MiB of random bytes), at random offsets,
so files are distinct and gzip (32 KiB window) cannot exploit the repetition. Deterministic for given arguments.

Writes DIR/gzip (an OCI layout, ref name "big-layer:latest"; gzip by `pigz -n -L`) and with --zstd also DIR/zstd
(the same tar by `zstd -3 -T0`, so the same diff_id), and DIR/layer.tsv: tar bytes, tar entries, regular files,
diff_id, then per layout its compression, blob path and blob bytes.
"""
import argparse
import hashlib
import itertools
import json
import math
import os
import random
import subprocess
import tarfile

TEXT_POOL_LINES = 300_000
RANDOM_POOL_BYTES = 32 << 20


class Tee:
    """The tar's output: hashed, counted, and written to every compressor's stdin."""

    def __init__(self, sinks):
        self.sinks = sinks
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, b):
        self.sha.update(b)
        self.size += len(b)
        for sink in self.sinks:
            sink.write(b)
        return len(b)

    def tell(self):
        return self.size


class Content:
    """A file's bytes, made on demand from chunks (kind, length) cut at random offsets of the pools."""

    def __init__(self, pools, rng, chunks):
        self.pools = pools
        self.rng = rng
        self.chunks = iter(chunks)
        self.pending = memoryview(b"")
        self.pos = 0

    def read(self, n):
        if len(self.pending) - self.pos < n:
            parts = [self.pending[self.pos:]]
            have = len(parts[0])
            while have < n:
                chunk = next(self.chunks, None)
                if chunk is None:
                    break
                kind, length = chunk
                pool = self.pools[kind]
                start = self.rng.randrange(len(pool) - length + 1)
                parts.append(pool[start:start + length])
                have += length
            self.pending, self.pos = memoryview(b"".join(parts)), 0
        data = self.pending[self.pos:self.pos + n]
        self.pos += len(data)
        return data


def make_pools(rng):
    alphabet = b"abcdefghijklmnopqrstuvwxyz"
    vocab = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(2, 10))) for _ in range(3000)]
    zipf = list(itertools.accumulate(1 / (r + 1) for r in range(len(vocab))))
    lines = [b" " * (4 * rng.randrange(4)) + b" ".join(rng.choices(vocab, cum_weights=zipf, k=rng.randrange(2, 10)))
             + b"\n" for _ in range(20000)]
    line_zipf = list(itertools.accumulate(1 / (r + 1) for r in range(len(lines))))
    text = b"".join(rng.choices(lines, cum_weights=line_zipf, k=TEXT_POOL_LINES))
    return {"text": text, "random": rng.randbytes(RANDOM_POOL_BYTES)}


def split(size, block, kinds):
    """Chunks of a file of `size` bytes: `block`-sized pieces, each of a kind drawn by kinds() (at most 1 MiB each)."""
    block = min(block, 1 << 20)
    for offset in range(0, size, block):
        yield kinds(), min(block, size - offset)


def add_dir(tar, path):
    info = tarfile.TarInfo(path)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def add_file(tar, path, size, content, mode=0o644):
    info = tarfile.TarInfo(path)
    info.size = size
    info.mode = mode
    tar.addfile(info, content)


def write_mixed(tar, rng, pools, tar_bytes):
    """Files of mixed sizes and kinds until the tar holds ~tar_bytes. Returns (entries, regular files)."""
    entries = files = 0
    dirs = set()
    while tar.fileobj.tell() < tar_bytes:
        i = files
        directory = f"d{i // 10000:03d}/d{(i // 100) % 100:02d}"
        for d in (directory.split("/")[0], directory):
            if d not in dirs:
                dirs.add(d)
                add_dir(tar, d)
                entries += 1
        if rng.random() < 0.01:
            size = int(math.exp(rng.uniform(math.log(1 << 20), math.log(32 << 20))))
        elif rng.random() < 0.02:
            size = 0
        else:
            size = int(math.exp(rng.uniform(math.log(16), math.log(256 << 10))))
        kind = rng.random()
        if kind < 0.55:
            name, chunks = f"f{i:07d}.txt", split(size, 1 << 20, lambda: "text")
        elif kind < 0.85:
            name, chunks = f"f{i:07d}.so", split(size, 4096, lambda: "random" if rng.random() < 0.4 else "text")
        else:
            name, chunks = f"f{i:07d}.gz", split(size, 1 << 20, lambda: "random")
        add_file(tar, f"{directory}/{name}", size, Content(pools, rng, chunks), 0o755 if name.endswith(".so") else 0o644)
        entries += 1
        files += 1
    return entries, files


def write_one_file(tar, rng, pools, size):
    """A few small files and one file of `size` bytes. Returns (entries, regular files)."""
    for d in ("etc", "usr", "usr/share", "usr/share/doc", "big"):
        add_dir(tar, d)
    small = [("etc/os-release", 200), ("etc/hostname", 12), ("usr/share/doc/README", 5000), ("usr/share/doc/NOTES", 30000)]
    for path, n in small:
        add_file(tar, path, n, Content(pools, rng, split(n, 1 << 20, lambda: "text")))
    add_file(tar, "big/blob.bin", size,
             Content(pools, rng, split(size, 256 << 10, lambda: "random" if rng.random() < 0.4 else "text")))
    return 5 + len(small) + 1, len(small) + 1


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest(), os.path.getsize(path)


def put(layout, obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def write_layout(layout, tmp_blob, media_type, diff_id, created_by):
    digest, size = sha256_file(tmp_blob)
    blob_path = os.path.join(layout, "blobs", "sha256", digest[7:])
    os.replace(tmp_blob, blob_path)
    config = put(layout, {"architecture": "amd64", "os": "linux", "config": {},
                          "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                          "history": [{"created_by": created_by}]})
    manifest = put(layout, {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                            "layers": [{"mediaType": media_type, "digest": digest, "size": size}]})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest,
                                  "annotations": {"org.opencontainers.image.ref.name": "big-layer:latest"}}]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return blob_path, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--tar-bytes", type=float, default=2e9, help="the mixed layer's tar size (default 2e9)")
    ap.add_argument("--one-file", type=float, help="a layer of one file of this many bytes instead")
    ap.add_argument("--zstd", action="store_true", help="also write DIR/zstd, the same tar compressed by zstd")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--level", type=int, default=6, help="pigz level (default 6, gzip's default)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    pools = make_pools(rng)

    variants = [("gzip", "application/vnd.oci.image.layer.v1.tar+gzip", ["pigz", "-n", f"-{args.level}", "-c"])]
    if args.zstd:
        variants.append(("zstd", "application/vnd.oci.image.layer.v1.tar+zstd", ["zstd", "-3", "-T0", "-q", "-c"]))
    procs = []
    for name, _, command in variants:
        os.makedirs(os.path.join(args.dir, name, "blobs", "sha256"), exist_ok=True)
        out = open(os.path.join(args.dir, name, "blobs", "layer.tmp"), "wb")
        procs.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out))
        out.close()
    tee = Tee([p.stdin for p in procs])
    with tarfile.open(fileobj=tee, mode="w", format=tarfile.PAX_FORMAT, copybufsize=1 << 20) as tar:
        if args.one_file is not None:
            entries, files = write_one_file(tar, rng, pools, int(args.one_file))
        else:
            entries, files = write_mixed(tar, rng, pools, int(args.tar_bytes))
    for p in procs:
        p.stdin.close()
        if p.wait() != 0:
            raise SystemExit(f"{p.args[0]} failed: exit code {p.returncode}")
    diff_id = "sha256:" + tee.sha.hexdigest()

    created_by = "big-layer.py " + (f"--one-file {int(args.one_file)}" if args.one_file is not None
                                    else f"--tar-bytes {int(args.tar_bytes)}") + f" --seed {args.seed}"
    row = [str(tee.size), str(entries), str(files), diff_id]
    for name, media_type, _ in variants:
        layout = os.path.join(args.dir, name)
        blob_path, size = write_layout(layout, os.path.join(layout, "blobs", "layer.tmp"), media_type, diff_id, created_by)
        row += [name, blob_path, str(size)]
        print(f"{layout}: tar {tee.size} bytes ({entries} entries, {files} files), {name} {size} bytes "
              f"({tee.size / size:.2f}x)")
    with open(os.path.join(args.dir, "layer.tsv"), "w") as f:
        f.write("tar_bytes\tentries\tfiles\tdiff_id\tcompression\tblob\tblob_bytes\t...\n")
        f.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
