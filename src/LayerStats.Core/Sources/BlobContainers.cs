using System.Formats.Tar;
using System.IO.Compression;
using LayerStats.Core.Images;
using LayerStats.Core.Model;

namespace LayerStats.Core.Sources;

/// <summary>What a lookup of a path in a container found: its length, or why it cannot be read.</summary>
internal readonly record struct ContainerEntry(string Path, long Length, string? Problem);

/// <summary>
/// The files of an image archive, addressed by normalized relative path ("blobs/sha256/…"): a directory,
/// a seekable tar file, or a gzipped tar file. A directory or a tar file holds no open handles (every read opens its
/// own stream); a gzipped tar file keeps a few open between reads until it is disposed.
/// </summary>
internal abstract class BlobContainer : IDisposable
{
    /// <summary>A person-readable name of the form: "directory", "tar archive", "gzipped tar archive".</summary>
    public abstract string Kind { get; }

    /// <summary>Why the container ends early (a tar archive cut off inside an entry), or null.</summary>
    public string? Truncation { get; protected set; }

    /// <summary>Null when the container does not hold <paramref name="path"/> (after following links).</summary>
    public abstract ContainerEntry? Find(string path);

    /// <summary>A re-openable opener for an entry that <see cref="Find"/> returned.</summary>
    public abstract BlobOpener OpenerFor(ContainerEntry entry);

    /// <summary>The layer of a blob held in the container at <paramref name="entry"/>.</summary>
    public virtual ILayer LayerFor(Descriptor descriptor, Digest diffId, ContainerEntry entry) => new BlobLayer(descriptor, diffId, OpenerFor(entry));

    /// <summary>Closes what the container keeps open between reads (nothing, but for a gzipped tar file).</summary>
    public virtual void Dispose()
    {
    }

    /// <summary>Reads a small document (JSON) whole; refuses it beyond <paramref name="cap"/> bytes.</summary>
    public virtual async Task<byte[]> ReadDocumentAsync(ContainerEntry entry, long cap, CancellationToken cancellationToken)
    {
        CheckReadable(entry, cap);
        var buffer = new byte[entry.Length];
        var stream = await OpenerFor(entry)(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        return buffer;
    }

    /// <summary>
    /// <see cref="ReadDocumentAsync"/> for a container on a local disk: reads the document at once, on the calling thread.
    /// A read of a few KB costs less than the hop to the thread pool that an asynchronous read of a FileStream takes, and a
    /// listing whose reads all complete at once runs no async continuation at all. Failures come back in the task, as from
    /// an async method.
    /// </summary>
    protected Task<byte[]> ReadDocumentAtOnce(ContainerEntry entry, long cap, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<byte[]>(cancellationToken);
        }

        try
        {
            CheckReadable(entry, cap);
            var buffer = new byte[entry.Length];
            var opening = OpenerFor(entry)(cancellationToken);
            using var stream = opening.IsCompletedSuccessfully ? opening.Result : opening.AsTask().GetAwaiter().GetResult();
            stream.ReadExactly(buffer);
            return Task.FromResult(buffer);
        }
        catch (Exception ex)
        {
            return Task.FromException<byte[]>(ex);
        }
    }

    protected static void CheckReadable(ContainerEntry entry, long cap)
    {
        if (entry.Problem is not null)
        {
            throw new ImageFormatException(entry.Problem);
        }

        if (entry.Length > cap)
        {
            throw new ImageFormatException($"'{entry.Path}' is {entry.Length} bytes, more than the {cap} bytes a JSON document may have here");
        }
    }
}

/// <summary>Relative paths inside an archive: "./a//b/../c" → "a/c"; null when the path leaves the archive.</summary>
internal static class ArchivePath
{
    public static string? Normalize(string path)
    {
        if (IsNormal(path))
        {
            return path; // the usual case ("blobs/sha256/…"), without taking it apart
        }

        var parts = new List<string>();
        foreach (string segment in path.Replace('\\', '/').Split('/'))
        {
            if (segment.Length == 0 || segment == ".")
            {
                continue;
            }

            if (segment == "..")
            {
                if (parts.Count == 0)
                {
                    return null;
                }

                parts.RemoveAt(parts.Count - 1);
                continue;
            }

            parts.Add(segment);
        }

        return parts.Count == 0 ? null : string.Join('/', parts);
    }

