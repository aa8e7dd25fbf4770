using System.Buffers;
using System.Threading.Channels;
using LayerStats.Core.Analysis;
using LayerStats.Core.Images;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;

namespace LayerStats.Core.Scanning;

public sealed record ScanOptions(int Jobs = 0, FileHashing Hashing = FileHashing.Xxh128, string ToolVersion = "dev")
{
    public int EffectiveJobs => Jobs > 0 ? Jobs : Environment.ProcessorCount;
}

/// <summary>What a scan did. <see cref="Errors"/> is empty when every input completed.</summary>
public sealed record ScanSummary(
    int RunId,
    int ImagesOk,
    int ImagesFailed,
    int LayersRead,
    int LayersSkipped,
    long BytesRead,
    IReadOnlyList<ScanError> Errors);

/// <summary>Live counters of a running scan, for a progress display. Read from any thread.</summary>
public sealed class ScanProgress
{
    private long _layersDone;
    private long _bytesRead;

    public int LayersTotal { get; internal set; }

    public long BytesTotal { get; internal set; }

    public int LayersDone => (int)Interlocked.Read(ref _layersDone);

    public long BytesRead => Interlocked.Read(ref _bytesRead);

    internal void AddLayer(long bytes)
    {
        Interlocked.Increment(ref _layersDone);
        Interlocked.Add(ref _bytesRead, bytes);
    }
}

/// <summary>
/// The one home for parallelism in LayerStats. Lists every source, merges images by identity, plans the
/// distinct layer blobs (by digest) that the store lacks, streams them through N workers
/// (decompress → tar → hash, <see cref="LayerReader"/>) over a bounded channel, and lets one writer (the
/// calling task) own the store: it appends entries, verifies digests, commits each layer and, once all its
/// layers are in, each image — atomically.
/// </summary>
public sealed class ScanPipeline(IScanStore store, ScanOptions options)
{
    /// <summary>
    /// Messages waiting for the writer: at most this many entry batches of up to <see cref="LayerReader.BatchSize"/>
    /// entries (~200 bytes each with their paths), so ~6 MB of rows in flight. It was 64 (~50 MB, the largest single
    /// share of the scan's managed heap) with no measurable gain in throughput.
    /// </summary>
    private const int WriterQueue = 8;
    private const int JobQueue = 16;

    /// <summary>
    /// Entries the writer keeps, over all layers, of the small layers it has just loaded, for the analysis of the images
    /// that wait for them (instead of reading them back from the store, a query per layer and image): ~24 bytes each
    /// plus its path string, so a few MB at most. A layer of more than <see cref="KeptLayerEntriesLimit"/> entries, or
    /// one that does not fit, is read back from the store, as before (for it the query's fixed cost matters little).
    /// </summary>
    internal const int DefaultKeptEntriesLimit = 32_768;

    /// <summary>The largest layer (in entries) whose entries the writer keeps.</summary>
    internal const int KeptLayerEntriesLimit = LayerReader.BatchSize;

    /// <summary><see cref="DefaultKeptEntriesLimit"/>; tests set 0 (every analysis reads the store).</summary>
    internal int KeptEntriesLimit { get; init; } = DefaultKeptEntriesLimit;

    private int _keptEntries;

    /// <summary>Stored layers whose entries the analysis kept for the next images (for tests).</summary>
    internal int StoredLayersKept { get; private set; }

    /// <summary>The analysis shared by images on the same bottom layers; its byte budget (tests set 0: nothing shared).</summary>
    internal long SharedAnalysisBudgetBytes { get; init; } = SharedPrefixAnalysis.DefaultBudgetBytes;

    private SharedPrefixAnalysis? _sharedAnalysis;

    private SharedPrefixAnalysis Prefixes => _sharedAnalysis ??= new SharedPrefixAnalysis(SharedAnalysisBudgetBytes);

    /// <summary>Bottom blobs whose images <see cref="Prefixes"/> expects (<see cref="ExpectGroup"/>).</summary>
    private readonly HashSet<LayerWork> _expectedGroups = [];

    /// <summary>Layers whose analysis an image took from another image's on the same bottom layers (for tests).</summary>
    internal int AnalysisLayersShared => _sharedAnalysis?.LayersShared ?? 0;

    private int _layersLeft; // not yet finished: fewer than the cores, a layer is read on two tasks (LayerReader overlap)

    /// <summary>
    /// Group commit (IScanStore.BeginGroup): the layers and images written into the store's open group, failed together
    /// if it cannot be committed. The writer commits the group when it has nothing else to do (its queue is empty), or
    /// when the group reaches <see cref="GroupMaxWrites"/> writes, <see cref="GroupMaxRows"/> file rows or
    /// <see cref="GroupMaxMilliseconds"/> of age: bounds on what the group holds in memory and what a crash undoes.
    /// </summary>
    private readonly List<LayerWork> _groupLayers = [];
    private readonly List<ImageWork> _groupImages = [];
    private long _groupRows;
    private long _groupSince;

    internal const int GroupMaxWrites = 256;
    internal const long GroupMaxRows = 65_536;
    internal const int GroupMaxMilliseconds = 250;

