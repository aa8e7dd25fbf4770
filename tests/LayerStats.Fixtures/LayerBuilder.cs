using System.Globalization;
using System.Text;

namespace LayerStats.Fixtures;

public enum EntryType
{
    Directory,
    File,
    Symlink,
    Hardlink,
    Fifo,
    CharDevice,
    BlockDevice,
    SparseFile,
}

/// <summary>How a sparse file's map is written: GNU old ('S' header), or PAX GNU.sparse 0.0, 0.1 or 1.0.</summary>
public enum SparseFormat
{
    GnuOld,
    Pax00,
    Pax01,
    Pax10,
}

/// <summary>One data segment of a sparse file: <paramref name="Bytes"/> at logical <paramref name="Offset"/>.</summary>
public sealed record SparseSegment(long Offset, byte[] Bytes);

/// <summary>One tar entry as the builder will write it. <see cref="Content"/> is the regular file's bytes.</summary>
public sealed record LayerEntry(string Path, EntryType Type)
{
    public byte[] Content { get; init; } = [];
    public int Mode { get; init; }
    public int Uid { get; init; }
    public int Gid { get; init; }
    public string LinkTarget { get; init; } = "";
    public int DevMajor { get; init; }
    public int DevMinor { get; init; }
    public long LogicalSize { get; init; }
    public IReadOnlyList<SparseSegment> Segments { get; init; } = [];
    public SparseFormat SparseFormat { get; init; }

    /// <summary>The logical content of a sparse file (zeros in the holes), or the content of a regular file.</summary>
    public byte[] LogicalContent()
    {
        if (Type != EntryType.SparseFile)
        {
            return Content;
        }
        var bytes = new byte[LogicalSize];
        foreach (var seg in Segments)
        {
            seg.Bytes.CopyTo(bytes, seg.Offset);
        }
        return bytes;
    }
}

/// <summary>Where one entry landed in the tar stream that <see cref="LayerBuilder.ToTar"/> writes.</summary>
public sealed record TarSpan(int EntryIndex, long HeaderOffset, long DataOffset, long DataLength);

/// <summary>
/// Builds the tar stream of one layer, entry by entry, in insertion order. Deterministic: fixed mtime, uid/gid 0,
/// user/group "root". Paths are written as given (no leading "./"); directories get a trailing '/'.
/// </summary>
public sealed class LayerBuilder
{
    public const int DefaultFileMode = 420;      // 0644
    public const int DefaultExecMode = 493;      // 0755
    public const int DefaultDirMode = 493;       // 0755
    public const int DefaultLinkMode = 511;      // 0777

    private readonly List<LayerEntry> _entries = [];
    private readonly HashSet<string> _dirs = new(StringComparer.Ordinal);
    private readonly bool _implicitParents;

    /// <param name="implicitParents">When true, a missing parent directory entry is added before each entry (as real layers have).</param>
    /// <param name="mtime">The modification time (Unix seconds) of every entry.</param>
    public LayerBuilder(bool implicitParents = false, long mtime = TarFormat.DefaultMtime)
    {
        _implicitParents = implicitParents;
        Mtime = mtime;
    }

    public long Mtime { get; }

    public IReadOnlyList<LayerEntry> Entries => _entries;

    public LayerBuilder Dir(string path, int mode = DefaultDirMode)
    {
        var p = Normalize(path);
        Parents(p);
        if (!_dirs.Add(p) && _implicitParents)
        {
            return this;
        }
        return Add(new LayerEntry(p, EntryType.Directory) { Mode = mode });
    }

    public LayerBuilder File(string path, string text, int mode = DefaultFileMode) => File(path, Encoding.UTF8.GetBytes(text), mode);

    public LayerBuilder File(string path, byte[] content, int mode = DefaultFileMode, int uid = 0, int gid = 0)
    {
        var p = Normalize(path);
        Parents(p);
        return Add(new LayerEntry(p, EntryType.File) { Content = content, Mode = mode, Uid = uid, Gid = gid });
    }

    public LayerBuilder Symlink(string path, string target)
    {
        var p = Normalize(path);
        Parents(p);
        return Add(new LayerEntry(p, EntryType.Symlink) { LinkTarget = target, Mode = DefaultLinkMode });
    }

