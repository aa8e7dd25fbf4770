using System.Runtime.InteropServices;
using DuckDB.NET.Data;
using LayerStats.Core.Images;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;

namespace LayerStats.Storage;

/// <summary>
/// Group commit. A DuckDB commit costs ~1-2 ms of CPU and an fsync whatever it holds, and a fleet of small images is
/// almost nothing but commits: three per two-layer image (each layer's, then the image's). Between
/// <see cref="BeginGroup"/> and <see cref="EndGroup"/> (the pipeline's read phase), the writes that would each commit
/// alone go into one transaction on the store's connection instead, which <see cref="CommitGroup"/> commits: the
/// entries and rows of a layer content of at most <see cref="GroupedLoadRows"/> entries (held by its load until it
/// commits), a blob row, an image with its layers and references. A bigger content loads on a connection of its own,
/// as before. A group holds whole layers and whole images, so what a crash leaves is still never half an image: only
/// less work done. When a grouped write fails, the whole group is rolled back (DuckDB has no savepoints) and the
/// pipeline fails what it held; errors recorded meanwhile are written with the group, or after its roll-back.
/// </summary>
public sealed partial class DuckDbScanStore
{
    /// <summary>Group commit on (the default); off, every layer and image commits alone (tests compare the two).</summary>
    internal bool GroupCommits { get; init; } = true;

    /// <summary>A layer content of at most this many entries is loaded in the group (its rows held until its load commits).</summary>
    internal const int GroupedLoadRows = LayerReader.BatchSize;

    private bool _grouping;

    /// <summary>The group's transaction on the store's connection, from its first write to its commit or roll-back.</summary>
    private DuckDBTransaction? _group;

    /// <summary>The group's appender of <c>files</c> rows, for all its contents; closed before anything reads them.</summary>
    private FileRowAppender? _groupAppender;

    private readonly List<(int RunId, ScanError Error)> _groupErrors = [];

    /// <summary>The layer contents whose rows the open group wrote (read in its transaction: <see cref="StreamAnalysisEntries"/>).</summary>
    private readonly HashSet<string> _groupContents = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public long GroupWrites { get; private set; }

    /// <inheritdoc/>
    public bool GroupPending => _group is not null;

    /// <inheritdoc/>
    public void BeginGroup() => _grouping = GroupCommits && !DuckDbNetAppender;

    /// <inheritdoc/>
    public void CommitGroup()
    {
        if (_group is null)
        {
            return;
        }

        try
        {
            CloseGroupAppender();
            foreach (var (runId, error) in _groupErrors)
            {
                InsertError(runId, error);
            }

            _group.Commit();
        }
        catch (Exception ex) when (ex is DuckDBException or InvalidOperationException)
        {
            RollbackGroup();
            throw;
        }

        _groupErrors.Clear();
        _groupContents.Clear();
        _group.Dispose();
        _group = null;
    }

    /// <inheritdoc/>
    public void RollbackGroup()
    {
        if (_group is null)
        {
            return;
        }

        _groupAppender?.Dispose();
        _groupAppender = null;
        try
        {
            _group.Rollback();
        }
        catch (InvalidOperationException)
        {
            // A failed commit has ended the transaction already.
        }

        _group.Dispose();
        _group = null;
        _groupContents.Clear();

        // What this store knows of stored contents, blobs and images may stem from the group's writes: asked again.
        _contents.Clear();
        _contentIds.Clear();
        _absentLayers.Clear();
        _absentImages.Clear();
        _absentConfigs.Clear();
        _storedConfigs.Clear();

        var errors = _groupErrors.ToArray();
        _groupErrors.Clear();
        foreach (var (runId, error) in errors)
        {
            try
            {
                InsertError(runId, error);
            }
            catch (Exception ex) when (ex is DuckDBException or InvalidOperationException)
            {
                // The database cannot take them either (disk full...): the scan reports them all the same.
            }
        }
    }

    /// <inheritdoc/>
    public void EndGroup()
    {
        RollbackGroup(); // nothing, after the pipeline's last CommitGroup
        _grouping = false;
    }

    /// <summary>
    /// Where a write goes: into the group when grouping (its transaction begun with its first write), else into a
    /// transaction of its own (or, with <paramref name="ownTransaction"/> false, the statement's own).
    /// </summary>
    private WriteScope BeginWrite(bool ownTransaction = true)
    {
        if (_grouping)
        {
            _group ??= _connection.BeginTransaction();
            return new WriteScope(this, null);
        }

        return new WriteScope(this, ownTransaction ? _connection.BeginTransaction() : null);
    }

