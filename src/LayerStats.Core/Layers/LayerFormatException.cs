namespace LayerStats.Core.Layers;

/// <summary>
/// A layer blob that cannot be read as what it claims to be: a malformed tar (bad header checksum, bad number,
/// inconsistent sparse map), a truncated tar or compressed stream, a corrupt gzip/zstd stream, or a variant this
/// reader does not support. <see cref="EntryPath"/> names the tar entry where known.
/// </summary>
public sealed class LayerFormatException : Exception
{
    public LayerFormatException()
    {
    }

    public LayerFormatException(string message)
        : base(message)
    {
    }

    public LayerFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public LayerFormatException(string message, string? entryPath, Exception? innerException = null)
        : base(entryPath is null ? message : $"{message} (entry '{entryPath}')", innerException)
    {
        EntryPath = entryPath;
    }

    /// <summary>The tar entry being read when the problem was found, or null.</summary>
    public string? EntryPath { get; }
}
