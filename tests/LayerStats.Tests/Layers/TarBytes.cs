using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using LayerStats.Core.Layers;

namespace LayerStats.Tests.Layers;

/// <summary>Builds tar bytes by hand (for what TarWriter cannot write) and reads them back through LayerReader.</summary>
internal static class TarBytes
{
    public static readonly DateTimeOffset MTime = new(2021, 3, 4, 5, 6, 7, TimeSpan.Zero);

    /// <summary>A 512-byte header block with a correct checksum. <paramref name="gnu"/> writes GNU magic, else ustar.</summary>
    public static byte[] Header(string name, char type, long size, bool gnu = false, string link = "", int mode = 420,
        int uid = 1000, int gid = 1000, long mtime = 1614834367, Action<byte[]>? extra = null)
    {
        var h = new byte[512];
        Ascii(h, 0, 100, name);
        Octal(h, 100, 8, mode);
        Octal(h, 108, 8, uid);
        Octal(h, 116, 8, gid);
        Octal(h, 124, 12, size);
        Octal(h, 136, 12, mtime);
        h[156] = (byte)type;
        Ascii(h, 157, 100, link);
        if (gnu)
        {
            Ascii(h, 257, 8, "ustar  ");
        }
        else
        {
            Ascii(h, 257, 6, "ustar");
            Ascii(h, 263, 2, "00");
        }

        extra?.Invoke(h);
        SetChecksum(h);
        return h;
    }

    public static void SetChecksum(byte[] h)
    {
        for (int i = 148; i < 156; i++)
        {
            h[i] = (byte)' ';
        }

        int sum = h.Sum(b => b);
        Ascii(h, 148, 7, Convert.ToString(sum, 8).PadLeft(6, '0') + "\0");
    }

    public static void Octal(byte[] h, int offset, int length, long value) =>
        Ascii(h, offset, length, Convert.ToString(value, 8).PadLeft(length - 1, '0'));

    public static void Ascii(byte[] h, int offset, int length, string text)
    {
        byte[] b = Encoding.UTF8.GetBytes(text);
        Array.Copy(b, 0, h, offset, Math.Min(b.Length, length));
    }

    /// <summary>Data padded to a multiple of 512.</summary>
    public static byte[] Padded(byte[] data)
    {
        var p = new byte[(data.Length + 511) / 512 * 512];
        data.CopyTo(p, 0);
        return p;
    }

    public static byte[] PaxRecords(params (string Key, string Value)[] records)
    {
        var sb = new StringBuilder();
        foreach (var (key, value) in records)
        {
            string body = $" {key}={value}\n";
            int len = Encoding.UTF8.GetByteCount(body);
            int total = len + len.ToString().Length;
            if ((total).ToString().Length != len.ToString().Length)
            {
                total++;
            }

            sb.Append(total).Append(body);
        }

        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    public static byte[] EndOfArchive => new byte[1024];

    public static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest))
        {
            gz.Write(data);
        }

        return ms.ToArray();
    }

    public static byte[] Zstd(byte[] data)
    {
        using var c = new ZstdSharp.Compressor(3);
        return c.Wrap(data).ToArray();
    }

    public static byte[] Compress(byte[] tar, Compression compression) => compression switch
    {
        Compression.Gzip => Gzip(tar),
        Compression.Zstd => Zstd(tar),
        _ => tar,
    };

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Bytes(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    public static async Task<(LayerReadResult Result, List<FileEntry> Entries, CollectingSink Sink)> ReadAsync(
        byte[] blob, FileHashing hashing = FileHashing.Xxh128)
    {
        var sink = new CollectingSink();
        using var stream = new MemoryStream(blob, writable: false);
        var result = await LayerReader.ReadAsync(stream, hashing, sink, CancellationToken.None);
        return (result, sink.Entries, sink);
    }

    public static byte[] WriteTar(TarEntryFormat format, Action<TarWriter> write)
    {
        using var ms = new MemoryStream();
        using (var w = new TarWriter(ms, format, leaveOpen: true))
        {
            write(w);
        }

        return ms.ToArray();
    }
}

internal sealed class CollectingSink : IFileEntrySink
{
    public List<FileEntry> Entries { get; } = [];

    public List<int> BatchSizes { get; } = [];

    public ValueTask WriteAsync(ReadOnlyMemory<FileEntry> batch, CancellationToken ct)
    {
        BatchSizes.Add(batch.Length);
        Entries.AddRange(batch.Span);
        return ValueTask.CompletedTask;
    }
}
