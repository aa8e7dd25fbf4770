using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace LayerStats.Core.Model;

/// <summary>
/// A content digest as the OCI spec writes it: <c>algorithm:hex</c>. Only sha256 is produced;
/// sha512 is accepted when a manifest states it.
/// </summary>
public readonly record struct Digest
{
    private Digest(string algorithm, string hex)
    {
        Algorithm = algorithm;
        Hex = hex;
    }

    public string Algorithm { get; }

    public string Hex { get; }

    public static Digest Sha256(ReadOnlySpan<byte> hash) =>
        new("sha256", Convert.ToHexStringLower(hash));

    public static Digest Compute(ReadOnlySpan<byte> data) => Sha256(SHA256.HashData(data));

    public static Digest Parse(string value) =>
        TryParse(value, out var digest) ? digest : throw new FormatException($"not a digest: '{Truncate(value)}'");

    public static bool TryParse([NotNullWhen(true)] string? value, out Digest digest)
    {
        digest = default;
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        int colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return false;
        }

        string algorithm = value[..colon];
        string hex = value[(colon + 1)..];
        int expected = algorithm switch { "sha256" => 64, "sha512" => 128, _ => -1 };
        if (expected < 0 || hex.Length != expected)
        {
            return false;
        }

        foreach (char c in hex)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        digest = new Digest(algorithm, hex);
        return true;
    }

    public bool IsEmpty => Hex is null;

    public override string ToString() => IsEmpty ? "" : $"{Algorithm}:{Hex}";

    private static string Truncate(string? s) => s is null ? "" : s.Length <= 80 ? s : s[..80] + "…";
}
