using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>How a <see cref="RegistryServer"/> authenticates its clients.</summary>
public abstract record RegistryAuth
{
    private RegistryAuth()
    {
    }

    /// <summary>Anonymous: every request is allowed.</summary>
    public static RegistryAuth None { get; } = new Anonymous();

    /// <summary>HTTP Basic against an htpasswd file (bcrypt, made with <c>htpasswd -Bbc</c>).</summary>
    public static RegistryAuth Basic(string username, string password) => new Htpasswd(username, password);

    /// <summary>Bearer tokens issued by <paramref name="server"/> (the registry trusts its certificate).</summary>
    public static RegistryAuth Token(TokenServer server) => new Bearer(server);

    public sealed record Anonymous : RegistryAuth;

    public sealed record Htpasswd(string Username, string Password) : RegistryAuth
    {
        public override string ToString() => $"Htpasswd {{ Username = {Username} }}";
    }

    public sealed record Bearer(TokenServer Server) : RegistryAuth;
}

/// <summary>
/// Where a <see cref="RegistryServer"/> listens and how: the address it binds (127.0.0.1 unless said otherwise), the
/// host name references use for it (the address unless said otherwise), and TLS (PEM certificate and key files) or plain http.
/// </summary>
public sealed record RegistryListen(string BindAddress = "127.0.0.1", string? HostName = null, string? CertificatePem = null, string? KeyPem = null)
{
    public static RegistryListen Loopback { get; } = new();

    public bool Tls => CertificatePem is not null;

    /// <summary>The address as it goes in a URL authority (IPv6 in brackets).</summary>
    public string Authority => HostName ?? (BindAddress.Contains(':', StringComparison.Ordinal) ? $"[{BindAddress}]" : BindAddress);
}