    /// <summary>Already normal: segments joined by single slashes, none empty, "." or "..", no backslash.</summary>
    private static bool IsNormal(string path)
    {
        if (path.Length == 0 || path.Contains('\\'))
        {
            return false;
        }

        foreach (var range in path.AsSpan().Split('/'))
        {
            var segment = path.AsSpan(range);
            if (segment.Length == 0 || segment is "." or "..")
            {
                return false;
            }
        }

        return true;
    }

    public static string Directory(string normalized)
    {
        int slash = normalized.LastIndexOf('/');
        return slash < 0 ? "" : normalized[..slash];
    }
}

/// <summary>An extracted layout or docker-save on disk.</summary>
internal sealed class DirectoryContainer(string root) : BlobContainer
{
    public override string Kind => "directory";

    /// <summary>
    /// One stat of the path (of a link: its target's): a regular file and its length. Whether it can be read is found
    /// when it is read (a document: "cannot be read"); opening every blob here took a third of a directory's listing.
    /// </summary>
    public override ContainerEntry? Find(string path)
    {
        string? normalized = ArchivePath.Normalize(path);
        if (normalized is null)
        {
            return null;
        }

        FileSystemInfo info = new FileInfo(Path.Combine(root, normalized));
        if (!info.Exists)
        {
            return null;
        }

        if ((info.Attributes & FileAttributes.ReparsePoint) != 0)
        {
            // A link's own length is that of its target's name: the file it leads to is the one read.
            info = info.ResolveLinkTarget(returnFinalTarget: true) ?? info;
        }

        return info is FileInfo { Exists: true } file ? new ContainerEntry(normalized, file.Length, null) : null;
    }

    /// <summary>A document read at once, on the calling thread, by offset into a buffer of its length (no stream, no stream buffer).</summary>
    public override Task<byte[]> ReadDocumentAsync(ContainerEntry entry, long cap, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<byte[]>(cancellationToken);
        }

        try
        {
            CheckReadable(entry, cap);
            var buffer = new byte[entry.Length];
            using var handle = OpenDocument(entry.Path);
            for (int done = 0; done < buffer.Length;)
            {
                int n = RandomAccess.Read(handle, buffer.AsSpan(done), done);
                if (n == 0)
                {
                    throw new EndOfStreamException("Unable to read beyond the end of the stream.");
                }

                done += n;
            }

            return Task.FromResult(buffer);
        }
        catch (Exception ex)
        {
            return Task.FromException<byte[]>(ex);
        }
    }

    private Microsoft.Win32.SafeHandles.SafeFileHandle OpenDocument(string normalized)
    {
        try
        {
            return File.OpenHandle(Path.Combine(root, normalized), FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ImageFormatException($"'{normalized}' cannot be read: {ex.Message}");
        }
    }

    public override BlobOpener OpenerFor(ContainerEntry entry)
    {
        string full = Path.Combine(root, entry.Path);
        return _ => ValueTask.FromResult<Stream>(new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan));
    }
}

/// <summary>Entries of a tar archive indexed once; links are followed at lookup.</summary>
internal abstract class TarContainer : BlobContainer
{
    private const int MaxLinkHops = 16;

    private readonly Dictionary<string, TarIndexEntry> _entries = new(StringComparer.Ordinal);

    protected TarContainer(string file) => File = file;

    protected string File { get; }

    public override ContainerEntry? Find(string path)
    {
        string? normalized = ArchivePath.Normalize(path);
        for (int hop = 0; normalized is not null && hop <= MaxLinkHops; hop++)
        {
            if (!_entries.TryGetValue(normalized, out var entry))
            {
                return null;
            }

            if (entry.LinkTarget is null)
            {
                return new ContainerEntry(normalized, entry.Length, entry.Problem);
            }

            normalized = entry.IsHardLink || entry.LinkTarget.StartsWith('/')
                ? ArchivePath.Normalize(entry.LinkTarget)
                : ArchivePath.Normalize(ArchivePath.Directory(normalized) + "/" + entry.LinkTarget);
        }

        return null;
    }

