using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace LayerStats.Benchmarks;

/// <summary>A deterministic synthetic layer: many files of mixed sizes, text-like and incompressible content.</summary>
public static class LayerGenerator
{
    public static byte[] GenerateTar(long targetBytes, int seed = 42)
    {
        var rnd = new Random(seed);
        byte[] source = SourceBytes(rnd);
        using var ms = new MemoryStream((int)(targetBytes + (targetBytes / 8)));
        using (var w = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
        {
            int n = 0;
            while (ms.Length < targetBytes)
            {
                if (n % 50 == 0)
                {
                    w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, $"usr/share/pkg{n / 50}/"));
                }

                double r = rnd.NextDouble();
                int size = r < 0.70 ? rnd.Next(0, 8 * 1024)
                    : r < 0.95 ? rnd.Next(8 * 1024, 256 * 1024)
                    : rnd.Next(256 * 1024, 8 * 1024 * 1024);
                size = Math.Min(size, source.Length / 2);
                int offset = rnd.Next(0, source.Length - size);
                var e = new PaxTarEntry(TarEntryType.RegularFile, $"usr/share/pkg{n / 50}/file-{n}.dat")
                {
                    DataStream = new MemoryStream(source, offset, size, writable: false),
                    ModificationTime = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
                };
                w.WriteEntry(e);
                if (n % 20 == 0)
                {
                    w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, $"usr/share/pkg{n / 50}/link-{n}") { LinkName = $"file-{n}.dat" });
                }

                n++;
            }
        }

        return ms.ToArray();
    }

    /// <summary>16 MiB: three quarters text-like (words from a small vocabulary), one quarter random bytes.</summary>
    private static byte[] SourceBytes(Random rnd)
    {
        string[] words = Enumerable.Range(0, 2000).Select(_ =>
            new string(Enumerable.Range(0, rnd.Next(2, 12)).Select(_ => (char)('a' + rnd.Next(26))).ToArray())).ToArray();
        var sb = new StringBuilder(12 * 1024 * 1024 + 64);
        while (sb.Length < 12 * 1024 * 1024)
        {
            sb.Append(words[rnd.Next(words.Length)]).Append(rnd.Next(10) == 0 ? '\n' : ' ');
        }

        byte[] text = Encoding.ASCII.GetBytes(sb.ToString(0, 12 * 1024 * 1024));
        byte[] noise = new byte[4 * 1024 * 1024];
        rnd.NextBytes(noise);
        return [.. text, .. noise];
    }

    public static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal))
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
}
