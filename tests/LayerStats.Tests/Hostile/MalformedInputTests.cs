using System.Text;
using System.Text.Json.Nodes;
using LayerStats.Fixtures;
using LayerStats.Tests.EndToEnd;
using Xunit.Abstractions;

namespace LayerStats.Tests.Hostile;

/// <summary>
/// Malformed inputs beyond <see cref="BadInputTests"/>: each alone, and all of them mixed with good inputs in one scan.
/// Every bad input gets scan_errors rows naming the input as given (and the image, layer and entry path where known)
/// with words a person can act on; the good inputs complete exactly; exit code 1; no half image.
/// </summary>
public sealed class MalformedInputTests(ITestOutputHelper output)
{
    /// <summary>One bad input: how to write it, and what its error must say.</summary>
    internal sealed record BadCase(string Name, Func<string, string> Write, string[] Words, Func<Expect>? Where = null);

    /// <summary>The image, layer and path the first error of a case must name (null: not asserted; "" : must be null).</summary>
    internal sealed record Expect(string? Image, string? Layer, string? Path);

    public static TheoryData<string> CaseNames() => [.. Cases().Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Each_bad_input_alone_is_an_error_row_and_no_image(string name)
    {
        var bad = Cases().Single(c => c.Name == name);
        using var cli = new CliHarness();
        string input = bad.Write(cli.Dir);

        var (exit, _, stderr) = cli.Scan(input);

        var errors = Errors(cli);
        output.WriteLine(string.Join("\n", errors.Select(e => $"{e.Source} | {e.Image} | {e.Layer} | {e.Path} | {e.Message}")));
        Assert.Equal(1, exit);
        AssertCase(bad, input, errors);
        Assert.Contains(input, stderr, StringComparison.Ordinal);
        AssertNoImages(cli);
    }

    [Fact]
    public void All_bad_inputs_mixed_with_good_ones_fail_alone_and_the_good_ones_complete_exactly()
    {
        using var cli = new CliHarness();
        string goodOci = Path.Combine(cli.Dir, "good-oci");
        string goodDocker = Path.Combine(cli.Dir, "good-docker.tar");
        var goodA = Images.Good("good-a", LayerCompression.Gzip);
        var goodB = Images.Good("good-b", LayerCompression.Zstd);
        ArchiveWriter.OciLayout(goodOci, OciEntry.Of(goodA, "a"));
        ArchiveWriter.DockerSave25(goodDocker, goodB.Tagged("team/b:1"), Images.Shared.Tagged("team/shared:1"));

        var cases = Cases();
        var inputs = cases.Select(c => c.Write(cli.Dir)).ToList();
        var (exit, _, _) = cli.Scan([goodOci, .. inputs.Take(inputs.Count / 2), goodDocker, .. inputs.Skip(inputs.Count / 2)]);

        Assert.Equal(1, exit);
        var errors = Errors(cli);
        for (int i = 0; i < cases.Count; i++)
        {
            AssertCase(cases[i], inputs[i], errors);
        }

        Assert.Equal(inputs.ToHashSet(), errors.Select(e => e.Source).ToHashSet());
        Assert.Equal(
            new[] { goodA.ManifestDigest, goodB.ManifestDigest, Images.Shared.ManifestDigest }.Order(StringComparer.Ordinal),
            cli.Query("SELECT image_id FROM images ORDER BY image_id").Rows.Select(r => (string)r[0]!));
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM image_layers il WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.image_id = il.image_id)"));
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM image_refs r WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.image_id = r.image_id)"));
        Assert.Equal(new[] { goodOci, goodDocker }.Order(StringComparer.Ordinal), cli.Query("SELECT DISTINCT source FROM image_refs ORDER BY source").Rows.Select(r => (string)r[0]!));