    protected TarIndexEntry? Get(string normalized) => _entries.GetValueOrDefault(normalized);

    /// <summary>Records an entry; a later entry of the same name replaces an earlier one, as tar extraction does.</summary>
    protected void Add(TarEntry entry, int ordinal, long dataOffset, string? problem)
    {
        Truncation ??= problem;
        string? name = ArchivePath.Normalize(entry.Name);
        if (name is null)
        {
            return;
        }

        switch (entry.EntryType)
        {
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                _entries[name] = new TarIndexEntry(entry.Length, dataOffset, ordinal, null, false, problem);
                break;
            case TarEntryType.SymbolicLink:
                _entries[name] = new TarIndexEntry(0, -1, ordinal, entry.LinkName, false, null);
                break;
            case TarEntryType.HardLink:
                _entries[name] = new TarIndexEntry(0, -1, ordinal, entry.LinkName, true, null);
                break;
            default:
                _entries.Remove(name);
                break;
        }
    }

    protected sealed record TarIndexEntry(long Length, long DataOffset, int Ordinal, string? LinkTarget, bool IsHardLink, string? Problem);
}

/// <summary>A tar file on disk: headers indexed once with a seekable stream; each blob is a bounded window over its own FileStream.</summary>
internal sealed class SeekableTarContainer : TarContainer
{
    private SeekableTarContainer(string file)
        : base(file)
    {
    }

    public override string Kind => "tar archive";

    public override Task<byte[]> ReadDocumentAsync(ContainerEntry entry, long cap, CancellationToken cancellationToken) =>
        ReadDocumentAtOnce(entry, cap, cancellationToken);

    public static async Task<SeekableTarContainer> IndexAsync(string file, CancellationToken cancellationToken)
    {
        var container = new SeekableTarContainer(file);
        var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.RandomAccess);
        await using (fs.ConfigureAwait(false))
        {
            long fileLength = fs.Length;
            var reader = new TarReader(fs, leaveOpen: true);
            await using (reader.ConfigureAwait(false))
            {
                int ordinal = 0;
                while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
                {
                    string? problem = null;
                    if (entry.DataOffset >= 0 && entry.DataOffset + entry.Length > fileLength)
                    {
                        problem = $"the archive is truncated: entry '{entry.Name}' needs {entry.DataOffset + entry.Length - fileLength} bytes more than the file holds";
                    }

                    container.Add(entry, ordinal++, entry.DataOffset, problem);
                    if (problem is not null)
                    {
                        break;
                    }
                }
            }
        }

        return container;
    }

    public override BlobOpener OpenerFor(ContainerEntry entry)
    {
        var index = Get(entry.Path) ?? throw new InvalidOperationException($"'{entry.Path}' is not in the archive");
        string file = File;
        return _ =>
        {
            if (index.Problem is not null)
            {
                throw new ImageFormatException(index.Problem);
            }

            var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            try
            {
                return ValueTask.FromResult<Stream>(new BoundedReadStream(fs, index.DataOffset, index.Length));
            }
            catch
            {
                fs.Dispose();
                throw;
            }
        };
    }
}

/// <summary>
/// A gzipped tar file, which cannot seek: indexed by decompressing once, keeping only the small JSON entries in memory.
/// Blobs are served by forward cursors (the file, its decompression and a tar reader, positioned after some entry): an
/// open takes the idle cursor furthest along that is still at or before its entry, skipping the entries between, or
/// starts a new one from the top; when the blob stream is disposed its cursor comes back to the pool. Blobs opened in
/// archive order (see <see cref="IArchiveOrderedLayer"/>) thus cost one decompression of the archive per cursor in use
/// at once, not one per blob. A cursor is closed when it fails, when no entry handed out lies ahead of it, or when the
/// container is disposed (<see cref="FileImageSource"/> disposes it with the source).
/// </summary>
internal sealed class GzipTarContainer : TarContainer
{
    /// <summary>Idle cursors kept (a scan's workers need one each); beyond that the one furthest behind is closed.</summary>
    private static readonly int MaxIdleCursors = Math.Max(4, Environment.ProcessorCount);

