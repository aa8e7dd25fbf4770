using System.Net;
using LayerStats.Tests.EndToEnd;
using static LayerStats.Tests.RegistryE2E.RegistryScanHelpers;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>
/// A distribution registry serving TLS on 127.0.0.1 with a certificate (for IP 127.0.0.1 only) issued by a CA this test made,
/// which the machine does not trust; web:1.0 pushed to it.
/// </summary>
public sealed class TlsRegistryFixture : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private readonly TestCertificateAuthority _ca = new();
    private RegistryServer? _registry;

    public RegistryServer Registry => _registry ?? throw new InvalidOperationException("not started");

    /// <summary>The CA certificate as a PEM file: the operator's SSL_CERT_FILE.</summary>
    public string CaFile => _dir.File("ca.pem");

    /// <summary>web:1.0 scanned from disk: the expected figures.</summary>
    public CliHarness Disk { get; } = new();

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(CaFile, _ca.CertificatePem);
        var pem = _ca.Issue([], [IPAddress.Loopback]);
        _registry = await RegistryServer.StartAsync(listen: new RegistryListen(CertificatePem: pem.CertificatePem, KeyPem: pem.KeyPem));
        _registry.Push($"oci:{RegistryFixture.SampleLayout}:web:1.0", "web:1.0");
        var (exit, _, stderr) = Disk.Scan($"oci:{RegistryFixture.SampleLayout}:web:1.0");
        if (exit != 0)
        {
            throw new InvalidOperationException("scanning web:1.0 from disk failed: " + stderr);
        }
    }

    public async Task DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        Disk.Dispose();
        _ca.Dispose();
        _dir.Dispose();
    }
}

/// <summary>
/// HTTPS with a certificate the machine does not trust: refused with a clear error (no fallback to plain http, even on
/// loopback); accepted with <c>--insecure-registry HOST:PORT</c>, or when the operator trusts the CA (SSL_CERT_FILE, read by
/// .NET through OpenSSL, in a child process); a trusted certificate for another name is refused.
/// </summary>
public sealed class RegistryTlsTests(TlsRegistryFixture fixture) : IClassFixture<TlsRegistryFixture>
{
    private string Host => fixture.Registry.Host;

    [Fact]
    public void An_untrusted_certificate_fails_the_scan_with_a_clear_error_and_no_image()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan($"docker://{Host}/web:1.0");
        Assert.True(exit == 1, $"exit {exit}: {stderr}");
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM images"));

        string message = (string)cli.Query("SELECT message FROM scan_errors").Rows.Single()[0]!;
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.Contains($"registry {Host}", message, StringComparison.Ordinal);
        Assert.Contains("certificate is not trusted", message, StringComparison.Ordinal);
        Assert.Contains("SSL_CERT_FILE", message, StringComparison.Ordinal);
        Assert.Contains($"--insecure-registry {Host}", message, StringComparison.Ordinal);
        // Not the confusing answer of the plain-http fallback ("HTTP 400 … not an OCI distribution registry").
        Assert.DoesNotContain("HTTP 400", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Insecure_registry_accepts_the_untrusted_certificate()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Run(["scan", "--db", cli.Database, "--quiet", "--insecure-registry", Host, $"docker://{Host}/web:1.0"]);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        AssertSameFigures(fixture.Disk, cli);
        Assert.Equal([($"{Host}/web", "1.0")], Refs(cli, RegistryFixture.Web));
    }

    [Fact]
    public void Trusting_the_ca_with_ssl_cert_file_opens_the_registry_without_insecure_registry()
    {
        using var home = new TempDir();
        using var cli = new CliHarness();
        var (exit, _, stderr) = RunChild(home.Path, ["scan", "--db", cli.Database, "--quiet", $"docker://{Host}/web:1.0"],
            new() { ["SSL_CERT_FILE"] = fixture.CaFile });
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        AssertSameFigures(fixture.Disk, cli);

        // The same child without SSL_CERT_FILE: refused (so it is the CA file that made the difference).
        using var refused = new CliHarness();
        (exit, _, stderr) = RunChild(home.Path, ["scan", "--db", refused.Database, "--quiet", $"docker://{Host}/web:1.0"]);
        Assert.True(exit == 1, $"exit {exit}: {stderr}");
        Assert.Contains("certificate is not trusted", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_trusted_certificate_for_another_host_name_is_refused()
    {
        // The certificate names IP 127.0.0.1 only; the same registry reached as localhost:PORT presents it for the wrong name.
        string other = $"localhost:{fixture.Registry.Port}";
        using var home = new TempDir();
        using var cli = new CliHarness();
        var (exit, _, stderr) = RunChild(home.Path, ["scan", "--db", cli.Database, "--quiet", $"docker://{other}/web:1.0"],
            new() { ["SSL_CERT_FILE"] = fixture.CaFile });
        Assert.True(exit == 1, $"exit {exit}: {stderr}");
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM images"));
        Assert.Contains($"registry {other}", stderr, StringComparison.Ordinal);
        Assert.Contains("does not match the host name", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("not trusted", stderr, StringComparison.Ordinal);
    }
}
