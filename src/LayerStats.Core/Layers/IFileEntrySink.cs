namespace LayerStats.Core.Layers;

/// <summary>
/// Receives the entries of a layer in archive order, in batches (of up to <see cref="LayerReader.BatchSize"/>).
/// The memory of <paramref name="batch"/> is reused by the reader once the call returns: copy what you keep.
/// </summary>
public interface IFileEntrySink
{
    ValueTask WriteAsync(ReadOnlyMemory<FileEntry> batch, CancellationToken ct);
}
