"""Self-test of the reference implementation.

    cd tools/reference && python3 -m unittest -v test_reference
    (or from the repository root: python3 -m unittest discover -s tools/reference)

Every expected figure below is derived by hand (in the comments), never by running the code under test.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layerstats_reference as ref  # noqa: E402

DIVE_TAR = "/work/shared/fixtures/dive/test-docker-image.tar"
DIVE_IMAGE_ID = "sha256:75ae28b8ebf89b203319069ddcbecdf5c3838503bbebc0d0d85e4b8589c5de3a"


# ----------------------------------------------------------------------------------------------
# builders (test data made with tarfile)


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(*entries):
    """entries: ("f", name, bytes) regular file | ("d", name) dir | ("l", name, target) symlink |
    ("h", name, target) hardlink | ("w", name) empty regular file (for whiteout names)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e[1])
            ti.mtime = 1_700_000_000
            if e[0] == "f":
                ti.size = len(e[2])
                tf.addfile(ti, io.BytesIO(e[2]))
            elif e[0] == "w":
                tf.addfile(ti, io.BytesIO(b""))
            elif e[0] == "d":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tf.addfile(ti)
            elif e[0] in ("l", "h"):
                ti.type = tarfile.SYMTYPE if e[0] == "l" else tarfile.LNKTYPE
                ti.linkname = e[2]
                tf.addfile(ti)
            else:
                raise ValueError(e[0])
    return buf.getvalue()


def compress(data, how):
    if how == "plain":
        return data
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
    raise ValueError(how)


