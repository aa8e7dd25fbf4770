using LayerStats.Tests.EndToEnd;
using static LayerStats.Tests.RegistryE2E.RegistryScanHelpers;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>
/// Scans through the <see cref="FaultProxy"/>: blobs fetched once per run, a nightly rescan that fetches manifests only,
/// and network faults (429 + Retry-After, 503 bursts, a reset mid-blob, a slow body, a lying Content-Length) that must
/// not change a figure; faults past the retry budget and corrupt bytes that fail their image only.
/// </summary>
public sealed class RegistryFaultTests : IClassFixture<RegistryFixture>
{
    private readonly RegistryFixture _fixture;
    private readonly FaultProxy _proxy;

    public RegistryFaultTests(RegistryFixture fixture)
    {
        _fixture = fixture;
        _proxy = fixture.Proxy;
        _proxy.Reset();
    }

    private string[] Inputs => [_fixture.Proxied("base:1.0"), _fixture.Proxied("web:1.0"), _fixture.Proxied("tool:2.0"), _fixture.Proxied("mirror/base:1.0"), _fixture.Proxied("docker/app:1")];

    /// <summary>The same five inputs from disk (in a database of its own, built once per test that needs it).</summary>
    private static CliHarness DiskScan(RegistryFixture fixture, params string[] skip)
    {
        var disk = new CliHarness();
        var inputs = new List<string>
        {
            $"oci:{RegistryFixture.SampleLayout}:base:1.0",
            $"oci:{RegistryFixture.SampleLayout}:web:1.0",
            $"oci-archive:{RegistryFixture.SampleArchive}:tool:2.0",
            $"oci:{fixture.ExtraLayout}:app:1",
        };
        inputs.RemoveAll(i => skip.Any(s => i.EndsWith(s, StringComparison.Ordinal)));
        var (exit, _, stderr) = disk.Scan([.. inputs]);
        Assert.True(exit == 0, stderr);
        return disk;
    }

    [Fact]
    public void A_blob_shared_by_many_images_is_fetched_once_and_a_rescan_fetches_manifests_only()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(Inputs);
        Assert.True(exit == 0, stderr);
        using var disk = DiskScan(_fixture);
        AssertSameFigures(disk, cli);

        // base's first layer is in base:1.0, web:1.0, mirror/base:1.0 (another repository) and docker/app:1.
        var gets = _proxy.BlobGets();
        string shared = gets.Keys.Single(k => k.StartsWith(RegistryFixture.BaseLayer0, StringComparison.Ordinal));
        Assert.Equal(1, gets[shared]);
        var layerDigests = cli.Query("SELECT digest FROM layers").Rows.Select(r => (string)r[0]!).ToList();
        Assert.Equal(9, layerDigests.Count); // base 3, web +2, tool 3 (one shared by both platforms), app +1
        Assert.All(layerDigests, d => Assert.Equal(1, gets.GetValueOrDefault(d)));
        Assert.Equal(layerDigests.Count, LastRun(cli, "layers_read"));

