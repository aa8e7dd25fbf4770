using LayerStats.Fixtures;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>An image pushed to the test registry: where it came from on disk and the digest the registry must serve for it.</summary>
public sealed record PushedImage(string Source, string NameAndTag, string Digest);

/// <summary>
/// A distribution registry filled with the bundled samples and a few fixture-built images, a <see cref="FaultProxy"/> in
/// front of it, and the same images on disk (scanned once, lazily, as the expected figures). One per test class.
/// <list type="bullet">
/// <item>base:1.0, base:1.0-zstd, web:1.0 from sample-data/images/oci-layout; tool:2.0 (an OCI index, linux/amd64 +
/// linux/arm64/v8) from sample-data/images/tool-web.oci-archive.tar; mirror/base:1.0 = base:1.0 again in another
/// repository (one image with two references, its blobs in two repositories).</item>
/// <item>docker/app:1 (Docker schema 2 manifest over base's layers plus a 1 MiB incompressible layer) and docker/multi:1 (a
/// Docker manifest list), written by the fixture builder as an OCI layout in a temp dir.</item>
/// </list>
/// Every push is checked with <c>skopeo inspect --raw</c>: the registry serves exactly the manifest bytes that are on disk.
/// </summary>
public class RegistryFixture : IAsyncLifetime
{
    public static readonly string SampleLayout = TestPaths.Repo("sample-data", "images", "oci-layout");
    public static readonly string SampleArchive = TestPaths.Repo("sample-data", "images", "tool-web.oci-archive.tar");

    // Digests of the bundled samples (sample-data/images/oci-layout/index.json, and the archive's nested index).
    public const string Base = "sha256:663b8353004ec1e4fbc09f2aa7d72147ad7d99d21e6e90f9abe0433111de264b";
    public const string BaseZstd = "sha256:8fbdead2dd6e87af1749d62913b4f7bb1e16273c61f85c3bfb7eb4c375ca1dd5";
    public const string Web = "sha256:1ab729322d6b84c182b681d6ac49fd0fd12efc22971587ba7358c0ea0590b2a6";
    public const string ToolIndex = "sha256:38e321bfb6e36f4b2e91f8f4c6a5438a33d779b2c51fe898ddd7de10b11e7502";
    public const string ToolAmd64 = "sha256:1ad54c2cda898b6a6f5e9426624b3707c5288ee77f5156c7dc4c6f84d7589c70";
    public const string ToolArm64 = "sha256:b33c73742e0a0f945ed1b4b0d10b6b0af178349ab351951777491df34b83643b";

    /// <summary>base's first layer (gzip, 423,532 bytes): in base:1.0, web:1.0, mirror/base:1.0 and docker/app:1.</summary>
    public const string BaseLayer0 = "sha256:674bb8560626";

    /// <summary>web's own last layer (gzip, 206,358 bytes), in no other image.</summary>
    public const string WebOnlyLayer = "sha256:d3e58f9da919";

    private readonly TempDir _dir = new();
    private readonly List<PushedImage> _pushed = [];
    private readonly Lazy<CliHarness> _disk;
    private RegistryServer? _registry;
    private FaultProxy? _proxy;

    public RegistryFixture()
    {
        _disk = new Lazy<CliHarness>(() =>
        {
            var cli = new CliHarness();
            var (exit, _, stderr) = cli.Scan(DiskInputs);
            if (exit != 0)
            {
                throw new InvalidOperationException($"scanning the images on disk failed ({exit}): {stderr}");
            }

            return cli;
        });
    }

    /// <summary>How the registry authenticates (override in a subclass).</summary>
    protected virtual RegistryAuth CreateAuth() => RegistryAuth.None;

    /// <summary>Which images to push: all (true), or web:1.0 and base:1.0 only (false, for the auth registries).</summary>
    protected virtual bool PushAll => true;

    public RegistryServer Registry => _registry ?? throw new InvalidOperationException("not started");

    /// <summary>The fault proxy in front of the registry (no faults until a test injects some).</summary>
    public FaultProxy Proxy => _proxy ?? throw new InvalidOperationException("not started");

    public IReadOnlyList<PushedImage> Pushed => _pushed;

    /// <summary>The fixture-built OCI layout (docker/app:1 as ref app:1, docker/multi:1 as ref multi:1).</summary>
    public string ExtraLayout => _dir.File("extra-layout");

    /// <summary>The same images as the whole registry holds, as files: scanning these gives the expected figures.</summary>
    public string[] DiskInputs => PushAll ? [SampleLayout, ExtraLayout] : [$"oci:{SampleLayout}:web:1.0", $"oci:{SampleLayout}:base:1.0"];

    /// <summary>A database with <see cref="DiskInputs"/> scanned (built on first use, shared by the class's tests).</summary>
    public CliHarness Disk => _disk.Value;

    public BuiltImage? DockerApp { get; private set; }

    public BuiltIndex? DockerMulti { get; private set; }

