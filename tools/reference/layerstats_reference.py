#!/usr/bin/env python3
"""Independent reference implementation of the LayerStats figures (DESIGN.md section 3).

Standard library only (plus the `zstd` command for zstd layers). It shares no code with the C# tool;
it exists so that the tool's figures can be checked against a second, deliberately plain method.

    python3 tools/reference/layerstats_reference.py [--platform os/arch[/variant]] INPUT... > expected.json

INPUT: a legacy `docker save` tarball, a Docker 25+ `docker save` tarball (OCI layout inside), an OCI
layout directory, an OCI layout tar, or any of these tars gzipped. See README.md beside this file.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field

CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

INDEX_MEDIA_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
MANIFEST_MEDIA_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
}
IMAGE_CONFIG_MEDIA_TYPES = {
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
}

# tar type flags that carry a regular file's bytes (GNU sparse included: tarfile expands it).
REGULAR_TYPES = {tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE}

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class RefError(Exception):
    """Anything that makes the figures uncomputable: the reference fails loudly."""


# ----------------------------------------------------------------------------------------------
# small stream helpers


class HashingReader:
    """Wraps a binary reader; hashes (sha256) and counts every byte read through it."""

    def __init__(self, inner):
        self._inner = inner
        self.sha256 = hashlib.sha256()
        self.count = 0

    def read(self, n=-1):
        data = self._inner.read() if n is None or n < 0 else self._inner.read(n)
        self.sha256.update(data)
        self.count += len(data)
        return data

    def drain(self):
        while self.read(CHUNK):
            pass

    def digest(self):
        return "sha256:" + self.sha256.hexdigest()


class PrefixedReader:
    """Replays bytes already read (a magic-number peek) before the rest of the inner reader."""

    def __init__(self, prefix, inner):
        self._prefix = prefix
        self._inner = inner

    def read(self, n=-1):
        if n is None or n < 0:
            data, self._prefix = self._prefix + self._inner.read(), b""
            return data
        if self._prefix:
            data, self._prefix = self._prefix[:n], self._prefix[n:]
            if len(data) < n:
                data += self._inner.read(n - len(data))
            return data
        return self._inner.read(n)


def sha256_bytes(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest_syntax(digest, what):
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise RefError(f"{what}: unsupported or malformed digest {digest!r} (only sha256:<64 hex> is handled)")
    return digest


# ----------------------------------------------------------------------------------------------
# sources: where named files / blobs come from


class DirSource:
    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.label = root

    def _path(self, rel):
        full = os.path.realpath(os.path.join(self.root, rel))
        if full != self.root and not full.startswith(self.root + os.sep):
            raise RefError(f"{self.label}: path {rel!r} escapes the layout directory")
        return full

    def exists(self, rel):
        return os.path.isfile(self._path(rel))

    def open(self, rel):
        try:
            return open(self._path(rel), "rb")
        except OSError as e:
            raise RefError(f"{self.label}: cannot open {rel!r}: {e}") from e

    def read(self, rel):
        with self.open(rel) as f:
            return f.read()

    def close(self):
        pass


def normalise_archive_name(name):
    while name.startswith("./") or name.startswith("/"):
        name = name[2:] if name.startswith("./") else name[1:]
    return name.rstrip("/")


class TarSource:
    """Random access to the members of an (uncompressed) outer tar."""

    def __init__(self, path, label):
        self.label = label
        try:
            self._tf = tarfile.open(path, "r:")
        except tarfile.TarError as e:
            raise RefError(f"{label}: not a tar archive: {e}") from e
        self._members = {}
        for m in self._tf.getmembers():
            self._members[normalise_archive_name(m.name)] = m

    def exists(self, rel):
        m = self._members.get(normalise_archive_name(rel))
        return m is not None and (m.isreg() or m.issym() or m.islnk())

    def open(self, rel):
        m = self._members.get(normalise_archive_name(rel))
        if m is None:
            raise RefError(f"{self.label}: archive has no member {rel!r}")
        try:
            f = self._tf.extractfile(m)  # follows symlinks / hardlinks inside the archive
        except (KeyError, tarfile.TarError) as e:
            raise RefError(f"{self.label}: cannot open member {rel!r}: {e}") from e
        if f is None:
            raise RefError(f"{self.label}: member {rel!r} is not a file")
        return f

    def read(self, rel):
        with self.open(rel) as f:
            return f.read()

    def close(self):
        self._tf.close()


# ----------------------------------------------------------------------------------------------
# model


@dataclass
class LayerRef:
    source: object
    path: str
    declared_digest: str | None  # None for legacy docker save (the digest is computed)
    declared_size: int | None
    expected_diff_id: str
    cache_key: tuple


@dataclass
class Entry:
    raw_name: str   # name as tarfile reports it (for the dive replica)
    name: str       # normalised: no leading "./" or "/", no trailing "/"
    kind: str       # file | dir | whiteout | opaque | meta | other
    size: int       # tar header size (expanded size for sparse files)
    go_isdir: bool  # what Go's tar.Header.FileInfo().IsDir() would say (dive replica)
    content: tuple | None = None  # (sha256 hex, size) for kind == file
    target: str | None = None     # whiteout: the deleted path; opaque: the directory


@dataclass
class LayerData:
    blob_digest: str
    blob_size: int
    diff_id: str
    tar_size: int
    entries: list


@dataclass
class Image:
    image_id: str
    config_digest: str
    layer_refs: list
    label: str
    layers: list = field(default_factory=list)  # LayerData, filled when read


# ----------------------------------------------------------------------------------------------
# reading a layer: decompress (by magic bytes), hash, walk the tar in stream mode


def classify(tarinfo):
    name = normalise_archive_name(tarinfo.name)
    if name == ".":
        name = ""
    base = name.rsplit("/", 1)[-1]
    parent = name.rsplit("/", 1)[0] if "/" in name else ""
    go_isdir = tarinfo.type == tarfile.DIRTYPE or (tarinfo.mode & ~0o7777) == 0o040000
    if base.startswith(WHITEOUT_PREFIX):
        if base == OPAQUE_MARKER:
            return Entry(tarinfo.name, name, "opaque", tarinfo.size, go_isdir, target=parent)
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            # other aufs meta files (.wh..wh.plnk, .wh..wh.aufs): whiteout-prefixed, never files, no effect
            return Entry(tarinfo.name, name, "meta", tarinfo.size, go_isdir)
        hidden = base[len(WHITEOUT_PREFIX):]
        if hidden == "":
            return Entry(tarinfo.name, name, "meta", tarinfo.size, go_isdir)  # ".wh." names nothing
        target = f"{parent}/{hidden}" if parent else hidden
        return Entry(tarinfo.name, name, "whiteout", tarinfo.size, go_isdir, target=target)
    if tarinfo.type in REGULAR_TYPES:
        return Entry(tarinfo.name, name, "file", tarinfo.size, go_isdir)
    if tarinfo.type == tarfile.DIRTYPE:
        return Entry(tarinfo.name, name, "dir", tarinfo.size, go_isdir)
    return Entry(tarinfo.name, name, "other", tarinfo.size, go_isdir)


def walk_layer_tar(stream, label):
    """Walks an uncompressed layer tar stream ('r|' mode); returns the entries with file content hashes."""
    entries = []
    try:
        tf = tarfile.open(fileobj=stream, mode="r|")
    except tarfile.ReadError as e:
        if getattr(stream, "count", 1) == 0:
            return entries  # a zero-byte layer: no entries at all
        raise RefError(f"{label}: layer is not a tar stream: {e}") from e
    try:
        for ti in tf:
            e = classify(ti)
            if e.kind == "file":
                if e.name == "":
                    raise RefError(f"{label}: regular file entry with an empty name ({ti.name!r})")
                f = tf.extractfile(ti)
                h = hashlib.sha256()
                n = 0
                while True:
                    chunk = f.read(CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
                    n += len(chunk)
                if n != ti.size:
                    raise RefError(f"{label}: {ti.name!r}: read {n} bytes, header says {ti.size}")
                e.content = (h.hexdigest(), n)
            entries.append(e)
    except tarfile.TarError as e:
        raise RefError(f"{label}: bad layer tar: {e}") from e
    finally:
        tf.close()
    return entries


def read_layer(raw_file, label):
    """Reads one layer blob from raw_file; returns LayerData with every digest computed (not checked)."""
    raw = HashingReader(raw_file)
    magic = raw.read(4)
    prefixed = PrefixedReader(magic, raw)
    if magic[:2] == GZIP_MAGIC:
        gz = gzip.GzipFile(fileobj=prefixed, mode="rb")
        dec = HashingReader(gz)
        try:
            entries = walk_layer_tar(dec, label)
            dec.drain()
        except (OSError, EOFError) as e:  # gzip errors
            raise RefError(f"{label}: bad gzip stream: {e}") from e
        raw.drain()
    elif magic == ZSTD_MAGIC:
        entries, dec = _read_zstd_layer(prefixed, raw, label)
    else:
        dec = HashingReader(prefixed)
        entries = walk_layer_tar(dec, label)
        dec.drain()
    return LayerData(raw.digest(), raw.count, dec.digest(), dec.count, entries)


def _read_zstd_layer(prefixed, raw, label):
    if shutil.which("zstd") is None:
        raise RefError(f"{label}: zstd layer but no `zstd` command (apt-get install -y zstd)")
    proc = subprocess.Popen(["zstd", "-d", "-c", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    feed_error = []

    def feed():
        try:
            while True:
                chunk = prefixed.read(CHUNK)
                if not chunk:
                    break
                proc.stdin.write(chunk)
        except Exception as e:  # noqa: BLE001 - reported after join
            feed_error.append(e)
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    dec = HashingReader(proc.stdout)
    try:
        entries = walk_layer_tar(dec, label)
        dec.drain()
    finally:
        t.join()
        proc.stdout.close()
        rc = proc.wait()
    if rc != 0:
        raise RefError(f"{label}: zstd -d failed (exit {rc})")
    if feed_error:
        raise RefError(f"{label}: feeding zstd failed: {feed_error[0]}")
    raw.drain()
    return entries, dec


# ----------------------------------------------------------------------------------------------
# inputs -> images


def parse_platform(text):
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise RefError(f"--platform {text!r}: expected os/arch[/variant]")
    return tuple(parts) if len(parts) == 3 else (parts[0], parts[1], None)


def platform_matches(config, platform):
    if platform is None:
        return True
    os_, arch, variant = platform
    if config.get("os") != os_ or config.get("architecture") != arch:
        return False
    return variant is None or config.get("variant") == variant


def load_json(data, what):
    try:
        return json.loads(data)
    except ValueError as e:
        raise RefError(f"{what}: not JSON: {e}") from e


def read_blob(source, desc, what):
    digest = check_digest_syntax(desc.get("digest"), what)
    path = "blobs/sha256/" + digest.split(":", 1)[1]
    if not source.exists(path):
        raise RefError(f"{what}: blob {digest} missing from {source.label}")
    data = source.read(path)
    if sha256_bytes(data) != digest:
        raise RefError(f"{what}: blob {path} does not hash to its digest {digest} (got {sha256_bytes(data)})")
    if "size" in desc and desc["size"] != len(data):
        raise RefError(f"{what}: blob {digest} is {len(data)} bytes, descriptor says {desc['size']}")
    return data


def images_from_oci(source, platform, warn):
    index = load_json(source.read("index.json"), f"{source.label}: index.json")
    images = []
    _walk_index(source, index, f"{source.label}: index.json", platform, images, warn, depth=0)
    return images


def _walk_index(source, index, what, platform, images, warn, depth):
    if depth > 16:
        raise RefError(f"{what}: indexes nested too deep")
    for i, desc in enumerate(index.get("manifests") or []):
        dwhat = f"{what} manifests[{i}] {desc.get('digest')}"
        annotations = desc.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        data = read_blob(source, desc, dwhat)
        doc = load_json(data, dwhat)
        media_type = desc.get("mediaType") or doc.get("mediaType")
        if media_type is None:
            media_type = "application/vnd.oci.image.index.v1+json" if "manifests" in doc else \
                "application/vnd.oci.image.manifest.v1+json" if "layers" in doc else None
        if media_type in INDEX_MEDIA_TYPES:
            _walk_index(source, doc, dwhat, platform, images, warn, depth + 1)
        elif media_type in MANIFEST_MEDIA_TYPES:
            img = _image_from_manifest(source, desc["digest"], doc, dwhat, platform, warn)
            if img is not None:
                images.append(img)
        else:
            raise RefError(f"{dwhat}: unsupported manifest media type {media_type!r}")


def _image_from_manifest(source, manifest_digest, manifest, what, platform, warn):
    cdesc = manifest.get("config") or {}
    ctype = cdesc.get("mediaType")
    if ctype is not None and ctype not in IMAGE_CONFIG_MEDIA_TYPES:
        warn(f"{what}: config media type {ctype!r} is not an image config; skipped (an artifact, not an image)")
        return None
    config_data = read_blob(source, cdesc, f"{what} config")
    config = load_json(config_data, f"{what} config")
    if not platform_matches(config, platform):
        return None
    diff_ids = ((config.get("rootfs") or {}).get("diff_ids")) or []
    layers = manifest.get("layers") or []
    if len(diff_ids) != len(layers):
        raise RefError(f"{what}: {len(layers)} layers but {len(diff_ids)} diff_ids in the config")
    refs = []
    for j, (ldesc, diff_id) in enumerate(zip(layers, diff_ids)):
        digest = check_digest_syntax(ldesc.get("digest"), f"{what} layers[{j}]")
        check_digest_syntax(diff_id, f"{what} diff_ids[{j}]")
        path = "blobs/sha256/" + digest.split(":", 1)[1]
        if not source.exists(path):
            raise RefError(f"{what} layers[{j}]: blob {digest} missing from {source.label} "
                           f"(foreign/non-distributable layers are not handled by the reference)")
        refs.append(LayerRef(source, path, digest, ldesc.get("size"), diff_id, ("blob", digest)))
    return Image(manifest_digest, cdesc["digest"], refs, what)


def images_from_legacy(source, platform):
    what = f"{source.label}: manifest.json"
    manifest = load_json(source.read("manifest.json"), what)
    if not isinstance(manifest, list):
        raise RefError(f"{what}: expected a JSON array")
    images = []
    for i, item in enumerate(manifest):
        iwhat = f"{what}[{i}]"
        config_path = item.get("Config")
        if not config_path or not source.exists(config_path):
            raise RefError(f"{iwhat}: config {config_path!r} missing")
        config_data = source.read(config_path)
        config_digest = sha256_bytes(config_data)
        stem = os.path.basename(config_path)
        stem = stem[:-5] if stem.endswith(".json") else stem
        if re.fullmatch(r"[0-9a-f]{64}", stem) and "sha256:" + stem != config_digest:
            raise RefError(f"{iwhat}: config {config_path} hashes to {config_digest}")
        config = load_json(config_data, f"{iwhat} config")
        if not platform_matches(config, platform):
            continue
        diff_ids = ((config.get("rootfs") or {}).get("diff_ids")) or []
        layer_paths = item.get("Layers") or []
        if len(diff_ids) != len(layer_paths):
            raise RefError(f"{iwhat}: {len(layer_paths)} layers but {len(diff_ids)} diff_ids in the config")
        refs = []
        for j, (lpath, diff_id) in enumerate(zip(layer_paths, diff_ids)):
            check_digest_syntax(diff_id, f"{iwhat} diff_ids[{j}]")
            if not source.exists(lpath):
                raise RefError(f"{iwhat}: layer {lpath!r} missing")
            refs.append(LayerRef(source, lpath, None, None, diff_id,
                                 ("path", id(source), normalise_archive_name(lpath))))
        images.append(Image(config_digest, config_digest, refs, iwhat))
    return images


def open_input(path, tmpdir, warn):
    """Returns a source (directory or random-access tar); a gzipped input is decompressed to a temp file."""
    if os.path.isdir(path):
        return DirSource(path)
    if not os.path.isfile(path):
        raise RefError(f"{path}: no such file or directory")
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == GZIP_MAGIC:
        tmp = os.path.join(tmpdir, f"input{len(os.listdir(tmpdir))}.tar")
        try:
            with gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
        except (OSError, EOFError) as e:
            raise RefError(f"{path}: bad gzip: {e}") from e
        return TarSource(tmp, path)
    return TarSource(path, path)


def images_from_input(path, platform, tmpdir, warn, sources):
    source = open_input(path, tmpdir, warn)
    sources.append(source)
    if source.exists("index.json"):
        return images_from_oci(source, platform, warn)
    if source.exists("manifest.json"):
        return images_from_legacy(source, platform)
    raise RefError(f"{path}: neither index.json (OCI layout) nor manifest.json (docker save) found")


def load_images(inputs, platform, warn):
    """All distinct images of all inputs, layers read and every digest verified."""
    images = {}
    layer_cache = {}
    sources = []
    with tempfile.TemporaryDirectory(prefix="layerstats-ref-") as tmpdir:
        try:
            _load(inputs, platform, warn, tmpdir, sources, images, layer_cache)
        finally:
            for source in sources:
                source.close()
    return [images[k] for k in sorted(images)]


def _load(inputs, platform, warn, tmpdir, sources, images, layer_cache):
    """Reads every input; for each new image, reads (or reuses) its layers and checks every digest."""
    for path in inputs:
        for img in images_from_input(path, platform, tmpdir, warn, sources):
            if img.image_id in images:
                continue  # the same image reached twice is one image
            for j, ref in enumerate(img.layer_refs):
                label = f"{img.label} layer[{j}] {ref.path}"
                data = layer_cache.get(ref.cache_key)
                if data is None:
                    with ref.source.open(ref.path) as f:
                        data = read_layer(f, label)
                    layer_cache[ref.cache_key] = data
                if ref.declared_digest is not None and data.blob_digest != ref.declared_digest:
                    raise RefError(f"{label}: blob hashes to {data.blob_digest}, manifest says {ref.declared_digest}")
                if ref.declared_size is not None and data.blob_size != ref.declared_size:
                    raise RefError(f"{label}: blob is {data.blob_size} bytes, manifest says {ref.declared_size}")
                if data.diff_id != ref.expected_diff_id:
                    raise RefError(f"{label}: uncompressed tar hashes to {data.diff_id}, "
                                   f"config diff_id is {ref.expected_diff_id}")
                img.layers.append(data)
            images[img.image_id] = img


# ----------------------------------------------------------------------------------------------
# hidden bytes: for each regular file of layer k, scan the later layers of the same image


def ancestors(path):
    """'a/b/c' -> ['', 'a', 'a/b']: the root ('') and every directory above the path."""
    parts = path.split("/")
    return [""] + ["/".join(parts[:i]) for i in range(1, len(parts))]


@dataclass
class HidingIndex:
    """What one layer does to the layers below it, as sets of normalised paths."""
    present: set        # non-whiteout entries of any type (file, dir, symlink, hardlink, device, ...)
    non_dirs: set       # non-whiteout entries that are not directories
    whiteouts: set      # paths deleted by a .wh.<name> entry
    opaque_dirs: set    # directories holding a .wh..wh..opq entry ('' = the root)


def hiding_index(layer):
    idx = HidingIndex(set(), set(), set(), set())
    for e in layer.entries:
        if e.kind in ("file", "dir", "other") and e.name != "":
            idx.present.add(e.name)
            if e.kind != "dir":
                idx.non_dirs.add(e.name)
        elif e.kind == "whiteout":
            idx.whiteouts.add(e.target)
        elif e.kind == "opaque":
            idx.opaque_dirs.add(e.target)
    return idx


def hidden_by_layer(path, later):
    """Does a later layer (its HidingIndex) hide the lower file at `path`? The four rules of DESIGN.md section 3."""
    above = ancestors(path)
    if path in later.present:
        return True   # (a) replaced at the same path by any non-whiteout entry (a directory included)
    if path in later.whiteouts or any(a in later.whiteouts for a in above):
        return True   # (b) whiteout of the path or of an ancestor
    if any(a in later.opaque_dirs for a in above):
        return True   # (c) opaque whiteout in an ancestor directory (the root included)
    if any(a in later.non_dirs for a in above):
        return True   # (d) an ancestor directory replaced by a non-directory
    return False


def hidden_files(image):
    """Returns [(layer index, path, size)] of the regular files shipped but hidden in the final filesystem."""
    result = []
    layers = image.layers
    indexes = [hiding_index(layer) for layer in layers]
    for k, layer in enumerate(layers):
        for e in layer.entries:
            if e.kind != "file":
                continue
            # each file once; only strictly later layers count (same-layer later entries do not)
            if any(hidden_by_layer(e.name, indexes[k2]) for k2 in range(k + 1, len(layers))):
                result.append((k, e.name, e.size))
    return result


# ----------------------------------------------------------------------------------------------
# dive replica: trees per layer, efficiency / wasted bytes as dive computes them


def go_path_clean(p):
    """Go's path.Clean."""
    if p == "":
        return "."
    rooted = p.startswith("/")
    out = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
        else:
            out.append(part)
    s = "/".join(out)
    if rooted:
        return "/" + s
    return s or "."