    /// <summary>Opens the store when the scan starts (see the constructor that takes it); null when the store was given open.</summary>
    private readonly Func<IScanStore>? _openStore;

    /// <summary>
    /// A pipeline that opens its store itself, on a task of its own while the sources are listed: opening a database
    /// (DuckDB's start-up, its catalog) and listing (reading and parsing the inputs' JSON) are independent, so one runs on
    /// each core. The store is used only after both are done; <see cref="StoreReady"/> completes when it may be used.
    /// </summary>
    public ScanPipeline(Func<IScanStore> openStore, ScanOptions options)
        : this((IScanStore)null!, options)
    {
        _openStore = openStore;
    }

    public ScanProgress Progress { get; } = new();

    /// <summary>Where the time went, filled in as the scan runs (<c>scan --timings</c>).</summary>
    public ScanTimings Timings { get; } = new();

    /// <summary>
    /// Completes once the store is open and the run begun (or could not be): from then on, and until the plan starts,
    /// the store is free for a source's look-ups (the scan command's config look-ups for registries).
    /// </summary>
    public Task StoreReady => _storeReady.Task;

    /// <summary>How long beginning the run (its scan_runs row) took, on the opening task, after the store opened (<c>scan --timings</c>).</summary>
    public TimeSpan BeginRunTime { get; private set; }

    private readonly TaskCompletionSource _storeReady = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<ScanSummary> RunAsync(IReadOnlyList<IImageSource> sources, CancellationToken cancellationToken)
    {
        var start = new ScanRunStart(DateTimeOffset.UtcNow, options.ToolVersion, options.Hashing, sources.Count);
        var (images, state) = await OpenAndListAsync(sources, start, cancellationToken);
        try
        {
            long started = ScanTimings.Now();
            var jobs = Plan(images, state);
            Timings.AddPlan(started);
            started = ScanTimings.Now();
            if (jobs.Count > 0)
            {
                // Not called without a job (an unchanged rescan): its channels and tasks would be set up for nothing.
                await ReadLayersAsync(jobs, state, cancellationToken);
            }

            Timings.AddRead(started);
            started = ScanTimings.Now();
            Finish(state, cancelled: false);
            Timings.AddFinish(started);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Finish(state, cancelled: true);
            throw;
        }

        return new ScanSummary(state.RunId, state.ImagesOk, state.ImagesFailed, state.LayersRead, state.LayersSkipped, state.BytesRead, state.Errors);
    }

    /// <summary>
    /// Begins the run and lists every source. With a store to open, the opening (and the run's first row) goes on a
    /// task of its own while this task lists; a failure to open cancels the listing and is thrown as it is. The errors
    /// the listing finds are recorded once the run exists, in the order they were found.
    /// </summary>
    private async Task<Listed> OpenAndListAsync(IReadOnlyList<IImageSource> sources, ScanRunStart start, CancellationToken ct)
    {
        var listErrors = new List<ScanError>();
        if (_openStore is null)
        {
            var state = new RunState(store.BeginRun(start));
            _storeReady.TrySetResult();
            try
            {
                long started = ScanTimings.Now();
                var images = await ListAsync(sources, listErrors, ct);
                Timings.AddList(started);
                RecordAll(state, listErrors);
                return new Listed(images, state);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                RecordAll(state, listErrors);
                Finish(state, cancelled: true);
                throw;
            }
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct);
        int runId = 0;
        var opening = Task.Run(
            () =>
            {
                try
                {
                    var opened = _openStore();
                    store = opened;
                    long begun = ScanTimings.Now();
                    runId = opened.BeginRun(start);
                    BeginRunTime = System.Diagnostics.Stopwatch.GetElapsedTime(begun);
                }
                catch
                {
                    linked.Cancel(); // the listing is of no use any more
                    throw;
                }
                finally
                {
                    _storeReady.TrySetResult();
                }
            },
            CancellationToken.None);

        List<ImageWork>? listed = null;
        Exception? listFailure = null;
        long listStarted = ScanTimings.Now();
        try
        {
            listed = await ListAsync(sources, listErrors, linked.Token);
            Timings.AddList(listStarted);
        }
        catch (Exception ex)
        {
            listFailure = ex;
        }

        // A failure to open (the database in use, not writable) is the scan's failure.
        await opening;
        var opened = new RunState(runId);
        RecordAll(opened, listErrors);
        if (listFailure is not null)
        {
            if (listFailure is OperationCanceledException && ct.IsCancellationRequested)
            {
                Finish(opened, cancelled: true);
            }

            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(listFailure);
        }

        return new Listed(listed!, opened);
    }

    private void RecordAll(RunState state, List<ScanError> errors)
    {
        foreach (var error in errors)
        {
            state.Error(store, error);
        }
    }

