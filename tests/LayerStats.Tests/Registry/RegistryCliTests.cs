using LayerStats.Fixtures;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Registry;

public sealed class RegistryCliTests
{
    [Fact]
    public void Scanning_a_registry_gives_the_rows_and_figures_of_the_same_images_on_disk()
    {
        var shared = BuiltLayer.From(new LayerBuilder().File("base/os-release", "ID=test\n").File("base/lib.so", Content.Random("lib", 40_000)), LayerCompression.Gzip);
        var app1 = new ImageBuilder().Layer(shared).Layer(new LayerBuilder().File("app/one", Content.Random("one", 5000))).Build();
        var app2 = new ImageBuilder().Layer(shared).Layer(new LayerBuilder().File("app/two", Content.Text("two", 50))).Build();
        var armApp = new ImageBuilder(arch: "arm64").Layer(new LayerBuilder().File("app/arm", Content.Random("arm", 3000))).Build();
        var index = BuiltIndex.Of(app1, armApp);
        using var registry = new FakeRegistry();
        registry.Push("team/app", index, "1");
        registry.Push("team/app", app2, "2", "latest");
        using var disk = new CliHarness();
        string layout = Path.Combine(disk.Dir, "layout");
        ArchiveWriter.OciLayout(layout, OciEntry.Of(index, true, "1"), OciEntry.Of(app2, "2"));
        using var remote = new CliHarness();

        var fromDisk = disk.Scan(layout);
        var fromRegistry = remote.Scan(registry.Input("team/app"));

        Assert.Equal(0, fromDisk.Exit);
        Assert.Equal((0, ""), (fromRegistry.Exit, fromRegistry.Stderr));
        Assert.Equal(disk.Summary(), remote.Summary());
        const string Images = "SELECT image_id, config_digest, os, architecture, layer_count, compressed_bytes FROM images ORDER BY image_id";
        Assert.Equal(disk.Query(Images).Rows, remote.Query(Images).Rows);
        Assert.Equal(3L, remote.Scalar("SELECT count(*) FROM images"));
        var refs = remote.Query("SELECT image_id, repository, tag, coalesce(index_digest, '') FROM image_refs ORDER BY tag, image_id").Rows
            .Select(r => string.Join(" ", r)).ToList();
        string repo = $"{registry.Host}/team/app";
        var platforms = new[] { app1.ManifestDigest, armApp.ManifestDigest }.Order(StringComparer.Ordinal).ToList();
        Assert.Equal(
            new[]
            {
                $"{platforms[0]} {repo} 1 {index.Digest}",
                $"{platforms[1]} {repo} 1 {index.Digest}",
                $"{app2.ManifestDigest} {repo} 2 ",
                $"{app2.ManifestDigest} {repo} latest ",
            },
            refs);

        // the shared blob was fetched once in the run; a second scan fetches manifests only
        string sharedPath = $"/v2/team/app/blobs/{shared.Digest}";
        Assert.Equal(1, registry.Server.Requests.Count(r => r.PathAndQuery == sharedPath));
        var again = remote.Scan(registry.Input("team/app"));
        Assert.Equal(0, again.Exit);
        Assert.Equal(1, registry.Server.Requests.Count(r => r.PathAndQuery == sharedPath));
    }

    [Fact]
    public void Registry_options_are_checked()
    {
        using var cli = new CliHarness();

        Assert.Equal(2, cli.Run("scan", "--db", cli.Database, "--username", "u", "docker://localhost:1/x").Exit);
        Assert.Equal(2, cli.Run("scan", "--db", cli.Database, "--registry-jobs", "0", "docker://localhost:1/x").Exit);
        Assert.Equal(2, cli.Run("scan", "--db", cli.Database, "--retry-time", "-1", "docker://localhost:1/x").Exit);
    }

    [Fact]
    public void A_bad_registry_reference_is_an_error_of_that_input()
    {
        using var cli = new CliHarness();

        var (exit, _, stderr) = cli.Scan("docker://registry.example.com/Bad/Name");

        Assert.Equal(1, exit);
        Assert.Contains("not a valid repository name", stderr);
    }
}