def go_sort_key(name):
    return name.encode("utf-8", "surrogateescape")  # Go sorts strings by bytes


class DiveNode:
    __slots__ = ("name", "parent", "children", "size", "isdir")

    def __init__(self, name, parent, size=0, isdir=False):
        self.name = name
        self.parent = parent
        self.children = {}
        self.size = size      # implicit (intermediate) nodes have dive's zero FileInfo: size 0, not a dir
        self.isdir = isdir

    def path(self):
        names = []
        node = self
        while node.parent is not None:
            name = node.name
            if node is self and name.startswith(WHITEOUT_PREFIX):
                name = name[len(WHITEOUT_PREFIX):]  # whiteout prefixes are fictitious on the node itself
            names.append(name)
            node = node.parent
        return "/" + "/".join(reversed(names))

    def is_whiteout(self):
        return self.name.startswith(WHITEOUT_PREFIX)

    def copy(self, parent):
        n = DiveNode(self.name, parent, self.size, self.isdir)
        for name, child in self.children.items():
            n.children[name] = child.copy(n)
        return n

    def child_first(self):
        """Depth-first, children in byte order, a node after its children; the root itself is not yielded."""
        for name in sorted(self.children, key=go_sort_key):
            yield from self.children[name].child_first()
        if self.parent is not None:
            yield self


