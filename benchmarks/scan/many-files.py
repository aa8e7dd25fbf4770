#!/usr/bin/env python3
"""Writes an OCI layout holding one image of one gzip layer with FILES tiny regular files (default a million),
streamed: tar -> SHA-256 (diff_id) -> gzip -> SHA-256 (digest) -> file, nothing held in memory.

usage: benchmarks/scan/many-files.py DIR [--files N] [--seed S] [--base-layer]

--base-layer: a 2-layer image: first a small base layer (2,000 files under usr/lib/base/ plus a few directories),
then the layer of FILES files, which also rewrites 10 base files (f000000-f000009) and whites out one (f000010):
hidden bytes = the sizes of those 11 base files. Used for the per-image analysis memory of images of >= 2 layers
(benchmarks/README.md, "Per-image analysis memory").

Layout: DIR/oci-layout, DIR/index.json (ref name "many-files:N"), DIR/blobs/sha256/... Paths are
d0000/d000/f000000.txt (1,000 files per leaf directory); contents are 0-199 bytes drawn from a small alphabet, so a
share of them are equal (file-level duplicates); every 10th file is empty. Used for the peak-RSS target of issue 5
(benchmarks/README.md, "Whole scan").
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import tarfile


class HashingWriter(io.RawIOBase):
    """Writes through to `inner`, hashing and counting the bytes."""

    def __init__(self, inner):
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self):
        return True

    def write(self, b):
        self.sha.update(b)
        self.size += len(b)
        self.inner.write(b)
        return len(b)


def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--base-layer", action="store_true", help="write a 2-layer image: a small base layer, then the files")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    layout = args.dir
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    layers = []
    if args.base_layer:
        layers.append(write_layer(layout, lambda tar: write_base(tar, rng)))
    layers.append(write_layer(layout, lambda tar: write_files(tar, rng, args.files, args.base_layer)))
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id for _, _, diff_id, _ in layers]},
        "history": [{"created_by": f"many-files.py --files {args.files}"}],
    }, separators=(",", ":")).encode()
    config_digest, config_size = blob(layout, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}
                   for digest, size, _, _ in layers],
    }, separators=(",", ":")).encode()
    manifest_digest, manifest_size = blob(layout, manifest)
    name = f"many-files:{args.files}" + ("-2layers" if args.base_layer else "")
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": name}}]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    for digest, size, _, tar_size in layers:
        print(f"{layout}: layer tar {tar_size} bytes, gzip {size} bytes, {digest}")
    print(f"{layout}: {args.files} files{' over a base layer' if args.base_layer else ''}")


def write_layer(layout, fill):
    """Streams one gzip layer blob written by fill(tar); returns (digest, gzip size, diff_id, tar size)."""
    tmp = os.path.join(layout, "blobs", "layer.tmp")
    with open(tmp, "wb") as raw:
        compressed = HashingWriter(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=1, mtime=0) as gz:
            tar_out = HashingWriter(gz)
            with tarfile.open(fileobj=tar_out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                fill(tar)
    digest = "sha256:" + compressed.sha.hexdigest()
    os.replace(tmp, os.path.join(layout, "blobs", "sha256", digest[7:]))
    return digest, compressed.size, "sha256:" + tar_out.sha.hexdigest(), tar_out.size


def add_dir(tar, path):
    info = tarfile.TarInfo(path)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def add_file(tar, path, data):
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_base(tar, rng):
    for d in ("etc", "usr", "usr/lib", "usr/lib/base", "var", "tmp"):
        add_dir(tar, d)
    for i in range(2000):
        add_file(tar, f"usr/lib/base/f{i:06d}", bytes(rng.choice(b"xyz\n") for _ in range(rng.randrange(1, 4000))))


def write_files(tar, rng, files, over_base):
    dirs = set()
    for i in range(files):
        top, mid = f"d{i // 1_000_000:04d}", f"d{(i // 1000) % 1000:03d}"
        for d in (top, f"{top}/{mid}"):
            if d not in dirs:
                dirs.add(d)
                add_dir(tar, d)
        size = 0 if i % 10 == 0 else rng.randrange(1, 200)
        add_file(tar, f"{top}/{mid}/f{i:06d}.txt", bytes(rng.choice(b"ab\n") for _ in range(size)))
    if over_base:
        for i in range(10):
            add_file(tar, f"usr/lib/base/f{i:06d}", b"rewritten\n")
        add_file(tar, "usr/lib/base/.wh.f000010", b"")


if __name__ == "__main__":
    main()