    /// <summary>A hardlink entry ('1') to an earlier entry of this layer; <paramref name="target"/> is its path in the archive.</summary>
    public LayerBuilder Hardlink(string path, string target, int mode = DefaultFileMode)
    {
        var p = Normalize(path);
        Parents(p);
        return Add(new LayerEntry(p, EntryType.Hardlink) { LinkTarget = Normalize(target), Mode = mode });
    }

    /// <summary>Deletes <paramref name="path"/> of a lower layer: writes the empty file <c>dir/.wh.name</c>.</summary>
    public LayerBuilder Whiteout(string path)
    {
        var p = Normalize(path);
        var slash = p.LastIndexOf('/');
        var wh = slash < 0 ? ".wh." + p : p[..(slash + 1)] + ".wh." + p[(slash + 1)..];
        Parents(wh);
        return Add(new LayerEntry(wh, EntryType.File) { Mode = DefaultFileMode });
    }

    /// <summary>Hides every lower-layer child of directory <paramref name="dir"/>: writes <c>dir/.wh..wh..opq</c>.</summary>
    public LayerBuilder Opaque(string dir)
    {
        var p = Normalize(dir);
        if (_implicitParents && !_dirs.Contains(p))
        {
            Dir(p);
        }
        return Add(new LayerEntry(p + "/.wh..wh..opq", EntryType.File) { Mode = DefaultFileMode });
    }

    public LayerBuilder Fifo(string path, int mode = DefaultFileMode)
    {
        var p = Normalize(path);
        Parents(p);
        return Add(new LayerEntry(p, EntryType.Fifo) { Mode = mode });
    }

    public LayerBuilder CharDevice(string path, int major, int minor, int mode = 438 /* 0666 */)
    {
        var p = Normalize(path);
        Parents(p);
        return Add(new LayerEntry(p, EntryType.CharDevice) { DevMajor = major, DevMinor = minor, Mode = mode });
    }

    public LayerBuilder BlockDevice(string path, int major, int minor, int mode = 432 /* 0660 */)
    {
        var p = Normalize(path);
        Parents(p);
        return Add(new LayerEntry(p, EntryType.BlockDevice) { DevMajor = major, DevMinor = minor, Mode = mode });
    }

    /// <summary>
    /// A sparse file of <paramref name="logicalSize"/> bytes whose data are <paramref name="segments"/> (ascending,
    /// non-overlapping), zeros elsewhere, with hand-written headers in the given <paramref name="format"/>. The stored data
    /// are the segments concatenated (as the formats define and Go's and Python's readers read them); GNU tar's own
    /// reader also needs every segment but the last to be a multiple of 512 bytes, which is what GNU tar writes.
    /// </summary>
    public LayerBuilder SparseFile(string path, long logicalSize, IEnumerable<(long Offset, byte[] Bytes)> segments, SparseFormat format)
    {
        var p = Normalize(path);
        Parents(p);
        var segs = segments.Select(s => new SparseSegment(s.Offset, s.Bytes)).ToList();
        long end = 0;
        foreach (var s in segs)
        {
            if (s.Offset < end || s.Offset + s.Bytes.Length > logicalSize)
            {
                throw new ArgumentException("segments must be ascending, non-overlapping and inside the file");
            }
            end = s.Offset + s.Bytes.Length;
        }
        return Add(new LayerEntry(p, EntryType.SparseFile)
        {
            Mode = DefaultFileMode, LogicalSize = logicalSize, Segments = segs, SparseFormat = format,
        });
    }

    /// <summary>The layer's tar stream. Without end-of-archive blocks it ends right after the last entry.</summary>
    public byte[] ToTar(bool endOfArchiveBlocks = true) => ToTar(endOfArchiveBlocks, out _);

    public byte[] ToTar(bool endOfArchiveBlocks, out IReadOnlyList<TarSpan> spans)
    {
        using var ms = new MemoryStream();
        spans = WriteEntries(ms);
        if (endOfArchiveBlocks)
        {
            TarFormat.WriteEndOfArchive(ms);
        }
        return ms.ToArray();
    }

