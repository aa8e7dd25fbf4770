using LayerStats.Tests.EndToEnd;
using LayerStats.Tests.Fixtures;
using static LayerStats.Tests.Interop.InteropSteps;

namespace LayerStats.Tests.Interop;

/// <summary>
/// The sample images rewritten by skopeo (containers/image, Go): recompressed OCI layouts, an OCI archive and a
/// legacy-style docker archive. Every figure is checked against the reference on the same files, and the identities
/// that recompression must keep (config, diff_ids, file figures) against what skopeo itself reports.
/// </summary>
public sealed class SkopeoCopyTests
{
    [Fact]
    public void Base_recompressed_by_skopeo_to_zstd_and_to_gzip_keeps_config_diff_ids_and_file_figures()
    {
        using var tmp = new TempDir();
        string source = "oci:" + SampleLayout + ":base:1.0";
        var sourceManifest = SkopeoManifest(source);
        string[] sourceDiffIds = DiffIds(SkopeoConfig(source));
        string sourceConfig = ConfigDigest(sourceManifest);
        string[] sourceBlobs = LayerDigests(sourceManifest);

        // A plain copy keeps the blobs; zstd is written by skopeo's encoder; zstd -> gzip by Go's compress/gzip.
        string plain = tmp.File("plain"), zstd = tmp.File("zstd"), gzip = tmp.File("gzip");
        Tool("skopeo", "copy", "--quiet", "--all", source, "oci:" + plain + ":base");
        Tool("skopeo", "copy", "--quiet", "--all", source, "oci:" + zstd + ":base", "--dest-compress-format", "zstd");
        Tool("skopeo", "copy", "--quiet", "--all", "oci:" + zstd + ":base", "oci:" + gzip + ":base", "--dest-compress", "--dest-compress-format", "gzip");

        var zstdManifest = SkopeoManifest("oci:" + zstd + ":base");
        var gzipManifest = SkopeoManifest("oci:" + gzip + ":base");
        // The copies really are other blobs, in the claimed formats (magic bytes read here, not by LayerStats).
        Assert.Equal(sourceBlobs, LayerDigests(SkopeoManifest("oci:" + plain + ":base")));
        Assert.Empty(LayerDigests(zstdManifest).Intersect(sourceBlobs));
        Assert.Empty(LayerDigests(gzipManifest).Intersect(sourceBlobs));
        Assert.All(LayerDigests(zstdManifest), d => Assert.Equal([0x28, 0xb5, 0x2f, 0xfd], Blob(zstd, d)[..4]));
        Assert.All(LayerDigests(gzipManifest), d => Assert.Equal([0x1f, 0x8b], Blob(gzip, d)[..2]));
        // skopeo keeps the config byte for byte, so its digest and diff_ids.
        Assert.Equal(sourceConfig, ConfigDigest(zstdManifest));
        Assert.Equal(sourceConfig, ConfigDigest(gzipManifest));

        using var cli = new CliHarness();
        var reference = ScanMatchesReference(cli, plain, zstd, gzip);

        string sourceManifestDigest = IndexDigest(SampleLayout, "base:1.0");
        string zstdManifestDigest = IndexDigest(zstd, "base"), gzipManifestDigest = IndexDigest(gzip, "base");
        Assert.Equal(sourceManifestDigest, IndexDigest(plain, "base"));
        Assert.Equal(3, new[] { sourceManifestDigest, zstdManifestDigest, gzipManifestDigest }.Distinct().Count());
        Assert.Equal(
            new[] { gzipManifestDigest, sourceManifestDigest, zstdManifestDigest }.Order(StringComparer.Ordinal),
            Column(cli, "SELECT image_id FROM images ORDER BY image_id"));
        Assert.Equal([sourceConfig], Column(cli, "SELECT DISTINCT config_digest FROM images"));
        foreach (string image in new[] { sourceManifestDigest, zstdManifestDigest, gzipManifestDigest })
        {
            Assert.Equal(sourceDiffIds, Column(cli, $"SELECT diff_id FROM image_layers WHERE image_id = {Sql(image)} ORDER BY position"));
        }

        Assert.Equal(["zstd", "zstd", "zstd"], Column(cli, $"SELECT l.compression FROM image_layers il JOIN layers l USING (digest) WHERE il.image_id = {Sql(zstdManifestDigest)}"));
        Assert.Equal(["gzip", "gzip", "gzip"], Column(cli, $"SELECT l.compression FROM image_layers il JOIN layers l USING (digest) WHERE il.image_id = {Sql(gzipManifestDigest)}"));

        // Nine blobs, three contents: file-level figures are those of the original image alone (reference on the plain copy).
        var summary = cli.Summary();
        Assert.Equal(9L, Convert.ToInt64(summary["distinct_layers"]));
        Assert.Equal(3L, Convert.ToInt64(summary["distinct_diff_ids"]));
        var original = System.Text.Json.JsonDocument.Parse(ReferenceFigures.RunReference([plain])).RootElement.GetProperty("summary");
        foreach (string field in new[] { "file_count", "file_content_bytes", "file_unique_content_bytes", "file_duplicate_bytes", "file_duplicate_within_layer_bytes", "file_duplicate_across_layers_bytes", "unique_uncompressed_bytes" })
        {
            Assert.True(original.GetProperty(field).GetInt64() == Convert.ToInt64(summary[field]), $"{field}: original {original.GetProperty(field)}, copies {summary[field]}");
        }

        Assert.Equal(original.GetProperty("hidden_bytes").GetInt64() * 3, reference.GetProperty("summary").GetProperty("hidden_bytes").GetInt64());
        Assert.Equal(original.GetProperty("flat_uncompressed_bytes").GetInt64() * 3, Convert.ToInt64(summary["flat_uncompressed_bytes"]));
    }