def dive_split(p):
    return [n for n in p.strip("/").split("/") if n != ""]


def dive_add_path(root, path, size, isdir):
    path = go_path_clean(path)
    if path == ".":
        return
    names = path.strip("/").split("/")
    node = root
    for i, name in enumerate(names):
        if name == "":
            continue
        if name in node.children:
            node = node.children[name]
        else:
            if name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
                return  # opaque markers (and other .wh..wh. names) are never added
            child = DiveNode(name, node)
            node.children[name] = child
            node = child
        if i == len(names) - 1:
            node.size = size
            node.isdir = isdir


def dive_get(root, path):
    node = root
    for name in dive_split(path):
        node = node.children.get(name)
        if node is None:
            return None
    return node


def dive_layer_tree(layer):
    """A layer's tree and dive's size for it (sum of every entry's header size, '.' excluded)."""
    root = DiveNode("", None)
    size = 0
    for e in layer.entries:
        name = go_path_clean(e.raw_name)
        if name == ".":
            continue
        size += e.size
        dive_add_path(root, name, e.size, e.go_isdir)
    return root, size


def dive_stack(lower_root, upper_root):
    for node in upper_root.child_first():
        if node.is_whiteout():
            target = dive_get(lower_root, node.path())
            if target is not None and target.parent is not None:  # dive cannot remove the root either
                del target.parent.children[target.name]
        else:
            dive_add_path(lower_root, node.path(), node.size, node.isdir)


