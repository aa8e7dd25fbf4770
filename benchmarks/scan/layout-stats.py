#!/usr/bin/env python3
"""Prints one TSV line about an OCI image layout: images, distinct layers, their tar bytes (decompressed, streamed:
gzip by zlib, zstd by `zstd -dc`) and their compressed bytes. Used by benchmarks/scan/large-cases.sh for MB/s.

usage: benchmarks/scan/layout-stats.py LAYOUT_DIR
"""
import json
import os
import subprocess
import sys
import zlib


def tar_bytes(path, media_type):
    if media_type.endswith("+zstd"):
        with subprocess.Popen(["zstd", "-qdc", path], stdout=subprocess.PIPE) as p:
            n = sum(len(chunk) for chunk in iter(lambda: p.stdout.read(1 << 20), b""))
        if p.returncode != 0:
            raise SystemExit(f"zstd failed on {path}")
        return n
    if not media_type.endswith("+gzip"):
        return os.path.getsize(path)
    n = 0
    d = zlib.decompressobj(wbits=31)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += len(d.decompress(chunk))
            while d.unused_data:                      # a further gzip member
                rest, d = d.unused_data, zlib.decompressobj(wbits=31)
                n += len(d.decompress(rest))
    return n + len(d.flush())


def main():
    layout = sys.argv[1]
    blob = lambda digest: os.path.join(layout, "blobs", *digest.split(":"))
    with open(os.path.join(layout, "index.json")) as f:
        manifests = json.load(f)["manifests"]
    layers = {}
    for m in manifests:
        with open(blob(m["digest"])) as f:
            for layer in json.load(f)["layers"]:
                layers[layer["digest"]] = (layer["mediaType"], layer["size"])
    tar = sum(tar_bytes(blob(d), media) for d, (media, _) in layers.items())
    print(f"{len(manifests)}\t{len(layers)}\t{tar}\t{sum(size for _, size in layers.values())}")


if __name__ == "__main__":
    main()
