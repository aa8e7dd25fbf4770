using System.Security.Cryptography;
using System.Text;

namespace LayerStats.Fixtures;

/// <summary>
/// Seeded, platform-independent pseudo-random content (SplitMix64 over a SHA-256 of the seed text), so fixtures are
/// byte-identical on every machine and .NET version.
/// </summary>
public static class Content
{
    private static readonly string[] _words =
    [
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "be", "on", "not", "this", "by",
        "are", "or", "file", "program", "software", "license", "copy", "free", "source", "code", "terms", "any",
        "may", "you", "under", "work", "system", "library", "version", "distribute", "modify", "warranty",
        "configuration", "default", "option", "value", "path", "user", "service", "layer", "image", "kernel",
    ];

    /// <summary>A deterministic stream of pseudo-random numbers.</summary>
    public sealed class Rng(string seed)
    {
        private ulong _state = BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes(seed)), 0);

        public ulong Next()
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public int Next(int max) => (int)(Next() % (ulong)max);
    }

    /// <summary>Uniformly random bytes (incompressible).</summary>
    public static byte[] Random(string seed, int size)
    {
        var rng = new Rng(seed);
        var bytes = new byte[size];
        for (var i = 0; i < size; i++)
        {
            bytes[i] = (byte)rng.Next();
        }
        return bytes;
    }

    /// <summary>Binary-looking bytes: an ELF magic, then a mix of zeros, a few frequent bytes and random bytes (compresses to about half).</summary>
    public static byte[] Binary(string seed, int size)
    {
        var rng = new Rng(seed);
        var bytes = new byte[size];
        byte[] elf = [0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0];
        elf.AsSpan(0, Math.Min(elf.Length, size)).CopyTo(bytes);
        byte[] common = [0x48, 0x89, 0x8b, 0xe8, 0xff, 0x0f, 0x85, 0xc3];
        for (var i = elf.Length; i < size; i++)
        {
            var r = rng.Next();
            bytes[i] = (r & 3) switch
            {
                0 => 0,
                1 => common[(r >> 2) & 7],
                _ => (byte)(r >> 8),
            };
        }
        return bytes;
    }

    /// <summary>Lines of words from a small vocabulary (compresses well, like documentation).</summary>
    public static string Text(string seed, int lines, int wordsPerLine = 10)
    {
        var rng = new Rng(seed);
        var sb = new StringBuilder();
        for (var l = 0; l < lines; l++)
        {
            var n = 1 + rng.Next(wordsPerLine);
            for (var w = 0; w < n; w++)
            {
                if (w > 0)
                {
                    sb.Append(' ');
                }
                sb.Append(_words[rng.Next(_words.Length)]);
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>PEM-looking certificate bundle: base64 lines of random bytes.</summary>
    public static string Pem(string seed, int certificates)
    {
        var sb = new StringBuilder();
        for (var c = 0; c < certificates; c++)
        {
            var der = Random(seed + "/" + c, 900);
            sb.Append("-----BEGIN CERTIFICATE-----\n");
            var b64 = Convert.ToBase64String(der);
            for (var i = 0; i < b64.Length; i += 64)
            {
                sb.Append(b64.AsSpan(i, Math.Min(64, b64.Length - i))).Append('\n');
            }
            sb.Append("-----END CERTIFICATE-----\n");
        }
        return sb.ToString();
    }
}
