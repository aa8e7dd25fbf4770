namespace LayerStats.Core.Layers;

/// <summary>Which hashes are computed per regular file. XxHash128 always; SHA-256 on request.</summary>
public enum FileHashing : byte
{
    Xxh128 = 0,
    Xxh128AndSha256 = 1,
}

public static class FileHashingNames
{
    public static string ToName(this FileHashing hashing) => hashing switch
    {
        FileHashing.Xxh128 => "xxh128",
        FileHashing.Xxh128AndSha256 => "xxh128+sha256",
        _ => throw new ArgumentOutOfRangeException(nameof(hashing)),
    };

    /// <summary>True when rows hashed with <paramref name="stored"/> satisfy a scan that asks for <paramref name="wanted"/>.</summary>
    public static bool Covers(this FileHashing stored, FileHashing wanted) => stored >= wanted;
}
