#!/usr/bin/env python3
"""Writes an OCI layout holding one image of one gzip layer with FILES tiny regular files (default a million),
streamed: tar -> SHA-256 (diff_id) -> gzip -> SHA-256 (digest) -> file, nothing held in memory.

usage: benchmarks/scan/many-files.py DIR [--files N] [--seed S]

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
    args = ap.parse_args()
    rng = random.Random(args.seed)
    layout = args.dir
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    tmp = os.path.join(layout, "blobs", "layer.tmp")
    with open(tmp, "wb") as raw:
        compressed = HashingWriter(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=1, mtime=0) as gz:
            tar_out = HashingWriter(gz)
            with tarfile.open(fileobj=tar_out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                dirs = set()
                for i in range(args.files):
                    top, mid = f"d{i // 1_000_000:04d}", f"d{(i // 1000) % 1000:03d}"
                    for d in (top, f"{top}/{mid}"):
                        if d not in dirs:
                            dirs.add(d)
                            info = tarfile.TarInfo(d)
                            info.type = tarfile.DIRTYPE
                            info.mode = 0o755
                            tar.addfile(info)
                    size = 0 if i % 10 == 0 else rng.randrange(1, 200)
                    data = bytes(rng.choice(b"ab\n") for _ in range(size))
                    info = tarfile.TarInfo(f"{top}/{mid}/f{i:06d}.txt")
                    info.size = size
                    info.mode = 0o644
                    tar.addfile(info, io.BytesIO(data))
    digest = "sha256:" + compressed.sha.hexdigest()
    diff_id = "sha256:" + tar_out.sha.hexdigest()
    os.replace(tmp, os.path.join(layout, "blobs", "sha256", digest[7:]))
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": f"many-files.py --files {args.files}"}],
    }, separators=(",", ":")).encode()
    config_digest, config_size = blob(layout, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": compressed.size}],
    }, separators=(",", ":")).encode()
    manifest_digest, manifest_size = blob(layout, manifest)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": f"many-files:{args.files}"}}]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(f"{layout}: {args.files} files, tar {tar_out.size} bytes, gzip {compressed.size} bytes, {digest}")


if __name__ == "__main__":
    main()
