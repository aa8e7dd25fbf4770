#!/usr/bin/env python3
"""Wraps one layer blob (tar, tar.gz or tar.zst) into an OCI image layout with a single-layer image, for timing
one large layer through `layerstats scan`. Usage: one-layer-image.py LAYER_BLOB DIFF_ID_SOURCE_TAR OUT_DIR
(the diff_id is the SHA-256 of the uncompressed tar, read from DIFF_ID_SOURCE_TAR)."""
import hashlib, json, os, shutil, sys

blob, tar, out = sys.argv[1:4]

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()

os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
layer_digest = sha256_file(blob)
layer_path = f"{out}/blobs/sha256/{layer_digest}"
if not os.path.exists(layer_path):
    try:
        os.link(blob, layer_path)
    except OSError:
        shutil.copyfile(blob, layer_path)
media = {".gz": "application/vnd.oci.image.layer.v1.tar+gzip", ".zst": "application/vnd.oci.image.layer.v1.tar+zstd"}.get(
    os.path.splitext(blob)[1], "application/vnd.oci.image.layer.v1.tar")

def put(obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    d = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return d, len(data)

config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha256_file(tar)]},
          "config": {}, "history": [{"created_by": "one-layer-image.py"}]}
cd, cs = put(config)
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": cs},
            "layers": [{"mediaType": media, "digest": "sha256:" + layer_digest, "size": os.path.getsize(blob)}]}
md, ms = put(manifest)
with open(f"{out}/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [{"mediaType": manifest["mediaType"], "digest": "sha256:" + md, "size": ms,
                              "annotations": {"org.opencontainers.image.ref.name": "one-layer:latest"}}]}, f)
with open(f"{out}/oci-layout", "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
