using System.Globalization;
using System.Text;

namespace LayerStats.Fixtures;

/// <summary>
/// A hand-written tar header writer (ustar, PAX extended headers, GNU sparse headers), so that the bytes of every
/// fixture are under our control and independent of the code under test. Blocks are 512 bytes.
/// </summary>
public static class TarFormat
{
    public const int BlockSize = 512;

    public const byte TypeRegular = (byte)'0';
    public const byte TypeHardlink = (byte)'1';
    public const byte TypeSymlink = (byte)'2';
    public const byte TypeChar = (byte)'3';
    public const byte TypeBlock = (byte)'4';
    public const byte TypeDirectory = (byte)'5';
    public const byte TypeFifo = (byte)'6';
    public const byte TypePaxExtended = (byte)'x';
    public const byte TypeGnuSparse = (byte)'S';

    /// <summary>The fixed modification time of every entry the fixtures write (2023-11-14T22:13:20Z).</summary>
    public const long DefaultMtime = 1_700_000_000;

    /// <summary>Fields of one header block. Numbers are written as octal, as ustar does.</summary>
    public sealed record Header(string Name, byte TypeFlag)
    {
        public int Mode { get; init; } = 420; // 0644
        public int Uid { get; init; }
        public int Gid { get; init; }
        public long Size { get; init; }
        public long Mtime { get; init; } = DefaultMtime;
        public string LinkName { get; init; } = "";
        public int DevMajor { get; init; }
        public int DevMinor { get; init; }
        public string UserName { get; init; } = "root";
        public string GroupName { get; init; } = "root";

        /// <summary>GNU magic ("ustar  \0") instead of POSIX ustar ("ustar\000").</summary>
        public bool Gnu { get; init; }
    }

    /// <summary>Builds one 512-byte header block. The name must fit ustar name/prefix (use <see cref="WriteEntryHeader"/> for long names).</summary>
    public static byte[] HeaderBlock(Header h, Action<byte[]>? extra = null)
    {
        var b = new byte[BlockSize];
        var (prefix, name) = SplitName(h.Name) ?? throw new ArgumentException($"name does not fit a ustar header: {h.Name}");
        PutString(b, 0, 100, name);
        PutOctal(b, 100, 8, h.Mode);
        PutOctal(b, 108, 8, h.Uid);
        PutOctal(b, 116, 8, h.Gid);
        PutOctal(b, 124, 12, h.Size);
        PutOctal(b, 136, 12, h.Mtime);
        b[156] = h.TypeFlag;
        PutString(b, 157, 100, h.LinkName);
        if (h.Gnu)
        {
            PutString(b, 257, 8, "ustar  ");
        }
        else
        {
            PutString(b, 257, 6, "ustar");
            b[263] = (byte)'0';
            b[264] = (byte)'0';
        }
        PutString(b, 265, 32, h.UserName);
        PutString(b, 297, 32, h.GroupName);
        PutOctal(b, 329, 8, h.DevMajor);
        PutOctal(b, 337, 8, h.DevMinor);
        if (!h.Gnu)
        {
            PutString(b, 345, 155, prefix);
        }
        extra?.Invoke(b);
        SetChecksum(b);
        return b;
    }

    /// <summary>Recomputes the checksum field of a header block (after a caller changed it).</summary>
    public static void SetChecksum(byte[] b)
    {
        for (var i = 148; i < 156; i++)
        {
            b[i] = (byte)' ';
        }
        long sum = 0;
        foreach (var x in b)
        {
            sum += x;
        }
        var text = Convert.ToString(sum, 8).PadLeft(6, '0');
        Encoding.ASCII.GetBytes(text, 0, 6, b, 148);
        b[154] = 0;
        b[155] = (byte)' ';
    }

    /// <summary>
    /// Writes the header(s) of one entry: a PAX extended header first when the name or link name is too long
    /// for ustar or <paramref name="pax"/> records are given, then the ustar header.
    /// </summary>
    public static void WriteEntryHeader(Stream s, Header h, IReadOnlyList<KeyValuePair<string, string>>? pax = null)
    {
        var records = new List<KeyValuePair<string, string>>(pax ?? []);
        var header = h;
        if (SplitName(h.Name) is null)
        {
            records.Add(new("path", h.Name));
            header = header with { Name = ShortName(h.Name) };
        }
        if (Encoding.UTF8.GetByteCount(h.LinkName) > 100)
        {
            records.Add(new("linkpath", h.LinkName));
            header = header with { LinkName = ShortName(h.LinkName) };
        }
        if (records.Count > 0)
        {
            WritePax(s, header.Name, records);
        }
        s.Write(HeaderBlock(header));
    }

