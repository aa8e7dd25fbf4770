namespace LayerStats.Core.Layers;

/// <summary>
/// Entry-name normalisation: strip leading <c>./</c> and <c>/</c> (repeatedly) and trailing <c>/</c>; "." is the root, "".
/// Everything else (".." segments, doubled slashes inside, any bytes) is kept: names are data.
/// </summary>
public static class EntryPaths
{
    public static string Normalize(string path)
    {
        var (start, length) = Bounds(path.AsSpan());
        return start == 0 && length == path.Length ? path : path.Substring(start, length);
    }

    internal static ReadOnlySpan<byte> Normalize(ReadOnlySpan<byte> path)
    {
        var (start, length) = Bounds(path);
        return path.Slice(start, length);
    }

    /// <summary>The whiteout kind of a normalised path, or null when its basename is not a whiteout.</summary>
    public static EntryKind? WhiteoutKind(string path)
    {
        ReadOnlySpan<char> basename = path.AsSpan(path.LastIndexOf('/') + 1);
        if (!basename.StartsWith(".wh.", StringComparison.Ordinal))
        {
            return null;
        }

        return basename.SequenceEqual(".wh..wh..opq") ? EntryKind.OpaqueWhiteout : EntryKind.Whiteout;
    }

    private static (int Start, int Length) Bounds<T>(ReadOnlySpan<T> p)
        where T : unmanaged, IEquatable<T>
    {
        T slash = Cast<T>('/');
        T dot = Cast<T>('.');
        int s = 0;
        int e = p.Length;
        while (true)
        {
            if (s < e && p[s].Equals(slash))
            {
                s++;
            }
            else if (e - s >= 2 && p[s].Equals(dot) && p[s + 1].Equals(slash))
            {
                s += 2;
            }
            else
            {
                break;
            }
        }

        while (e > s && p[e - 1].Equals(slash))
        {
            e--;
        }

        if (e - s == 1 && p[s].Equals(dot))
        {
            s = e;
        }

        return (s, e - s);
    }

    private static T Cast<T>(char c)
        where T : unmanaged =>
        typeof(T) == typeof(byte) ? (T)(object)(byte)c : (T)(object)c;
}