def dive_stack_range(trees, stop):
    """dive's StackTreeRange(trees, 0, stop): a copy of layer 0, then layers 0..stop stacked on it."""
    root = trees[0].copy(None)
    for idx in range(0, stop + 1):
        dive_stack(root, trees[idx])
    return root


class _DiveAbort(Exception):
    pass


def dive_figures(image):
    trees, sizes = [], []
    for layer in image.layers:
        t, s = dive_layer_tree(layer)
        trees.append(t)
        sizes.append(s)
    stacked_cache = {}
    per_path = {}  # path -> [cumulative, min (-1 = none yet), count]
    for k, tree in enumerate(trees):
        try:
            for node in tree.child_first():
                if node.children:
                    continue  # only leaves are visited
                path = node.path()
                data = per_path.setdefault(path, [0, -1, 0])
                if node.is_whiteout():
                    if k not in stacked_cache:
                        stacked_cache[k] = dive_stack_range(trees, k - 1)
                    prev = dive_get(stacked_cache[k], path)
                    if prev is None:
                        # dive: GetNode fails, the visitor returns the error and the walk of this layer stops
                        raise _DiveAbort()
                    # prev is never the root here (a whiteout names a non-root path); child_first yields prev too
                    size = sum(n.size for n in prev.child_first()) if prev.isdir else 0
                else:
                    size = node.size
                data[0] += size
                if data[1] < 0 or size < data[1]:
                    data[1] = size
                data[2] += 1
        except _DiveAbort:
            pass
    minimum = sum(d[1] for d in per_path.values())
    discovered = sum(d[0] for d in per_path.values())
    efficiency = 1.0 if discovered == 0 else minimum / discovered
    wasted = sum(d[0] for d in per_path.values() if d[2] >= 2)
    size_bytes = sum(sizes)
    user_size = sum(sizes[1:])
    user_wasted = wasted / user_size if user_size else None
    return {
        "efficiency": efficiency,
        "wasted_bytes": wasted,
        "user_wasted_percent": user_wasted,
        "size_bytes": size_bytes,
        "user_size_bytes": user_size,
    }


