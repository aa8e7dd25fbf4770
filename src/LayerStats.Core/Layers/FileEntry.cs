namespace LayerStats.Core.Layers;

/// <summary>What a tar entry is, after whiteouts are recognised (the AUFS/OCI <c>.wh.</c> convention).</summary>
public enum EntryKind : byte
{
    File = 0,
    Dir = 1,
    Symlink = 2,
    Hardlink = 3,
    CharDevice = 4,
    BlockDevice = 5,
    Fifo = 6,
    Whiteout = 7,
    OpaqueWhiteout = 8,
}

/// <summary>The compression of a layer blob, decided by magic bytes (estargz reads as gzip).</summary>
public enum Compression : byte
{
    None = 0,
    Gzip = 1,
    Zstd = 2,
}

/// <summary>
/// One tar entry of a layer, in archive order.
/// <see cref="Path"/> is normalised: no leading <c>./</c> or <c>/</c>, no trailing <c>/</c>; it is data, never a file-system path.
/// <see cref="Size"/> is the file's logical size (for a sparse file: with its holes), 0 for non-files.
/// <see cref="Xxh128"/> and <see cref="Sha256"/> are set for regular files only.
/// </summary>
public readonly record struct FileEntry(
    int Seq,
    string Path,
    EntryKind Kind,
    long Size,
    int Mode,
    long Uid,
    long Gid,
    DateTimeOffset ModificationTime,
    string? LinkTarget,
    UInt128? Xxh128,
    byte[]? Sha256);
