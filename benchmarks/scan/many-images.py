#!/usr/bin/env python3
"""Writes one OCI layout holding IMAGES images (default 5,000) built like a fleet: BASES base images of two layers
each (an OS layer and a runtime layer of a few hundred small files), and on every image two small layers of its own
(an app layer of ~20 files, some of them copies of base files, one overwriting a base file; and a config layer).
Configs carry an environment, labels and a history line per layer (~2-3 KB each, as real ones). For issue 5's
"peak RSS <= 256 MB for a scan of thousands of images" (benchmarks/README.md, "Thousands of images").

usage: benchmarks/scan/many-images.py DIR [--images N] [--bases B] [--seed S]

Deterministic for given arguments. Layers are gzip (level 1, mtime 0); every blob is written once.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import tarfile


def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return "sha256:" + digest, len(data)


def layer(layout, files):
    """files: list of (path, bytes). Returns (digest, size, diff_id)."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for path, data in files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    raw = tar_bytes.getvalue()
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    compressed = gzip.compress(raw, compresslevel=1, mtime=0)
    digest, size = blob(layout, compressed)
    return digest, size, diff_id


def text(rng, n):
    words = [b"lib", b"usr", b"config", b"value", b"the", b"data", b"module", b"init", b"\n"]
    return b" ".join(rng.choice(words) for _ in range(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--bases", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    layout = args.dir
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)

    bases = []
    for b in range(args.bases):
        os_files = [(f"usr/lib/os{b}/f{i:04d}.so", text(rng, rng.randrange(20, 400))) for i in range(300)]
        os_files.append(("etc/os-release", f"ID=base{b}\n".encode()))
        runtime_files = [(f"opt/runtime{b}/m{i:04d}.py", text(rng, rng.randrange(10, 200))) for i in range(200)]
        bases.append((layer(layout, os_files), layer(layout, runtime_files), os_files))

    manifests = []
    for n in range(args.images):
        b = rng.randrange(args.bases) if n >= args.bases else n
        (os_layer, runtime_layer, os_files) = bases[b]
        app = [(f"app/src/s{i:03d}.py", text(rng, rng.randrange(5, 100)) + f"# image {n}\n".encode()) for i in range(18)]
        app.append(("app/vendored.so", os_files[rng.randrange(300)][1]))        # a copy of a base file: a duplicate
        app.append(("etc/os-release", f"ID=base{b}\nIMAGE={n}\n".encode()))      # overwrites a base file: hidden bytes
        app_layer = layer(layout, app)
        conf_layer = layer(layout, [("app/config.json", json.dumps({"image": n, "replicas": 1 + n % 5}).encode())])
        layers = [os_layer, runtime_layer, app_layer, conf_layer]
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "created": "2026-11-01T00:00:00Z",
            "config": {
                "Env": [f"PATH=/usr/local/bin:/usr/bin:/bin", f"APP_NAME=app{n}", "LANG=C.UTF-8", f"RUNTIME=runtime{b}"],
                "Entrypoint": ["/opt/runtime/bin/run"], "Cmd": ["app/main.py"], "WorkingDir": "/app",
                "Labels": {f"org.opencontainers.image.{k}": f"{k}-value-{n}" for k in
                           ("title", "description", "source", "revision", "version", "vendor", "licenses", "url")},
            },
            "rootfs": {"type": "layers", "diff_ids": [l[2] for l in layers]},
            "history": [
                {"created": "2026-10-01T00:00:00Z", "created_by": f"/bin/sh -c #(nop) ADD file:{'%064x' % b} in / "},
                {"created": "2026-10-02T00:00:00Z", "created_by": f"RUN /bin/sh -c apt-get update && apt-get install -y runtime{b} && rm -rf /var/lib/apt/lists/* # buildkit"},
                {"created": "2026-11-01T00:00:00Z", "created_by": "COPY app/ /app/ # buildkit"},
                {"created": "2026-11-01T00:00:00Z", "created_by": "COPY config.json /app/config.json # buildkit"},
            ],
        }, separators=(",", ":")).encode()
        config_digest, config_size = blob(layout, config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l[0], "size": l[1]} for l in layers],
        }, separators=(",", ":")).encode()
        manifest_digest, manifest_size = blob(layout, manifest)
        manifests.append({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": f"app{n}:1.0"}})

    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": manifests}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(f"{layout}: {args.images} images on {args.bases} bases, {2 * args.bases + 2 * args.images} distinct layers")


if __name__ == "__main__":
    main()
