using System.Collections.Concurrent;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>A certificate and its private key as PEM text (what the distribution registry's <c>http.tls</c> reads).</summary>
public sealed record PemPair(string CertificatePem, string KeyPem);

/// <summary>A private CA made for one test run (ECDSA P-256, .NET's <see cref="CertificateRequest"/>) and the server certificates it issues.</summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _certificate;

    public TestCertificateAuthority(string name = "LayerStats Test CA")
    {
        var request = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
    }

    /// <summary>The CA certificate alone, PEM: what an operator puts in SSL_CERT_FILE (or the system store).</summary>
    public string CertificatePem => _certificate.ExportCertificatePem();

    /// <summary>A server certificate for these DNS names and IP addresses (subject alternative names), signed by this CA.</summary>
    public PemPair Issue(string[] dnsNames, IPAddress[] addresses)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={(dnsNames.Length > 0 ? dnsNames[0] : addresses[0].ToString())}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (string dns in dnsNames)
        {
            names.AddDnsName(dns);
        }

        foreach (var address in addresses)
        {
            names.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        byte[] serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7f;
        using var issued = request.Create(_certificate, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(2), serial);
        return new PemPair(issued.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    public void Dispose()
    {
        _certificate.Dispose();
        _key.Dispose();
    }
}

/// <summary>An address of this machine that is not loopback, for the plain-http refusal tests.</summary>
public static class MachineAddress
{
    /// <summary>
    /// (address to bind, host to name it by): the first IPv4 (else global IPv6) unicast address of an interface that is up
    /// and not loopback, named by itself. A machine without one (a network-less sandbox) falls back to its host name, bound
    /// to the address it resolves to: LayerStats decides plain http by the name in the reference, and a name other than
    /// <c>localhost</c> is not loopback to it, whatever it resolves to. Null when neither exists (the test then fails and says so).
    /// </summary>
    public static (IPAddress Bind, string Host)? NonLoopback()
    {
        var candidates = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses.Select(u => u.Address))
            .Where(a => !IPAddress.IsLoopback(a) && !a.IsIPv6LinkLocal && !a.IsIPv4MappedToIPv6
                && a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            .OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1)
            .ToList();
        foreach (var address in candidates)
        {
            if (CanBind(address))
            {
                return (address, address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString());
            }
        }

        string name = Dns.GetHostName();
        if (name != "localhost" && Dns.GetHostAddresses(name).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) is { } resolved && CanBind(resolved))
        {
            return (resolved, name);
        }

        return null;
    }

    private static bool CanBind(IPAddress address)
    {
        try
        {
            using var listener = new TcpListener(address, 0);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>
/// A TCP relay on a given address to an upstream host:port that records every byte clients send (across connections),
/// so a test can check what went over the wire: e.g. that no Authorization header was sent in the clear.
/// </summary>
public sealed class TcpRecorder : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly string _upstreamHost;
    private readonly int _upstreamPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<byte[]> _chunks = new();
    private readonly Task _accept;
    private int _connections;

    public TcpRecorder(IPAddress address, string upstreamHost, int upstreamPort)
    {
        _upstreamHost = upstreamHost;
        _upstreamPort = upstreamPort;
        _listener = new TcpListener(address, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accept = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    /// <summary>How many connections clients opened.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Everything clients sent so far, as Latin-1 text (bytes one to one).</summary>
    public string Received => string.Concat(_chunks.Select(c => System.Text.Encoding.Latin1.GetString(c)));

    public void Reset() => _chunks.Clear();

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using var _ = client;
        using var upstream = new TcpClient();
        try
        {
            await upstream.ConnectAsync(_upstreamHost, _upstreamPort, _stop.Token);
            await using var a = new NetworkStream(client, ownsSocket: false);
            await using var b = upstream.GetStream();
            var up = CopyAsync(a, b, record: true);
            var down = CopyAsync(b, a, record: false);
            await Task.WhenAny(up, down);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task CopyAsync(Stream from, Stream to, bool record)
    {
        byte[] buffer = new byte[16 << 10];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, _stop.Token)) > 0)
            {
                if (record)
                {
                    _chunks.Enqueue(buffer[..n]);
                }

                await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }

            to.Close();
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            to.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accept;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }
}