    [Fact]
    public void Skopeo_written_oci_archive_and_docker_archive_read_like_their_sources()
    {
        using var tmp = new TempDir();
        string webSource = "oci:" + SampleLayout + ":web:1.0";
        string toolSource = "oci-archive:" + SampleOciArchive + ":tool:2.0";
        string webOci = tmp.File("web.oci.tar"), toolZstd = tmp.File("tool-zstd.oci.tar"), webDocker = tmp.File("web.docker.tar");
        Tool("skopeo", "copy", "--quiet", "--all", webSource, "oci-archive:" + webOci + ":web:1.0");
        Tool("skopeo", "copy", "--quiet", "--all", toolSource, "oci-archive:" + toolZstd + ":tool:2.0", "--dest-compress-format", "zstd");
        Tool("skopeo", "copy", "--quiet", webSource, "docker-archive:" + webDocker + ":web:1.0");

        // skopeo's docker-archive is legacy style with each <id>/layer.tar a symlink to <diff_id>.tar: prove it is.
        var dockerEntries = FixtureTools.PythonTarList(File.ReadAllBytes(webDocker));
        Assert.Equal(5, dockerEntries.Count(e => e.Type == "2" && e.Name.EndsWith("/layer.tar", StringComparison.Ordinal)));
        Assert.Contains(dockerEntries, e => e.Name == "manifest.json");
        Assert.DoesNotContain(dockerEntries, e => e.Name == "index.json");

        using var cli = new CliHarness();
        ScanMatchesReference(cli, webOci, toolZstd, webDocker);

        var webManifest = SkopeoManifest(webSource);
        string webConfig = ConfigDigest(webManifest);
        string[] webDiffIds = DiffIds(SkopeoConfig(webSource));
        string webManifestDigest = IndexDigest(SampleLayout, "web:1.0");

        // The OCI archive holds the very same manifest: the same image as in the sample layout.
        Assert.Equal(1L, cli.Scalar($"SELECT count(*) FROM images WHERE image_id = {Sql(webManifestDigest)} AND config_digest = {Sql(webConfig)}"));
        // The docker archive has no manifest: the config digest is the image, its blobs are the uncompressed diff_ids.
        Assert.Equal([webConfig], Column(cli, $"SELECT image_id FROM images WHERE manifest_digest IS NULL"));
        Assert.Equal(webDiffIds, Column(cli, $"SELECT diff_id FROM image_layers WHERE image_id = {Sql(webConfig)} ORDER BY position"));
        Assert.Equal(webDiffIds, Column(cli, $"SELECT digest FROM image_layers WHERE image_id = {Sql(webConfig)} ORDER BY position"));
        Assert.Equal(["none"], Column(cli, $"SELECT DISTINCT l.compression FROM image_layers il JOIN layers l USING (digest) WHERE il.image_id = {Sql(webConfig)}"));
        Assert.Equal(webDiffIds, Column(cli, $"SELECT diff_id FROM image_layers WHERE image_id = {Sql(webManifestDigest)} ORDER BY position"));

        // tool:2.0 recompressed to zstd (its eStargz layer too): both platforms, new blobs, same configs and diff_ids.
        foreach (var (arch, variant) in new[] { ("amd64", ""), ("arm64", "v8") })
        {
            string[] options = variant == "" ? ["--override-arch", arch] : ["--override-arch", arch, "--override-variant", variant];
            string rawConfig = Tool("skopeo", [.. options, "inspect", "--config", "--raw", toolSource]);
            string config = FixtureTools.Sha256(System.Text.Encoding.UTF8.GetBytes(rawConfig));
            string[] diffIds = DiffIds(System.Text.Json.JsonDocument.Parse(rawConfig).RootElement);
            var sourceBlobs = System.Text.Json.JsonDocument.Parse(Tool("skopeo", [.. options, "inspect", toolSource])).RootElement
                .GetProperty("Layers").EnumerateArray().Select(l => l.GetString()).ToList();
            Assert.Equal(diffIds.Length, sourceBlobs.Count);

            var image = cli.Query($"SELECT image_id, architecture, coalesce(variant, '') FROM images WHERE config_digest = {Sql(config)}").Rows;
            Assert.Single(image);
            Assert.Equal(arch, image[0][1]);
            Assert.Equal(variant, image[0][2]);
            string imageId = (string)image[0][0]!;
            Assert.Equal(diffIds, Column(cli, $"SELECT diff_id FROM image_layers WHERE image_id = {Sql(imageId)} ORDER BY position"));
            Assert.Equal(diffIds.Select(_ => "zstd"), Column(cli, $"SELECT l.compression FROM image_layers il JOIN layers l USING (digest) WHERE il.image_id = {Sql(imageId)} ORDER BY il.position"));
            // Recompressed blobs are new; only arm64's base layer, zstd already in the sample, is kept as it was.
            var digests = Column(cli, $"SELECT digest FROM image_layers WHERE image_id = {Sql(imageId)} ORDER BY position");
            Assert.Equal(arch == "arm64" ? [sourceBlobs[0]] : [], digests.Intersect(sourceBlobs));
        }
    }

