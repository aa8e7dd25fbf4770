using LayerStats.Core.Images;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;

namespace LayerStats.Core.Scanning;

/// <summary>A blob already in the store.</summary>
public sealed record StoredLayer(Digest Digest, long Size, Digest DiffId, long? UncompressedSize, bool IsForeign);

/// <summary>A verified layer blob, as the store records it.</summary>
public sealed record LayerRecord(Digest Digest, long Size, string MediaType, Compression? Compression, Digest DiffId, long? UncompressedSize, bool IsForeign);

/// <summary>A verified layer content (diff_id) whose entries were appended.</summary>
public sealed record LayerContentRecord(Digest DiffId, long UncompressedSize, int Entries, FileHashing Hashing);

/// <summary>An image ready to be committed: all its layers are stored and verified.</summary>
public sealed record ImageRecord(
    IImage Image,
    IReadOnlyList<ImageReference> References,
    long CompressedBytes,
    long UncompressedBytes,
    Analysis.ImageFigures Figures);

public sealed record ScanRunStart(DateTimeOffset StartedAt, string ToolVersion, FileHashing Hashing, int Inputs);

public sealed record ScanRunTotals(string Status, int ImagesOk, int ImagesFailed, int LayersRead, int LayersSkipped, long BytesRead, int Errors);

/// <summary>
/// The store the scan pipeline writes to. Only the pipeline's writer calls it, from one task at a time:
/// implementations need not be thread-safe.
/// </summary>
public interface IScanStore : IDisposable
{
    int BeginRun(ScanRunStart start);

    void FinishRun(int runId, ScanRunTotals totals);

    StoredLayer? FindLayer(Digest digest);

    /// <summary>The stored blobs among <paramref name="digests"/> (one look-up for a whole plan).</summary>
    IReadOnlyDictionary<Digest, StoredLayer> FindLayers(IReadOnlyCollection<Digest> digests)
    {
        var found = new Dictionary<Digest, StoredLayer>();
        foreach (var digest in digests)
        {
            if (FindLayer(digest) is { } layer)
            {
                found[digest] = layer;
            }
        }

        return found;
    }

    /// <summary>The hashing of every stored content among <paramref name="diffIds"/> (one look-up for a whole plan).</summary>
    IReadOnlyDictionary<Digest, FileHashing> FindContents(IReadOnlyCollection<Digest> diffIds)
    {
        var found = new Dictionary<Digest, FileHashing>();
        foreach (var diffId in diffIds)
        {
            if (FindContent(diffId) is { } hashing)
            {
                found[diffId] = hashing;
            }
        }

        return found;
    }

    /// <summary>The hashing with which the entries of <paramref name="diffId"/> are stored, or null when they are not.</summary>
    FileHashing? FindContent(Digest diffId);

    /// <summary>
    /// What a plan needs from the store, in one look-up: the stored blobs among <paramref name="digests"/>, and the stored
    /// contents among <paramref name="diffIds"/> and the diff_ids of those blobs. Digests as text (<see cref="Digest.ToString"/>),
    /// which keeps the scan's fixed cost down (see <see cref="StoredLookup"/>).
    /// </summary>
    StoredLookup FindStored(IReadOnlyList<string> digests, IReadOnlyList<string> diffIds)
    {
        var found = new StoredLookup();
        foreach (var (digest, layer) in FindLayers(digests.Select(Digest.Parse).ToHashSet()))
        {
            found.Layers[digest.ToString()] = layer;
        }

        var contents = diffIds.Select(Digest.Parse).Concat(found.Layers.Values.Where(l => !l.IsForeign).Select(l => l.DiffId)).ToHashSet();
        foreach (var (diffId, hashing) in FindContents(contents))
        {
            found.Contents[diffId.ToString()] = new StoredContent(hashing);
        }

        return found;
    }

    /// <summary>Starts loading one layer's entries, under the diff_id its image states, in a transaction of its own.</summary>
    ILayerLoad BeginLayerLoad(int runId, Digest expectedDiffId, FileHashing hashing);

