using System.Net;
using System.Text;
using LayerStats.Tests.EndToEnd;
using static LayerStats.Tests.RegistryE2E.RegistryScanHelpers;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>
/// Plain-http registries at an address that is not loopback (<see cref="MachineAddress.NonLoopback"/>: this machine's
/// network address, or its host name where it has none): an anonymous registry bound there, and a Basic-auth registry on
/// loopback behind a <see cref="TcpRecorder"/> bound there (which records every byte the client sends). web:1.0 in both.
/// </summary>
public sealed class PlainHttpRegistryFixture : IAsyncLifetime
{
    private RegistryServer? _open;
    private RegistryServer? _basic;
    private TcpRecorder? _recorder;

    public const string Username = "plainuser";

    public const string Password = "pl4in-Pw-c41e07b9";

    public (IPAddress Bind, string Host) Address { get; private set; }

    /// <summary>The anonymous registry, served over plain http at the non-loopback address.</summary>
    public RegistryServer Open => _open ?? throw new InvalidOperationException("not started");

    /// <summary>The recorder in front of the Basic-auth registry.</summary>
    public TcpRecorder Recorder => _recorder ?? throw new InvalidOperationException("not started");

    /// <summary>HOST:PORT of the recorder: the Basic-auth registry as the scans name it.</summary>
    public string BasicHost => $"{Address.Host}:{Recorder.Port}";

    public CliHarness Disk { get; } = new();

    public async Task InitializeAsync()
    {
        Address = MachineAddress.NonLoopback()
            ?? throw new InvalidOperationException("this machine has no address that is not loopback (no network interface up with an IPv4 or global IPv6 address, and a host name that does not resolve); the plain-http refusal tests need one");
        _open = await RegistryServer.StartAsync(listen: new RegistryListen(Address.Bind.ToString(), Address.Host));
        _open.Push($"oci:{RegistryFixture.SampleLayout}:web:1.0", "web:1.0");
        _basic = await RegistryServer.StartAsync(RegistryAuth.Basic(Username, Password));
        _basic.Push($"oci:{RegistryFixture.SampleLayout}:web:1.0", "web:1.0");
        _recorder = new TcpRecorder(Address.Bind, "127.0.0.1", _basic.Port);
        var (exit, _, stderr) = Disk.Scan($"oci:{RegistryFixture.SampleLayout}:web:1.0");
        if (exit != 0)
        {
            throw new InvalidOperationException("scanning web:1.0 from disk failed: " + stderr);
        }
    }

    public async Task DisposeAsync()
    {
        if (_recorder is not null)
        {
            await _recorder.DisposeAsync();
        }

        foreach (var registry in new[] { _open, _basic })
        {
            if (registry is not null)
            {
                await registry.DisposeAsync();
            }
        }

        Disk.Dispose();
    }
}

/// <summary>
/// A plain-http registry at an address that is not loopback is not used unless named with <c>--insecure-registry</c>: the
/// scan fails with an error that says so and how to allow it, nothing is stored, and no credential goes over the wire.
/// </summary>
public sealed class RegistryPlainHttpTests(PlainHttpRegistryFixture fixture) : IClassFixture<PlainHttpRegistryFixture>
{
    [Fact]
    public void The_test_address_is_not_loopback_to_layerstats()
    {
        // What the refusal rests on: the name in the reference is not loopback (the registry itself is real and answers).
        Assert.False(LayerStats.Core.Registry.RegistryClient.IsLoopback(fixture.Open.Host), fixture.Open.Host);
        Assert.NotEqual("127.0.0.1", fixture.Address.Bind.ToString());
    }

    [Fact]
    public void Plain_http_to_a_non_loopback_host_is_refused_with_a_clear_error()
    {
        string host = fixture.Open.Host;
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan($"docker://{host}/web:1.0");
        Assert.True(exit == 1, $"exit {exit}: {stderr}");
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM images"));
        string message = (string)cli.Query("SELECT message FROM scan_errors").Rows.Single()[0]!;
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.Contains($"registry {host}", message, StringComparison.Ordinal);
        Assert.Contains("plain http", message, StringComparison.Ordinal);
        Assert.Contains("refused", message, StringComparison.Ordinal);
        Assert.Contains($"--insecure-registry {host}", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Insecure_registry_allows_plain_http_to_that_host()
    {
        string host = fixture.Open.Host;
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Run(["scan", "--db", cli.Database, "--quiet", "--insecure-registry", host, $"docker://{host}/web:1.0"]);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        AssertSameFigures(fixture.Disk, cli);
        Assert.Equal([($"{host}/web", "1.0")], Refs(cli, RegistryFixture.Web));
    }

    [Fact]
    public void No_credential_goes_over_plain_http_to_a_host_that_is_not_allowed()
    {
        string host = fixture.BasicHost;
        string basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{PlainHttpRegistryFixture.Username}:{PlainHttpRegistryFixture.Password}"));
        using var home = new TempDir();
        string authFile = home.File("auth.json");
        File.WriteAllText(authFile, "{\"auths\":{\"" + host + "\":{\"auth\":\"" + basic + "\"}}}");

        fixture.Recorder.Reset();
        int connectionsBefore = fixture.Recorder.Connections;
        using var refused = new CliHarness();
        var (exit, stdout, stderr) = refused.Run(["scan", "--db", refused.Database, "--quiet", "--auth-file", authFile, $"docker://{host}/web:1.0"]);
        Assert.True(exit == 1, $"exit {exit}: {stderr}");
        Assert.Contains($"--insecure-registry {host}", stderr, StringComparison.Ordinal);
        Assert.Equal(0L, refused.Scalar("SELECT count(*) FROM images"));
        // The client did reach the recorder (its https attempt), and sent nothing readable: no request line, no header.
        Assert.True(fixture.Recorder.Connections > connectionsBefore, "the scan never connected to the recorder");
        string wire = fixture.Recorder.Received;
        Assert.True(wire.Length > 0, "nothing recorded");
        Assert.DoesNotContain("GET /v2/", wire, StringComparison.Ordinal);
        Assert.DoesNotContain("Authorization", wire, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(basic, wire, StringComparison.Ordinal);
        Assert.DoesNotContain(PlainHttpRegistryFixture.Password, wire, StringComparison.Ordinal);
        AssertNowhere(refused, stdout, stderr, PlainHttpRegistryFixture.Password, basic);

        // Named with --insecure-registry, the same scan works, and the recorder sees the credentials in the clear:
        // the check above could have caught them.
        fixture.Recorder.Reset();
        using var allowed = new CliHarness();
        (exit, _, stderr) = allowed.Run(["scan", "--db", allowed.Database, "--quiet", "--auth-file", authFile, "--insecure-registry", host, $"docker://{host}/web:1.0"]);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        AssertSameFigures(fixture.Disk, allowed);
        Assert.Contains("Authorization: Basic " + basic, fixture.Recorder.Received, StringComparison.Ordinal);
    }
}