# ----------------------------------------------------------------------------------------------
# figures


def compute(images):
    blob_size = {}
    diff_size = {}
    diff_entries = {}
    blob_images = {}
    flat_c = flat_u = 0
    image_rows = []
    total_hidden = 0
    for img in images:
        for layer in img.layers:
            blob_size[layer.blob_digest] = layer.blob_size
            diff_size[layer.diff_id] = layer.tar_size
            diff_entries.setdefault(layer.diff_id, layer.entries)
            blob_images.setdefault(layer.blob_digest, set()).add(img.image_id)
            flat_c += layer.blob_size
            flat_u += layer.tar_size
        hidden = hidden_files(img)
        hidden_bytes = sum(s for _, _, s in hidden)
        total_hidden += hidden_bytes
        dive = dive_figures(img)
        image_rows.append({
            "image_id": img.image_id,
            "config_digest": img.config_digest,
            "layers": len(img.layers),
            "compressed_bytes": sum(layer.blob_size for layer in img.layers),
            "uncompressed_bytes": sum(layer.tar_size for layer in img.layers),
            "hidden_bytes": hidden_bytes,
            "hidden_files": len(hidden),
            "efficiency": dive["efficiency"],
            "wasted_bytes": dive["wasted_bytes"],
            "user_wasted_percent": dive["user_wasted_percent"],
            "dive": {"size_bytes": dive["size_bytes"], "user_size_bytes": dive["user_size_bytes"]},
        })

    unique_c = sum(blob_size.values())
    unique_u = sum(diff_size.values())
    shared = {d: len(ids) for d, ids in blob_images.items() if len(ids) >= 2}

    # file-level duplicates over distinct layers (by diff_id)
    occurrences = {}      # content key -> n
    per_layer = {}        # (content key, diff_id) -> m
    layers_holding = {}   # content key -> set of diff_ids
    file_count = content_bytes = 0
    for diff_id, entries in diff_entries.items():
        for e in entries:
            if e.kind != "file":
                continue
            file_count += 1
            content_bytes += e.size
            occurrences[e.content] = occurrences.get(e.content, 0) + 1
            per_layer[(e.content, diff_id)] = per_layer.get((e.content, diff_id), 0) + 1
            layers_holding.setdefault(e.content, set()).add(diff_id)
    unique_content = sum(key[1] for key in occurrences)
    duplicate = sum(key[1] * (n - 1) for key, n in occurrences.items())
    within = sum(key[0][1] * (m - 1) for key, m in per_layer.items())
    across = sum(key[1] * (len(ids) - 1) for key, ids in layers_holding.items())
    if within + across != duplicate or unique_content + duplicate != content_bytes:
        raise RefError("internal: duplicate split does not add up")  # cannot happen; a guard

    summary = {
        "images": len(images),
        "distinct_layers": len(blob_size),
        "distinct_diff_ids": len(diff_size),
        "flat_compressed_bytes": flat_c,
        "unique_compressed_bytes": unique_c,
        "layering_savings_compressed_bytes": flat_c - unique_c,
        "flat_uncompressed_bytes": flat_u,
        "unique_uncompressed_bytes": unique_u,
        "layering_savings_uncompressed_bytes": flat_u - unique_u,
        "shared_layers": len(shared),
        "shared_layer_saved_bytes": sum(blob_size[d] * (refs - 1) for d, refs in shared.items()),
        "file_count": file_count,
        "file_content_bytes": content_bytes,
        "file_unique_content_bytes": unique_content,
        "file_duplicate_bytes": duplicate,
        "file_duplicate_within_layer_bytes": within,
        "file_duplicate_across_layers_bytes": across,
        "hidden_bytes": total_hidden,
    }
    return {"summary": summary, "images": sorted(image_rows, key=lambda r: r["image_id"])}


def run(inputs, platform=None, warn=None):
    if warn is None:
        def warn(msg):
            print(f"warning: {msg}", file=sys.stderr)
    plat = parse_platform(platform) if platform else None
    return compute(load_images(inputs, plat, warn))


def main(argv=None):
    ap = argparse.ArgumentParser(description="LayerStats reference figures (independent Python implementation)")
    ap.add_argument("--platform", help="os/arch[/variant]: keep only images whose config matches")
    ap.add_argument("inputs", nargs="+", metavar="INPUT")
    args = ap.parse_args(argv)
    try:
        result = run(args.inputs, args.platform)
    except RefError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