/// <summary>
/// The CNCF distribution registry (Debian's <c>docker-registry</c>, 2.8) as a child process on 127.0.0.1 (or the address
/// <see cref="RegistryListen"/> says) at a free port, over plain http or TLS, with its own config and storage in a temp
/// dir; killed and removed at dispose.
/// </summary>
public sealed class RegistryServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TempDir _dir;

    private RegistryServer(Process process, TempDir dir, int port, RegistryAuth auth, RegistryListen listen)
    {
        _process = process;
        _dir = dir;
        Port = port;
        Auth = auth;
        Listen = listen;
    }

    public int Port { get; }

    public RegistryAuth Auth { get; }

    public RegistryListen Listen { get; }

    /// <summary><c>127.0.0.1:PORT</c> (or the listen host name), as it appears in references and in image_refs.repository.</summary>
    public string Host => $"{Listen.Authority}:{Port}";

    public Uri BaseUri => new($"{(Listen.Tls ? "https" : "http")}://{Host}/");

    /// <summary>Where the registry's stdout/stderr go (its log level is 'error').</summary>
    public string LogPath => _dir.File("registry.log");

    /// <summary><c>user:password</c> for skopeo when the registry wants credentials.</summary>
    public string? Credentials => Auth switch
    {
        RegistryAuth.Htpasswd h => $"{h.Username}:{h.Password}",
        RegistryAuth.Bearer b => $"{b.Server.Username}:{b.Server.Password}",
        _ => null,
    };

    public static async Task<RegistryServer> StartAsync(RegistryAuth? auth = null, RegistryListen? listen = null, CancellationToken ct = default)
    {
        auth ??= RegistryAuth.None;
        listen ??= RegistryListen.Loopback;
        string binary = ExternalTool.Require("docker-registry", "docker-registry");
        var dir = new TempDir();
        try
        {
            int port = FreePort(IPAddress.Parse(listen.BindAddress));
            string config = dir.File("config.yml");
            await File.WriteAllTextAsync(config, Config(dir, port, auth, listen), ct);
            // The registry logs to stderr; a shell redirect keeps the log in a file without a reader thread.
            var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("exec \"$0\" serve \"$1\" >\"$2\" 2>&1");
            start.ArgumentList.Add(binary);
            start.ArgumentList.Add(config);
            start.ArgumentList.Add(dir.File("registry.log"));
            var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start docker-registry");
            var server = new RegistryServer(process, dir, port, auth, listen);
            try
            {
                await server.WaitUntilReadyAsync(ct);
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }

            return server;
        }
        catch (Exception) when (Cleanup(dir))
        {
            throw;
        }
    }

    /// <summary>The distribution registry's YAML config for this instance.</summary>
    private static string Config(TempDir dir, int port, RegistryAuth auth, RegistryListen listen)
    {
        var yaml = new StringBuilder();
        yaml.AppendLine("version: 0.1");
        yaml.AppendLine("log:");
        yaml.AppendLine("  level: error");
        yaml.AppendLine("  accesslog:");
        yaml.AppendLine("    disabled: true");
        yaml.AppendLine("storage:");
        yaml.AppendLine("  filesystem:");
        yaml.AppendLine($"    rootdirectory: {dir.File("storage")}");
        yaml.AppendLine("  delete:");
        yaml.AppendLine("    enabled: true");
        yaml.AppendLine("http:");
        string bind = listen.BindAddress.Contains(':', StringComparison.Ordinal) ? $"[{listen.BindAddress}]" : listen.BindAddress;
        yaml.AppendLine($"  addr: {bind}:{port}");
        if (listen.Tls)
        {
            string certificate = dir.File("tls.crt");
            string key = dir.File("tls.key");
            File.WriteAllText(certificate, listen.CertificatePem);
            File.WriteAllText(key, listen.KeyPem ?? throw new ArgumentException("TLS needs a key", nameof(listen)));
            yaml.AppendLine("  tls:");
            yaml.AppendLine($"    certificate: {certificate}");
            yaml.AppendLine($"    key: {key}");
        }

        switch (auth)
        {
            case RegistryAuth.Htpasswd h:
                string htpasswd = dir.File("htpasswd");
                ExternalTool.Run(ExternalTool.Require("htpasswd", "apache2-utils"), ["-Bbc", htpasswd, h.Username, h.Password])
                    .EnsureSuccess("htpasswd -Bbc");
                yaml.AppendLine("auth:");
                yaml.AppendLine("  htpasswd:");
                yaml.AppendLine("    realm: layerstats-test");
                yaml.AppendLine($"    path: {htpasswd}");
                break;
            case RegistryAuth.Bearer b:
                string bundle = dir.File("token-roots.pem");
                File.WriteAllText(bundle, b.Server.CertificatePem);
                yaml.AppendLine("auth:");
                yaml.AppendLine("  token:");
                yaml.AppendLine($"    realm: {b.Server.Realm}");
                yaml.AppendLine($"    service: {b.Server.Service}");
                yaml.AppendLine($"    issuer: {b.Server.Issuer}");
                yaml.AppendLine($"    rootcertbundle: {bundle}");
                break;
        }

        return yaml.ToString();
    }

    private async Task WaitUntilReadyAsync(CancellationToken ct)
    {
        // Readiness only: the test's certificate is not trusted by this process.
        using var handler = new SocketsHttpHandler { UseProxy = false };
#pragma warning disable CA5359
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"docker-registry exited with {_process.ExitCode}: {ReadLog()}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(BaseUri, "v2/"), ct);
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(15, ct);
        }

        throw new TimeoutException($"docker-registry did not answer on {Host} within 15 s: {ReadLog()}");
    }

    public string ReadLog()
    {
        try
        {
            return File.ReadAllText(LogPath);
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>Copies <paramref name="source"/> (a skopeo reference such as <c>oci-archive:PATH:tag</c>) to NAME:TAG here.</summary>
    public void Push(string source, string nameAndTag) => Skopeo.Copy(source, $"docker://{Host}/{nameAndTag}", Credentials);

    /// <summary>The manifest (or index) bytes the registry serves for NAME:TAG or NAME@DIGEST, as skopeo reads them.</summary>
    public byte[] RawManifest(string nameAndReference) => Skopeo.InspectRaw($"docker://{Host}/{nameAndReference}", Credentials);

    public static int FreePort(IPAddress? address = null)
    {
        using var listener = new TcpListener(address ?? IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        _dir.Dispose();
    }

    private static bool Cleanup(TempDir dir)
    {
        dir.Dispose();
        return false;
    }
}
