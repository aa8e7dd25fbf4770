namespace LayerStats.Core.Analysis;

/// <summary>Lexical path handling shared by the analyses (the semantics of Go's <c>path.Clean</c>, which dive applies to tar names).</summary>
internal static class TarPath
{
    /// <summary>
    /// The shortest equivalent path by purely lexical processing: repeated slashes collapse, <c>.</c> elements go,
    /// <c>x/..</c> pairs go, <c>..</c> at the start of a rooted path goes, trailing slashes go; "" becomes ".".
    /// </summary>
    public static string Clean(string path)
    {
        if (path.Length == 0)
        {
            return ".";
        }
        if (IsClean(path))
        {
            return path;
        }
        var rooted = path[0] == '/';
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (parts.Count > 0 && parts[^1] != "..")
                {
                    parts.RemoveAt(parts.Count - 1);
                }
                else if (!rooted)
                {
                    parts.Add(part);
                }
                continue;
            }
            parts.Add(part);
        }
        var joined = string.Join('/', parts);
        if (rooted)
        {
            return "/" + joined;
        }
        return joined.Length == 0 ? "." : joined;
    }

    /// <summary>The non-empty elements of a path split on '/' (the path is taken as is, not cleaned).</summary>
    public static List<string> Elements(string path)
    {
        var result = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length != 0)
            {
                result.Add(part);
            }
        }
        return result;
    }

    /// <summary>True when <see cref="Clean"/> would return the path unchanged (the common case; no allocation).</summary>
    private static bool IsClean(string path)
    {
        if (path == "/")
        {
            return true;
        }
        if (path[^1] == '/')
        {
            return false;
        }
        var start = path[0] == '/' ? 1 : 0;
        var rooted = start == 1;
        var first = true;
        while (start <= path.Length)
        {
            var end = path.IndexOf('/', start);
            if (end < 0)
            {
                end = path.Length;
            }
            var element = path.AsSpan(start, end - start);
            if (element.Length == 0 || element is ".")
            {
                return false;
            }
            // ".." is kept only as a leading element of a relative path (a run of them); be conservative.
            if (element is ".." && (rooted || !first))
            {
                return false;
            }
            first = false;
            start = end + 1;
        }
        return true;
    }
}