    private readonly Dictionary<string, byte[]> _documents = new(StringComparer.Ordinal);
    private readonly List<ArchiveCursor> _idle = [];
    private readonly Lock _lock = new();
    private int _lastOrdinal = -1;
    private bool _disposed;
    private long _decompressions;
    private long _compressedBytesRead;
    private int _openCursors;

    private GzipTarContainer(string file)
        : base(file)
    {
    }

    public override string Kind => "gzipped tar archive";

    /// <summary>Decompressions of the archive started from its first byte so far (the index pass included).</summary>
    public long Decompressions => Interlocked.Read(ref _decompressions);

    /// <summary>Compressed bytes of the archive read so far, by every pass (the index pass included).</summary>
    public long CompressedBytesRead => Interlocked.Read(ref _compressedBytesRead);

    /// <summary>Cursors open now (idle or serving a blob): each holds a handle on the file.</summary>
    public int OpenCursors => Volatile.Read(ref _openCursors);

    public static async Task<GzipTarContainer> IndexAsync(string file, long documentCap, CancellationToken cancellationToken)
    {
        var container = new GzipTarContainer(file);
        var cursor = container.NewCursor();
        await using (cursor.ConfigureAwait(false))
        {
            var reader = cursor.Reader;
            int ordinal = 0;
            var head = new byte[512];
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                container.Add(entry, ordinal++, -1, null);
                string? name = ArchivePath.Normalize(entry.Name);
                if (name is null)
                {
                    continue;
                }

                container._documents.Remove(name);
                if (entry.DataStream is null || entry.Length == 0 || entry.Length > documentCap
                    || entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile))
                {
                    continue;
                }

                int got = await entry.DataStream.ReadAtLeastAsync(head, (int)Math.Min(head.Length, entry.Length), throwOnEndOfStream: true, cancellationToken).ConfigureAwait(false);
                if (!LooksLikeJson(head.AsSpan(0, got)))
                {
                    continue;
                }

                var doc = new byte[entry.Length];
                head.AsSpan(0, got).CopyTo(doc);
                await entry.DataStream.ReadExactlyAsync(doc.AsMemory(got), cancellationToken).ConfigureAwait(false);
                container._documents[name] = doc;
            }
        }

        return container;
    }

    public override Task<byte[]> ReadDocumentAsync(ContainerEntry entry, long cap, CancellationToken cancellationToken)
    {
        CheckReadable(entry, cap);
        return _documents.TryGetValue(entry.Path, out var doc) ? Task.FromResult(doc) : base.ReadDocumentAsync(entry, cap, cancellationToken);
    }

    /// <summary>A layer that tells the plan where its blob lies in the archive, so that blobs are asked for in archive order.</summary>
    public override ILayer LayerFor(Descriptor descriptor, Digest diffId, ContainerEntry entry)
    {
        var index = Get(entry.Path) ?? throw new InvalidOperationException($"'{entry.Path}' is not in the archive");
        return new ArchiveOrderedLayer(new BlobLayer(descriptor, diffId, OpenerFor(entry)), this, index.Ordinal);
    }

    public override BlobOpener OpenerFor(ContainerEntry entry)
    {
        var index = Get(entry.Path) ?? throw new InvalidOperationException($"'{entry.Path}' is not in the archive");
        string path = entry.Path;
        lock (_lock)
        {
            _lastOrdinal = Math.Max(_lastOrdinal, index.Ordinal);
        }

        return cancellationToken => OpenAsync(index.Ordinal, path, cancellationToken);
    }

    /// <summary>Closes the idle cursors; a blob still open closes its cursor when disposed. Openers keep working, unpooled.</summary>
    public override void Dispose()
    {
        List<ArchiveCursor> closing;
        lock (_lock)
        {
            _disposed = true;
            closing = [.. _idle];
            _idle.Clear();
        }

        foreach (var cursor in closing)
        {
            cursor.Dispose();
        }

        base.Dispose();
    }

    private async ValueTask<Stream> OpenAsync(int ordinal, string path, CancellationToken cancellationToken)
    {
        var cursor = Take(ordinal) ?? NewCursor();
        try
        {
            while (true)
            {
                var tarEntry = await cursor.Reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false)
                    ?? throw new ImageFormatException($"'{path}' is no longer in the archive (did the file change since it was indexed?)");
                int at = cursor.Next++;
                if (at < ordinal)
                {
                    continue;
                }

                if (ArchivePath.Normalize(tarEntry.Name) != path || (tarEntry.DataStream is null && tarEntry.Length != 0))
                {
                    throw new ImageFormatException($"'{path}' is no longer in the archive (did the file change since it was indexed?)");
                }

                return new PooledEntryStream(tarEntry.DataStream ?? Stream.Null, tarEntry.Length, path, cursor, Return);
            }
        }
        catch
        {
            await cursor.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The idle cursor furthest along that has not passed <paramref name="ordinal"/>, taken out of the pool; or null.</summary>
    private ArchiveCursor? Take(int ordinal)
    {
        lock (_lock)
        {
            int best = -1;
            for (int i = 0; i < _idle.Count; i++)
            {
                if (_idle[i].Next <= ordinal && (best < 0 || _idle[i].Next > _idle[best].Next))
                {
                    best = i;
                }
            }

            if (best < 0)
            {
                return null;
            }

            var cursor = _idle[best];
            _idle.RemoveAt(best);
            return cursor;
        }
    }

    /// <summary>A blob stream was disposed: its cursor goes back to the pool, or is closed when it failed or can serve nothing more.</summary>
    private void Return(ArchiveCursor cursor, bool faulted)
    {
        ArchiveCursor? closing = cursor;
        lock (_lock)
        {
            if (!faulted && !_disposed && cursor.Next <= _lastOrdinal)
            {
                _idle.Add(cursor);
                closing = null;
                if (_idle.Count > MaxIdleCursors)
                {
                    int behind = 0;
                    for (int i = 1; i < _idle.Count; i++)
                    {
                        if (_idle[i].Next < _idle[behind].Next)
                        {
                            behind = i;
                        }
                    }

                    closing = _idle[behind];
                    _idle.RemoveAt(behind);
                }
            }
        }

        closing?.Dispose();
    }

    private ArchiveCursor NewCursor()
    {
        var fs = new FileStream(File, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        Interlocked.Increment(ref _decompressions);
        Interlocked.Increment(ref _openCursors);
        var counted = new CountingReadStream(fs, n => Interlocked.Add(ref _compressedBytesRead, n));
        var gzip = new GZipStream(counted, CompressionMode.Decompress, leaveOpen: false);
        return new ArchiveCursor(gzip, new TarReader(gzip, leaveOpen: true), () => Interlocked.Decrement(ref _openCursors));
    }

    private static bool LooksLikeJson(ReadOnlySpan<byte> head)
    {
        foreach (byte b in head)
        {
            if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                continue;
            }

            return b is (byte)'{' or (byte)'[';
        }

        return false;
    }
}

/// <summary>A forward position in a gzipped tar archive: the decompression and the tar reader, and the ordinal of the next entry.</summary>
internal sealed class ArchiveCursor(GZipStream gzip, TarReader reader, Action closed) : IDisposable, IAsyncDisposable
{
    private int _disposed;

    public TarReader Reader => reader;

    /// <summary>The ordinal of the entry the reader returns next.</summary>
    public int Next { get; set; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            reader.Dispose();
            gzip.Dispose();
            closed();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await reader.DisposeAsync().ConfigureAwait(false);
            await gzip.DisposeAsync().ConfigureAwait(false);
            closed();
        }
    }
}
