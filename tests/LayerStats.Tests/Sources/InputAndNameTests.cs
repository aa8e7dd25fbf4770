using LayerStats.Core.Sources;

namespace LayerStats.Tests.Sources;

public sealed class InputAndNameTests
{
    [Theory]
    [InlineData("registry:5000/team/app:1.0", "registry:5000/team/app", "1.0")]
    [InlineData("registry:5000/team/app", "registry:5000/team/app", null)]
    [InlineData("busybox:latest", "docker.io/library/busybox", "latest")]
    [InlineData("docker.io/library/busybox:1.36", "docker.io/library/busybox", "1.36")]
    [InlineData("app:1.0@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "docker.io/library/app", "1.0")]
    [InlineData("app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "docker.io/library/app", null)]
    public void References_split_into_repository_and_tag_minding_ports(string raw, string? repository, string? tag)
    {
        var name = ImageName.FromReference(raw);

        Assert.Equal((repository, tag), (name.Repository, name.Tag));
    }

    [Theory]
    [InlineData("latest", null, "latest")]
    [InlineData("v1.2.3-rc_1", null, "v1.2.3-rc_1")]
    [InlineData("myapp:2.0", "docker.io/library/myapp", "2.0")]
    [InlineData("quay.io/org/app:3", "quay.io/org/app", "3")]
    public void Ref_name_annotation_is_a_bare_tag_or_a_full_reference(string raw, string? repository, string? tag)
    {
        var name = ImageName.FromRefNameAnnotation(raw);

        Assert.Equal((repository, tag), (name.Repository, name.Tag));
    }

    [Theory]
    [InlineData("docker.io/library/busybox:latest", "busybox:latest", true)]
    [InlineData("docker.io/library/busybox:latest", "busybox", true)]
    [InlineData("busybox:latest", "docker.io/library/busybox:latest", true)]
    [InlineData("busybox:latest", "busybox:1", false)]
    [InlineData("team/busybox:latest", "busybox:latest", false)]
    [InlineData("team/busybox:latest", "docker.io/team/busybox", true)]
    [InlineData("index.docker.io/library/busybox:1", "busybox:1", true)]
    [InlineData("localhost:5000/busybox:1", "busybox:1", false)]
    [InlineData("localhost:5000/busybox:1", "LocalHost:5000/busybox:1", true)]
    [InlineData("registry.example.com/busybox:1", "Registry.Example.com/busybox:1", true)]
    public void Selector_matches_docker_hub_names_written_short_or_long(string found, string selector, bool matches)
    {
        Assert.Equal(matches, ImageName.FromReference(found).Matches(selector));
    }

    [Fact]
    public void Prefixed_input_splits_path_and_reference_preferring_the_path_as_written()
    {
        using var temp = new TempDir();
        string colonPath = temp.File("a:b.tar");
        File.WriteAllBytes(colonPath, [1]);
        string plainPath = temp.File("a");
        File.WriteAllBytes(plainPath, [1]);

        var whole = ImageSources.Parse($"docker-archive:{colonPath}");
        var withRef = ImageSources.Parse($"docker-archive:{plainPath}:busybox:latest");
        var oci = ImageSources.Parse($"oci:{temp.PathName}:v1");
        var plain = ImageSources.Parse(colonPath);

        Assert.Equal((SourceForm.DockerArchive, colonPath, (string?)null), (whole.Form, whole.Path, whole.Reference));
        Assert.Equal((SourceForm.DockerArchive, plainPath, "busybox:latest"), (withRef.Form, withRef.Path, withRef.Reference));
        Assert.Equal((SourceForm.OciLayout, temp.PathName, "v1"), (oci.Form, oci.Path, oci.Reference));
        Assert.Equal((SourceForm.Auto, colonPath, (string?)null), (plain.Form, plain.Path, plain.Reference));
    }
}
