using System.Diagnostics;

namespace LayerStats.Core.Scanning;

/// <summary>
/// Where a scan's time went (<c>layerstats scan --timings</c>, benchmarks/README.md). Phases are wall time on the
/// pipeline's own task, one after another. The writer's work is split by what it did; it runs on one task while the
/// workers read layers, so writer time overlaps layer reading. Worker time is the sum over the workers: reading a
/// layer (open, decompress, digests, tar walk, file hashes) and, within it, waiting for room in the writer's queue
/// (time the writer was the bottleneck). Read from one thread after the scan; written by several during it.
/// </summary>
public sealed class ScanTimings
{
    private long _list;
    private long _plan;
    private long _read;
    private long _finish;
    private long _append;
    private long _layerCommit;
    private long _analysis;
    private long _imageCommit;
    private long _groupCommit;
    private long _writerIdle;
    private long _workers;
    private long _workersBlocked;

    /// <summary>Listing every source (manifests, configs, indexes).</summary>
    public TimeSpan List => Span(_list);

    /// <summary>Planning: looking up what the store already holds, touching unchanged images.</summary>
    public TimeSpan Plan => Span(_plan);

    /// <summary>From the first layer job to the last layer committed (wall).</summary>
    public TimeSpan Read => Span(_read);

    /// <summary>The end-of-run step: run totals and derived tables.</summary>
    public TimeSpan Finish => Span(_finish);

    /// <summary>Writer: appending file rows.</summary>
    public TimeSpan Append => Span(_append);

    /// <summary>Writer: committing layers (one transaction each).</summary>
    public TimeSpan LayerCommit => Span(_layerCommit);

    /// <summary>Writer: the per-image analysis (hidden bytes, dive's figures) over stored rows.</summary>
    public TimeSpan Analysis => Span(_analysis);

    /// <summary>Writer: committing images (rows, references, run membership).</summary>
    public TimeSpan ImageCommit => Span(_imageCommit);

    /// <summary>Writer: committing the groups of layers and images written into one transaction (group commit).</summary>
    public TimeSpan GroupCommit => Span(_groupCommit);

    /// <summary>Writer: waiting for the next message from the workers.</summary>
    public TimeSpan WriterIdle => Span(_writerIdle);

    /// <summary>Workers: reading layers, summed over the workers.</summary>
    public TimeSpan Workers => Span(_workers);

    /// <summary>Workers: of <see cref="Workers"/>, blocked on a full writer queue.</summary>
    public TimeSpan WorkersBlocked => Span(_workersBlocked);

    internal static long Now() => Stopwatch.GetTimestamp();

    internal void AddList(long since) => Add(ref _list, since);

    internal void AddPlan(long since) => Add(ref _plan, since);

    internal void AddRead(long since) => Add(ref _read, since);

    internal void AddFinish(long since) => Add(ref _finish, since);

    internal void AddAppend(long since) => Add(ref _append, since);

    internal void AddLayerCommit(long since) => Add(ref _layerCommit, since);

    internal void AddAnalysis(long since) => Add(ref _analysis, since);

    internal void AddImageCommit(long since) => Add(ref _imageCommit, since);

    internal void AddGroupCommit(long since) => Add(ref _groupCommit, since);

    internal void AddWriterIdle(long since) => Add(ref _writerIdle, since);

    internal void AddWorker(long since) => Add(ref _workers, since);

    internal void AddWorkerBlocked(long since) => Add(ref _workersBlocked, since);

    /// <summary>The figures as (name, seconds) rows, in the order a reader wants them.</summary>
    public IReadOnlyList<(string Name, TimeSpan Time)> Rows() =>
    [
        ("list sources", List),
        ("plan", Plan),
        ("read layers (wall)", Read),
        ("  workers: reading layers (sum)", Workers),
        ("  workers: of which blocked on the writer", WorkersBlocked),
        ("  writer: appending file rows", Append),
        ("  writer: committing layers", LayerCommit),
        ("  writer: analysing images", Analysis),
        ("  writer: committing images", ImageCommit),
        ("  writer: committing groups", GroupCommit),
        ("  writer: idle", WriterIdle),
        ("finish run (totals, derived tables)", Finish),
    ];

    private static TimeSpan Span(long ticks) => Stopwatch.GetElapsedTime(0, ticks);

    private static void Add(ref long field, long since) => Interlocked.Add(ref field, Stopwatch.GetTimestamp() - since);
}