        using var clean = new CliHarness();
        Assert.Equal(0, clean.Scan(goodOci, goodDocker).Exit);
        Assert.Equal(clean.Summary(), cli.Summary());
        Assert.Equal(
            clean.Query("SELECT * FROM image_summary ORDER BY image_id").Rows.Select(r => string.Join("|", r)),
            cli.Query("SELECT * FROM image_summary ORDER BY image_id").Rows.Select(r => string.Join("|", r)));
        var run = cli.Query("SELECT status, images_ok, images_failed FROM scan_runs").Rows.Single();
        Assert.Equal("failed", run[0]);
        Assert.Equal(3L, Convert.ToInt64(run[1]));
    }

    /// <summary>
    /// A corrupt copy of a shared layer in one input must not fail the images of another input that holds a good copy
    /// of the same blob, whichever input comes first.
    /// </summary>
    [Fact]
    public void A_corrupt_copy_of_a_shared_layer_does_not_fail_the_good_copy_in_another_input()
    {
        using var cli = new CliHarness();
        var good = Images.Good("shared-good", LayerCompression.Gzip);
        var bad = Images.Good("shared-bad", LayerCompression.Gzip);
        string badInput = OciArchive(cli.Dir, "bad-copy", Corrupt.FlipBlobByte(bad, Images.Base.Digest, Images.Base.Blob.Length / 2));
        string goodInput = OciArchive(cli.Dir, "good-copy", good);

        var (exit, _, _) = cli.Scan(badInput, goodInput);

        Assert.Equal(1, exit);
        Assert.Equal(good.ManifestDigest, cli.Query("SELECT image_id FROM images").Rows.Single()[0]);
        var error = Errors(cli).Single();
        Assert.Equal((badInput, bad.ManifestDigest, Images.Base.Digest), (error.Source, error.Image, error.Layer));
        Assert.Contains("digest mismatch", error.Message, StringComparison.Ordinal);
        using var clean = new CliHarness();
        Assert.Equal(0, clean.Scan(goodInput).Exit);
        Assert.Equal(clean.Summary(), cli.Summary());
    }

    /// <summary>Docker 25+ reads its images from index.json; a manifest.json naming an absent config only loses the names.</summary>
    [Fact]
    public void Docker25_manifest_json_naming_an_absent_config_keeps_the_image_and_reports_the_names_lost()
    {
        using var cli = new CliHarness();
        var image = Images.Good("absent-config", LayerCompression.Gzip);
        string path = Write(cli.Dir, "absent-config.tar", p => ArchiveWriter.DockerSave25(p, image.Tagged("absent:1")));
        var manifestJson = JsonNode.Parse(Corrupt.ReadTarFiles(path)["manifest.json"])!;
        string absent = "blobs/sha256/" + new string('d', 64);
        manifestJson[0]!["Config"] = absent;
        Corrupt.ReplaceInTar(path, "manifest.json", Encoding.UTF8.GetBytes(manifestJson.ToJsonString()));

        var (exit, _, _) = cli.Scan(path);

        Assert.Equal(1, exit);
        var error = Errors(cli).Single();
        Assert.Equal((path, absent), (error.Source, error.Path));
        Assert.Contains("does not contain", error.Message, StringComparison.Ordinal);
        Assert.Equal(image.ManifestDigest, cli.Query("SELECT image_id FROM images").Rows.Single()[0]);
    }

    /// <summary>
    /// An OCI layout whose index lists no manifests is valid (a fresh layout): it holds no image, and that is not an
    /// error (as an input without the platform asked for is not).
    /// </summary>
    [Fact]
    public void An_index_that_lists_nothing_is_an_empty_layout_not_an_error()
    {
        using var cli = new CliHarness();
        string layout = Path.Combine(cli.Dir, "index-empty");
        ArchiveWriter.WriteDirectory(layout, new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["index.json"] = Encoding.UTF8.GetBytes("""{"schemaVersion":2,"manifests":[]}"""),
            ["oci-layout"] = Encoding.UTF8.GetBytes(ArchiveWriter.OciLayoutFile),
        });

        var (exit, _, _) = cli.Scan(layout);

        Assert.Equal(0, exit);
        Assert.Empty(Errors(cli));
        AssertNoImages(cli);
    }

    internal sealed record ErrorRow(string Source, string? Image, string? Layer, string? Path, string Message);

    private static List<ErrorRow> Errors(CliHarness cli) =>
        cli.Query("SELECT source, image, layer, path, message FROM scan_errors ORDER BY occurred_at").Rows
            .Select(r => new ErrorRow((string)r[0]!, (string?)r[1], (string?)r[2], (string?)r[3], (string)r[4]!))
            .ToList();

    private static void AssertCase(BadCase bad, string input, List<ErrorRow> all)
    {
        var errors = all.Where(e => e.Source == input).ToList();
        string said = $"{bad.Name}: " + string.Join(" || ", errors.Select(e => $"[{e.Image} | {e.Layer} | {e.Path}] {e.Message}"));
        Assert.True(errors.Count > 0, $"{bad.Name}: no error row for {input}");
        foreach (string word in bad.Words)
        {
            Assert.True(errors.Any(e => e.Message.Contains(word, StringComparison.OrdinalIgnoreCase)), $"no message says '{word}': {said}");
        }

        if (bad.Where?.Invoke() is { } where)
        {
            var first = errors[0];
            Check(where.Image, first.Image, "image");
            Check(where.Layer, first.Layer, "layer");
            Check(where.Path, first.Path, "path");
        }

        void Check(string? expected, string? actual, string what)
        {
            if (expected == "")
            {
                Assert.True(actual is null, $"{what} should be unknown: {said}");
            }
            else if (expected is not null)
            {
                Assert.True(expected == actual, $"{what} should be {expected}: {said}");
            }
        }
    }

    private static void AssertNoImages(CliHarness cli)
    {
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM images"));
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM image_layers"));
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM image_refs"));
    }

    /// <summary>The bad inputs. Each writes its input under the directory given and returns the input string to scan.</summary>
    internal static List<BadCase> Cases()
    {
        var cases = new List<BadCase>();

        // Truncated compressed layer streams, cut at several points; the manifest states the digest of the cut blob.
        foreach (var (compression, cuts) in new[] { (LayerCompression.Gzip, new[] { 2, 10, -8, -4, -1 }), (LayerCompression.Zstd, new[] { 4, 12, -4, -1 }) })
        {
            foreach (int cut in cuts)
            {
                string name = $"truncated-{compression}-{(cut < 0 ? "end" + cut : "at" + cut)}".ToLowerInvariant();
                var image = Images.Good(name, compression);
                int keep = cut < 0 ? image.Layers[1].Blob.Length + cut : cut;
                var cutImage = Corrupt.TruncateLayer(image, 1, keep);
                cases.Add(new(name, dir => OciArchive(dir, name, cutImage), ["truncated"], () => new(cutImage.ManifestDigest, cutImage.Layers[1].Digest, null)));
            }
        }

        {
            var image = Images.Good("flip-docker25", LayerCompression.Gzip);
            var flipped = Corrupt.FlipBlobByte(image, image.Layers[1].Digest, image.Layers[1].Blob.Length / 2);
            cases.Add(new("flipped-layer-byte-docker25", dir => Write(dir, "flip.tar", p => ArchiveWriter.DockerSave25(p, flipped.Tagged("flip:1"))), ["digest mismatch", image.Layers[1].Digest], () => new(image.ManifestDigest, image.Layers[1].Digest, null)));
        }

        {
            var image = Images.Good("flip-manifest", LayerCompression.Gzip);
            cases.Add(new("flipped-manifest-byte", dir =>
            {
                string layout = Path.Combine(dir, "flip-manifest");
                ArchiveWriter.OciLayout(layout, image);
                Corrupt.FlipByte(Path.Combine(layout, "blobs", "sha256", image.ManifestDigest[7..]), 5);
                return "oci:" + layout;
            }, ["does not match its digest", "blobs/sha256/"], () => new(image.ManifestDigest, "", null)));
        }

        {
            var image = Images.Good("wrong-diff-docker", LayerCompression.None);
            var wrong = Corrupt.WrongDiffId(image, 1);
            cases.Add(new("wrong-diff-id-docker-legacy", dir => Write(dir, "wrong-diff.tar", p => ArchiveWriter.DockerSaveLegacy(p, wrong.Tagged("wrong:1"))), ["layer content mismatch: the config states diff_id", wrong.DiffIds[1]]));
        }

        {
            var image = Images.Good("missing-config", LayerCompression.Gzip);
            cases.Add(new("missing-config-blob", dir => OciArchive(dir, "missing-config", Corrupt.WithoutBlob(image, image.ConfigDigest)), ["config", "missing", image.ConfigDigest], () => new(image.ManifestDigest, "", "blobs/sha256/" + image.ConfigDigest[7..])));
        }

        // Garbage or cut-off JSON in each document. The blobs' digests are those of the bad bytes, so only parsing catches them.
        {
            var image = Images.Good("cut-index", LayerCompression.Gzip);
            cases.Add(new("cut-off-index-json", dir =>
            {
                string layout = Path.Combine(dir, "cut-index");
                ArchiveWriter.OciLayout(layout, image);
                string index = Path.Combine(layout, "index.json");
                File.WriteAllBytes(index, File.ReadAllBytes(index)[..40]);
                return layout;
            }, ["index.json", "not valid JSON"]));
        }

        {
            var image = Images.Good("cut-manifest", LayerCompression.Gzip);
            var cut = image with { ManifestBytes = image.ManifestBytes[..(image.ManifestBytes.Length / 2)] };
            cases.Add(new("cut-off-manifest", dir => OciArchive(dir, "cut-manifest", cut), ["manifest", "JSON"], () => new(cut.ManifestDigest, "", "blobs/sha256/" + cut.ManifestDigest[7..])));
        }

        {
            var image = Images.Good("garbage-manifest", LayerCompression.Gzip);
            var garbage = image with { ManifestBytes = "\u0000\u00ff not json at all"u8.ToArray() };
            cases.Add(new("garbage-manifest", dir => OciArchive(dir, "garbage-manifest", garbage), ["JSON"], () => new(garbage.ManifestDigest, "", null)));
        }

        {
            var image = Images.Good("cut-config", LayerCompression.Gzip);
            var cut = WithConfig(image, image.ConfigBytes[..(image.ConfigBytes.Length / 3)]);
            cases.Add(new("cut-off-config", dir => OciArchive(dir, "cut-config", cut), ["config", "not valid JSON"], () => new(cut.ManifestDigest, "", null)));
        }

        {
            var image = Images.Good("array-config", LayerCompression.Gzip);
            var wrongShape = WithConfig(image, "[1, 2, 3]"u8.ToArray());
            cases.Add(new("config-not-an-object", dir => OciArchive(dir, "array-config", wrongShape), ["config", "object"], () => new(wrongShape.ManifestDigest, "", null)));
        }

        {
            var image = Images.Good("cut-manifest-json", LayerCompression.None);
            cases.Add(new("cut-off-manifest-json", dir =>
            {
                string path = Write(dir, "cut-manifest-json.tar", p => ArchiveWriter.DockerSaveLegacy(p, image.Tagged("cut:1")));
                var bytes = Corrupt.ReadTarFiles(path)["manifest.json"];
                Corrupt.ReplaceInTar(path, "manifest.json", bytes[..(bytes.Length - 7)]);
                return path;
            }, ["manifest.json", "not valid JSON"]));
        }

        // Indexes that point at each other (each blob stored under the digest the other names: a cycle only a
        // digest lie can make), at a missing blob, at nothing at all, and nested deeper than the limit.
        cases.Add(new("index-cycle", dir =>
        {
            string layout = Path.Combine(dir, "index-cycle");
            string a = "sha256:" + new string('a', 64);
            string b = "sha256:" + new string('b', 64);
            byte[] IndexOf(string digest) => Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{OciMediaTypes.Index}}","manifests":[{"mediaType":"{{OciMediaTypes.Index}}","digest":"{{digest}}","size":400}]}""");
            var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
            {
                ["blobs/sha256/" + a[7..]] = IndexOf(b).Concat(Enumerable.Repeat((byte)' ', 400 - IndexOf(b).Length)).ToArray(),
                ["blobs/sha256/" + b[7..]] = IndexOf(a).Concat(Enumerable.Repeat((byte)' ', 400 - IndexOf(a).Length)).ToArray(),
                ["index.json"] = IndexOf(a),
                ["oci-layout"] = Encoding.UTF8.GetBytes(ArchiveWriter.OciLayoutFile),
            };
            ArchiveWriter.WriteDirectory(layout, files);
            return layout;
        }, ["index", "does not match its digest"]));

        cases.Add(new("index-points-at-missing-blob", dir =>
        {
            string layout = Path.Combine(dir, "index-missing");
            string missing = "sha256:" + new string('c', 64);
            ArchiveWriter.WriteDirectory(layout, new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
            {
                ["index.json"] = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"manifests":[{"mediaType":"{{OciMediaTypes.Index}}","digest":"{{missing}}","size":321}]}"""),
                ["oci-layout"] = Encoding.UTF8.GetBytes(ArchiveWriter.OciLayoutFile),
            });
            return layout;
        }, ["missing", "blobs/sha256/" + new string('c', 64)], () => new("sha256:" + new string('c', 64), "", "blobs/sha256/" + new string('c', 64))));

        {
            var image = Images.Good("deep-index", LayerCompression.Gzip);
            cases.Add(new("index-nested-too-deep", dir =>
            {
                string layout = Path.Combine(dir, "deep-index");
                var files = ArchiveWriter.OciLayoutFiles([OciEntry.Of(image)]);
                var descriptor = JsonNode.Parse(files["index.json"])!["manifests"]![0]!.DeepClone();
                for (int i = 0; i < 12; i++)
                {
                    byte[] index = Encoding.UTF8.GetBytes(new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = OciMediaTypes.Index, ["manifests"] = new JsonArray(descriptor) }.ToJsonString());
                    string digest = BuiltLayer.Sha256(index);
                    files["blobs/sha256/" + digest[7..]] = index;
                    descriptor = new JsonObject { ["mediaType"] = OciMediaTypes.Index, ["digest"] = digest, ["size"] = index.Length };
                }

                files["index.json"] = Encoding.UTF8.GetBytes(new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(descriptor) }.ToJsonString());
                ArchiveWriter.WriteDirectory(layout, files);
                return layout;
            }, ["nested more than"]));
        }

        // Layer tars that lie: a header that claims gigabytes and then ends; a bad header checksum; not a tar at all.
        {
            var tar = new RawTar().File("etc/ok", "fine\n")
                .Raw(TarFormat.HeaderBlock(new TarFormat.Header("big/disk.img", TarFormat.TypeRegular) { Size = 6L << 30 }))
                .Raw(new byte[5000])
                .ToArray(end: false);
            var image = Images.WithBadLayer("gigabytes", tar, LayerCompression.Gzip);
            cases.Add(new("tar-header-claims-gigabytes", dir => OciArchive(dir, "gigabytes", image), ["truncated", "bytes missing"], () => new(image.ManifestDigest, image.Layers[1].Digest, "big/disk.img")));
        }

        {
            var header = TarFormat.HeaderBlock(new TarFormat.Header("usr/bin/tool", TarFormat.TypeRegular) { Size = 3 });
            header[148] = (byte)'7'; // checksum field no longer matches
            var tar = new RawTar().File("usr/lib/first", "first\n").Raw(header).Raw(TarFormat.HeaderBlock(new TarFormat.Header("x", TarFormat.TypeRegular))).ToArray();
            var image = Images.WithBadLayer("checksum", tar, LayerCompression.Zstd);
            cases.Add(new("bad-header-checksum", dir => OciArchive(dir, "checksum", image), ["bad header checksum", "usr/lib/first"], () => new(image.ManifestDigest, image.Layers[1].Digest, "usr/lib/first")));
        }

        {
            var notTar = Content.Random("not-a-tar", 3000);
            var image = Images.WithBadLayer("not-tar", notTar, LayerCompression.None);
            cases.Add(new("layer-not-a-tar", dir => OciArchive(dir, "not-tar", image), ["not a tar"], () => new(image.ManifestDigest, image.Layers[1].Digest, "")));
            var text = Encoding.UTF8.GetBytes(Content.Text("gzip-text", 40));
            var gzText = Images.WithBadLayer("gz-text", text, LayerCompression.Gzip);
            cases.Add(new("gzip-layer-not-a-tar", dir => OciArchive(dir, "gz-text", gzText), ["not a tar"], () => new(gzText.ManifestDigest, gzText.Layers[1].Digest, null)));
        }

        // docker save (legacy) whose manifest.json names an absent layer.
        {
            var image = Images.Good("absent-layer", LayerCompression.None);
            cases.Add(new("legacy-manifest-json-names-absent-layer", dir =>
            {
                string path = Write(dir, "absent-layer.tar", p => ArchiveWriter.DockerSaveLegacy(p, image.Tagged("absent-layer:1")));
                var manifestJson = JsonNode.Parse(Corrupt.ReadTarFiles(path)["manifest.json"])!;
                manifestJson[0]!["Layers"]![1] = "nowhere/layer.tar";
                Corrupt.ReplaceInTar(path, "manifest.json", Encoding.UTF8.GetBytes(manifestJson.ToJsonString()));
                return "docker-archive:" + path;
            }, ["nowhere/layer.tar", "does not contain"]));
        }

        // The outer archive cut off inside a layer blob.
        {
            var image = Images.Good("cut-archive", LayerCompression.Gzip);
            cases.Add(new("archive-cut-inside-a-layer", dir =>
            {
                // index.json and the manifest first, so that the cut falls inside the last layer blob.
                var files = ArchiveWriter.OciLayoutFiles([OciEntry.Of(image, "cut-archive")]);
                string last = "blobs/sha256/" + image.Layers[1].Digest[7..];
                var tar = new LayerBuilder(implicitParents: true);
                foreach (var (name, bytes) in files.OrderBy(f => f.Key == last ? 1 : 0).ThenBy(f => f.Key, StringComparer.Ordinal))
                {
                    tar.File(name, bytes);
                }

                string path = Path.Combine(dir, "cut-archive.tar");
                byte[] all = tar.ToTar();
                File.WriteAllBytes(path, all[..(all.Length - 1024 - (image.Layers[1].Blob.Length / 2))]);
                return path;
            }, ["truncated", "bytes more than the file holds"], () => new(image.ManifestDigest, image.Layers[1].Digest, null)));

            // Cut so that index.json (written last) is lost: the message must say the archive is truncated.
            var lost = Images.Good("cut-archive-index", LayerCompression.Gzip);
            cases.Add(new("archive-cut-before-its-index", dir =>
            {
                string path = OciArchive(dir, "cut-archive-index", lost);
                using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
                f.SetLength(f.Length - 2048 - (lost.Layers.Max(l => l.Blob.Length) / 2));
                return path;
            }, ["truncated", "holds neither index.json"]));
        }

        return cases;
    }

    private static string OciArchive(string dir, string name, BuiltImage image) =>
        Write(dir, name + ".tar", p => ArchiveWriter.OciArchive(p, OciEntry.Of(image, name)));

    private static string Write(string dir, string name, Action<string> write)
    {
        string path = Path.Combine(dir, name);
        write(path);
        return path;
    }

    /// <summary>The image with other config bytes (the manifest names them by their digest).</summary>
    private static BuiltImage WithConfig(BuiltImage image, byte[] config)
    {
        var manifest = JsonNode.Parse(image.ManifestBytes)!;
        manifest["config"]!["digest"] = BuiltLayer.Sha256(config);
        manifest["config"]!["size"] = config.Length;
        var blobs = image.Blobs.Where(b => b.Key != image.ConfigDigest).ToDictionary(b => b.Key, b => b.Value);
        blobs[BuiltLayer.Sha256(config)] = config;
        return image with { ConfigBytes = config, ManifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString()), Blobs = blobs };
    }

    internal static class Images
    {
        /// <summary>A layer shared by good and bad images: a bad image must not keep it from the good one.</summary>
        public static readonly BuiltLayer Base = BuiltLayer.From(new LayerBuilder().Dir("etc").File("etc/os-release", "ID=hostile\n").File("etc/shared.bin", Content.Binary("base", 50_000)), LayerCompression.Gzip);

        public static readonly BuiltImage Shared = new ImageBuilder().Layer(Base, "ADD base").Build();

        public static BuiltImage Good(string seed, LayerCompression compression) =>
            new ImageBuilder()
                .Layer(Base, "ADD base")
                .Layer(new LayerBuilder().Dir("opt").File("opt/" + seed + ".bin", Content.Binary(seed, 100_000)).File("opt/" + seed + ".txt", Content.Text(seed, 50)), compression, "RUN build")
                .Build();

        /// <summary>The shared base, then a layer that is exactly these (bad) tar bytes, compressed as asked.</summary>
        public static BuiltImage WithBadLayer(string seed, byte[] tar, LayerCompression compression) =>
            new ImageBuilder()
                .Layer(Base, "ADD base")
                .Layer(new BuiltLayer(BuiltLayer.Compress(tar, compression), tar, compression, new Dictionary<string, string>()), "RUN " + seed)
                .Build();
    }
}