    public virtual async Task InitializeAsync()
    {
        _registry = await RegistryServer.StartAsync(CreateAuth());
        Push($"oci:{SampleLayout}:web:1.0", "web:1.0", Web);
        Push($"oci:{SampleLayout}:base:1.0", "base:1.0", Base);
        if (PushAll)
        {
            Push($"oci:{SampleLayout}:base:1.0-zstd", "base:1.0-zstd", BaseZstd);
            Push($"oci-archive:{SampleArchive}:tool:2.0", "tool:2.0", ToolIndex);
            Push($"oci:{SampleLayout}:base:1.0", "mirror/base:1.0", Base);
            WriteExtraLayout();
            // skopeo 1.9's oci: transport sees only OCI media types, so the Docker-format images go up over the API.
            await RegistryPush.ImageAsync(Registry.BaseUri, "docker/app", DockerApp!, "1");
            Verify("docker/app:1", DockerApp!.ManifestDigest, $"oci:{ExtraLayout}:app:1");
            await RegistryPush.IndexAsync(Registry.BaseUri, "docker/multi", DockerMulti!, "1");
            Verify("docker/multi:1", DockerMulti!.Digest, $"oci:{ExtraLayout}:multi:1");
        }

        _proxy = new FaultProxy(Registry.BaseUri);
    }

    private void Push(string source, string nameAndTag, string expectedDigest)
    {
        Registry.Push(source, nameAndTag);
        Verify(nameAndTag, expectedDigest, source);
    }

    private void Verify(string nameAndTag, string expectedDigest, string source)
    {
        byte[] served = Registry.RawManifest(nameAndTag);
        string digest = BuiltLayer.Sha256(served);
        if (digest != expectedDigest)
        {
            throw new InvalidOperationException(
                $"the registry serves {digest} for {nameAndTag}, expected {expectedDigest} (pushed from {source})");
        }

        _pushed.Add(new PushedImage(source, nameAndTag, digest));
    }

    private void WriteExtraLayout()
    {
        var samples = Samples.Build();
        var app = new ImageBuilder(format: ManifestFormat.DockerSchema2);
        foreach (var layer in samples.Base.Layers)
        {
            app.Layer(layer);
        }

        DockerApp = app
            .Layer(new LayerBuilder(implicitParents: true).File("srv/app/data.bin", Content.Random("registry/app", 1 << 20)), LayerCompression.Gzip, "COPY data.bin /srv/app/")
            .Cmd("/srv/app/run")
            .Build();
        BuiltImage Multi(string arch, string? variant) => new ImageBuilder("linux", arch, variant, ManifestFormat.DockerSchema2)
            .Layer(new LayerBuilder(implicitParents: true).File("opt/multi/" + arch, Content.Binary("registry/multi/" + arch, 48_000)), LayerCompression.Gzip)
            .Layer(new LayerBuilder(implicitParents: true).File("opt/multi/README", Content.Text("registry/multi/readme", 40)), LayerCompression.Gzip)
            .Build();
        DockerMulti = BuiltIndex.Of(ManifestFormat.DockerSchema2, Multi("amd64", null), Multi("arm", "v7"));
        ArchiveWriter.OciLayout(ExtraLayout, OciEntry.Of(DockerApp, "app:1"), OciEntry.Of(DockerMulti, true, "multi:1"));
    }

    /// <summary><c>docker://HOST/rest</c> on the registry itself.</summary>
    public string Direct(string rest = "") => rest.Length == 0 ? $"docker://{Registry.Host}" : $"docker://{Registry.Host}/{rest}";

    /// <summary><c>docker://PROXYHOST/rest</c> through the fault proxy.</summary>
    public string Proxied(string rest = "") => rest.Length == 0 ? $"docker://{Proxy.Host}" : $"docker://{Proxy.Host}/{rest}";

    public virtual async Task DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        if (_disk.IsValueCreated)
        {
            _disk.Value.Dispose();
        }

        _dir.Dispose();
    }
}

/// <summary>A registry with htpasswd Basic auth (web:1.0 and base:1.0 only).</summary>
public sealed class BasicAuthRegistryFixture : RegistryFixture
{
    public const string Username = "basicuser";

    /// <summary>Distinctive, so that a search for it in output and database cannot hit anything else.</summary>
    public const string Password = "b4sic-Pw-7f3c9e1d";

    protected override RegistryAuth CreateAuth() => RegistryAuth.Basic(Username, Password);

    protected override bool PushAll => false;
}

/// <summary>A registry with bearer-token auth against a <see cref="TokenServer"/> the test serves (web:1.0 and base:1.0 only).</summary>
public sealed class TokenAuthRegistryFixture : RegistryFixture
{
    public const string Username = "tokenuser";

    public const string Password = "t0ken-Pw-2b8e4a6c";

    private TokenServer? _tokens;

    public TokenServer Tokens => _tokens ?? throw new InvalidOperationException("not started");

    protected override RegistryAuth CreateAuth() => RegistryAuth.Token(_tokens ??= new TokenServer(Username, Password));

    protected override bool PushAll => false;

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_tokens is not null)
        {
            await _tokens.DisposeAsync();
        }
    }
}
