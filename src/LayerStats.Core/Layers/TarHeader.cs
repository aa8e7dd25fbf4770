using System.Text;

namespace LayerStats.Core.Layers;

/// <summary>The fields of one 512-byte tar header block that the walker uses (ustar, pax, GNU, star, v7).</summary>
internal struct TarHeader
{
    public const int BlockSize = 512;

    public byte TypeFlag;
    public long Size;
    public int Mode;
    public long Uid;
    public long Gid;
    public long MTimeSeconds;
    public string? Name;
    public string? LinkName;
    public bool NameEndsWithSlash;

    // Old GNU sparse ('S'): the real size and whether extension blocks follow; the map goes to the list given to Parse.
    public long RealSize;
    public bool SparseExtended;

    public static bool IsZeroBlock(ReadOnlySpan<byte> block) => !block[..BlockSize].ContainsAnyExcept((byte)0);

    /// <summary>Parses a header block. Names are decoded only when <paramref name="wantName"/> / <paramref name="wantLink"/>.</summary>
    public static TarHeader Parse(ReadOnlySpan<byte> h, bool wantName, bool wantLink, List<long> sparse, string? previousPath)
    {
        h = h[..BlockSize];
        VerifyChecksum(h, previousPath);

        var hdr = default(TarHeader);
        hdr.TypeFlag = h[156];

        // Format: ustar ("ustar\0" "00"; star adds "tar\0" at 508), GNU ("ustar " " \0"), else v7.
        ReadOnlySpan<byte> magic = h.Slice(257, 6);
        bool ustar = magic.SequenceEqual("ustar\0"u8);
        bool gnu = magic.SequenceEqual("ustar "u8);
        bool star = ustar && h.Slice(508, 4).SequenceEqual("tar\0"u8);

        hdr.Mode = (int)(ParseNumeric(h.Slice(100, 8), "mode", previousPath) & 0xFFF);
        hdr.Uid = ParseNumeric(h.Slice(108, 8), "uid", previousPath);
        hdr.Gid = ParseNumeric(h.Slice(116, 8), "gid", previousPath);
        hdr.Size = ParseNumeric(h.Slice(124, 12), "size", previousPath);
        hdr.MTimeSeconds = ParseNumeric(h.Slice(136, 12), "mtime", previousPath);
        if (hdr.Size < 0)
        {
            throw new LayerFormatException("malformed tar header: negative size", previousPath);
        }

        ReadOnlySpan<byte> name = CString(h[..100]);
        hdr.NameEndsWithSlash = name.Length > 0 && name[^1] == (byte)'/';
        if (wantName)
        {
            ReadOnlySpan<byte> prefix = ustar ? CString(h.Slice(345, star ? 131 : 155)) : default;
            hdr.Name = DecodePath(prefix, name);
        }

        if (wantLink)
        {
            hdr.LinkName = Decode(CString(h.Slice(157, 100)));
        }

        if (gnu && hdr.TypeFlag == (byte)'S')
        {
            hdr.SparseExtended = ParseSparseEntries(h.Slice(386, 4 * 24 + 1), 4, sparse, previousPath);
            hdr.RealSize = ParseNumeric(h.Slice(483, 12), "realsize", previousPath);
        }

        return hdr;
    }

    /// <summary>Parses an old-GNU sparse array (entries of 12-byte offset + 12-byte length, then the isextended byte).</summary>
    public static bool ParseSparseEntries(ReadOnlySpan<byte> area, int maxEntries, List<long> sparse, string? path)
    {
        for (int i = 0; i < maxEntries; i++)
        {
            ReadOnlySpan<byte> entry = area.Slice(i * 24, 24);
            if (entry[0] == 0)
            {
                break; // GNU and BSD tar end the list at the first empty offset
            }

            sparse.Add(ParseNumeric(entry[..12], "sparse offset", path));
            sparse.Add(ParseNumeric(entry[12..], "sparse length", path));
        }

        return area[maxEntries * 24] != 0;
    }

    private static void VerifyChecksum(ReadOnlySpan<byte> h, string? previousPath)
    {
        long stated = ParseOctal(h.Slice(148, 8), out bool ok);
        long unsigned = 0;
        long signed = 0;
        for (int i = 0; i < BlockSize; i++)
        {
            byte b = i is >= 148 and < 156 ? (byte)' ' : h[i];
            unsigned += b;
            signed += (sbyte)b;
        }

        if (!ok || (stated != unsigned && stated != signed))
        {
            string name = Decode(CString(h[..100]));
            throw new LayerFormatException(
                $"malformed tar: bad header checksum for the header of '{name}'" +
                (previousPath is null ? " (the first header)" : $" (after entry '{previousPath}')") +
                "; the stream is not a tar or is corrupt",
                previousPath);
        }
    }

    /// <summary>A tar number: octal text (padded with spaces/NULs) or GNU base-256 (high bit set).</summary>
    public static long ParseNumeric(ReadOnlySpan<byte> field, string what, string? path)
    {
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            byte inv = (field[0] & 0x40) != 0 ? (byte)0xff : (byte)0;
            ulong x = 0;
            for (int i = 0; i < field.Length; i++)
            {
                byte c = (byte)(field[i] ^ inv);
                if (i == 0)
                {
                    c &= 0x7f;
                }

                if ((x >> 56) > 0)
                {
                    throw new LayerFormatException($"malformed tar header: base-256 {what} overflows", path);
                }

                x = (x << 8) | c;
            }

            if ((x >> 63) > 0)
            {
                throw new LayerFormatException($"malformed tar header: base-256 {what} overflows", path);
            }

            return inv == 0xff ? ~(long)x : (long)x;
        }

        long v = ParseOctal(field, out bool ok);
        return ok ? v : throw new LayerFormatException($"malformed tar header: {what} is not an octal number", path);
    }

    private static long ParseOctal(ReadOnlySpan<byte> field, out bool ok)
    {
        field = field.Trim(" \0"u8);
        long v = 0;
        foreach (byte c in field)
        {
            if (c is < (byte)'0' or > (byte)'7' || v > (long.MaxValue >> 3))
            {
                ok = false;
                return 0;
            }

            v = (v << 3) | (long)(c - '0');
        }

        ok = true;
        return v;
    }

    private static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        return nul < 0 ? field : field[..nul];
    }

    private static string Decode(ReadOnlySpan<byte> bytes) => bytes.IsEmpty ? "" : Encoding.UTF8.GetString(bytes);

    private static string DecodePath(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> name)
    {
        if (prefix.IsEmpty)
        {
            return Decode(EntryPaths.Normalize(name));
        }

        Span<byte> joined = stackalloc byte[prefix.Length + 1 + name.Length];
        prefix.CopyTo(joined);
        joined[prefix.Length] = (byte)'/';
        name.CopyTo(joined[(prefix.Length + 1)..]);
        return Decode(EntryPaths.Normalize((ReadOnlySpan<byte>)joined));
    }
}