    private void CloseGroupAppender() => FileRowAppender.Close(ref _groupAppender);

    /// <summary>
    /// A write in the group or in a transaction of its own. In the group, a write that ends without
    /// <see cref="Commit"/> (a statement failed) rolls the whole group back: DuckDB has aborted its transaction.
    /// </summary>
    private sealed class WriteScope(DuckDbScanStore store, DuckDBTransaction? own) : IDisposable
    {
        private readonly bool _grouped = store._grouping;
        private bool _done;

        /// <summary>Done; <paramref name="wrote"/> false: nothing was written (the group does not count it).</summary>
        public void Commit(bool wrote = true)
        {
            if (_grouped)
            {
                store.GroupWrites += wrote ? 1 : 0;
            }
            else
            {
                own?.Commit();
            }

            _done = true;
        }

        public void Dispose()
        {
            if (_grouped)
            {
                if (!_done)
                {
                    store.RollbackGroup();
                }

                return;
            }

            own?.Dispose();
        }
    }

    /// <summary>
    /// Writes a small layer content's held rows and its layer_contents and layers rows in the group. False (a blob
    /// row only) when the content is stored already, with the hashing asked for.
    /// </summary>
    private bool CommitInGroup(int runId, string diffId, long contentId, ReadOnlySpan<FileEntry> rows, LayerRecord layer, LayerContentRecord content)
    {
        if (KnownContent(diffId) is { } stored && stored.Covers(content.Hashing))
        {
            AddLayer(runId, layer); // another blob of the same content came first (in this group or before)
            return false;
        }

        string digest = layer.Digest.ToString();
        using (var write = BeginWrite())
        {
            if (_groupAppender is null)
            {
                _groupAppender = new FileRowAppender(_connection, diffId, contentId);
            }
            else
            {
                _groupAppender.SetContent(diffId, contentId);
            }

            _groupAppender.Append(rows);
            Statement("INSERT INTO layer_contents (diff_id, uncompressed_size, entries, file_hashing, run_id, content_id) VALUES (?, ?, ?, ?, ?, ?)")
                .Text(diffId).Int64(content.UncompressedSize).Int32(content.Entries).Text(content.Hashing.ToName()).Int32(runId).Int64(contentId)
                .Execute();
            InsertLayerRow(_connection, _statements ??= new StatementCache(_connection), layer, digest, runId);
            write.Commit();
        }

        _groupContents.Add(diffId);
        _contentIds[diffId] = new ContentRows(contentId, content.Entries);
        _contents[diffId] = content.Hashing;
        _absentLayers.Remove(digest);
        return true;
    }

    /// <summary>
    /// A layer load while grouping: its entries are held (at most <see cref="GroupedLoadRows"/>) and written in the
    /// group when it commits. More entries, a content stored with weaker hashing (replaced: its old rows are deleted
    /// first) or one another load is committing in chunks: a <see cref="LayerLoad"/> of its own takes over.
    /// </summary>
    private sealed class GroupedLoad(DuckDbScanStore store, int runId, Digest expectedDiffId, FileHashing hashing, long contentId) : ILayerLoad
    {
        private List<FileEntry>? _held = [];
        private LayerLoad? _own;

        public void Append(ReadOnlySpan<FileEntry> entries)
        {
            if (_own is null && _held is not null && _held.Count + entries.Length <= GroupedLoadRows)
            {
                _held.AddRange(entries);
                return;
            }

            Own().Append(entries);
        }

        public bool Commit(LayerRecord layer, LayerContentRecord content)
        {
            string diffId = expectedDiffId.ToString();
            if (_own is null && _held is not null && store._grouping && !store._chunking.ContainsKey(diffId)
                && (store.KnownContent(diffId) is not { } stored || stored.Covers(content.Hashing)))
            {
                var rows = _held;
                _held = null;
                return store.CommitInGroup(runId, diffId, contentId, CollectionsMarshal.AsSpan(rows), layer, content);
            }

            return Own().Commit(layer, content);
        }

        public void Abort()
        {
            _held = null;
            _own?.Abort();
        }

        public void Dispose()
        {
            _held = null;
            _own?.Dispose();
        }

        private LayerLoad Own()
        {
            if (_own is null)
            {
                _own = new LayerLoad(store, store.RentLoadConnection(), runId, expectedDiffId, hashing, contentId);
                if (_held is { Count: > 0 } held)
                {
                    _own.Append(CollectionsMarshal.AsSpan(held));
                }

                _held = null;
            }

            return _own;
        }
    }
}