    private static async Task<List<ImageWork>> ListAsync(IReadOnlyList<IImageSource> sources, List<ScanError> errors, CancellationToken ct)
    {
        var byId = new Dictionary<Digest, ImageWork>();
        var ordered = new List<ImageWork>();
        foreach (var source in sources)
        {
            SourceListing listing;
            try
            {
                listing = await source.ListImagesAsync(ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                listing = new SourceListing([], [new ScanError(source.Source, ex.Message)]);
            }

            errors.AddRange(listing.Errors);
            foreach (var resolved in listing.Images)
            {
                if (!byId.TryGetValue(resolved.Image.Id, out var work))
                {
                    work = new ImageWork(resolved.Image);
                    byId.Add(resolved.Image.Id, work);
                    ordered.Add(work);
                }

                if (!work.References.Contains(resolved.Reference))
                {
                    work.References.Add(resolved.Reference);
                }
            }
        }

        return ordered;
    }

    private List<LayerWork> Plan(List<ImageWork> images, RunState state)
    {
        // Keyed by digest text: the store's look-up takes the keys and answers in that form (StoredLookup).
        var layers = new Dictionary<string, LayerWork>(StringComparer.Ordinal);
        var jobs = new List<LayerWork>();
        var digests = new List<string>();
        var diffIds = new List<string>();
        // Two sets: a legacy docker-save layer's blob digest is its diff_id, and must be looked up as both.
        var seenDigests = new HashSet<string>(StringComparer.Ordinal);
        var seenDiffIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            foreach (var layer in image.Image.Layers)
            {
                string digest = layer.Digest.ToString();
                if (seenDigests.Add(digest))
                {
                    digests.Add(digest);
                }
            }

            var configDiffIds = image.Image.Config.DiffIds;
            for (int i = 0; i < configDiffIds.Count; i++)
            {
                string text = configDiffIds[i].ToString();
                if (seenDiffIds.Add(text))
                {
                    diffIds.Add(text);
                }
            }
        }

        // One look-up for the whole plan (the blobs and the contents, in one statement), not one query per layer.
        var stored = store.FindStored(digests, diffIds);
        FileHashing? FindContent(Digest diffId) => stored.Contents.TryGetValue(diffId.ToString(), out var content) ? content.Hashing : null;
        foreach (var image in images)
        {
            var configDiffIds = image.Image.Config.DiffIds;
            if (configDiffIds.Count != image.Image.Layers.Count)
            {
                FailImage(image, state, $"the config states {configDiffIds.Count} diff_ids for {image.Image.Layers.Count} layers", null, null);
                continue;
            }

            for (int i = 0; i < image.Image.Layers.Count; i++)
            {
                var layer = image.Image.Layers[i];
                string digest = layer.Digest.ToString();
                if (!layers.TryGetValue(digest, out var work))
                {
                    work = new LayerWork(layer, configDiffIds[i]);
                    layers.Add(digest, work);
                    var storedLayer = stored.Layers.GetValueOrDefault(digest);
                    var storedContent = storedLayer is null || storedLayer.IsForeign ? null : FindContent(storedLayer.DiffId);
                    if (storedLayer is not null && (storedLayer.IsForeign || storedContent?.Covers(options.Hashing) == true))
                    {
                        work.Complete(storedLayer.DiffId, storedLayer.Size, storedLayer.UncompressedSize);
                        state.LayersSkipped++;
                    }
                    else if (!layer.IsAvailable)
                    {
                        store.AddLayer(state.RunId, new LayerRecord(layer.Digest, layer.Size, layer.MediaType, null, configDiffIds[i], null, IsForeign: true));
                        work.Complete(configDiffIds[i], layer.Size, null);
                    }
                    else
                    {
                        work.VerifyOnly = FindContent(configDiffIds[i])?.Covers(options.Hashing) == true;
                        jobs.Add(work);
                    }
                }
                else if (work.Layer is { IsAvailable: false } && layer.IsAvailable && work.State == LayerState.Pending)
                {
                    work.Layer = layer;
                }

                work.AddCopy(layer, image.References[0].Source);
                work.Images.Add(image);
                image.Layers.Add(work);
            }
        }

        // Images whose layers are all stored already: the ones the store has are touched in one transaction.
        var ready = new List<ImageWork>();
        var touches = new List<ImageTouch>();
        foreach (var image in images)
        {
            if (!image.Failed && AllStored(image) && CheckDiffIds(image, state))
            {
                ready.Add(image);
                touches.Add(new ImageTouch(image.Image.Id.ToString(), image.References));
            }
        }

        IReadOnlySet<string> touched;
        try
        {
            touched = ready.Count == 0 ? new HashSet<string>() : store.TouchImages(state.RunId, touches);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            touched = new HashSet<string>(); // each image is then tried on its own below
        }

        for (int i = 0; i < ready.Count; i++)
        {
            var image = ready[i];
            if (touched.Contains(touches[i].ImageId))
            {
                image.Committed = true;
                state.ImagesOk++;
            }
            else
            {
                CommitImage(image, state);
            }
        }

        if (jobs.Count == 0)
        {
            return jobs;
        }

        // The images still to be committed after their layers are read: which of them the store holds, in one look-up.
        var waiting = new List<IImage>();
        foreach (var image in images)
        {
            if (!image.Failed && !image.Committed)
            {
                waiting.Add(image.Image);
            }
        }

        try
        {
            store.LookUpImages(waiting);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Only a hint: each image is looked up when it commits.
        }

        Progress.LayersTotal = jobs.Count;
        Progress.BytesTotal = jobs.Sum(j => j.Layer.Size);
        // Largest first, so that no big layer is left alone at the end with the other cores idle (the last layers,
        // fewer than the cores, are each read on two tasks: see ReadLayersAsync).
        // Within that, the layers of a gzipped archive take the slots they got in archive order: its blobs are served by
        // a cursor moving forward through the archive, and any other order decompresses it again for each blob.
        var ordered = jobs.OrderByDescending(j => j.Layer.Size).ToList();
        var planned = new ILayer[ordered.Count];
        for (int i = 0; i < planned.Length; i++)
        {
            planned[i] = ordered[i].Layer;
        }

        if (Sources.ArchiveReadOrder.Arrange(planned) is not { } order)
        {
            return ordered;
        }

        var arranged = new List<LayerWork>(order.Length);
        foreach (int i in order)
        {
            arranged.Add(ordered[i]);
        }

        return arranged;
    }