    /// <summary>
    /// skopeo's transport references as scan inputs (oci:PATH:REF, oci-archive:PATH:REF, docker-archive:PATH:NAME) pick
    /// the images skopeo resolves for the same reference, including docker-archive names that skopeo normalises
    /// (web:1.0 = docker.io/library/web:1.0, both ways).
    /// </summary>
    [Fact]
    public void Skopeo_transport_references_as_inputs_pick_the_images_skopeo_picks()
    {
        using var tmp = new TempDir();
        string webDocker = tmp.File("web.docker.tar");
        Tool("skopeo", "copy", "--quiet", "oci:" + SampleLayout + ":web:1.0", "docker-archive:" + webDocker + ":web:1.0");
        string legacy = TestPaths.Repo("sample-data", "images", "base-web.docker-legacy.tar");
        var references = new[]
        {
            "oci:" + SampleLayout + ":base:1.0-zstd",
            "oci-archive:" + SampleOciArchive + ":tool:2.0",
            "docker-archive:" + webDocker + ":web:1.0",
            "docker-archive:" + legacy + ":docker.io/library/base:1.0",
        };
        foreach (string reference in references)
        {
            string raw = Tool("skopeo", "inspect", "--raw", reference);
            using var doc = System.Text.Json.JsonDocument.Parse(raw);
            IEnumerable<string> expected = doc.RootElement.TryGetProperty("manifests", out var manifests)
                ? manifests.EnumerateArray().Select(m => m.GetProperty("digest").GetString()!)
                : reference.StartsWith("docker-archive:", StringComparison.Ordinal)
                    ? [FixtureTools.Sha256(System.Text.Encoding.UTF8.GetBytes(Tool("skopeo", "inspect", "--config", "--raw", reference)))]
                    : [FixtureTools.Sha256(System.Text.Encoding.UTF8.GetBytes(raw))];

            using var cli = new CliHarness();
            var (exit, _, stderr) = cli.Scan(reference);
            Assert.True(exit == 0, $"{reference}: scan exited {exit}: {stderr}");
            Assert.Equal(expected.Order(StringComparer.Ordinal), Column(cli, "SELECT image_id FROM images ORDER BY image_id"));
        }
    }
}