    /// <summary>Writes every entry (not the end-of-archive blocks) and says where each landed.</summary>
    public IReadOnlyList<TarSpan> WriteEntries(Stream s)
    {
        var spans = new List<TarSpan>(_entries.Count);
        for (var i = 0; i < _entries.Count; i++)
        {
            var e = _entries[i];
            var start = s.Position;
            WriteEntry(s, e, out var dataOffset, out var dataLength);
            spans.Add(new TarSpan(i, start, dataOffset, dataLength));
        }
        return spans;
    }

    private void WriteEntry(Stream s, LayerEntry e, out long dataOffset, out long dataLength)
    {
        var h = new TarFormat.Header(e.Path, 0) { Mode = e.Mode, Uid = e.Uid, Gid = e.Gid, Mtime = Mtime };
        dataLength = 0;
        switch (e.Type)
        {
            case EntryType.Directory:
                TarFormat.WriteEntryHeader(s, h with { Name = e.Path + "/", TypeFlag = TarFormat.TypeDirectory });
                break;
            case EntryType.File:
                TarFormat.WriteEntryHeader(s, h with { TypeFlag = TarFormat.TypeRegular, Size = e.Content.Length });
                dataLength = e.Content.Length;
                break;
            case EntryType.Symlink:
                TarFormat.WriteEntryHeader(s, h with { TypeFlag = TarFormat.TypeSymlink, LinkName = e.LinkTarget });
                break;
            case EntryType.Hardlink:
                TarFormat.WriteEntryHeader(s, h with { TypeFlag = TarFormat.TypeHardlink, LinkName = e.LinkTarget });
                break;
            case EntryType.Fifo:
                TarFormat.WriteEntryHeader(s, h with { TypeFlag = TarFormat.TypeFifo });
                break;
            case EntryType.CharDevice:
            case EntryType.BlockDevice:
                TarFormat.WriteEntryHeader(s, h with
                {
                    TypeFlag = e.Type == EntryType.CharDevice ? TarFormat.TypeChar : TarFormat.TypeBlock,
                    DevMajor = e.DevMajor, DevMinor = e.DevMinor,
                });
                break;
            case EntryType.SparseFile:
                dataOffset = s.Position;
                WriteSparse(s, e, h, out dataOffset, out dataLength);
                return;
        }
        dataOffset = s.Position;
        if (e.Type == EntryType.File)
        {
            TarFormat.WritePadded(s, e.Content);
        }
    }