LAYER_MT = {
    "plain": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


class OciLayout:
    """Writes an OCI image layout directory."""

    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')

    def blob(self, data, media_type):
        d = sha(data)
        with open(os.path.join(self.root, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": d, "size": len(data)}

    def image(self, layers, arch="amd64", diff_ids=None):
        """layers: [(uncompressed tar bytes, "plain"|"gzip"|"zstd")]; returns the manifest descriptor."""
        ldescs = [self.blob(compress(t, how), LAYER_MT[how]) for t, how in layers]
        config = {"architecture": arch, "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": diff_ids or [sha(t) for t, _ in layers]}}
        cdesc = self.blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": cdesc, "layers": ldescs}
        mdesc = self.blob(json.dumps(manifest).encode(), manifest["mediaType"])
        mdesc["platform"] = {"architecture": arch, "os": "linux"}
        return mdesc

    def index_blob(self, descs):
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs}
        return self.blob(json.dumps(index).encode(), index["mediaType"])

    def write_index(self, descs):
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": descs}, f)


def tar_directory(src, dest):
    with tarfile.open(dest, "w") as tf:
        for name in sorted(os.listdir(src)):
            tf.add(os.path.join(src, name), arcname=name)


def legacy_save(dest, layers):
    """A legacy docker-save tarball with one image whose layers are the given uncompressed tars."""
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in layers]}}
    cbytes = json.dumps(config).encode()
    cname = sha(cbytes)[7:] + ".json"
    lnames = [f"{i:064x}/layer.tar" for i in range(len(layers))]
    manifest = [{"Config": cname, "RepoTags": ["t:latest"], "Layers": lnames}]
    with tarfile.open(dest, "w") as tf:
        for name, data in [(cname, cbytes), ("manifest.json", json.dumps(manifest).encode())] + \
                list(zip(lnames, layers)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return sha(cbytes)


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="layerstats-ref-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def run_ref(self, *inputs, platform=None):
        return ref.run(list(inputs), platform, warn=lambda m: None)

    def one_image(self, *layers):
        """Figures for a one-image legacy save of the given layer tars."""
        p = self.path(f"img{len(os.listdir(self.tmp))}.tar")
        legacy_save(p, list(layers))
        out = self.run_ref(p)
        self.assertEqual(1, len(out["images"]))
        return out


# ----------------------------------------------------------------------------------------------
# dive's test image


class DiveImageTest(TempDirTest):
    """/work/shared/fixtures/dive/test-docker-image.tar, built from Dockerfile.test-image.

    The Dockerfile's layers (index: content), with S = 6405 bytes (dive's README.md copied in as somefile.txt):
      0  busybox: 17 dirs, 392 hardlinks, 6 regular files: bin/[ 1075464, bin/getconf 77880, etc/group 307,
         etc/localtime 127, etc/passwd 340, etc/shadow 243  (sum 1154361; six distinct sizes, so six contents)
      1  ADD somefile.txt                                  S
      2  RUN mkdir -p /root/example/really/nested          dirs only
      3  cp -> root/example/somefile1.txt                  S
      4  chmod 444 somefile1.txt (copy-up, same bytes)     S
      5  cp -> root/example/somefile2.txt                  S
      6  cp -> root/example/somefile3.txt                  S
      7  mv somefile3 -> root/saved.txt: root/example/.wh.somefile3.txt + root/saved.txt S
      8  cp -> root/.saved.txt                             S
      9  rm -rf /root/example: root/.wh.example
      10 ADD .scripts/ -> root/.data/tag.sh 917, root/.data/test.sh 1270
      11 cp -> tmp/saved.again1.txt                        S
      12 cp -> root/.data/saved.again2.txt                 S
      13 chmod +x root/saved.txt (copy-up)                 S
    Hidden files (rule): L3 somefile1 (a: replaced in L4), L4 somefile1 (b: L9 whiteout of ancestor
    root/example), L5 somefile2 (b: L9), L6 somefile3 (b: L7 whiteout), L7 root/saved.txt (a: L13)
      -> 5 files, 5 x 6405 = 32025 bytes. Layer 0 has no regular file under root/ or tmp/, and no later
         layer puts a non-directory on an ancestor of a busybox file.
    Files over the 14 distinct layers: 6 + 10 copies of S + 2 scripts = 18 files,
      content = 1154361 + 10*6405 + 917 + 1270 = 1220598; S is one content in 10 distinct layers:
      duplicate = 9*6405 = 57645, all across layers (no layer holds S twice), unique = 1220598 - 57645 = 1162953.
    The layers are uncompressed, so blob = diff_id and the sizes are the layer.tar lengths listed by `tar tv`:
      1369600+8192+3072+9216+9216+9216+9216+9728+8704+3072+5632+8704+9216+8704 = 1470464.
    """

    EXPECTED_SUMMARY = {
        "images": 1, "distinct_layers": 14, "distinct_diff_ids": 14,
        "flat_compressed_bytes": 1470464, "unique_compressed_bytes": 1470464,
        "layering_savings_compressed_bytes": 0,
        "flat_uncompressed_bytes": 1470464, "unique_uncompressed_bytes": 1470464,
        "layering_savings_uncompressed_bytes": 0,
        "shared_layers": 0, "shared_layer_saved_bytes": 0,
        "file_count": 18, "file_content_bytes": 1220598, "file_unique_content_bytes": 1162953,
        "file_duplicate_bytes": 57645, "file_duplicate_within_layer_bytes": 0,
        "file_duplicate_across_layers_bytes": 57645, "hidden_bytes": 32025,
    }

    def check(self, out):
        self.assertEqual(self.EXPECTED_SUMMARY, out["summary"])
        img = out["images"][0]
        self.assertEqual(DIVE_IMAGE_ID, img["image_id"])
        self.assertEqual(DIVE_IMAGE_ID, img["config_digest"])
        self.assertEqual(14, img["layers"])
        self.assertEqual(1470464, img["compressed_bytes"])
        self.assertEqual(1470464, img["uncompressed_bytes"])
        self.assertEqual(32025, img["hidden_bytes"])
        self.assertEqual(5, img["hidden_files"])
        # dive's own test (image_archive_analysis_test.go) expects exactly these
        self.assertEqual(1220598, img["dive"]["size_bytes"])
        self.assertEqual(66237, img["dive"]["user_size_bytes"])
        self.assertEqual(32025, img["wasted_bytes"])
        self.assertEqual(0.4834911001404049, img["user_wasted_percent"])
        self.assertEqual(0.9844212134184309, img["efficiency"])

    def test_dive_image(self):
        self.check(self.run_ref(DIVE_TAR))

    def test_gzipped_and_twice_is_one_image(self):
        gz = self.path("dive.tar.gz")
        with open(DIVE_TAR, "rb") as src, gzip.open(gz, "wb") as dst:
            shutil.copyfileobj(src, dst)
        out = self.run_ref(DIVE_TAR, gz)  # the same image reached twice (two files) is one image
        self.check(out)

    def test_cli_writes_json(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layerstats_reference.py")
        res = subprocess.run([sys.executable, script, DIVE_TAR], stdout=subprocess.PIPE, check=True)
        self.check(json.loads(res.stdout))


# ----------------------------------------------------------------------------------------------
# hidden bytes: one test per rule, and the cases that must not count


class HiddenBytesTest(TempDirTest):
    def hidden(self, *layers):
        img = self.one_image(*layers)["images"][0]
        return img["hidden_files"], img["hidden_bytes"]

    def test_a_replaced_by_file(self):
        # a/f (3 bytes) replaced by a 5-byte a/f: only the lower copy is hidden
        self.assertEqual((1, 3), self.hidden(layer_tar(("f", "a/f", b"one")), layer_tar(("f", "a/f", b"two!!"))))

    def test_a_replaced_by_directory_and_by_symlink(self):
        # x (1 byte) replaced by a directory x; y (2 bytes) replaced by a symlink y -> 3 bytes in 2 files
        self.assertEqual((2, 3), self.hidden(layer_tar(("f", "x", b"1"), ("f", "y", b"22")),
                                             layer_tar(("d", "x/"), ("l", "y", "x"))))

    def test_a_replaced_by_hardlink(self):
        self.assertEqual((1, 4), self.hidden(layer_tar(("f", "t", b"tttt"), ("f", "u", b"u")),
                                             layer_tar(("h", "t", "u"))))

    def test_b_whiteout_of_path(self):
        # d/f (4) deleted by d/.wh.f; d/g (2) stays
        self.assertEqual((1, 4), self.hidden(layer_tar(("f", "d/f", b"ffff"), ("f", "d/g", b"gg")),
                                             layer_tar(("w", "d/.wh.f"))))

    def test_b_whiteout_of_ancestor(self):
        # d/e/f (3) and d/e/g/h (2) deleted by .wh.d; de/x (1) is not under d and stays
        self.assertEqual((2, 5), self.hidden(
            layer_tar(("f", "d/e/f", b"fff"), ("f", "d/e/g/h", b"hh"), ("f", "de/x", b"x")),
            layer_tar(("w", ".wh.d"))))

    def test_c_opaque_whiteout_in_ancestor(self):
        # opaque in d hides d/f (3) and d/s/t (2) of layer 0; layer 1's own d/n (4) is not hidden by it,
        # and e/f (1) outside d stays
        self.assertEqual((2, 5), self.hidden(
            layer_tar(("f", "d/f", b"fff"), ("f", "d/s/t", b"tt"), ("f", "e/f", b"e")),
            layer_tar(("d", "d/"), ("w", "d/.wh..wh..opq"), ("f", "d/n", b"nnnn"))))

    def test_c_opaque_at_root(self):
        self.assertEqual((2, 3), self.hidden(layer_tar(("f", "a", b"a"), ("f", "b/c", b"cc")),
                                             layer_tar(("w", ".wh..wh..opq"))))

    def test_d_ancestor_replaced_by_non_directory(self):
        # d/e/f (3): ancestor d/e becomes a symlink; k/l (2): ancestor k becomes a regular file (1 byte, visible)
        self.assertEqual((2, 5), self.hidden(
            layer_tar(("f", "d/e/f", b"fff"), ("f", "k/l", b"ll")),
            layer_tar(("l", "d/e", "/tmp"), ("f", "k", b"K"))))

    def test_not_hidden(self):
        # same-layer later entries do not count (a/f twice in layer 0), a directory entry re-stating an
        # ancestor does not hide, a whiteout of a sibling with a common prefix does not hide, a whiteout in
        # the same layer does not hide, hardlinks carry no bytes and are never files
        self.assertEqual((0, 0), self.hidden(
            layer_tar(("f", "a/f", b"1"), ("f", "a/f", b"22"), ("f", "a/bc", b"333"), ("h", "a/hl", "a/bc"),
                      ("f", "s/x", b"4444"), ("w", "s/.wh.x")),
            layer_tar(("d", "a/"), ("w", "a/.wh.b"), ("w", "a/.wh.hl"), ("f", "new", b"n"))))

    def test_each_file_counted_once_and_only_lower_layers(self):
        # a/f (2) is replaced in layer 1 and deleted in layer 2: counted once; layer 1's a/f (3) is deleted
        # by layer 2 -> 2 files, 5 bytes. Layer 2's files are the top: never hidden.
        self.assertEqual((2, 5), self.hidden(layer_tar(("f", "a/f", b"22")), layer_tar(("f", "a/f", b"333")),
                                             layer_tar(("w", ".wh.a"), ("f", "b", b"b"))))

    def test_names_normalised(self):
        # "./a/f" in layer 0 and "/a/f" in layer 1 are the same path
        self.assertEqual((1, 3), self.hidden(layer_tar(("f", "./a/f", b"fff")), layer_tar(("f", "/a/f", b"g"))))

    def test_whiteout_named_entries_are_never_files(self):
        out = self.one_image(layer_tar(("f", "x/.wh.y", b"not a file"), ("f", "z", b"zz")))
        self.assertEqual(1, out["summary"]["file_count"])
        self.assertEqual(2, out["summary"]["file_content_bytes"])


# ----------------------------------------------------------------------------------------------
# file duplicates: within one layer vs across layers


class FileDuplicatesTest(TempDirTest):
    def test_split(self):
        A = b"A" * 10
        B = b"B" * 7
        # layer 0: A, A, A (three copies in one layer), B
        # layer 1: A, B, and an 'A'*10-sized file of other bytes (other content, same size)
        # layer 2: identical to layer 0 (same diff_id -> counted once, it is the same layer)
        l0 = layer_tar(("f", "a1", A), ("f", "a2", A), ("f", "a3", A), ("f", "b1", B))
        l1 = layer_tar(("f", "x/a", A), ("f", "x/b", B), ("f", "x/c", b"C" * 10))
        out = self.one_image(l0, l1, l0)
        s = out["summary"]
        # distinct layers: l0, l1. files: 4 + 3 = 7; bytes: 30+7 + 10+7+10 = 64
        # contents: A n=4 in 2 layers; B n=2 in 2 layers; C n=1
        # unique = 10 + 7 + 10 = 27; duplicate = 10*3 + 7*1 = 37 (27 + 37 = 64)
        # within: A in l0 m=3 -> 10*2 = 20; across: A L=2 -> 10, B L=2 -> 7 = 17 (20 + 17 = 37)
        self.assertEqual(2, s["distinct_diff_ids"])
        self.assertEqual(7, s["file_count"])
        self.assertEqual(64, s["file_content_bytes"])
        self.assertEqual(27, s["file_unique_content_bytes"])
        self.assertEqual(37, s["file_duplicate_bytes"])
        self.assertEqual(20, s["file_duplicate_within_layer_bytes"])
        self.assertEqual(17, s["file_duplicate_across_layers_bytes"])
        # l0 listed twice: flat counts it twice, unique once
        self.assertEqual(2 * len(l0) + len(l1), s["flat_compressed_bytes"])
        self.assertEqual(len(l0) + len(l1), s["unique_compressed_bytes"])
        self.assertEqual(len(l0), s["layering_savings_uncompressed_bytes"])
        # layer 2 (= l0) replaces a1, a2, a3, b1 of layer 0: 37 hidden bytes in 4 files
        self.assertEqual((4, 37), (out["images"][0]["hidden_files"], out["images"][0]["hidden_bytes"]))

    def test_sparse_file_is_expanded(self):
        # a GNU sparse member (type 'S') made by GNU tar: 1 MiB hole, "hello", hole to 3 MiB, "world"
        src = self.path("s")
        os.mkdir(src)
        with open(os.path.join(src, "s.bin"), "wb") as f:
            f.seek(1 << 20)
            f.write(b"hello")
            f.seek(3 << 20)
            f.write(b"world")
        with open(os.path.join(src, "s.bin"), "rb") as f:
            expanded = f.read()
        tar = self.path("sparse.tar")
        subprocess.run(["tar", "--sparse", "--format=gnu", "-C", src, "-cf", tar, "s.bin"], check=True)
        with open(tar, "rb") as f:
            data = f.read()
        with tarfile.open(tar) as tf:
            self.assertEqual(tarfile.GNUTYPE_SPARSE, tf.getmembers()[0].type)  # really sparse
        layer = ref.read_layer(io.BytesIO(data), "sparse")
        [e] = layer.entries
        self.assertEqual("file", e.kind)
        self.assertEqual((hashlib.sha256(expanded).hexdigest(), (3 << 20) + 5), e.content)
        self.assertEqual(sha(data), layer.diff_id)


# ----------------------------------------------------------------------------------------------
# OCI layouts: nested indexes, attestation, compression, shared layers, platform, verification


class OciTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.base = layer_tar(("d", "etc/"), ("f", "etc/os", b"base-os"))            # 7 bytes of files
        self.app_amd = layer_tar(("f", "app", b"amd64 binary"))
        self.app_arm = layer_tar(("f", "app", b"arm64 binary!"))

    def build(self, root):
        oci = OciLayout(root)
        amd = oci.image([(self.base, "gzip"), (self.app_amd, "zstd")], arch="amd64")
        arm = oci.image([(self.base, "gzip"), (self.app_arm, "plain")], arch="arm64")
        att = oci.image([(layer_tar(("f", "att.json", b"{}")), "plain")], arch="unknown")
        att["annotations"] = {"vnd.docker.reference.type": "attestation-manifest"}
        inner = oci.index_blob([amd, arm, att])
        outer = oci.index_blob([inner])          # index -> index -> index -> manifests
        oci.write_index([outer])
        return oci, amd, arm

    def test_multi_platform_nested_index(self):
        root = self.path("layout")
        oci, amd, arm = self.build(root)
        out = self.run_ref(root)
        s = out["summary"]
        gz_base = len(compress(self.base, "gzip"))
        zst_app = len(compress(self.app_amd, "zstd"))
        self.assertEqual(2, s["images"])                      # the attestation manifest is skipped
        self.assertEqual(sorted([amd["digest"], arm["digest"]]), [i["image_id"] for i in out["images"]])
        self.assertEqual(3, s["distinct_layers"])
        self.assertEqual(3, s["distinct_diff_ids"])
        self.assertEqual(2 * gz_base + zst_app + len(self.app_arm), s["flat_compressed_bytes"])
        self.assertEqual(gz_base + zst_app + len(self.app_arm), s["unique_compressed_bytes"])
        self.assertEqual(gz_base, s["layering_savings_compressed_bytes"])
        self.assertEqual(2 * len(self.base) + len(self.app_amd) + len(self.app_arm), s["flat_uncompressed_bytes"])
        self.assertEqual(1, s["shared_layers"])
        self.assertEqual(gz_base, s["shared_layer_saved_bytes"])
        # files over 3 distinct layers: etc/os 7, app 12, app 13 -> no duplicates
        self.assertEqual((3, 32, 32, 0), (s["file_count"], s["file_content_bytes"],
                                          s["file_unique_content_bytes"], s["file_duplicate_bytes"]))
        by_id = {i["image_id"]: i for i in out["images"]}
        self.assertEqual(gz_base + zst_app, by_id[amd["digest"]]["compressed_bytes"])
        self.assertEqual(len(self.base) + len(self.app_arm), by_id[arm["digest"]]["uncompressed_bytes"])

        # the same layout as a tar, and as a gzipped tar, plus the directory again: still 2 images
        tar = self.path("layout.tar")
        tar_directory(root, tar)
        with open(tar, "rb") as f:
            gz = self.path("layout.tar.gz")
            with open(gz, "wb") as g:
                g.write(gzip.compress(f.read()))
        self.assertEqual(out, self.run_ref(tar, gz, root))

    def test_platform_filter(self):
        root = self.path("layout")
        _, amd, arm = self.build(root)
        out = self.run_ref(root, platform="linux/arm64")
        self.assertEqual([arm["digest"]], [i["image_id"] for i in out["images"]])
        self.assertEqual(0, out["summary"]["shared_layers"])
        self.assertEqual([], self.run_ref(root, platform="linux/s390x")["images"])

    def test_same_content_other_compression(self):
        # one diff_id under two blobs (plain and gzip): two distinct layers, one distinct diff_id
        root = self.path("layout")
        oci = OciLayout(root)
        a = oci.image([(self.base, "plain")])
        b = oci.image([(self.base, "gzip")])
        oci.write_index([a, b])
        s = self.run_ref(root)["summary"]
        self.assertEqual((2, 1), (s["distinct_layers"], s["distinct_diff_ids"]))
        self.assertEqual(len(self.base), s["unique_uncompressed_bytes"])
        self.assertEqual(len(self.base), s["layering_savings_uncompressed_bytes"])
        self.assertEqual(0, s["shared_layers"])
        self.assertEqual(1, s["file_count"])

    def test_docker25_save_uses_oci_path(self):
        root = self.path("save")
        oci = OciLayout(root)
        desc = oci.image([(self.base, "plain"), (self.app_amd, "plain")])
        oci.write_index([desc])
        with open(os.path.join(root, "manifest.json"), "w") as f:  # docker 25 writes both
            json.dump([{"Config": "blobs/sha256/x", "Layers": []}], f)
        tar = self.path("save.tar")
        tar_directory(root, tar)
        out = self.run_ref(tar)
        self.assertEqual([desc["digest"]], [i["image_id"] for i in out["images"]])  # the manifest digest

    def test_tampered_blob_fails(self):
        root = self.path("layout")
        oci = OciLayout(root)
        desc = oci.image([(self.base, "plain")])
        oci.write_index([desc])
        with open(os.path.join(root, "blobs", "sha256", desc["digest"][7:])) as f:
            manifest = json.load(f)
        lpath = os.path.join(root, "blobs", "sha256", manifest["layers"][0]["digest"][7:])
        os.chmod(lpath, 0o644)
        with open(lpath, "r+b") as f:
            f.seek(1024)  # the first byte of etc/os's content: the tar still parses
            f.write(b"X")
        with self.assertRaisesRegex(ref.RefError, "blob hashes to"):
            self.run_ref(root)

    def test_wrong_diff_id_fails(self):
        root = self.path("layout")
        oci = OciLayout(root)
        desc = oci.image([(self.base, "gzip")], diff_ids=[sha(b"something else")])
        oci.write_index([desc])
        with self.assertRaisesRegex(ref.RefError, "config diff_id is"):
            self.run_ref(root)

    def test_legacy_wrong_diff_id_fails(self):
        p = self.path("bad.tar")
        config = {"os": "linux", "architecture": "amd64", "rootfs": {"diff_ids": [sha(b"nope")]}}
        cbytes = json.dumps(config).encode()
        with tarfile.open(p, "w") as tf:
            for name, data in [(sha(cbytes)[7:] + ".json", cbytes),
                               ("manifest.json", json.dumps([{"Config": sha(cbytes)[7:] + ".json",
                                                              "Layers": ["l/layer.tar"]}]).encode()),
                               ("l/layer.tar", self.base)]:
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
        with self.assertRaisesRegex(ref.RefError, "config diff_id is"):
            self.run_ref(p)


# ----------------------------------------------------------------------------------------------
# the dive replica on small images (figures worked out from dive's algorithm by hand)


class DiveReplicaTest(TempDirTest):
    def test_whiteout_of_directory_with_explicit_entry(self):
        # L0: a/ (dir), a/f 10 bytes. L1: a/ (dir), a/f 4 bytes. L2: .wh.a (0 bytes)
        # leaves: L0 /a/f 10; L1 /a/f 4; L2 /a (whiteout): stacked L0..L1 has /a as a dir (L1's "a/" entry)
        # holding f (4) -> size 0 + 4 = 4.
        # /a/f: cumulative 14, min 4, seen 2x; /a: cumulative 4, min 4, seen 1x
        # efficiency = (4 + 4) / (14 + 4) = 8/18; wasted = 14; sizes 10 / 4 / 0 -> user 4 -> 14/4 = 3.5
        img = self.one_image(layer_tar(("d", "a/"), ("f", "a/f", b"x" * 10)),
                             layer_tar(("d", "a/"), ("f", "a/f", b"y" * 4)),
                             layer_tar(("w", ".wh.a")))["images"][0]
        self.assertEqual(8 / 18, img["efficiency"])
        self.assertEqual(14, img["wasted_bytes"])
        self.assertEqual(3.5, img["user_wasted_percent"])
        self.assertEqual({"size_bytes": 14, "user_size_bytes": 4}, img["dive"])
        # LayerStats' hidden bytes on the same image: L0 a/f (a: replaced), L1 a/f (b: ancestor deleted)
        self.assertEqual((2, 14), (img["hidden_files"], img["hidden_bytes"]))

    def test_whiteout_of_directory_without_entry_in_upper_layer(self):
        # as above but L1 has no "a/" entry: stacking L1 re-adds /a with dive's empty FileInfo (not a dir),
        # so the whiteout's size is 0. /a/f: 14 / min 4; /a: 0 / min 0 -> efficiency 4/14, wasted 14
        img = self.one_image(layer_tar(("d", "a/"), ("f", "a/f", b"x" * 10)),
                             layer_tar(("f", "a/f", b"y" * 4)),
                             layer_tar(("w", ".wh.a")))["images"][0]
        self.assertEqual(4 / 14, img["efficiency"])
        self.assertEqual(14, img["wasted_bytes"])

    def test_whiteout_of_missing_path_stops_the_layer_walk(self):
        # L1 (child-first, byte order): "/a" (.wh.a) then "/b". /a is not in L0: dive's visitor errors,
        # the rest of L1 (b, 5 bytes) is never visited, and /a is left with min -1, cumulative 0.
        # paths: /z 3 (L0) -> min 3; /a -> min -1 -> efficiency (3 - 1) / 3 = 2/3, wasted 0
        img = self.one_image(layer_tar(("f", "z", b"zzz")),
                             layer_tar(("w", ".wh.a"), ("f", "b", b"bbbbb")))["images"][0]
        self.assertEqual(2 / 3, img["efficiency"])
        self.assertEqual(0, img["wasted_bytes"])
        self.assertEqual({"size_bytes": 8, "user_size_bytes": 5}, img["dive"])

    def test_no_bytes_is_efficiency_one(self):
        img = self.one_image(layer_tar(("d", "e/")))["images"][0]
        self.assertEqual(1.0, img["efficiency"])
        self.assertIsNone(img["user_wasted_percent"])  # 0/0 in dive (NaN): null here

    def test_go_path_clean(self):
        cases = {"": ".", "./": ".", "a/./b/": "a/b", "/../a": "/a", "../a/..": "..", "//a//b": "/a/b",
                 "a/b/../../..": ".."}
        for raw, want in cases.items():
            self.assertEqual(want, ref.go_path_clean(raw), raw)


if __name__ == "__main__":
    unittest.main()
