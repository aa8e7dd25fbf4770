using LayerStats.Core.Images;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;
using LayerStats.Core.Sources;
using LayerStats.Storage;
using LayerStats.Tests.EndToEnd;
using LayerStats.Tests.Sources;

namespace LayerStats.Tests.Storage;

/// <summary>
/// The unchanged-rescan path (issue 5's fixed cost): the plan's one look-up, the touch of stored images, and a pipeline
/// that opens its store while it lists.
/// </summary>
public sealed class RescanPathTests
{
    [Fact]
    public void The_plans_one_look_up_finds_what_the_per_table_look_ups_find_across_chunks_of_keys()
    {
        using var dir = new TempDir();
        using var open = new OpenStore(dir.File("t.duckdb"), FileHashing.Xxh128);
        var (db, store, run) = (open.Database, open.Store, open.Run);
        var blob = Enumerable.Range(0, 4).Select(i => Digest.Compute([(byte)'b', (byte)i])).ToArray();
        var diff = Enumerable.Range(0, 4).Select(i => Digest.Compute([(byte)'d', (byte)i])).ToArray();
        var onlyContent = Digest.Compute("a content stored under no blob of this plan"u8);
        // blob 0: content stored (xxh128); blob 1: content stored with sha256 too; blob 2: foreign; blob 3: stored blob whose
        // content is not (a verify-only record); onlyContent: a content the configs state, whose blob is not in the plan.
        Load(store, run, blob[0], diff[0], FileHashing.Xxh128);
        Load(store, run, blob[1], diff[1], FileHashing.Xxh128AndSha256);
        store.AddLayer(run, new LayerRecord(blob[2], 300, MediaTypes.OciLayerGzip, null, diff[2], null, IsForeign: true));
        store.AddLayer(run, new LayerRecord(blob[3], 400, MediaTypes.OciLayerGzip, Compression.Gzip, diff[3], 4000, IsForeign: false));
        Load(store, run, Digest.Compute("other blob"u8), onlyContent, FileHashing.Xxh128);

        // More keys than one statement takes (512), the stored ones in the second chunk.
        var digests = Enumerable.Range(0, 600).Select(i => Digest.Compute([(byte)'u', (byte)(i >> 8), (byte)i]).ToString()).ToList();
        digests.InsertRange(550, blob.Select(d => d.ToString()));
        var diffIds = Enumerable.Range(0, 530).Select(i => Digest.Compute([(byte)'v', (byte)(i >> 8), (byte)i]).ToString()).ToList();
        diffIds.Insert(520, onlyContent.ToString());

        var found = store.FindStored(digests, diffIds);

        // The independent method: one query per table, as the plan did before.
        var layers = store.FindLayers(digests.Select(Digest.Parse).ToHashSet());
        var contents = store.FindContents(diffIds.Select(Digest.Parse).Concat(layers.Values.Where(l => !l.IsForeign).Select(l => l.DiffId)).ToHashSet());
        Assert.Equal(4, layers.Count);
        Assert.Equal(
            layers.OrderBy(p => p.Key.ToString(), StringComparer.Ordinal).Select(p => (p.Key.ToString(), p.Value)),
            found.Layers.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)));
        Assert.Equal(
            contents.Select(p => (p.Key.ToString(), p.Value)).Order(),
            found.Contents.Select(p => (p.Key, p.Value.Hashing)).Order());
        Assert.Equal(3, found.Contents.Count); // diff 0, diff 1 and the content alone; not the foreign or verify-only blob's
        Assert.Equal(FileHashing.Xxh128AndSha256, found.Contents[diff[1].ToString()].Hashing);
        Assert.True(found.Layers[blob[2].ToString()].IsForeign);
        Assert.Null(found.Layers[blob[2].ToString()].UncompressedSize);
    }

    [Fact]
    public void A_rescan_touches_the_image_with_one_row_per_reference_key_as_the_first_scan_left_it()
    {
        // One manifest reached through two indexes under the same name: two references of one key (image, source, name).
        // The first scan upserts them one by one; the rescan touches them in one statement, merged: the same row.
        var archive = new TestArchives();
        var image = archive.AddOciImage(new Platform("linux", "amd64"), layerCount: 2);
        var first = archive.AddIndex([image.ManifestDescriptor]);
        var second = archive.AddIndex([image.ManifestDescriptor]);
        archive.SetLayoutIndex(
            TestArchives.Annotated(first, (OciLayoutReader.ContainerdImageName, "docker.io/team/app:1")),
            TestArchives.Annotated(second, (OciLayoutReader.ContainerdImageName, "docker.io/team/app:1")));
        using var cli = new CliHarness();
        string layout = archive.WriteDirectory(Path.Combine(cli.Dir, "layout"));
        const string Refs = "SELECT image_id, source, repository, tag, index_digest, first_run_id, last_run_id FROM image_refs ORDER BY ALL";

        Assert.Equal(0, cli.Scan(layout).Exit);
        var afterFirst = cli.Query(Refs).Rows;
        var (exit, _, stderr) = cli.Run("scan", "--db", cli.Database, "--timings", layout);
        Assert.True(exit == 0, stderr);

        var row = Assert.Single(afterFirst);
        Assert.Equal((string)second["digest"]!, row[4]); // the last index stated
        var touched = Assert.Single(cli.Query(Refs).Rows);
        Assert.Equal(row.Take(6), touched.Take(6));
        Assert.Equal(2, Convert.ToInt32(touched[6]));
        Assert.Equal(image.ManifestDigest, cli.Query("SELECT image_id FROM run_images WHERE run_id = 2").Rows.Single()[0]);
        Assert.Equal(2, Convert.ToInt32(cli.Query("SELECT last_run_id FROM images").Rows.Single()[0]));
        var runs = cli.Query("SELECT layers_read, layers_skipped, images_ok, status, run_images, layers_new FROM scan_runs ORDER BY run_id").Rows;
        Assert.Equal([0L, 2L, 1L, "ok", 1L, 0L], runs[1].Select(v => v is int i ? (object)(long)i : v));
        Assert.Contains("0 layer(s) read", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rescan_adds_a_new_name_and_keeps_an_index_digest_it_does_not_state_again()
    {
        // Run 1 reaches the image through an index as app:1; run 2 (the same input, its index.json rewritten) reaches it
        // directly as app:1 and app:2. The image is unchanged, so run 2 touches it: app:1 keeps run 1's index digest
        // (coalesce) and gains run 2, app:2 is new (first and last run 2, no index digest).
        var archive = new TestArchives();
        var image = archive.AddOciImage(new Platform("linux", "amd64"), layerCount: 2);
        var index = archive.AddIndex([image.ManifestDescriptor]);
        archive.SetLayoutIndex(TestArchives.Annotated(index, (OciLayoutReader.ContainerdImageName, "docker.io/team/app:1")));
        using var cli = new CliHarness();
        string layout = archive.WriteDirectory(Path.Combine(cli.Dir, "layout"));
        Assert.Equal(0, cli.Scan(layout).Exit);
        archive.SetLayoutIndex(
            TestArchives.Annotated(image.ManifestDescriptor, (OciLayoutReader.ContainerdImageName, "docker.io/team/app:1")),
            TestArchives.Annotated(image.ManifestDescriptor, (OciLayoutReader.ContainerdImageName, "docker.io/team/app:2")));
        archive.WriteDirectory(layout);

        var (exit, _, stderr) = cli.Run("scan", "--db", cli.Database, layout);

        Assert.True(exit == 0, stderr);
        Assert.Contains("0 layer(s) read", stderr, StringComparison.Ordinal);
        var rows = cli.Query("SELECT image_id, source, repository, tag, index_digest, first_run_id, last_run_id FROM image_refs ORDER BY tag").Rows;
        Assert.Equal(
            [
                [image.ManifestDigest, layout, "docker.io/team/app", "1", (string)index["digest"]!, 1, 2],
                [image.ManifestDigest, layout, "docker.io/team/app", "2", null, 2, 2],
            ],
            rows.Select(r => r.Select(v => v is long l ? (object)(int)l : v).ToArray()));
        Assert.Equal(image.ManifestDigest, cli.Query("SELECT image_id FROM run_images WHERE run_id = 2").Rows.Single()[0]);
    }

    [Fact]
    public async Task A_store_that_cannot_be_opened_fails_the_scan_with_its_own_error_and_stops_the_listing()
    {
        var source = new WaitingSource();
        var pipeline = new ScanPipeline(() => throw new IOException("database 'x' is in use"), new ScanOptions());

        // (The bound only keeps a broken build from hanging the suite; the listing waits for its cancellation.)
        var failure = await Assert.ThrowsAsync<IOException>(() => pipeline.RunAsync([source], CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2)));

        Assert.Equal("database 'x' is in use", failure.Message);
        Assert.True(source.Cancelled, "the listing was cancelled when the store could not be opened");
        Assert.True(pipeline.StoreReady.IsCompleted);
    }

    [Fact]
    public async Task Errors_found_while_listing_are_recorded_in_the_run_once_the_store_is_open()
    {
        using var dir = new TempDir();
        LayerStatsDatabase? db = null;
        try
        {
            var pipeline = new ScanPipeline(() => new DuckDbScanStore(db = LayerStatsDatabase.Open(dir.File("t.duckdb"))), new ScanOptions());
            var sources = new IImageSource[] { new FailingSource("first"), new FailingSource("second") };

            var summary = await pipeline.RunAsync(sources, CancellationToken.None);

            Assert.Equal(["first", "second"], summary.Errors.Select(e => e.Source));
            var rows = ReportQueries.Run(db!, "SELECT run_id, source, message FROM scan_errors ORDER BY source").Rows;
            Assert.Equal(
                [(summary.RunId, "first", "cannot list first"), (summary.RunId, "second", "cannot list second")],
                rows.Select(r => (Convert.ToInt32(r[0]), (string)r[1]!, (string)r[2]!)));
            Assert.Equal("failed", ReportQueries.Run(db!, "SELECT status FROM scan_runs").Rows.Single()[0]);
        }
        finally
        {
            db?.Dispose();
        }
    }

    private static void Load(DuckDbScanStore store, int run, Digest blob, Digest diffId, FileHashing hashing)
    {
        using var load = store.BeginLayerLoad(run, diffId, hashing);
        load.Append([new FileEntry(0, "f", EntryKind.File, 1, 0x1A4, 0, 0, DateTimeOffset.UnixEpoch, null, UInt128.One, hashing == FileHashing.Xxh128 ? null : new byte[32])]);
        Assert.True(load.Commit(
            new LayerRecord(blob, 100, MediaTypes.OciLayerGzip, Compression.Gzip, diffId, 1024, false),
            new LayerContentRecord(diffId, 1024, 1, hashing)));
    }

    private sealed class WaitingSource : IImageSource
    {
        public string Source => "waiting";

        public bool Cancelled { get; private set; }

        public async Task<SourceListing> ListImagesAsync(CancellationToken cancellationToken)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Cancelled = true;
                throw;
            }

            return new SourceListing([], []);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class FailingSource(string name) : IImageSource
    {
        public string Source => name;

        public Task<SourceListing> ListImagesAsync(CancellationToken cancellationToken) =>
            Task.FromResult(new SourceListing([], [new ScanError(name, $"cannot list {name}")]));

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