    private static void WriteSparse(Stream s, LayerEntry e, TarFormat.Header h, out long dataOffset, out long dataLength)
    {
        // The map as GNU tar writes it: every data segment, and a final empty one when the file ends in a hole.
        var map = e.Segments.Select(x => (x.Offset, Length: (long)x.Bytes.Length)).ToList();
        var lastEnd = map.Count == 0 ? 0 : map[^1].Offset + map[^1].Length;
        if (lastEnd < e.LogicalSize || map.Count == 0)
        {
            map.Add((e.LogicalSize, 0));
        }
        var stored = e.Segments.Sum(x => (long)x.Bytes.Length);
        var inv = CultureInfo.InvariantCulture;
        switch (e.SparseFormat)
        {
            case SparseFormat.GnuOld:
                {
                    var first = map.Take(4).ToList();
                    var rest = map.Skip(4).ToList();
                    s.Write(TarFormat.HeaderBlock(h with { TypeFlag = TarFormat.TypeGnuSparse, Size = stored, Gnu = true }, b =>
                    {
                        for (var i = 0; i < first.Count; i++)
                        {
                            TarFormat.PutOctal(b, 386 + i * 24, 12, first[i].Offset);
                            TarFormat.PutOctal(b, 386 + i * 24 + 12, 12, first[i].Length);
                        }
                        b[482] = (byte)(rest.Count > 0 ? 1 : 0);
                        TarFormat.PutOctal(b, 483, 12, e.LogicalSize);
                    }));
                    for (var chunk = 0; chunk < rest.Count; chunk += 21)
                    {
                        var ext = new byte[TarFormat.BlockSize];
                        var part = rest.Skip(chunk).Take(21).ToList();
                        for (var i = 0; i < part.Count; i++)
                        {
                            TarFormat.PutOctal(ext, i * 24, 12, part[i].Offset);
                            TarFormat.PutOctal(ext, i * 24 + 12, 12, part[i].Length);
                        }
                        ext[504] = (byte)(chunk + 21 < rest.Count ? 1 : 0);
                        s.Write(ext);
                    }
                    break;
                }
            case SparseFormat.Pax00:
                {
                    var records = new List<KeyValuePair<string, string>>
                    {
                        new("GNU.sparse.size", e.LogicalSize.ToString(inv)),
                        new("GNU.sparse.numblocks", map.Count.ToString(inv)),
                    };
                    foreach (var (off, len) in map)
                    {
                        records.Add(new("GNU.sparse.offset", off.ToString(inv)));
                        records.Add(new("GNU.sparse.numbytes", len.ToString(inv)));
                    }
                    records.Add(new("path", e.Path));
                    TarFormat.WritePax(s, e.Path, records);
                    s.Write(TarFormat.HeaderBlock(h with { Name = FitName(e.Path), TypeFlag = TarFormat.TypeRegular, Size = stored }));
                    break;
                }
            case SparseFormat.Pax01:
                {
                    var records = new List<KeyValuePair<string, string>>
                    {
                        new("GNU.sparse.size", e.LogicalSize.ToString(inv)),
                        new("GNU.sparse.numblocks", map.Count.ToString(inv)),
                        new("GNU.sparse.map", string.Join(",", map.Select(m => m.Offset.ToString(inv) + "," + m.Length.ToString(inv)))),
                        new("path", e.Path),
                    };
                    TarFormat.WritePax(s, e.Path, records);
                    s.Write(TarFormat.HeaderBlock(h with { Name = FitName(e.Path), TypeFlag = TarFormat.TypeRegular, Size = stored }));
                    break;
                }
            case SparseFormat.Pax10:
                {
                    var mapText = new StringBuilder().Append(map.Count.ToString(inv)).Append('\n');
                    foreach (var (off, len) in map)
                    {
                        mapText.Append(off.ToString(inv)).Append('\n').Append(len.ToString(inv)).Append('\n');
                    }
                    var mapBytes = Encoding.ASCII.GetBytes(mapText.ToString());
                    var records = new List<KeyValuePair<string, string>>
                    {
                        new("GNU.sparse.major", "1"),
                        new("GNU.sparse.minor", "0"),
                        new("GNU.sparse.name", e.Path),
                        new("GNU.sparse.realsize", e.LogicalSize.ToString(inv)),
                    };
                    var slash = e.Path.LastIndexOf('/');
                    var fake = FitName((slash < 0 ? "" : e.Path[..(slash + 1)]) + "GNUSparseFile.0/" + e.Path[(slash + 1)..]);
                    TarFormat.WritePax(s, fake, records);
                    s.Write(TarFormat.HeaderBlock(h with { Name = fake, TypeFlag = TarFormat.TypeRegular, Size = TarFormat.PaddedLength(mapBytes.Length) + stored }));
                    TarFormat.WritePadded(s, mapBytes);
                    break;
                }
        }
        dataOffset = s.Position;
        dataLength = stored;
        foreach (var seg in e.Segments)
        {
            s.Write(seg.Bytes);
        }
        TarFormat.WritePadding(s, stored);
    }

    private static string FitName(string name) => TarFormat.SplitName(name) is null ? name[^Math.Min(name.Length, 99)..].TrimStart('/') : name;

    private LayerBuilder Add(LayerEntry e)
    {
        _entries.Add(e);
        return this;
    }

    private void Parents(string path)
    {
        if (!_implicitParents)
        {
            return;
        }
        var parts = path.Split('/');
        var prefix = "";
        for (var i = 0; i < parts.Length - 1; i++)
        {
            prefix = i == 0 ? parts[0] : prefix + "/" + parts[i];
            if (_dirs.Add(prefix))
            {
                _entries.Add(new LayerEntry(prefix, EntryType.Directory) { Mode = DefaultDirMode });
            }
        }
    }

    private static string Normalize(string path)
    {
        var p = path.Trim('/');
        if (p.Length == 0)
        {
            throw new ArgumentException("empty path");
        }
        return p;
    }
}