    private static bool AllStored(ImageWork image)
    {
        foreach (var layer in image.Layers)
        {
            if (layer.State == LayerState.Pending)
            {
                return false;
            }
        }

        return true;
    }

    private async Task ReadLayersAsync(List<LayerWork> jobs, RunState state, CancellationToken ct)
    {
        if (jobs.Count == 0)
        {
            return;
        }

        _layersLeft = jobs.Count;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var jobQueue = Channel.CreateBounded<LayerWork>(new BoundedChannelOptions(JobQueue) { SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        var writerQueue = Channel.CreateBounded<WriterMessage>(new BoundedChannelOptions(WriterQueue) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

        var producer = Task.Run(
            async () =>
            {
                try
                {
                    foreach (var job in jobs)
                    {
                        await jobQueue.Writer.WriteAsync(job, linked.Token);
                    }
                }
                finally
                {
                    jobQueue.Writer.TryComplete();
                }
            },
            linked.Token);

        int workerCount = Math.Min(options.EffectiveJobs, jobs.Count);
        var workers = Enumerable.Range(0, workerCount)
            .Select(_ => Task.Run(() => WorkAsync(jobQueue.Reader, writerQueue.Writer, linked.Token), linked.Token))
            .ToArray();
        _ = Task.WhenAll(workers).ContinueWith(t => writerQueue.Writer.TryComplete(t.Exception), TaskScheduler.Default);

        var loads = new Dictionary<LayerWork, ILayerLoad>();
        store.BeginGroup();
        try
        {
            long idleSince = ScanTimings.Now();
            await foreach (var message in writerQueue.Reader.ReadAllAsync(linked.Token))
            {
                Timings.AddWriterIdle(idleSince);
                Write(message, loads, state);
                if (GroupDue(writerQueue.Reader))
                {
                    CommitGroup(state);
                }

                idleSince = ScanTimings.Now();
            }

            await producer;
        }
        finally
        {
            linked.Cancel();
            foreach (var load in loads.Values)
            {
                load.Dispose();
            }

            // What the group holds is whole layers and images: committed also when the scan is cancelled.
            CommitGroup(state);
            store.EndGroup();

            try
            {
                await Task.WhenAll(workers);
            }
            catch (OperationCanceledException)
            {
                // Workers stop when the scan is cancelled or the writer has failed.
            }
        }
    }

    private async Task WorkAsync(ChannelReader<LayerWork> jobs, ChannelWriter<WriterMessage> writer, CancellationToken ct)
    {
        await foreach (var work in jobs.ReadAllAsync(ct))
        {
            // One copy of the blob per source that holds it: a corrupt copy in one input fails that input's images,
            // and the next input's copy is read for the others.
            for (int copy = 0; ; copy++)
            {
                bool last = copy + 1 >= work.Copies.Count;
                if (work.Copies.Count > 0)
                {
                    work.Layer = work.Copies[copy].Layer;
                }

                long started = ScanTimings.Now();
                try
                {
                    await using var blob = await work.Layer.OpenCompressedAsync(ct);
                    var sink = work.VerifyOnly ? null : new WriterSink(work, writer, Timings);
                    bool overlap = Volatile.Read(ref _layersLeft) < Environment.ProcessorCount;
                    var result = await LayerReader.ReadAsync(blob, options.Hashing, sink, overlap, ct);
                    Timings.AddWorker(started);
                    string? problem = last ? null : Mismatch(work.Layer, work.ExpectedDiffId, result);
                    if (problem is null)
                    {
                        await writer.WriteAsync(new LayerFinished(work, result), ct);
                        break;
                    }

                    await writer.WriteAsync(new LayerCopyFailed(work, work.Copies[copy].Source, problem, null), ct);
                }
                catch (Exception ex) when (!ct.IsCancellationRequested)
                {
                    // Bytes that do not decompress may be a corrupt blob: say so if they do not match the digest either.
                    // (Not after a transport failure: the blob would be fetched again for nothing.)
                    string? digestProblem = ex is LayerFormatException ? await CheckDigestAsync(work.Layer, ct) : null;
                    if (last)
                    {
                        await writer.WriteAsync(new LayerFailed(work, ex, digestProblem), ct);
                        break;
                    }

                    string? path = ex is LayerFormatException lfe ? lfe.EntryPath : null;
                    await writer.WriteAsync(new LayerCopyFailed(work, work.Copies[copy].Source, Reason(ex, digestProblem), path), ct);
                }
            }

            Interlocked.Decrement(ref _layersLeft);
        }
    }

    /// <summary>
    /// After a read failed: does the blob match its digest at all? A corrupt blob is then reported as such,
    /// which says more than the decompressor's complaint. Null when it matches or cannot be read.
    /// </summary>
    private static async Task<string?> CheckDigestAsync(ILayer layer, CancellationToken ct)
    {
        try
        {
            await using var blob = await layer.OpenCompressedAsync(ct);
            using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
            long length = 0;
            try
            {
                int n;
                while ((n = await blob.ReadAsync(buffer, ct)) > 0)
                {
                    sha.AppendData(buffer, 0, n);
                    length += n;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            var actual = Digest.Sha256(sha.GetHashAndReset());
            return actual != layer.Digest
                ? $"{DigestMismatch(layer, layer.Digest, actual)} ({length} bytes)"
                : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            return null;
        }
    }

    private void Write(WriterMessage message, Dictionary<LayerWork, ILayerLoad> loads, RunState state)
    {
        switch (message)
        {
            case LayerBatch batch:
                long started = ScanTimings.Now();
                try
                {
                    if (!loads.TryGetValue(batch.Work, out var load))
                    {
                        load = store.BeginLayerLoad(state.RunId, batch.Work.ExpectedDiffId, options.Hashing);
                        loads.Add(batch.Work, load);
                    }

                    load.Append(batch.Rows.AsSpan(0, batch.Count));
                    Keep(batch.Work, batch.Rows.AsSpan(0, batch.Count));
                }
                finally
                {
                    Array.Clear(batch.Rows, 0, batch.Count);
                    ArrayPool<FileEntry>.Shared.Return(batch.Rows);
                    Timings.AddAppend(started);
                }

                break;

            case LayerFinished finished:
                FinishLayer(finished.Work, finished.Result, loads, state);
                break;

            case LayerFailed failed:
                DropEntries(failed.Work);
                if (loads.Remove(failed.Work, out var failedLoad))
                {
                    failedLoad.Dispose();
                }

                string? path = failed.Error is LayerFormatException lfe ? lfe.EntryPath : null;
                FailLayer(failed.Work, state, Reason(failed.Error, failed.DigestProblem), path);
                break;

            case LayerCopyFailed copyFailed:
                DropEntries(copyFailed.Work); // the next copy is read from its first entry
                if (loads.Remove(copyFailed.Work, out var copyLoad))
                {
                    copyLoad.Abort();
                    copyLoad.Dispose();
                }

                foreach (var image in copyFailed.Work.Images.Where(i => i.References[0].Source == copyFailed.Source))
                {
                    FailImage(image, state, $"layer {copyFailed.Work.Layer.Digest}: {copyFailed.Message}", copyFailed.Work.Layer.Digest.ToString(), copyFailed.Path);
                }

                break;
        }
    }

    private void FinishLayer(LayerWork work, LayerReadResult result, Dictionary<LayerWork, ILayerLoad> loads, RunState state)
    {
        state.LayersRead++;
        state.BytesRead += result.CompressedSize;
        Progress.AddLayer(result.CompressedSize);
        loads.Remove(work, out var load);
        long started = ScanTimings.Now();
        try
        {
            string? problem = Mismatch(work.Layer, work.ExpectedDiffId, result);
            if (problem is not null)
            {
                DropEntries(work);
                load?.Abort();
                FailLayer(work, state, problem, null);
                return;
            }

            var record = new LayerRecord(work.Layer.Digest, result.CompressedSize, work.Layer.MediaType, result.Compression, result.DiffId, result.UncompressedSize, IsForeign: false);
            long groupWrites = store.GroupWrites;
            try
            {
                if (work.VerifyOnly)
                {
                    store.AddLayer(state.RunId, record);
                }
                else
                {
                    load ??= store.BeginLayerLoad(state.RunId, work.ExpectedDiffId, options.Hashing);
                    load.Commit(record, new LayerContentRecord(result.DiffId, result.UncompressedSize, result.EntryCount, options.Hashing));
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                DropEntries(work);
                FailLayer(work, state, $"cannot store the layer: {ex.Message}", null);
                FailGroupIfLost(state, ex);
                return;
            }

            if (store.GroupWrites != groupWrites)
            {
                AddToGroup(work, result.EntryCount);
            }
        }
        finally
        {
            load?.Dispose();
            Timings.AddLayerCommit(started);
        }

        work.Complete(result.DiffId, result.CompressedSize, result.UncompressedSize);
        if (work.Entries is { } kept && kept.Count != result.EntryCount)
        {
            DropEntries(work); // not every entry passed through the writer (never expected): the store has them
        }

        work.EntriesComplete = work.Entries is not null;
        foreach (var image in work.Images)
        {
            if (!image.Failed && image.Layers.All(l => l.State == LayerState.Done))
            {
                CommitImage(image, state);
            }
        }

        ReleaseEntries(work);
    }

    /// <summary>Keeps a batch of a layer's entries for the analysis while they fit (<see cref="DefaultKeptEntriesLimit"/>).</summary>
    private void Keep(LayerWork work, ReadOnlySpan<FileEntry> rows)
    {
        if (work.EntriesDropped)
        {
            return;
        }

        if (_keptEntries + rows.Length > KeptEntriesLimit || (work.Entries?.Count ?? 0) + rows.Length > KeptLayerEntriesLimit)
        {
            DropEntries(work);
            return;
        }

        work.Entries ??= [];
        foreach (ref readonly var row in rows)
        {
            work.Entries.Add(new AnalysisEntry(row.Path, row.Kind, row.Size, row.Seq));
        }

        _keptEntries += rows.Length;
    }

    /// <summary>
    /// A layer's entries from the store, for an image's analysis; a small layer's are kept on the way when other images
    /// of this scan wait for it (a stored base layer under several new images), within the same bounds as loaded ones.
    /// </summary>
    private IEnumerable<AnalysisEntry> ReadEntries(LayerWork work, Digest diffId)
    {
        var kept = !work.EntriesDropped && work.Entries is null && work.Images.Count(i => !i.Failed && !i.Committed) > 1
            ? new List<AnalysisEntry>()
            : null;
        foreach (var entry in store.StreamAnalysisEntries(diffId))
        {
            if (kept is not null && (kept.Count >= KeptLayerEntriesLimit || _keptEntries + kept.Count >= KeptEntriesLimit))
            {
                kept = null;
                work.EntriesDropped = true; // too big, or no room: not tried again for the next images
            }

            kept?.Add(entry);
            yield return entry;
        }

        if (kept is not null && work.Entries is null)
        {
            work.Entries = kept; // read to its end: every entry of the stored content
            work.EntriesComplete = true;
            _keptEntries += kept.Count;
            StoredLayersKept++;
        }
    }

    /// <summary>The layer's entries are not kept (any more): its images' analysis reads them from the store.</summary>
    private void DropEntries(LayerWork work)
    {
        _keptEntries -= work.Entries?.Count ?? 0;
        work.Entries = null;
        work.EntriesComplete = false;
        work.EntriesDropped = true;
    }

    /// <summary>Lets go of a layer's kept entries once no image waits for them.</summary>
    private void ReleaseEntries(LayerWork work)
    {
        if (work.Entries is not null && work.Images.TrueForAll(i => i.Failed || i.Committed))
        {
            DropEntries(work);
        }
    }

    private void FailLayer(LayerWork work, RunState state, string message, string? path)
    {
        work.State = LayerState.Failed;
        foreach (var image in work.Images)
        {
            FailImage(image, state, $"layer {work.Layer.Digest}: {message}", work.Layer.Digest.ToString(), path);
        }
    }

    private void FailImage(ImageWork image, RunState state, string message, string? layer, string? path)
    {
        if (image.Failed)
        {
            return;
        }

        image.Failed = true;
        state.ImagesFailed++;
        Prefixes.Forget(image);
        foreach (var work in image.Layers)
        {
            ReleaseEntries(work);
        }

        foreach (string source in image.References.Select(r => r.Source).Distinct())
        {
            state.Error(store, new ScanError(source, message, image.Image.Id.ToString(), layer, path));
        }
    }

    private void AddToGroup(LayerWork work, long rows)
    {
        if (_groupLayers.Count == 0 && _groupImages.Count == 0)
        {
            _groupSince = ScanTimings.Now();
        }

        _groupLayers.Add(work);
        _groupRows += rows;
    }

    private void AddToGroup(ImageWork image)
    {
        if (_groupLayers.Count == 0 && _groupImages.Count == 0)
        {
            _groupSince = ScanTimings.Now();
        }

        _groupImages.Add(image);
    }

    /// <summary>Whether to commit the group now: it holds writes, and the writer has nothing waiting or the group is full or old.</summary>
    private bool GroupDue(ChannelReader<WriterMessage> queue)
    {
        int writes = _groupLayers.Count + _groupImages.Count;
        return writes > 0
               && (!queue.TryPeek(out _) || writes >= GroupMaxWrites || _groupRows >= GroupMaxRows
                   || System.Diagnostics.Stopwatch.GetElapsedTime(_groupSince).TotalMilliseconds >= GroupMaxMilliseconds);
    }

    /// <summary>Commits the store's group; when it cannot, what it held fails.</summary>
    private void CommitGroup(RunState state)
    {
        if (_groupLayers.Count == 0 && _groupImages.Count == 0 && !store.GroupPending)
        {
            return;
        }

        long started = ScanTimings.Now();
        try
        {
            store.CommitGroup();
            _groupLayers.Clear();
            _groupImages.Clear();
            _groupRows = 0;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            FailGroup(state, ex.Message);
        }
        finally
        {
            Timings.AddGroupCommit(started);
        }
    }

    /// <summary>After a store call failed: if it was a grouped write, the store has rolled the group back, and what it held fails.</summary>
    private void FailGroupIfLost(RunState state, Exception error)
    {
        if ((_groupLayers.Count > 0 || _groupImages.Count > 0) && !store.GroupPending)
        {
            FailGroup(state, error.Message);
        }
    }

    /// <summary>The group is rolled back: its images are not stored, its layers' entries not either.</summary>
    private void FailGroup(RunState state, string message)
    {
        store.RollbackGroup();
        var images = _groupImages.ToArray();
        var layers = _groupLayers.ToArray();
        _groupImages.Clear();
        _groupLayers.Clear();
        _groupRows = 0;
        foreach (var image in images)
        {
            if (image.Committed)
            {
                image.Committed = false;
                state.ImagesOk--;
            }

            FailImage(image, state, $"cannot store the image: {message}", null, null);
        }

        foreach (var layer in layers)
        {
            DropEntries(layer);
            FailLayer(layer, state, $"cannot store the layer: {message}", null);
        }
    }

    /// <summary>False (and the image failed) when a layer's content is not the diff_id the config states.</summary>
    private bool CheckDiffIds(ImageWork image, RunState state)
    {
        var config = image.Image.Config;
        for (int i = 0; i < image.Layers.Count; i++)
        {
            var layer = image.Layers[i];
            if (layer.ActualDiffId != config.DiffIds[i])
            {
                FailImage(image, state, $"layer {i} ({layer.Layer.Digest}): the config states diff_id {config.DiffIds[i]}, the layer's content is {layer.ActualDiffId}", layer.Layer.Digest.ToString(), null);
                return false;
            }
        }

        return true;
    }

    private void CommitImage(ImageWork image, RunState state)
    {
        if (!CheckDiffIds(image, state))
        {
            return;
        }

        var config = image.Image.Config;
        long groupWrites = store.GroupWrites;
        try
        {
            if (!store.TouchImage(state.RunId, image.Image.Id, image.References))
            {
                // Each layer streamed from the store once, bottom to top; memory: one compact node per distinct path.
                long started = ScanTimings.Now();
                // A layer loaded moments ago by this writer: the entries it kept of it (the same rows), else the store's.
                // Images on the same bottom contents go on from the analysis of the first of them (SharedPrefixAnalysis).
                ExpectGroup(image);
                var figures = Prefixes.Analyze(
                    image,
                    DiffIdTexts(image),
                    k => image.Layers[k] is { EntriesComplete: true, Entries: { } kept } ? kept : ReadEntries(image.Layers[k], config.DiffIds[k]));
                Timings.AddAnalysis(started);
                started = ScanTimings.Now();
                long compressed = image.Layers.Sum(l => l.ActualSize);
                long uncompressed = image.Layers.Sum(l => l.ActualUncompressedSize ?? 0);
                store.CommitImage(state.RunId, new ImageRecord(image.Image, image.References, compressed, uncompressed, figures));
                Timings.AddImageCommit(started);
            }

            image.Committed = true;
            state.ImagesOk++;
            if (store.GroupWrites != groupWrites)
            {
                AddToGroup(image);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            FailImage(image, state, $"cannot store the image: {ex.Message}", null, null);
            FailGroupIfLost(state, ex);
        }

        Prefixes.Forget(image); // analysed, or stored already: no state is kept for it any more

        foreach (var layer in image.Layers)
        {
            ReleaseEntries(layer);
        }
    }

    /// <summary>
    /// Before the first analysis of an image on the bottom blob of <paramref name="image"/>: every image of the scan on that
    /// blob that is still to be committed is expected (SharedPrefixAnalysis keeps a state only for images it expects).
    /// </summary>
    private void ExpectGroup(ImageWork image)
    {
        if (image.Layers.Count < 2 || !_expectedGroups.Add(image.Layers[0]))
        {
            return;
        }

        foreach (var other in image.Layers[0].Images)
        {
            if (!other.Failed && !other.Committed && other.Layers.Count >= 2 && other.Layers[0] == image.Layers[0])
            {
                Prefixes.Expect(other, DiffIdTexts(other));
            }
        }
    }

    private static string[] DiffIdTexts(ImageWork image)
    {
        var diffIds = image.Image.Config.DiffIds;
        var texts = new string[diffIds.Count];
        for (int i = 0; i < texts.Length; i++)
        {
            texts[i] = diffIds[i].ToString();
        }

        return texts;
    }

    private void Finish(RunState state, bool cancelled)
    {
        string status = cancelled ? "cancelled" : state.Errors.Count > 0 ? "failed" : "ok";
        store.FinishRun(state.RunId, new ScanRunTotals(status, state.ImagesOk, state.ImagesFailed, state.LayersRead, state.LayersSkipped, state.BytesRead, state.Errors.Count));
    }

    /// <summary>What does not match between a blob as read and what its manifest and config state, or null.</summary>
    private static string? Mismatch(ILayer layer, Digest expectedDiffId, LayerReadResult result) =>
        result.Digest != layer.Digest
            ? DigestMismatch(layer, expectedDiffId, result.Digest)
            : result.CompressedSize != layer.Size
                ? $"blob size mismatch: the manifest states {layer.Size} bytes, the blob has {result.CompressedSize}"
                : result.DiffId != expectedDiffId
                    ? $"diff_id mismatch: the config states {expectedDiffId}, the uncompressed tar hashes to {result.DiffId}"
                    : null;

    /// <summary>
    /// A legacy docker-save layer has no manifest: its digest is the config's diff_id (an uncompressed tar), so
    /// a mismatch is the layer.tar's content against the config, and is said so.
    /// </summary>
    private static string DigestMismatch(ILayer layer, Digest expectedDiffId, Digest actual) =>
        layer.Digest == expectedDiffId && layer.MediaType == MediaTypes.DockerLayer
            ? $"layer content mismatch: the config states diff_id {layer.Digest}, the layer tar hashes to {actual}"
            : $"blob digest mismatch: the manifest states {layer.Digest}, the bytes hash to {actual}";

    private static string Reason(Exception error, string? digestProblem) =>
        digestProblem is null ? Describe(error) : $"{digestProblem} (reading it failed: {Describe(error)})";

    private static string Describe(Exception ex) => ex switch
    {
        LayerFormatException => ex.Message,
        ImageFormatException => ex.Message,
        IOException => ex.Message,
        UnauthorizedAccessException => ex.Message,
        _ => $"{ex.GetType().Name}: {ex.Message}",
    };

    private enum LayerState
    {
        Pending,
        Done,
        Failed,
    }

    /// <summary>The images listed, and the run they are scanned in (a class: see <see cref="Plan"/> on generic code over structs).</summary>
    private sealed record Listed(List<ImageWork> Images, RunState State);

    private sealed class RunState(int runId)
    {
        public int RunId { get; } = runId;

        public List<ScanError> Errors { get; } = [];

        public int ImagesOk { get; set; }

        public int ImagesFailed { get; set; }

        public int LayersRead { get; set; }

        public int LayersSkipped { get; set; }

        public long BytesRead { get; set; }

        public void Error(IScanStore store, ScanError error)
        {
            Errors.Add(error);
            store.RecordError(RunId, error);
        }
    }

    private sealed class ImageWork(IImage image)
    {
        public IImage Image { get; } = image;

        public List<ImageReference> References { get; } = [];

        public List<LayerWork> Layers { get; } = [];

        public bool Failed { get; set; }

        public bool Committed { get; set; }
    }

    private sealed class LayerWork(ILayer layer, Digest expectedDiffId)
    {
        public ILayer Layer { get; set; } = layer;

        public Digest ExpectedDiffId { get; } = expectedDiffId;

        public List<ImageWork> Images { get; } = [];

        /// <summary>The readable copies of the blob, one per source, in the order the sources were given.</summary>
        public List<(ILayer Layer, string Source)> Copies { get; } = [];

        public bool VerifyOnly { get; set; }

        /// <summary>The layer's entries as the writer loaded them, kept for its images' analysis (see <see cref="DefaultKeptEntriesLimit"/>).</summary>
        public List<AnalysisEntry>? Entries { get; set; }

        /// <summary><see cref="Entries"/> holds every entry of the layer, which is stored.</summary>
        public bool EntriesComplete { get; set; }

        /// <summary>The entries are not kept (they did not fit, or a read failed): its images' analysis reads the store.</summary>
        public bool EntriesDropped { get; set; }

        public LayerState State { get; set; }

        public Digest ActualDiffId { get; private set; }

        public long ActualSize { get; private set; }

        public long? ActualUncompressedSize { get; private set; }

        public void AddCopy(ILayer layer, string source)
        {
            if (layer.IsAvailable && !HasCopyFrom(source))
            {
                Copies.Add((layer, source));
            }
        }

        private bool HasCopyFrom(string source)
        {
            return Copies.Exists(c => c.Source == source);
        }

        public void Complete(Digest diffId, long size, long? uncompressedSize)
        {
            State = LayerState.Done;
            ActualDiffId = diffId;
            ActualSize = size;
            ActualUncompressedSize = uncompressedSize;
        }
    }

    private abstract record WriterMessage(LayerWork Work);

    private sealed record LayerBatch(LayerWork Work, FileEntry[] Rows, int Count) : WriterMessage(Work);

    private sealed record LayerFinished(LayerWork Work, LayerReadResult Result) : WriterMessage(Work);

    /// <summary>One source's copy of a blob failed and another source's copy will be read: only that source's images fail.</summary>
    private sealed record LayerCopyFailed(LayerWork Work, string Source, string Message, string? Path) : WriterMessage(Work);

    /// <summary>A layer that could not be read; <paramref name="DigestProblem"/> says when its bytes do not match its digest either.</summary>
    private sealed record LayerFailed(LayerWork Work, Exception Error, string? DigestProblem) : WriterMessage(Work);

    /// <summary>Hands a worker's entry batches to the writer: copied into pooled arrays the writer returns.</summary>
    private sealed class WriterSink(LayerWork work, ChannelWriter<WriterMessage> writer, ScanTimings timings) : IFileEntrySink
    {
        public ValueTask WriteAsync(ReadOnlyMemory<FileEntry> batch, CancellationToken ct)
        {
            var rows = ArrayPool<FileEntry>.Shared.Rent(batch.Length);
            batch.Span.CopyTo(rows);
            var message = new LayerBatch(work, rows, batch.Length);
            return writer.TryWrite(message) ? default : WaitAsync(message, ct);
        }

        /// <summary>The writer's queue is full: the writer is the bottleneck for as long as this waits.</summary>
        private async ValueTask WaitAsync(LayerBatch message, CancellationToken ct)
        {
            long started = ScanTimings.Now();
            await writer.WriteAsync(message, ct);
            timings.AddWorkerBlocked(started);
        }
    }
}
