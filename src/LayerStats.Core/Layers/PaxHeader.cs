using System.Text;

namespace LayerStats.Core.Layers;

/// <summary>The records of the PAX extended header(s) ('x') that apply to the next entry.</summary>
internal sealed class PaxHeader
{
    public bool Any;
    public string? Path;
    public string? LinkPath;
    public long? Size;
    public long? Uid;
    public long? Gid;
    public long? MTimeTicks; // since the Unix epoch, 100 ns

    // GNU sparse (PAX 0.0, 0.1, 1.0)
    public int SparseMajor = -1;
    public int SparseMinor = -1;
    public string? SparseName;
    public long? SparseSize;      // GNU.sparse.size (0.x)
    public long? SparseRealSize;  // GNU.sparse.realsize (1.0)
    public long? SparseNumBlocks;
    public bool SparseMapSeen;    // 0.0 offset/numbytes records or a 0.1 map
    public readonly List<long> SparseMap = []; // flattened offset,length pairs

    public bool IsSparse => SparseMajor >= 0 || SparseMinor >= 0 || SparseMapSeen || SparseNumBlocks is not null || SparseSize is not null || SparseRealSize is not null;

    public void Reset()
    {
        if (!Any)
        {
            return;
        }

        Any = false;
        Path = LinkPath = SparseName = null;
        Size = Uid = Gid = MTimeTicks = SparseSize = SparseRealSize = SparseNumBlocks = null;
        SparseMajor = SparseMinor = -1;
        SparseMapSeen = false;
        SparseMap.Clear();
    }

    /// <summary>Parses "length key=value\n" records.</summary>
    public void Parse(ReadOnlySpan<byte> data, string? path)
    {
        Any = true;
        while (!data.IsEmpty)
        {
            if (data.IndexOfAnyExcept((byte)0) < 0)
            {
                return; // trailing NUL padding some writers leave
            }

            int space = data.IndexOf((byte)' ');
            if (space <= 0 || !TryParseDecimal(data[..space], out long length) || length <= space + 1 || length > data.Length)
            {
                throw Malformed(path);
            }

            ReadOnlySpan<byte> record = data[..(int)length];
            data = data[(int)length..];
            if (record[^1] != (byte)'\n')
            {
                throw Malformed(path);
            }

            ReadOnlySpan<byte> kv = record[(space + 1)..^1];
            int eq = kv.IndexOf((byte)'=');
            if (eq <= 0)
            {
                throw Malformed(path);
            }

            Apply(kv[..eq], kv[(eq + 1)..], path);
        }
    }

    private void Apply(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, string? path)
    {
        if (key.SequenceEqual("path"u8))
        {
            Path = value.IsEmpty ? null : Encoding.UTF8.GetString(value);
        }
        else if (key.SequenceEqual("linkpath"u8))
        {
            LinkPath = value.IsEmpty ? null : Encoding.UTF8.GetString(value);
        }
        else if (key.SequenceEqual("size"u8))
        {
            Size = Number(value, "size", path);
        }
        else if (key.SequenceEqual("uid"u8))
        {
            Uid = Number(value, "uid", path);
        }
        else if (key.SequenceEqual("gid"u8))
        {
            Gid = Number(value, "gid", path);
        }
        else if (key.SequenceEqual("mtime"u8))
        {
            MTimeTicks = ParseTime(value, path);
        }
        else if (key.StartsWith("GNU.sparse."u8))
        {
            ApplySparse(key["GNU.sparse."u8.Length..], value, path);
        }
    }

    private void ApplySparse(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, string? path)
    {
        if (key.SequenceEqual("major"u8))
        {
            SparseMajor = (int)Math.Min(Number(value, "GNU.sparse.major", path), int.MaxValue);
        }
        else if (key.SequenceEqual("minor"u8))
        {
            SparseMinor = (int)Math.Min(Number(value, "GNU.sparse.minor", path), int.MaxValue);
        }
        else if (key.SequenceEqual("name"u8))
        {
            SparseName = value.IsEmpty ? null : Encoding.UTF8.GetString(value);
        }
        else if (key.SequenceEqual("size"u8))
        {
            SparseSize = Number(value, "GNU.sparse.size", path);
        }
        else if (key.SequenceEqual("realsize"u8))
        {
            SparseRealSize = Number(value, "GNU.sparse.realsize", path);
        }
        else if (key.SequenceEqual("numblocks"u8))
        {
            SparseNumBlocks = Number(value, "GNU.sparse.numblocks", path);
        }
        else if (key.SequenceEqual("offset"u8))
        {
            // PAX 0.0: offset/numbytes records alternate, in order
            if (SparseMap.Count % 2 != 0)
            {
                throw new LayerFormatException("malformed sparse PAX 0.0 header: GNU.sparse.offset without GNU.sparse.numbytes", path);
            }

            SparseMapSeen = true;
            SparseMap.Add(Number(value, "GNU.sparse.offset", path));
        }
        else if (key.SequenceEqual("numbytes"u8))
        {
            if (SparseMap.Count % 2 != 1)
            {
                throw new LayerFormatException("malformed sparse PAX 0.0 header: GNU.sparse.numbytes without GNU.sparse.offset", path);
            }

            SparseMap.Add(Number(value, "GNU.sparse.numbytes", path));
        }
        else if (key.SequenceEqual("map"u8))
        {
            SparseMapSeen = true;
            SparseMap.Clear();
            while (!value.IsEmpty)
            {
                int comma = value.IndexOf((byte)',');
                ReadOnlySpan<byte> item = comma < 0 ? value : value[..comma];
                SparseMap.Add(Number(item, "GNU.sparse.map", path));
                value = comma < 0 ? default : value[(comma + 1)..];
            }
        }
    }

    private static long Number(ReadOnlySpan<byte> value, string key, string? path) =>
        TryParseDecimal(value, out long v)
            ? v
            : throw new LayerFormatException($"malformed PAX header: {key} is not a decimal number", path);

    internal static bool TryParseDecimal(ReadOnlySpan<byte> s, out long value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 19)
        {
            return false;
        }

        foreach (byte c in s)
        {
            if (c is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return value >= 0;
    }

    /// <summary>PAX time: decimal seconds with an optional fraction, possibly negative. Returns 100 ns ticks since the epoch (clamped).</summary>
    private static long ParseTime(ReadOnlySpan<byte> value, string? path)
    {
        bool negative = !value.IsEmpty && value[0] == (byte)'-';
        if (negative)
        {
            value = value[1..];
        }

        int dot = value.IndexOf((byte)'.');
        ReadOnlySpan<byte> whole = dot < 0 ? value : value[..dot];
        ReadOnlySpan<byte> fraction = dot < 0 ? default : value[(dot + 1)..];
        if (!TryParseDecimal(whole, out long seconds) || fraction.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
        {
            throw new LayerFormatException("malformed PAX header: mtime is not a decimal time", path);
        }

        long ticks = 0;
        for (int i = 0; i < 7; i++)
        {
            ticks = (ticks * 10) + (i < fraction.Length ? fraction[i] - '0' : 0);
        }

        const long maxSeconds = 253402300799L; // DateTimeOffset.MaxValue
        seconds = Math.Min(seconds, maxSeconds);
        long total = (seconds * TimeSpan.TicksPerSecond) + ticks;
        return negative ? -total : total;
    }

    private static LayerFormatException Malformed(string? path) =>
        new("malformed PAX extended header record", path);
}
