using LayerStats.Tests.EndToEnd;
using static LayerStats.Tests.RegistryE2E.RegistryScanHelpers;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>
/// Scans of a real distribution registry (anonymous) through the CLI: one tag, every tag, the whole catalog, by digest,
/// --platform; the figures equal those of the same images scanned from disk (manifests are byte-identical, so the image
/// ids are the same), and every image is recorded with its registry reference.
/// </summary>
public sealed class RegistryScanTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>
{
    [Fact]
    public void The_whole_catalog_gives_the_figures_of_the_same_images_on_disk()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(fixture.Direct());
        Assert.True(exit == 0, stderr);

        // base, base-zstd, web, tool amd64 + arm64 (sample layout); docker/app, docker/multi amd64 + arm (fixture layout).
        Assert.Equal(8L, cli.Scalar("SELECT count(*) FROM images"));
        AssertSameFigures(fixture.Disk, cli);

        // base:1.0 reached in two repositories is one image with both references.
        string host = fixture.Registry.Host;
        Assert.Equal([($"{host}/base", "1.0"), ($"{host}/mirror/base", "1.0")], Refs(cli, RegistryFixture.Base));
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM scan_errors"));
    }

    [Fact]
    public void One_tag_is_one_image_recorded_with_its_repository_and_tag()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(fixture.Direct("web:1.0"));
        Assert.True(exit == 0, stderr);

        Assert.Equal([RegistryFixture.Web], ImageIds(cli));
        Assert.Equal([($"{fixture.Registry.Host}/web", "1.0")], Refs(cli, RegistryFixture.Web));
        Assert.Equal(ImageRows(fixture.Disk, id => id == RegistryFixture.Web), ImageRows(cli));

        using var disk = new CliHarness();
        Assert.Equal(0, disk.Scan($"oci:{RegistryFixture.SampleLayout}:web:1.0").Exit);
        AssertSameFigures(disk, cli);
    }

    [Fact]
    public void A_repository_without_a_tag_means_every_tag()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(fixture.Direct("base"));
        Assert.True(exit == 0, stderr);

        Assert.Equal(new[] { RegistryFixture.Base, RegistryFixture.BaseZstd }.Order(StringComparer.Ordinal), ImageIds(cli));
        string host = fixture.Registry.Host;
        Assert.Equal([($"{host}/base", "1.0")], Refs(cli, RegistryFixture.Base));
        Assert.Equal([($"{host}/base", "1.0-zstd")], Refs(cli, RegistryFixture.BaseZstd));

        using var disk = new CliHarness();
        Assert.Equal(0, disk.Scan($"oci:{RegistryFixture.SampleLayout}:base:1.0", $"oci:{RegistryFixture.SampleLayout}:base:1.0-zstd").Exit);
        AssertSameFigures(disk, cli);
    }

    [Fact]
    public void A_digest_reference_is_that_manifest()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(fixture.Direct("web@" + RegistryFixture.Web));
        Assert.True(exit == 0, stderr);

        Assert.Equal([RegistryFixture.Web], ImageIds(cli));
        Assert.Equal([($"{fixture.Registry.Host}/web", "")], Refs(cli, RegistryFixture.Web));
        Assert.Equal(ImageRows(fixture.Disk, id => id == RegistryFixture.Web), ImageRows(cli));
    }

    [Fact]
    public void A_multi_platform_index_gives_every_platform_or_the_one_asked_for()
    {
        using var all = new CliHarness();
        var (exit, _, stderr) = all.Scan(fixture.Direct("tool:2.0"));
        Assert.True(exit == 0, stderr);
        Assert.Equal(new[] { RegistryFixture.ToolAmd64, RegistryFixture.ToolArm64 }.Order(StringComparer.Ordinal), ImageIds(all));
        Assert.Equal(RegistryFixture.ToolIndex, all.Query($"SELECT index_digest FROM image_refs WHERE image_id = '{RegistryFixture.ToolArm64}'").Rows.Single()[0]);
        using var disk = new CliHarness();
        Assert.Equal(0, disk.Scan($"oci-archive:{RegistryFixture.SampleArchive}:tool:2.0").Exit);
        AssertSameFigures(disk, all);

        using var arm = new CliHarness();
        (exit, _, stderr) = arm.Run(["scan", "--db", arm.Database, "--quiet", "--platform", "linux/arm64", fixture.Direct("tool:2.0")]);
        Assert.True(exit == 0, stderr);
        Assert.Equal([RegistryFixture.ToolArm64], ImageIds(arm));
        Assert.Equal(["linux", "arm64", "v8"], arm.Query("SELECT os, architecture, variant FROM images").Rows.Single());
        Assert.Equal([($"{fixture.Registry.Host}/tool", "2.0")], Refs(arm, RegistryFixture.ToolArm64));
        Assert.Equal(ImageRows(fixture.Disk, id => id == RegistryFixture.ToolArm64), ImageRows(arm));
    }

    [Fact]
    public void Docker_schema2_manifests_and_manifest_lists_read_as_on_disk()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(fixture.Direct("docker/app:1"), fixture.Direct("docker/multi:1"));
        Assert.True(exit == 0, stderr);

        var app = fixture.DockerApp!;
        var multi = fixture.DockerMulti!;
        string[] expectedIds = [app.ManifestDigest, .. multi.Platforms.Select(p => p.ManifestDigest)];
        Assert.Equal(expectedIds.Order(StringComparer.Ordinal), ImageIds(cli));
        Assert.Equal(3L, cli.Scalar("SELECT count(*) FROM images WHERE manifest_media_type = 'application/vnd.docker.distribution.manifest.v2+json'"));
        Assert.Equal(multi.Digest, cli.Query($"SELECT DISTINCT index_digest FROM image_refs WHERE image_id = '{multi.Platforms[1].ManifestDigest}'").Rows.Single()[0]);

        // The app's layers, by hand: base's three blobs plus the 1 MiB data layer.
        Assert.Equal(app.Layers.Sum(l => l.Size), cli.Scalar($"SELECT compressed_bytes FROM images WHERE image_id = '{app.ManifestDigest}'"));
        Assert.Equal(app.Layers.Sum(l => l.UncompressedSize), cli.Scalar($"SELECT uncompressed_bytes FROM images WHERE image_id = '{app.ManifestDigest}'"));

        using var disk = new CliHarness();
        Assert.Equal(0, disk.Scan(fixture.ExtraLayout).Exit);
        AssertSameFigures(disk, cli);
    }
}