        // The nightly rescan: the registry is unchanged, so no blob (layer or config) is fetched, no layer read.
        _proxy.Reset();
        (exit, _, stderr) = cli.Scan(Inputs);
        Assert.True(exit == 0, stderr);
        var blobGets = _proxy.Requests.Where(r => r.Method == "GET" && r.Path.Contains("/blobs/", StringComparison.Ordinal)).Select(r => r.Path).ToList();
        Assert.True(blobGets.Count == 0, $"the rescan fetched {blobGets.Count} blob(s): {string.Join(", ", blobGets)}");
        Assert.True(_proxy.Count("GET", "/manifests/") >= 5);
        Assert.Equal(0L, LastRun(cli, "layers_read"));
        Assert.Equal(9L, LastRun(cli, "layers_skipped"));
        AssertSameFigures(disk, cli);
    }

    [Fact]
    public void Throttling_and_unavailability_bursts_do_not_change_a_figure()
    {
        var rules = new[]
        {
            _proxy.Inject("GET", "^/v2/web/manifests/", Fault.Status(429, retryAfterSeconds: 1), times: 1),
            _proxy.Inject("GET", "^/v2/tool/manifests/", Fault.Status(503), times: 3),
            _proxy.Inject("GET", "/blobs/" + RegistryFixture.BaseLayer0, Fault.Status(503), times: 3),
            _proxy.Inject("GET", "/blobs/" + RegistryFixture.WebOnlyLayer, Fault.Status(429, retryAfterSeconds: 1), times: 2),
            _proxy.Inject(null, "^/v2/$", Fault.Status(503), times: 2),
        };
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(Inputs);
        Assert.True(exit == 0, stderr);
        Assert.Equal([1, 3, 3, 2], rules.Take(4).Select(r => r.Hits).ToArray());

        using var disk = DiskScan(_fixture);
        AssertSameFigures(disk, cli);
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM scan_errors"));

        // Retry-After: 1 was honoured: the retry of the throttled web manifest came a second or more after the 429.
        var web = _proxy.Requests.Where(r => r.Path.StartsWith("/v2/web/manifests/", StringComparison.Ordinal)).ToList();
        Assert.Equal(429, web[0].Status);
        var retry = web.Skip(1).First(r => r.Status == 200);
        Assert.True(retry.At - web[0].At >= TimeSpan.FromSeconds(0.95), $"retried after {(retry.At - web[0].At).TotalSeconds:0.000} s despite Retry-After: 1");
    }

    [Fact]
    public void A_connection_reset_in_the_middle_of_a_blob_is_resumed_with_the_same_figures()
    {
        var reset = _proxy.Inject("GET", "/blobs/" + RegistryFixture.BaseLayer0, Fault.ResetAfter(150_000), times: 1);
        var lying = _proxy.Inject("GET", "/blobs/" + RegistryFixture.WebOnlyLayer, Fault.LyingLength(5_000), times: 1);
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(Inputs);
        Assert.True(exit == 0, stderr);
        Assert.Equal((1, 1), (reset.Hits, lying.Hits));

        using var disk = DiskScan(_fixture);
        AssertSameFigures(disk, cli);

        // Resumed: the next request for that blob asked for the rest (Range from at most where the reset cut it).
        var after = _proxy.Requests.Where(r => r.Path.Contains(RegistryFixture.BaseLayer0, StringComparison.Ordinal) && r.Fault is null).ToList();
        Assert.NotEmpty(after);
        Assert.NotNull(after[0].Range);
        Assert.Matches(@"^bytes=\d+-", after[0].Range!);
        Assert.InRange(long.Parse(after[0].Range![6..^1], System.Globalization.CultureInfo.InvariantCulture), 1, 150_000);
    }

    [Fact]
    public void A_slow_body_is_waited_for()
    {
        var slow = _proxy.Inject("GET", "/blobs/" + RegistryFixture.WebOnlyLayer, Fault.Slow(64 << 10, 96 << 10), times: 1);
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(_fixture.Proxied("web:1.0"));
        Assert.True(exit == 0, stderr);
        Assert.Equal(1, slow.Hits);
        Assert.Equal(ImageRows(_fixture.Disk, id => id == RegistryFixture.Web), ImageRows(cli));
    }

    [Fact]
    public void A_fault_that_never_ends_fails_that_image_after_the_retry_time_and_the_others_complete()
    {
        var endless = _proxy.Inject("GET", "/blobs/" + RegistryFixture.WebOnlyLayer, Fault.Status(503), times: null);
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Run(["scan", "--db", cli.Database, "--quiet", "--retry-time", "3", .. Inputs]);
        Assert.True(exit == 1, $"exit {exit}: {stderr}");
        Assert.True(endless.Hits >= 2, $"the blob was asked {endless.Hits} time(s): no retry");

        // web:1.0 failed, as a scan_errors row naming it; every other image is complete, with the figures from disk.
        var errors = cli.Query("SELECT image, layer, message FROM scan_errors").Rows;
        var error = Assert.Single(errors);
        Assert.Contains(RegistryFixture.Web, string.Join(" ", error), StringComparison.Ordinal);
        Assert.DoesNotContain(RegistryFixture.Web, ImageIds(cli));
        using var disk = DiskScan(_fixture, skip: "web:1.0");
        AssertSameFigures(disk, cli);
        Assert.Contains("web", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_flipped_byte_in_a_blob_is_a_digest_mismatch_for_that_image_and_nothing_of_it_is_stored()
    {
        // web's own 23,758-byte layer (sha256:853c384b2e29…): one byte inverted, every time it is fetched.
        var flip = _proxy.Inject("GET", "/blobs/sha256:853c384b2e29", Fault.FlipByte(1_000), times: null);
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(Inputs);
        Assert.True(exit == 1, $"exit {exit}: {stderr}");
        Assert.True(flip.Hits >= 1);

        var error = Assert.Single(cli.Query("SELECT image, layer, message FROM scan_errors").Rows);
        Assert.Contains(RegistryFixture.Web, string.Join(" ", error), StringComparison.Ordinal);
        Assert.Contains("digest", ((string)error[2]!).ToLowerInvariant(), StringComparison.Ordinal);
        Assert.DoesNotContain(RegistryFixture.Web, ImageIds(cli));
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM layers WHERE digest LIKE 'sha256:853c384b2e29%'"));
        Assert.Equal(0L, cli.Scalar($"SELECT count(*) FROM image_refs WHERE image_id = '{RegistryFixture.Web}'"));
        Assert.Equal(0L, cli.Scalar($"SELECT count(*) FROM image_layers WHERE image_id = '{RegistryFixture.Web}'"));
        using var disk = DiskScan(_fixture, skip: "web:1.0");
        AssertSameFigures(disk, cli);
    }
}