    /// <summary>Writes a PAX extended header entry ('x') and its padded records.</summary>
    public static void WritePax(Stream s, string forName, IReadOnlyList<KeyValuePair<string, string>> records)
    {
        var data = PaxRecords(records);
        var baseName = forName.TrimEnd('/');
        baseName = baseName[(baseName.LastIndexOf('/') + 1)..];
        var paxName = ShortName("PaxHeaders.0/" + baseName);
        s.Write(HeaderBlock(new Header(paxName, TypePaxExtended) { Size = data.Length }));
        WritePadded(s, data);
    }

    /// <summary>Encodes PAX records ("%d key=value\n", the length counting itself).</summary>
    public static byte[] PaxRecords(IReadOnlyList<KeyValuePair<string, string>> records)
    {
        var sb = new StringBuilder();
        foreach (var (key, value) in records)
        {
            var body = " " + key + "=" + value + "\n";
            var bodyLength = Encoding.UTF8.GetByteCount(body);
            var length = bodyLength + 1;
            while (length.ToString(CultureInfo.InvariantCulture).Length + bodyLength != length)
            {
                length = length.ToString(CultureInfo.InvariantCulture).Length + bodyLength;
            }
            sb.Append(length.ToString(CultureInfo.InvariantCulture)).Append(body);
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>Writes data and zero padding up to the next block boundary.</summary>
    public static void WritePadded(Stream s, ReadOnlySpan<byte> data)
    {
        s.Write(data);
        WritePadding(s, data.Length);
    }

    public static void WritePadding(Stream s, long length)
    {
        var pad = (int)((BlockSize - length % BlockSize) % BlockSize);
        if (pad > 0)
        {
            s.Write(new byte[pad]);
        }
    }

    /// <summary>The two zero blocks that end an archive.</summary>
    public static void WriteEndOfArchive(Stream s) => s.Write(new byte[2 * BlockSize]);

    public static long PaddedLength(long length) => (length + BlockSize - 1) / BlockSize * BlockSize;

    /// <summary>Splits a name into ustar prefix and name, or null if it does not fit.</summary>
    public static (string Prefix, string Name)? SplitName(string name)
    {
        if (Encoding.UTF8.GetByteCount(name) <= 100)
        {
            return ("", name);
        }
        if (!Ascii(name))
        {
            return null;
        }
        var trailing = name.EndsWith('/');
        var core = trailing ? name[..^1] : name;
        for (var i = core.Length - 1; i > 0; i--)
        {
            if (core[i] != '/')
            {
                continue;
            }
            var prefix = core[..i];
            var rest = core[(i + 1)..] + (trailing ? "/" : "");
            if (prefix.Length <= 155 && rest.Length <= 100 && rest.Length > 0)
            {
                return (prefix, rest);
            }
        }
        return null;
    }

    private static bool Ascii(string s)
    {
        foreach (var c in s)
        {
            if (c > 127)
            {
                return false;
            }
        }
        return true;
    }

    private static string ShortName(string name)
    {
        var sb = new StringBuilder();
        foreach (var c in name)
        {
            if (sb.Length == 99)
            {
                break;
            }
            sb.Append(c < 128 ? c : '_');
        }
        return sb.ToString();
    }

    public static void PutString(byte[] b, int offset, int length, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        if (bytes.Length > length)
        {
            throw new ArgumentException($"'{value}' does not fit {length} bytes");
        }
        bytes.CopyTo(b, offset);
    }

    /// <summary>Octal number, zero padded, NUL terminated (length-1 digits).</summary>
    public static void PutOctal(byte[] b, int offset, int length, long value)
    {
        var text = Convert.ToString(value, 8).PadLeft(length - 1, '0');
        if (text.Length > length - 1)
        {
            throw new ArgumentException($"{value} does not fit an octal field of {length} bytes");
        }
        Encoding.ASCII.GetBytes(text, 0, text.Length, b, offset);
        b[offset + length - 1] = 0;
    }
}
