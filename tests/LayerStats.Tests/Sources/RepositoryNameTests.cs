using DuckDB.NET.Data;
using LayerStats.Core.Images;
using LayerStats.Core.Registry;
using LayerStats.Core.Sources;
using LayerStats.Fixtures;
using LayerStats.Storage;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Sources;

/// <summary>
/// Repository names in one canonical form (docker/distribution's ParseNormalizedNamed), whichever source found them:
/// the cases are distribution's rules written out by hand (normalize.go's splitDockerDomain and its tests).
/// </summary>
public sealed class RepositoryNameTests
{
    private const string D = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [Theory]
    // A first component with no '.' or ':' that is not 'localhost' starts a Docker Hub path.
    [InlineData("web", "docker.io/library/web")]
    [InlineData("team/app", "docker.io/team/app")]
    [InlineData("team/sub/app", "docker.io/team/sub/app")]
    [InlineData("library/web", "docker.io/library/web")]
    [InlineData("myhost/app", "docker.io/myhost/app")]
    // Docker Hub written out; index.docker.io (legacy) and registry-1.docker.io (its API host) are docker.io.
    [InlineData("docker.io/library/web", "docker.io/library/web")]
    [InlineData("docker.io/web", "docker.io/library/web")]
    [InlineData("docker.io/team/app", "docker.io/team/app")]
    [InlineData("index.docker.io/web", "docker.io/library/web")]
    [InlineData("index.docker.io/team/app", "docker.io/team/app")]
    [InlineData("registry-1.docker.io/library/web", "docker.io/library/web")]
    [InlineData("Docker.IO/web", "docker.io/library/web")]
    // Other registries: unchanged, no library/ prefix; hosts lower-cased (they compare case-insensitively).
    [InlineData("localhost/app", "localhost/app")]
    [InlineData("localhost:5000/app", "localhost:5000/app")]
    [InlineData("myhost:5000/app", "myhost:5000/app")]
    [InlineData("registry.example.com/x/y", "registry.example.com/x/y")]
    [InlineData("registry.example.com/web", "registry.example.com/web")]
    [InlineData("Registry.Example.COM:443/x/y", "registry.example.com:443/x/y")]
    [InlineData("10.0.0.5:5000/a_b/c__d-e.f", "10.0.0.5:5000/a_b/c__d-e.f")]
    [InlineData("[::1]:5000/app", "[::1]:5000/app")]
    public void Names_normalise_as_distribution_does(string written, string canonical)
    {
        Assert.True(RepositoryNames.TryNormalize(written, out string? actual));
        Assert.Equal(canonical, actual);
        // Canonical is a fixed point, and the familiar form leads back to it.
        Assert.Equal(canonical, RepositoryNames.Normalize(canonical));
        Assert.Equal(canonical, RepositoryNames.Normalize(RepositoryNames.Familiar(canonical)));
    }

    [Theory]
    [InlineData("Web")] // paths are lower-case by grammar
    [InlineData("LOCALHOST/app")] // not 'localhost', so a Hub path, and an upper-case one
    [InlineData("registry.example.com/Team/app")]
    [InlineData("-rm")]
    [InlineData("a//b")]
    [InlineData("host:99999/app")] // no such port
    [InlineData("")]
    public void Names_outside_the_grammar_are_not_normalised_and_are_kept_as_written(string written)
    {
        Assert.False(RepositoryNames.TryNormalize(written, out _));
        Assert.Equal(written, RepositoryNames.Normalize(written));
    }

    [Theory]
    [InlineData("docker.io/library/web", "web")]
    [InlineData("docker.io/team/app", "team/app")]
    [InlineData("docker.io/library/sub/app", "library/sub/app")]
    [InlineData("localhost:5000/app", "localhost:5000/app")]
    [InlineData("registry.example.com/library/web", "registry.example.com/library/web")]
    [InlineData("Web", "Web")]
    public void Familiar_names_are_what_docker_prints_and_the_report_views_agree(string canonical, string familiar)
    {
        Assert.Equal(familiar, RepositoryNames.Familiar(canonical));

        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"));
        using var cmd = db.Connection.CreateCommand();
        cmd.CommandText = "SELECT ls_familiar_name(?)";
        cmd.Parameters.Add(new DuckDBParameter(canonical));
        Assert.Equal(familiar, cmd.ExecuteScalar());
    }

