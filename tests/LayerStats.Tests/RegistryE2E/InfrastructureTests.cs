using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Xunit.Abstractions;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>The registry test infrastructure itself: the real registry, skopeo pushes, the fault proxy, the token server.</summary>
public sealed class InfrastructureTests(RegistryFixture fixture, ITestOutputHelper output) : IClassFixture<RegistryFixture>
{
    [Fact]
    public async Task The_registry_serves_the_catalog_tags_and_blobs_skopeo_pushed()
    {
        using var http = new HttpClient { BaseAddress = fixture.Registry.BaseUri };
        using var catalog = JsonDocument.Parse(await http.GetStringAsync("v2/_catalog"));
        var repositories = catalog.RootElement.GetProperty("repositories").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["base", "docker/app", "docker/multi", "mirror/base", "tool", "web"], repositories);
        using var tags = JsonDocument.Parse(await http.GetStringAsync("v2/base/tags/list"));
        Assert.Equal(["1.0", "1.0-zstd"], tags.RootElement.GetProperty("tags").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal).ToArray());

        // A blob as the registry serves it is the file on disk, byte for byte.
        string full = Directory.GetFiles(Path.Combine(RegistryFixture.SampleLayout, "blobs", "sha256"), "674bb8560626*").Single();
        byte[] served = await http.GetByteArrayAsync($"v2/web/blobs/sha256:{Path.GetFileName(full)}");
        Assert.Equal(await File.ReadAllBytesAsync(full), served);

        // The zstd and estargz blobs survived skopeo: every manifest served is byte-identical to the one on disk (checked
        // at push with skopeo inspect --raw), so every blob digest is; base:1.0-zstd's zstd layer is served as is.
        Assert.Equal(7, fixture.Pushed.Count);
        string zstd = Directory.GetFiles(Path.Combine(RegistryFixture.SampleLayout, "blobs", "sha256"), "074cdfcdccb7*").Single();
        Assert.Equal(await File.ReadAllBytesAsync(zstd), await http.GetByteArrayAsync($"v2/base/blobs/sha256:{Path.GetFileName(zstd)}"));
    }

    [Fact]
    public async Task A_registry_starts_in_well_under_a_second_and_is_gone_after_dispose()
    {
        var clock = Stopwatch.StartNew();
        var registry = await RegistryServer.StartAsync();
        var started = clock.Elapsed;
        output.WriteLine($"docker-registry answered /v2/ after {started.TotalMilliseconds:0} ms");
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(registry.BaseUri, "v2/"))).StatusCode);
        await registry.DisposeAsync();
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri(registry.BaseUri, "v2/")));
    }

    [Fact]
    public void A_missing_tool_fails_with_how_to_install_it()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => ExternalTool.Require("layerstats-no-such-tool", "layerstats-no-such-package", install: false));
        Assert.Contains("apt-get install layerstats-no-such-package", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_proxy_injects_each_fault_and_counts_requests()
    {
        var proxy = fixture.Proxy;
        proxy.Reset();
        string blobFile = Directory.GetFiles(Path.Combine(RegistryFixture.SampleLayout, "blobs", "sha256"), "674bb8560626*").Single();
        byte[] expected = await File.ReadAllBytesAsync(blobFile);
        string blobPath = $"/v2/web/blobs/sha256:{Path.GetFileName(blobFile)}";
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri($"http://{proxy.Host}") };

        var r429 = proxy.Inject("GET", "/manifests/", Fault.Status(429, retryAfterSeconds: 1), times: 1);
        var r503 = proxy.Inject("GET", "/manifests/", Fault.Status(503), times: 2);
        using (var request = new HttpRequestMessage(HttpMethod.Get, "v2/web/manifests/1.0"))
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/vnd.oci.image.manifest.v1+json"));
            var first = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.TooManyRequests, first.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), first.Headers.RetryAfter?.Delta);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("v2/web/manifests/1.0")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("v2/web/manifests/1.0")).StatusCode);
        var manifest = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "v2/web/manifests/1.0")
        {
            Headers = { Accept = { new MediaTypeWithQualityHeaderValue("application/vnd.oci.image.manifest.v1+json") } },
        });
        Assert.Equal(HttpStatusCode.OK, manifest.StatusCode);
        Assert.Equal(RegistryFixture.Web, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(await manifest.Content.ReadAsByteArrayAsync())));
        Assert.Equal((1, 2), (r429.Hits, r503.Hits));

        // A reset after 100,000 bytes: the client reads exactly those, then the connection fails.
        proxy.Inject("GET", "/blobs/", Fault.ResetAfter(100_000), times: 1);
        var (got, error) = await ReadAllAsync(http, blobPath);
        Assert.NotNull(error);
        Assert.Equal(100_000, got.Length);
        Assert.Equal(expected.AsSpan(0, 100_000).ToArray(), got);

        // The rest, with a Range request, as a client resumes.
        using (var range = new HttpRequestMessage(HttpMethod.Get, blobPath) { Headers = { Range = new RangeHeaderValue(100_000, null) } })
        {
            var rest = await http.SendAsync(range);
            Assert.Equal(HttpStatusCode.PartialContent, rest.StatusCode);
            Assert.Equal(expected.AsSpan(100_000).ToArray(), await rest.Content.ReadAsByteArrayAsync());
        }

        // A lying Content-Length (1,000 more than sent): the body ends early.
        proxy.Inject("GET", "/blobs/", Fault.LyingLength(1000), times: 1);
        (got, error) = await ReadAllAsync(http, blobPath);
        Assert.NotNull(error);
        Assert.Equal(expected, got);

        // A flipped byte: same length, one byte differs.
        proxy.Inject("GET", "/blobs/", Fault.FlipByte(12_345), times: 1);
        (got, error) = await ReadAllAsync(http, blobPath);
        Assert.Null(error);
        Assert.Equal(expected.Length, got.Length);
        Assert.Equal([12_345], Enumerable.Range(0, got.Length).Where(i => got[i] != expected[i]).ToArray());

        // A slow body: the first 64 KiB at 128 KiB/s take at least half a second; the bytes are intact.
        proxy.Inject("GET", "/blobs/", Fault.Slow(128 << 10, 64 << 10), times: 1);
        var clock = Stopwatch.StartNew();
        (got, error) = await ReadAllAsync(http, blobPath);
        Assert.Null(error);
        Assert.Equal(expected, got);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.45), $"slow body took {clock.Elapsed}");

        // Faults used up: a clean read. Counters: 6 blob GETs (reset, range, lying, flipped, slow, clean), all answered 200 or 206.
        (got, error) = await ReadAllAsync(http, blobPath);
        Assert.Null(error);
        Assert.Equal(expected, got);
        Assert.Equal(6, proxy.Count("GET", "/blobs/"));
        Assert.Equal(6, proxy.BlobGets()["sha256:" + Path.GetFileName(blobFile)]);
        Assert.Equal(4, proxy.Count("GET", "/manifests/"));
    }

    private static async Task<(byte[] Bytes, Exception? Error)> ReadAllAsync(HttpClient http, string path)
    {
        using var buffer = new MemoryStream();
        try
        {
            using var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            await using var body = await response.Content.ReadAsStreamAsync();
            await body.CopyToAsync(buffer);
            return (buffer.ToArray(), null);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return (buffer.ToArray(), ex);
        }
    }

    [Fact]
    public async Task The_token_server_issues_tokens_the_registry_accepts_and_refuses_wrong_credentials()
    {
        await using var tokens = new TokenServer("tokenuser", "t0ken-Secret-pw");
        await using var registry = await RegistryServer.StartAsync(RegistryAuth.Token(tokens));
        registry.Push($"oci:{RegistryFixture.SampleLayout}:web:1.0", "team/web:1.0");

        using var http = new HttpClient();
        var challenge = await http.GetAsync(new Uri(registry.BaseUri, "v2/team/web/manifests/1.0"));
        Assert.Equal(HttpStatusCode.Unauthorized, challenge.StatusCode);
        string header = challenge.Headers.WwwAuthenticate.ToString();
        Assert.Contains($"realm=\"{tokens.Realm}\"", header, StringComparison.Ordinal);
        Assert.Contains("scope=\"repository:team/web:pull\"", header, StringComparison.Ordinal);

        tokens.ResetCounters();
        byte[] raw = Skopeo.InspectRaw($"docker://{registry.Host}/team/web:1.0", "tokenuser:t0ken-Secret-pw");
        Assert.Equal(RegistryFixture.Web, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(raw)));
        Assert.True(tokens.TokensIssued >= 1);
        Assert.Contains(tokens.Requests, r => r.Scopes.Contains("repository:team/web:pull"));

        var wrong = ExternalTool.Run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", "tokenuser:wrong", $"docker://{registry.Host}/team/web:1.0"]);
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains(tokens.Requests, r => !r.Authenticated);

        // A token made by hand for another repository's scope does not open this one.
        string token = tokens.IssueToken("tokenuser", ["repository:other:pull"]);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(registry.BaseUri, "v2/team/web/manifests/1.0"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(request)).StatusCode);
        using var allowed = new HttpRequestMessage(HttpMethod.Get, new Uri(registry.BaseUri, "v2/team/web/manifests/1.0"));
        allowed.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tokens.IssueToken("tokenuser", ["repository:team/web:pull"]));
        allowed.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/vnd.oci.image.manifest.v1+json"));
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(allowed)).StatusCode);
    }

    [Fact]
    public async Task The_htpasswd_registry_wants_the_right_password()
    {
        await using var registry = await RegistryServer.StartAsync(RegistryAuth.Basic("basicuser", "b4sic-Secret-pw"));
        registry.Push($"oci:{RegistryFixture.SampleLayout}:web:1.0", "web:1.0");
        Assert.Equal(RegistryFixture.Web, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(registry.RawManifest("web:1.0"))));
        var anonymous = ExternalTool.Run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--no-creds", $"docker://{registry.Host}/web:1.0"]);
        Assert.NotEqual(0, anonymous.ExitCode);
        var wrong = ExternalTool.Run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", "basicuser:nope", $"docker://{registry.Host}/web:1.0"]);
        Assert.NotEqual(0, wrong.ExitCode);
    }
}