    /// <summary>Records a blob whose content is already stored (or that is foreign and was not read).</summary>
    void AddLayer(int runId, LayerRecord layer);

    /// <summary>The entries of one layer content for the per-image analysis, streamed in no particular order (nothing
    /// held), each with its seq (its position in the layer).</summary>
    IEnumerable<Analysis.AnalysisEntry> StreamAnalysisEntries(Digest diffId);

    /// <summary>Commits an image with its layers and references in one transaction; an image already stored gains the references.</summary>
    void CommitImage(int runId, ImageRecord image);

    /// <summary>Adds references to an image already in the store (an unchanged rescan). False when the image is not stored.</summary>
    bool TouchImage(int runId, Digest imageId, IReadOnlyList<ImageReference> references);

    /// <summary>
    /// <see cref="TouchImage"/> for several images at once (an unchanged rescan touches every image: one transaction).
    /// Returns the images that were stored, hence touched.
    /// </summary>
    IReadOnlySet<string> TouchImages(int runId, IReadOnlyList<ImageTouch> images)
    {
        var touched = new HashSet<string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            if (TouchImage(runId, Digest.Parse(image.ImageId), image.References))
            {
                touched.Add(image.ImageId);
            }
        }

        return touched;
    }

    void RecordError(int runId, ScanError error);

    /// <summary>
    /// Looks up, ahead of their commits, which of these images and their configs the store holds (one statement each for
    /// a whole plan instead of one per image when each commits). Only a hint: a store may ignore it.
    /// </summary>
    void LookUpImages(IReadOnlyList<IImage> images)
    {
    }

    /// <summary>
    /// Group commit, for the read phase: from here to <see cref="EndGroup"/>, writes that would each commit alone (a
    /// small layer load, a blob row, an image) may go into one transaction instead, which <see cref="CommitGroup"/>
    /// commits. A store that does not group commits each write as it comes (the default).
    /// </summary>
    void BeginGroup()
    {
    }

    /// <summary>Commits the group's writes. Throws when it cannot: the group is then rolled back, as by <see cref="RollbackGroup"/>.</summary>
    void CommitGroup()
    {
    }

    /// <summary>Drops the group's writes (also what a failed grouped write does itself, before it throws).</summary>
    void RollbackGroup()
    {
    }

    /// <summary>Grouping ends; a group not committed is rolled back.</summary>
    void EndGroup()
    {
    }

    /// <summary>Writes that went into a group so far (a call that changed it wrote into the group).</summary>
    long GroupWrites => 0;

    /// <summary>Whether the group holds writes not committed yet (false after a failed grouped write rolled it back).</summary>
    bool GroupPending => false;
}

/// <summary>
/// What the store holds of a plan's blobs and contents, keyed by digest text (<see cref="Digest.ToString"/>): the form
/// in which the plan gathers its keys and the store reads them back, so that neither side parses a digest per key.
/// </summary>
public sealed class StoredLookup
{
    public Dictionary<string, StoredLayer> Layers { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, StoredContent> Contents { get; } = new(StringComparer.Ordinal);
}

/// <summary>A layer content (diff_id) whose entries are stored, with the hashing they were stored with.</summary>
public sealed record StoredContent(FileHashing Hashing);

/// <summary>An image to touch: its id as text (<see cref="Digest.ToString"/>) and the references it was found under this run.</summary>
public sealed record ImageTouch(string ImageId, IReadOnlyList<ImageReference> References);

/// <summary>One layer's entries, appended in a transaction that commits with the layer row or not at all.</summary>
public interface ILayerLoad : IDisposable
{
    void Append(ReadOnlySpan<FileEntry> entries);

    /// <summary>Commits the blob row and, when the content is not stored yet, the content row and its entries. Returns false when the content was already stored (its entries are dropped).</summary>
    bool Commit(LayerRecord layer, LayerContentRecord content);

    void Abort();
}