    [Theory]
    [InlineData("web:latest", "docker.io/library/web", "latest")]
    [InlineData("team/app:1.0", "docker.io/team/app", "1.0")]
    [InlineData("docker.io/library/web:latest", "docker.io/library/web", "latest")]
    [InlineData("index.docker.io/library/web:1", "docker.io/library/web", "1")]
    [InlineData("localhost:5000/app", "localhost:5000/app", null)]
    [InlineData("localhost:5000/app:2", "localhost:5000/app", "2")]
    [InlineData("Registry.Example.com/x/y:3", "registry.example.com/x/y", "3")]
    [InlineData("web@" + D, "docker.io/library/web", null)]
    [InlineData("web:1.0@" + D, "docker.io/library/web", "1.0")]
    [InlineData("localhost:5000/app@" + D, "localhost:5000/app", null)]
    public void Image_names_store_the_canonical_repository_and_keep_the_raw_text(string raw, string repository, string? tag)
    {
        var name = ImageName.FromReference(raw);

        Assert.Equal((raw, repository, tag), (name.Raw, name.Repository, name.Tag));
    }

    [Fact]
    public void A_bare_tag_annotation_still_names_no_repository()
    {
        var name = ImageName.FromRefNameAnnotation("latest");

        Assert.Equal(("latest", (string?)null, "latest"), (name.Raw, name.Repository, name.Tag));
        Assert.Equal("docker.io/library/web", ImageName.FromRefNameAnnotation("web:latest").Repository);
    }

    [Theory]
    [InlineData("docker://alpine", "alpine:latest")]
    [InlineData("docker://docker.io/library/alpine:3", "alpine:3")]
    [InlineData("docker://index.docker.io/alpine:3", "index.docker.io/library/alpine:3")]
    [InlineData("docker://registry-1.docker.io/team/app:1", "team/app:1")]
    [InlineData("docker://localhost:5000/app:1", "localhost:5000/app:1")]
    [InlineData("docker://Registry.Example.com/x/y:1", "registry.example.com/x/y:1")]
    public void A_registry_reference_records_the_repository_a_file_source_records_for_the_same_name(string input, string fileName)
    {
        var reference = RegistryReference.Parse(input);
        string recorded = RegistryReference.RepositoryName(reference.Host, reference.Repository!);

        Assert.Equal(ImageName.FromReference(fileName).Repository, recorded);
    }

    [Fact]
    public async Task One_layout_naming_an_image_short_and_long_lists_it_once()
    {
        using var temp = new TempDir();
        var image = new ImageBuilder().Layer(new LayerBuilder().File("a", "a\n"), LayerCompression.Gzip, "COPY").Build();
        string layout = temp.File("layout");
        ArchiveWriter.OciLayout(layout, OciEntry.Of(image, "web:1", "docker.io/library/web:1", "index.docker.io/web:1", "web:2"));

        var listing = await DockerArchiveTests.ListAsync(layout);

        Assert.Empty(listing.Errors);
        Assert.Equal(
            [("docker.io/library/web", "1"), ("docker.io/library/web", "2")],
            listing.Images.Select(r => (r.Reference.Repository!, r.Reference.Tag!)).Order());
    }

    [Fact]
    public async Task A_docker_save_and_an_oci_layout_of_one_image_record_one_repository()
    {
        using var cli = new CliHarness();
        var image = new ImageBuilder().Layer(new LayerBuilder().File("etc/web.conf", "listen 80\n"), LayerCompression.Gzip, "COPY").Build();
        string archive = Path.Combine(cli.Dir, "web.tar");
        ArchiveWriter.DockerSave25(archive, image.Tagged("web:latest"));
        string layout = Path.Combine(cli.Dir, "layout");
        ArchiveWriter.OciLayout(layout, OciEntry.Of(image, "docker.io/library/web:latest"));

        var scan = cli.Scan(archive, "oci:" + layout);

        Assert.True(scan.Exit == 0, scan.Stderr);
        Assert.Equal(1L, cli.Scalar("SELECT count(*) FROM images"));
        var refs = cli.Query("SELECT image_id, source, repository, tag FROM image_refs ORDER BY source");
        Assert.Equal(
            [[image.ManifestDigest, archive, "docker.io/library/web", "latest"], [image.ManifestDigest, "oci:" + layout, "docker.io/library/web", "latest"]],
            refs.Rows.Select(r => r.Select(v => (string)v!).ToArray()));
        // People see the short form, once.
        Assert.Equal("web:latest", cli.Query("SELECT names FROM image_summary").Rows[0][0]);

        // Selectors still take either spelling, in either source.
        foreach (string input in new[] { $"docker-archive:{archive}:web", $"docker-archive:{archive}:docker.io/library/web:latest", $"oci:{layout}:web:latest", $"oci:{layout}:docker.io/library/web" })
        {
            var listing = await DockerArchiveTests.ListAsync(input);
            Assert.Empty(listing.Errors);
            Assert.Equal(("docker.io/library/web", "latest"), (Assert.Single(listing.Images).Reference.Repository, listing.Images[0].Reference.Tag));
        }

        var none = await DockerArchiveTests.ListAsync($"oci:{layout}:team/web");
        Assert.Empty(none.Images);
        Assert.Contains("it holds web:latest", Assert.Single(none.Errors).Message, StringComparison.Ordinal);
    }
}
